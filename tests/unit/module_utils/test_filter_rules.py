"""The rule model: parsing, normalization, presets and the reference evaluator."""

import pytest

from ansible_collections.mirrorlab.vpc.plugins.module_utils import filter_rules as fr


def rule(**kw):
    base = {"direction": "ingress", "number": 100, "action": "accept", "protocol": "tcp",
            "source_cidr": "0.0.0.0/0", "destination_cidr": "0.0.0.0/0"}
    base.update(kw)
    return base


@pytest.mark.parametrize("text,expected", [
    ("80", {"from": 80, "to": 80}),
    ("1024-65535", {"from": 1024, "to": 65535}),
    (" 0 - 0 ", {"from": 0, "to": 0}),
    (443, {"from": 443, "to": 443}),
    ({"from": 1, "to": 2}, {"from": 1, "to": 2}),
    ({"from": "1", "to": "2"}, {"from": 1, "to": 2}),
])
def test_port_ranges_parse(text, expected):
    assert fr.parse_port_range(text) == expected


@pytest.mark.parametrize("text,message", [
    ("65536", "ports must be 0-65535"),
    ("80-70000", "ports must be 0-65535"),
    ("90-80", "must not be above"),
    ("-1", "must be \"N\" or \"N-M\""),
    ("http", "must be \"N\" or \"N-M\""),
    (True, "must be \"N\" or \"N-M\""),
    ({"from": 1}, "must be \"N\" or \"N-M\""),
    ({"from": 1, "to": 2, "step": 1}, "unknown key step"),
])
def test_port_ranges_refused(text, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        fr.parse_port_range(text)


@pytest.mark.parametrize("value,number", [("tcp", 6), ("UDP", 17), ("icmp", 1), ("all", -1), (47, 47), ("58", 58),
                                          (0, 0), (255, 255), (-1, -1)])
def test_protocols(value, number):
    assert fr.parse_protocol(value) == number


@pytest.mark.parametrize("value", ["sctp", 256, -2, None, 6.5, "6-17"])
def test_protocols_refused(value):
    with pytest.raises(ValueError):
        fr.parse_protocol(value)


def test_normalized_rule_shape():
    normalized, errors = fr.normalize_rule(rule(destination_ports="80", number="100", description="web"), "r")
    assert errors == []
    assert normalized == {"direction": "ingress", "number": 100, "action": "accept", "protocol": 6,
                          "source_cidr": "0.0.0.0/0", "destination_cidr": "0.0.0.0/0", "source_ports": None,
                          "destination_ports": {"from": 80, "to": 80}, "description": "web"}


def test_normalization_is_idempotent():
    first, errors = fr.normalize_rule(rule(protocol="udp", source_ports="1-2", source_cidr="fd00::/8",
                                           destination_cidr="::/0"), "r")
    again, errors2 = fr.normalize_rule(first, "r")
    assert not errors and not errors2 and again == first


def test_protocol_defaults_to_all():
    normalized, errors = fr.normalize_rule({k: v for k, v in rule().items() if k != "protocol"}, "r")
    assert not errors and normalized["protocol"] == -1


def test_bare_address_is_a_host_cidr():
    normalized, errors = fr.normalize_rule(rule(source_cidr="10.1.2.3"), "r")
    assert not errors and normalized["source_cidr"] == "10.1.2.3/32"


def test_all_errors_of_a_rule_are_reported():
    dummy, errors = fr.normalize_rule({"direction": "up", "number": 0, "action": "allow", "protocol": "sctp",
                                       "source_cidr": "10.0.0.0/33", "destination_cidr": "x", "colour": 1}, "p")
    paths = sorted(e.path for e in errors)
    assert paths == ["p.action", "p.colour", "p.destination_cidr", "p.direction", "p.number", "p.protocol",
                     "p.source_cidr"]


def test_rule_list_sorted_by_direction_then_number():
    rules, errors = fr.normalize_rules([rule(direction="egress", number=5), rule(number=300), rule(number=2)], "r")
    assert not errors
    assert [(r["direction"], r["number"]) for r in rules] == [("ingress", 2), ("ingress", 300), ("egress", 5)]


def test_same_number_in_both_directions_is_fine():
    dummy, errors = fr.normalize_rules([rule(number=1), rule(direction="egress", number=1)], "r")
    assert errors == []


def test_presets_match_the_documented_table():
    def table(preset):
        return [(r["direction"], r["number"], r["action"], r["protocol"], r["source_cidr"], r["destination_cidr"])
                for r in fr.preset_rules(preset, "10.1.0.0/16")]

    any4, v = "0.0.0.0/0", "10.1.0.0/16"
    assert table("all_tcp") == [("ingress", 100, "accept", 6, any4, any4), ("egress", 100, "accept", 6, any4, any4)]
    assert table("alb_client") == [
        ("ingress", 100, "reject", 6, v, any4), ("ingress", 200, "accept", 6, any4, any4),
        ("egress", 100, "reject", 6, any4, v), ("egress", 200, "accept", 6, any4, any4)]
    assert table("alb_target") == [("ingress", 100, "accept", 6, v, any4), ("egress", 100, "accept", 6, any4, v)]
    with pytest.raises(ValueError):
        fr.preset_rules("everything", "10.0.0.0/16")


# --- reference evaluator: the AWS semantics, case by case --------------------------------

P = fr.packet


@pytest.mark.parametrize("rules,pkt,expected", [
    # no rules, or no rule in the packet's direction: not mirrored
    ([], P("ingress", "1.1.1.1", "10.0.0.1", 6, 1, 80), False),
    ([rule(direction="egress")], P("ingress", "1.1.1.1", "10.0.0.1", 6, 1, 80), False),
    # first match wins, in rule-number order (not list order)
    ([rule(number=200), rule(number=100, action="reject")], P("ingress", "1.1.1.1", "10.0.0.1", 6, 1, 80), False),
    ([rule(number=100), rule(number=200, action="reject")], P("ingress", "1.1.1.1", "10.0.0.1", 6, 1, 80), True),
    # protocol
    ([rule(protocol="udp")], P("ingress", "1.1.1.1", "10.0.0.1", 6, 1, 80), False),
    ([rule(protocol="all")], P("ingress", "1.1.1.1", "10.0.0.1", 47), True),
    ([rule(protocol=47)], P("ingress", "1.1.1.1", "10.0.0.1", 47), True),
    # CIDRs, inclusive edges
    ([rule(source_cidr="1.1.1.0/24")], P("ingress", "1.1.1.255", "10.0.0.1", 6, 1, 80), True),
    ([rule(source_cidr="1.1.1.0/24")], P("ingress", "1.1.2.0", "10.0.0.1", 6, 1, 80), False),
    ([rule(destination_cidr="10.0.0.1/32")], P("ingress", "1.1.1.1", "10.0.0.1", 6, 1, 80), True),
    # one family never matches the other
    ([rule(protocol="all")], P("ingress", "fd00::1", "fd00::2", 6, 1, 80), False),
    ([rule(protocol="all", source_cidr="::/0", destination_cidr="::/0")], P("ingress", "fd00::1", "fd00::2", 58), True),
    ([rule(protocol="all", source_cidr="::/0", destination_cidr="::/0")], P("ingress", "1.1.1.1", "10.0.0.1", 6, 1, 2), False),
    # ports, inclusive ranges, only for tcp/udp
    ([rule(destination_ports="80-81")], P("ingress", "1.1.1.1", "10.0.0.1", 6, 1, 81), True),
    ([rule(destination_ports="80-81")], P("ingress", "1.1.1.1", "10.0.0.1", 6, 1, 82), False),
    ([rule(source_ports="1024-65535")], P("ingress", "1.1.1.1", "10.0.0.1", 6, 1023, 80), False),
    ([rule(protocol="udp", source_ports="53")], P("ingress", "1.1.1.1", "10.0.0.1", 17, 53, 9), True),
    # a reject that does not match lets the next rule decide
    ([rule(number=1, action="reject", destination_ports="22"), rule(number=2)],
     P("ingress", "1.1.1.1", "10.0.0.1", 6, 1, 80), True),
])
def test_reference_evaluator(rules, pkt, expected):
    normalized, errors = fr.normalize_rules(rules, "r")
    assert not errors
    assert fr.is_mirrored(normalized, pkt) is expected


def test_matching_rule_reports_the_deciding_rule():
    normalized, dummy = fr.normalize_rules([rule(number=7, action="reject"), rule(number=9)], "r")
    decided = fr.matching_rule(normalized, P("ingress", "1.1.1.1", "10.0.0.1", 6, 1, 80))
    assert decided["number"] == 7


# --- properties of the normalization ------------------------------------------------------

from hypothesis import given, settings  # noqa: E402

from filter_strategies import raw_rule_sets  # noqa: E402


@settings(max_examples=300, deadline=None)
@given(raw=raw_rule_sets())
def test_valid_rule_sets_normalize_and_renormalize_identically(raw):
    rules, errors = fr.normalize_rules(raw, "r")
    assert errors == [] and len(rules) == len(raw)
    again, errors = fr.normalize_rules(rules, "r")
    assert errors == [] and again == rules
    # sorted by direction (ingress first) then number
    keys = [(fr.DIRECTIONS.index(r["direction"]), r["number"]) for r in rules]
    assert keys == sorted(keys)


@settings(max_examples=300, deadline=None)
@given(raw=raw_rule_sets(max_rules=10))
def test_a_duplicated_number_is_always_refused(raw):
    if not raw:
        return
    duplicate = dict(raw[0])
    dummy, errors = fr.normalize_rules(raw + [duplicate], "r")
    paths = [e.path for e in errors]
    assert "r[%d].number" % len(raw) in paths
    if len(raw) == 10:
        assert "r" in paths  # 11 rules: over the quota too
