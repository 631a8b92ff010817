"""The nftables compiler agrees with the reference evaluator of the AWS rule semantics.

The compiled script is run by an independent interpreter of the nft subset (nft_interp.py)
and compared, packet by packet, with filter_rules.is_mirrored.
"""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.mirrorlab.vpc.plugins.module_utils import filter_rules as fr
from ansible_collections.mirrorlab.vpc.plugins.module_utils import nft_mirror as nm

import nft_interp
from filter_strategies import packets, packets_near, raw_rule_sets

SRC_DEV, VX_DEV, TABLE = "mlfsrc0", "mlfvx0", "mlf_prop"
LOCAL, TARGET = "10.0.1.7", "10.0.0.1"


def compiled(rules, local=LOCAL, target=TARGET):
    script, dummy = nm.compile_ruleset(rules, TABLE, SRC_DEV, VX_DEV, local, target)
    return nft_interp.parse(script)


def lab_mirrored(tables, pkt):
    verdict, dups = nft_interp.run_packet(tables, pkt, SRC_DEV)
    assert verdict == "accept", "the mirror must never drop a packet"
    assert dups in ([], [VX_DEV]), "a packet is mirrored at most once, to the session's device: %r" % dups
    return bool(dups)


def is_own_vxlan(pkt, local=LOCAL, target=TARGET):
    return (pkt["direction"] == "egress" and pkt["src"] == local and pkt["dst"] == target
            and pkt["protocol"] == 17 and pkt["dport"] == 4789)


def normalized(raw):
    rules, errors = fr.normalize_rules(raw, "mirrorlab_filter.rules")
    assert not errors, errors
    return rules


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=raw_rule_sets(), pkts=st.lists(packets(), min_size=1, max_size=25))
def test_compiled_program_agrees_with_reference(raw, pkts):
    rules = normalized(raw)
    tables = compiled(rules)
    for pkt in pkts:
        expected = False if is_own_vxlan(pkt) else fr.is_mirrored(rules, pkt)
        assert lab_mirrored(tables, pkt) == expected, (rules, pkt)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=raw_rule_sets(), data=st.data())
def test_compiled_program_agrees_at_rule_edges(raw, data):
    """Packets on the edges of the rules' CIDRs and port ranges, where off-by-one bugs live."""
    rules = normalized(raw)
    tables = compiled(rules)
    for pkt in data.draw(st.lists(packets_near(rules), min_size=1, max_size=25)):
        expected = False if is_own_vxlan(pkt) else fr.is_mirrored(rules, pkt)
        assert lab_mirrored(tables, pkt) == expected, (rules, pkt)


@settings(max_examples=200, deadline=None)
@given(raw=raw_rule_sets(), pkt=packets(direction="egress"))
def test_own_vxlan_packets_are_never_mirrored(raw, pkt):
    rules = normalized(raw)
    own = dict(pkt, src=LOCAL, dst=TARGET, protocol=17, sport=pkt["sport"] or 40000, dport=4789)
    assert not lab_mirrored(compiled(rules), own)


@settings(max_examples=100, deadline=None)
@given(raw=raw_rule_sets())
def test_recompiling_replaces_the_table(raw):
    """Loading the script over an existing table replaces it (one transaction)."""
    first = normalized(raw)
    tables = compiled([fr.make_rule("ingress", 1, "accept", "all", "0.0.0.0/0", "0.0.0.0/0")])
    script, dummy = nm.compile_ruleset(first, TABLE, SRC_DEV, VX_DEV, LOCAL, TARGET)
    nft_interp.parse(script, tables)
    assert len(tables) == 1
    chains = tables[("netdev", TABLE)]
    assert len(chains["ingress"].rules) == len([r for r in first if r["direction"] == "ingress"])
    assert len(chains["egress"].rules) == 1 + len([r for r in first if r["direction"] == "egress"])


def test_no_rules_mirror_nothing():
    tables = compiled([])
    for pkt in (fr.packet("ingress", "10.0.0.1", "10.0.1.7", 6, 1, 80), fr.packet("egress", "fd00::1", "::1", 58)):
        assert not lab_mirrored(tables, pkt)


def test_reject_before_accept_is_honoured():
    rules = normalized([
        {"direction": "ingress", "number": 200, "action": "accept", "protocol": "tcp",
         "source_cidr": "0.0.0.0/0", "destination_cidr": "0.0.0.0/0"},
        {"direction": "ingress", "number": 100, "action": "reject", "protocol": "tcp",
         "source_cidr": "0.0.0.0/0", "destination_cidr": "0.0.0.0/0", "destination_ports": "22"},
    ])
    tables = compiled(rules)
    ssh = fr.packet("ingress", "203.0.113.5", "10.0.1.7", 6, 40000, 22)
    http = fr.packet("ingress", "203.0.113.5", "10.0.1.7", 6, 40000, 80)
    assert not fr.is_mirrored(rules, ssh) and not lab_mirrored(tables, ssh)
    assert fr.is_mirrored(rules, http) and lab_mirrored(tables, http)
    # The emitted order follows the rule numbers, not the list order.
    script, dummy = nm.compile_ruleset(rules, TABLE, SRC_DEV, VX_DEV, LOCAL, TARGET)
    assert script.index('"ingress 100 reject"') < script.index('"ingress 200 accept"')


VPC = "10.0.0.0/16"
CLIENT, ALB, BACKEND = "203.0.113.5", "10.0.1.7", "10.0.2.9"
# The packets the ALB's interface sees: client <-> ALB and ALB <-> backend, both ways.
LEGS = {
    "client_to_alb": fr.packet("ingress", CLIENT, ALB, 6, 40000, 80),
    "alb_to_client": fr.packet("egress", ALB, CLIENT, 6, 80, 40000),
    "alb_to_backend": fr.packet("egress", ALB, BACKEND, 6, 41000, 8080),
    "backend_to_alb": fr.packet("ingress", BACKEND, ALB, 6, 8080, 41000),
    "udp_client": fr.packet("ingress", CLIENT, ALB, 17, 40000, 53),
    "icmp_backend": fr.packet("ingress", BACKEND, ALB, 1),
}
PRESET_EXPECTED = {
    "all_tcp": {"client_to_alb", "alb_to_client", "alb_to_backend", "backend_to_alb"},
    "alb_client": {"client_to_alb", "alb_to_client"},
    "alb_target": {"alb_to_backend", "backend_to_alb"},
}


@pytest.mark.parametrize("preset", sorted(PRESET_EXPECTED))
def test_presets_documented_examples(preset):
    rules = fr.preset_rules(preset, VPC)
    tables = compiled(rules, local=ALB, target="10.0.3.3")
    for leg, pkt in LEGS.items():
        expected = leg in PRESET_EXPECTED[preset]
        assert fr.is_mirrored(rules, pkt) == expected, (preset, leg)
        assert lab_mirrored(tables, pkt) == expected, (preset, leg)


def test_rule_of_one_family_ignores_the_other():
    rules = normalized([{"direction": "ingress", "number": 1, "action": "accept", "protocol": "all",
                         "source_cidr": "0.0.0.0/0", "destination_cidr": "0.0.0.0/0"}])
    v6 = fr.packet("ingress", "fd00::1", "fd00::2", 6, 1, 2)
    v4 = fr.packet("ingress", "10.0.0.1", "10.0.0.2", 6, 1, 2)
    tables = compiled(rules)
    assert not fr.is_mirrored(rules, v6) and not lab_mirrored(tables, v6)
    assert fr.is_mirrored(rules, v4) and lab_mirrored(tables, v4)


def test_compiled_text_shape():
    rules = fr.preset_rules("alb_client", VPC)
    script, value = nm.compile_ruleset(rules, TABLE, SRC_DEV, VX_DEV, LOCAL, TARGET)
    assert script.count("table netdev %s {" % TABLE) == 1
    assert 'type filter hook ingress device "%s"' % SRC_DEV in script
    assert 'type filter hook egress device "%s"' % SRC_DEV in script
    assert 'comment "mirrorlab sha256:%s"' % value in script
    # The exclusion comes first in the egress chain.
    egress = script[script.index("chain egress"):]
    first_rule = egress.splitlines()[2]
    assert "udp dport 4789" in first_rule and "dup" not in first_rule


def test_digest_changes_with_rules_devices_and_identity():
    rules = fr.preset_rules("all_tcp", VPC)
    base = nm.compile_ruleset(rules, TABLE, SRC_DEV, VX_DEV, LOCAL, TARGET)[1]
    assert base == nm.compile_ruleset(rules, TABLE, SRC_DEV, VX_DEV, LOCAL, TARGET)[1]
    assert base != nm.compile_ruleset(rules[:1], TABLE, SRC_DEV, VX_DEV, LOCAL, TARGET)[1]
    assert base != nm.compile_ruleset(rules, TABLE, "other0", VX_DEV, LOCAL, TARGET)[1]
    assert base != nm.compile_ruleset(rules, TABLE, SRC_DEV, VX_DEV, LOCAL, "10.0.0.2")[1]
    assert base != nm.compile_ruleset(rules, TABLE, SRC_DEV, VX_DEV, LOCAL, TARGET, identity="x")[1]


@pytest.mark.parametrize("table,src,vx", [("1bad", SRC_DEV, VX_DEV), ("t", "a" * 16, VX_DEV), ("t", SRC_DEV, 'x"y')])
def test_bad_names_refused(table, src, vx):
    with pytest.raises(ValueError):
        nm.compile_ruleset([], table, src, vx, LOCAL, TARGET)


def test_mixed_family_session_refused():
    with pytest.raises(ValueError):
        nm.compile_ruleset([], TABLE, SRC_DEV, VX_DEV, "10.0.0.1", "fd00::1")


def test_ipv6_session_exclusion():
    tables = compiled([fr.make_rule("egress", 1, "accept", "all", "::/0", "::/0")], local="fd00::1", target="fd00::2")
    own = fr.packet("egress", "fd00::1", "fd00::2", 17, 33000, 4789)
    other = fr.packet("egress", "fd00::1", "fd00::2", 17, 33000, 4790)
    assert not lab_mirrored(tables, own)
    assert lab_mirrored(tables, other)


def test_interpreter_rejects_unknown_syntax():
    with pytest.raises(nft_interp.NftSyntaxError):
        nft_interp.parse('table netdev t {\n chain c {\n type filter hook ingress device "x" priority 0; policy accept;\n'
                         ' ip dscp 4 accept\n }\n}\n')
