"""Several sessions on one source device: the compiled table agrees with AWS's priority
(filter_rules.mirroring_session: lowest session number whose filter accepts, mirrored once),
run by the independent nft interpreter (nft_interp.py, with jump/return)."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.mirrorlab.vpc.plugins.module_utils import filter_rules as fr
from ansible_collections.mirrorlab.vpc.plugins.module_utils import nft_mirror as nm

import nft_interp
from filter_strategies import packets, packets_near, raw_rule_sets

SRC_DEV, TABLE, LOCAL = "mlfsrc0", "mlf_sessions", "10.0.1.7"
TARGETS = ["10.0.0.1", "10.0.0.1", "10.0.2.9"]  # two sessions share a target, one has its own


def normalized(raw):
    rules, errors = fr.normalize_rules(raw, "rules")
    assert not errors, errors
    return rules


@st.composite
def session_sets(draw, max_rules=5):
    count = draw(st.integers(1, 3))
    numbers = draw(st.lists(st.integers(1, 32766), min_size=count, max_size=count, unique=True))
    return [{"session_number": number, "rules": normalized(draw(raw_rule_sets(max_rules=max_rules))),
             "vxlan_device": "mlfvx%d" % index, "target_ip": TARGETS[index]} for index, number in enumerate(numbers)]


def compiled(sessions):
    script, dummy = nm.compile_sessions(sessions, TABLE, SRC_DEV, LOCAL)
    return nft_interp.parse(script)


def lab_copies(tables, pkt):
    verdict, dups = nft_interp.run_packet(tables, pkt, SRC_DEV)
    assert verdict == "accept", "the mirror must never drop a packet"
    assert len(dups) <= 1, "a packet is mirrored once: %r" % dups
    return dups


def expected_copies(sessions, pkt):
    own = (pkt["direction"] == "egress" and pkt["src"] == LOCAL and pkt["dst"] in TARGETS
           and pkt["protocol"] == 17 and pkt["dport"] == 4789)
    session = None if own else fr.mirroring_session(sessions, pkt)
    return [session["vxlan_device"]] if session else []


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sessions=session_sets(), data=st.data())
def test_sessions_agree_with_the_reference_priority(sessions, data):
    tables = compiled(sessions)
    rules = [r for s in sessions for r in s["rules"]]
    pkts = data.draw(st.lists(packets() | packets_near(rules), min_size=1, max_size=20)) if rules else [data.draw(packets())]
    for pkt in pkts:
        assert lab_copies(tables, pkt) == expected_copies(sessions, pkt), (sessions, pkt)


R = fr.make_rule
HTTP_IN = {"direction": "ingress", "src": "203.0.113.5", "dst": "10.0.1.7", "protocol": 6, "sport": 40000, "dport": 80}
SSH_IN = dict(HTTP_IN, dport=22)


def three(first_rules, second_rules, third_rules):
    return [{"session_number": n, "rules": rules, "vxlan_device": "mlfvx%d" % n, "target_ip": "10.0.0.1"}
            for n, rules in ((30, third_rules), (10, first_rules), (20, second_rules))]  # listed out of order


def test_lowest_accepting_session_mirrors_once():
    all_tcp = [R("ingress", 100, "accept", "tcp", "0.0.0.0/0", "0.0.0.0/0")]
    http = [R("ingress", 100, "accept", "tcp", "0.0.0.0/0", "0.0.0.0/0", destination_ports="80")]
    # session 10 takes HTTP, 20 the rest of TCP, 30 (all TCP too) never gets anything
    tables = compiled(three(http, all_tcp, all_tcp))
    assert lab_copies(tables, HTTP_IN) == ["mlfvx10"]
    assert lab_copies(tables, SSH_IN) == ["mlfvx20"]
    assert lab_copies(tables, dict(HTTP_IN, protocol=17)) == []


def test_a_reject_passes_the_packet_to_the_next_session():
    no_http = [R("ingress", 1, "reject", "tcp", "0.0.0.0/0", "0.0.0.0/0", destination_ports="80"),
               R("ingress", 2, "accept", "all", "0.0.0.0/0", "0.0.0.0/0")]
    tables = compiled(three(no_http, [], [R("ingress", 5, "accept", "tcp", "0.0.0.0/0", "0.0.0.0/0")]))
    assert lab_copies(tables, SSH_IN) == ["mlfvx10"]
    assert lab_copies(tables, HTTP_IN) == ["mlfvx30"]  # rejected by 10, no rule in 20, accepted by 30


def test_one_session_compiles_as_before():
    rules = [R("ingress", 100, "accept", "tcp", "0.0.0.0/0", "0.0.0.0/0")]
    one = [{"session_number": 4, "rules": rules, "vxlan_device": "mlfvx0", "target_ip": "10.0.0.1"}]
    assert nm.compile_sessions(one, TABLE, SRC_DEV, LOCAL) == nm.compile_ruleset(rules, TABLE, SRC_DEV, "mlfvx0", LOCAL,
                                                                                 "10.0.0.1")
    assert nm.expected_session_rule_counts(one) == nm.expected_rule_counts(rules)


def test_counts_and_duplicate_numbers():
    sessions = three([R("ingress", 1, "accept", "all", "0.0.0.0/0", "0.0.0.0/0")], [], [])
    counts = nm.expected_session_rule_counts(sessions)
    assert counts == {"ingress": 3, "egress": 4, "s10_ingress": 1, "s10_egress": 0, "s20_ingress": 0,
                      "s20_egress": 0, "s30_ingress": 0, "s30_egress": 0}
    script, dummy = nm.compile_sessions(sessions, TABLE, SRC_DEV, LOCAL)
    parsed = nft_interp.parse(script)[("netdev", TABLE)]
    assert {name: len(chain.rules) for name, chain in parsed.items()} == counts
    with pytest.raises(ValueError, match="distinct session numbers"):
        nm.compile_sessions([dict(s, session_number=1) for s in sessions], TABLE, SRC_DEV, LOCAL)
