"""lab_nlb's pure parts: the ruleset it loads, the parameters it refuses, and reading the
table back (digest, rule count, packets per target)."""

import pytest

from ansible_collections.mirrorlab.vpc.plugins.modules import lab_nlb

TARGETS = ["10.0.0.12", "10.0.0.13", "10.0.0.14"]


def test_the_ruleset_hashes_the_outer_5_tuple_onto_the_targets_in_order():
    script, digest = lab_nlb.ruleset("ml_x_nlb", "10.0.0.9", TARGETS, seed=0xE9D20A4E)
    assert script.splitlines()[1:3] == ["table ip ml_x_nlb", "delete table ip ml_x_nlb"]  # replaced atomically
    (rule,) = [line.strip() for line in script.splitlines() if "dnat" in line]
    assert rule == ("ip daddr 10.0.0.9 udp dport 4789 counter dnat to jhash ip saddr . ip daddr . udp sport . udp dport "
                    "mod 3 seed 0xe9d20a4e map { 0 : 10.0.0.12, 1 : 10.0.0.13, 2 : 10.0.0.14 }")
    assert [line.strip() for line in script.splitlines() if line.strip().endswith("counter") and "daddr" in line] == [
        "ip daddr %s udp dport 4789 counter" % t for t in TARGETS]
    assert 'comment "mirrorlab sha256:%s"' % digest in script
    # Another seed, order or port is another table.
    assert len({lab_nlb.ruleset("ml_x_nlb", "10.0.0.9", TARGETS, seed=1)[1], digest,
                lab_nlb.ruleset("ml_x_nlb", "10.0.0.9", TARGETS[::-1], seed=0xE9D20A4E)[1],
                lab_nlb.ruleset("ml_x_nlb", "10.0.0.9", TARGETS, port=4790, seed=0xE9D20A4E)[1]}) == 4


@pytest.mark.parametrize("args,message", [
    (("bad-name", "10.0.0.9", TARGETS, 4789, 0), "table 'bad-name'"),
    (("t", "10.0.0.9", [], 4789, 0), "targets must name at least one"),
    (("t", "fd00::9", TARGETS, 4789, 0), "'fd00::9' is not an IPv4 address"),
    (("t", "10.0.0.9", ["10.0.0.12", "x"], 4789, 0), "'x' is not an IPv4 address"),
    (("t", "10.0.0.9", ["10.0.0.12", "10.0.0.12"], 4789, 0), "holds an address twice"),
    (("t", "10.0.0.9", TARGETS, 0, 0), "port must be 1 to 65535"),
    (("t", "10.0.0.9", TARGETS, 4789, 2 ** 32), "seed must be 0 to 4294967295"),
])
def test_bad_parameters_are_refused(args, message):
    assert message in lab_nlb.check_params(*args)


def test_good_parameters_pass():
    assert lab_nlb.check_params("ml_x_nlb", "10.0.0.9", TARGETS, 4789, 0) is None


LISTED = """table ip ml_x_nlb {
\tcomment "mirrorlab sha256:abc123"
\tchain prerouting {
\t\ttype nat hook prerouting priority dstnat; policy accept;
\t\tip daddr 10.0.0.9 udp dport 4789 counter packets 96 bytes 10560 dnat to jhash ip saddr . ip daddr . udp sport . udp dport mod 2 seed 0xe9d20a4e map { 0 : 10.0.0.12, 1 : 10.0.0.13 }
\t}

\tchain forward {
\t\ttype filter hook forward priority filter; policy accept;
\t\tip daddr 10.0.0.12 udp dport 4789 counter packets 255 bytes 36691
\t\tip daddr 10.0.0.13 udp dport 4789 counter packets 289 bytes 44467
\t}
}
"""


def test_the_listed_table_gives_digest_rules_and_packets_per_target():
    digest, rules, forwarded = lab_nlb.parse_table(LISTED)
    assert (digest, rules) == ("abc123", 3)
    assert forwarded == {"10.0.0.12": {"packets": 255, "bytes": 36691}, "10.0.0.13": {"packets": 289, "bytes": 44467}}
    assert lab_nlb.spread(forwarded, ["10.0.0.12", "10.0.0.13", "10.0.0.14"]) == \
        "10.0.0.12 255 packets, 10.0.0.13 289 packets, 10.0.0.14 0 packets"
