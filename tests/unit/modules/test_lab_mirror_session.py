"""lab_mirror_session against the real kernel: namespaces, VXLAN, nftables (root needed).

Each test gets a fresh pair of namespaces (prefix mlf) joined by a veth pair and runs the
module's main() in-process (AnsibleModule with patched arguments), then reads the result
back from the kernel with ip and nft.
"""

import json
import os
import subprocess
import uuid

import pytest


from ansible_collections.mirrorlab.vpc.plugins.module_utils import filter_rules as fr
from ansible_collections.mirrorlab.vpc.plugins.modules import lab_mirror_session
from conftest import module_main

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)"),
]

LOCAL, TARGET = "10.98.0.1", "10.98.0.2"
# As a user writes them (mirrorlab_filter.rules); the module takes them normalized (RULES).
RAW_RULES = [
    {"direction": "ingress", "number": 100, "action": "accept", "protocol": "tcp",
     "source_cidr": "0.0.0.0/0", "destination_cidr": "0.0.0.0/0"},
    {"direction": "egress", "number": 100, "action": "reject", "protocol": "udp",
     "source_cidr": "0.0.0.0/0", "destination_cidr": "0.0.0.0/0", "destination_ports": "53"},
    {"direction": "egress", "number": 200, "action": "accept", "protocol": "all",
     "source_cidr": "0.0.0.0/0", "destination_cidr": "0.0.0.0/0"},
]
RULES = fr.normalize_rules(RAW_RULES, "rules")[0]


def sh(*argv, check=True):
    return subprocess.run(argv, capture_output=True, text=True, check=check)


@pytest.fixture
def lab():
    tag = uuid.uuid4().hex[:6]
    src, peer = "mlf-m%s-s" % tag, "mlf-m%s-r" % tag
    sh("ip", "netns", "add", src)
    sh("ip", "netns", "add", peer)
    try:
        sh("ip", "link", "add", "mlfs0", "netns", src, "type", "veth", "peer", "name", "mlfr0", "netns", peer)
        sh("ip", "-n", src, "addr", "add", LOCAL + "/24", "dev", "mlfs0")
        sh("ip", "-n", peer, "addr", "add", TARGET + "/24", "dev", "mlfr0")
        sh("ip", "-n", src, "link", "set", "mlfs0", "up")
        sh("ip", "-n", peer, "link", "set", "mlfr0", "up")
        yield {"netns": src, "peer": peer}
    finally:
        sh("ip", "netns", "del", src, check=False)
        sh("ip", "netns", "del", peer, check=False)


def args(lab, **kw):
    base = {"netns": lab["netns"], "source_device": "mlfs0", "local_ip": LOCAL, "target_ip": TARGET, "vni": 4321,
            "vxlan_device": "mlfvx0", "table": "mlf_session", "rules": RULES}
    base.update(kw)
    return base


def call(capsys, module_args, check_mode=False, diff=False):
    module_args = dict(module_args, _ansible_check_mode=check_mode, _ansible_diff=diff)
    code, result = module_main(lab_mirror_session.main, module_args, capsys)
    result["rc"] = code
    return result


def link(lab, name):
    proc = sh("ip", "-n", lab["netns"], "-d", "-j", "link", "show", "dev", name, check=False)
    return json.loads(proc.stdout)[0] if proc.returncode == 0 else None


def table_text(lab, table="mlf_session"):
    proc = sh("ip", "netns", "exec", lab["netns"], "nft", "list", "table", "netdev", table, check=False)
    return proc.stdout if proc.returncode == 0 else None


def test_present_creates_device_and_table_then_is_idempotent(lab, capsys):
    first = call(capsys, args(lab))
    assert first["rc"] == 0 and first["changed"] is True
    dev = link(lab, "mlfvx0")
    data = dev["linkinfo"]["info_data"]
    assert dev["linkinfo"]["info_kind"] == "vxlan"
    assert (data["id"], data["local"], data["remote"], data["port"], data["learning"]) == (4321, LOCAL, TARGET, 4789, False)
    assert "UP" in dev["flags"] and "NOARP" in dev["flags"]
    text = table_text(lab)
    assert 'comment "mirrorlab sha256:%s"' % first["digest"] in text
    assert text.count('dup to "mlfvx0"') == 2  # the two accept rules
    assert 'hook ingress device "mlfs0"' in text and 'hook egress device "mlfs0"' in text

    second = call(capsys, args(lab))
    assert second["rc"] == 0 and second["changed"] is False
    assert link(lab, "mlfvx0")["ifindex"] == dev["ifindex"]


def test_check_mode_changes_nothing(lab, capsys):
    result = call(capsys, args(lab), check_mode=True)
    assert result["rc"] == 0 and result["changed"] is True
    assert link(lab, "mlfvx0") is None and table_text(lab) is None
    call(capsys, args(lab))
    changed_rules = call(capsys, args(lab, rules=RULES[:1]), check_mode=True)
    assert changed_rules["changed"] is True
    assert table_text(lab).count("dup to") == 2  # unchanged


def test_rule_change_reloads_table_only(lab, capsys):
    call(capsys, args(lab))
    index = link(lab, "mlfvx0")["ifindex"]
    result = call(capsys, args(lab, rules=RULES[:1]), diff=True)
    assert result["changed"] is True
    assert link(lab, "mlfvx0")["ifindex"] == index
    assert table_text(lab).count("dup to") == 1
    assert result["diff"]["before"]["table_digest"] != result["diff"]["after"]["table_digest"]
    assert "ruleset" in result["diff"]["after"]


def test_vni_change_recreates_device_and_table_follows(lab, capsys):
    call(capsys, args(lab))
    result = call(capsys, args(lab, vni=99))
    assert result["changed"] is True
    assert link(lab, "mlfvx0")["linkinfo"]["info_data"]["id"] == 99
    # The table points at the new device (by name, i.e. it was reloaded after the re-creation).
    assert table_text(lab).count('dup to "mlfvx0"') == 2
    assert call(capsys, args(lab, vni=99))["changed"] is False


def test_device_deleted_by_hand_is_restored(lab, capsys):
    call(capsys, args(lab))
    sh("ip", "-n", lab["netns"], "link", "del", "mlfvx0")
    result = call(capsys, args(lab))
    assert result["changed"] is True
    assert table_text(lab).count('dup to "mlfvx0"') == 2


def test_table_edited_by_hand_is_restored(lab, capsys):
    call(capsys, args(lab))
    sh("ip", "netns", "exec", lab["netns"], "nft", "flush", "chain", "netdev", "mlf_session", "ingress")
    result = call(capsys, args(lab))
    assert result["changed"] is True
    assert table_text(lab).count("dup to") == 2


def test_absent_removes_everything_and_is_idempotent(lab, capsys):
    call(capsys, args(lab))
    gone = call(capsys, {"state": "absent", "netns": lab["netns"], "vxlan_device": "mlfvx0", "table": "mlf_session"})
    assert gone["changed"] is True
    assert link(lab, "mlfvx0") is None and table_text(lab) is None
    again = call(capsys, {"state": "absent", "netns": lab["netns"], "vxlan_device": "mlfvx0", "table": "mlf_session"})
    assert again["changed"] is False


def test_absent_in_check_mode_keeps_everything(lab, capsys):
    call(capsys, args(lab))
    result = call(capsys, {"state": "absent", "netns": lab["netns"], "vxlan_device": "mlfvx0", "table": "mlf_session"},
                  check_mode=True)
    assert result["changed"] is True
    assert link(lab, "mlfvx0") is not None and table_text(lab) is not None


def test_absent_without_namespace_is_fine(capsys):
    result = call(capsys, {"state": "absent", "netns": "mlf-does-not-exist", "vxlan_device": "mlfvx0", "table": "t"})
    assert result["rc"] == 0 and result["changed"] is False


def test_absent_refuses_to_delete_a_non_vxlan_device(lab, capsys):
    result = call(capsys, {"state": "absent", "netns": lab["netns"], "vxlan_device": "mlfs0", "table": "mlf_session"})
    assert result["rc"] == 1 and "not a VXLAN device" in result["msg"]
    assert link(lab, "mlfs0") is not None


@pytest.mark.parametrize("overrides,message", [
    ({"rules": [dict(RULES[0], number=0)]}, "rules[0].number: must be an integer 1-32766"),
    ({"rules": [dict(RULES[0], protocol="icmp", destination_ports="80")]}, "rules[0].destination_ports: port ranges are only allowed"),
    ({"vxlan_device": "mlf-much-too-long0"}, "vxlan_device must be an interface name of 1-15 characters"),
    ({"table": "9table"}, "table must be a letter"),
    ({"target_ip": "fd00::2"}, "same IP family"),
    ({"local_ip": "10.98.0"}, "must be IP addresses"),
    ({"vni": 16777216}, "vni must be 0-16777215"),
    ({"rules": RAW_RULES}, "rules[0]: is not a normalized rule in the normalized order (as experiment_info returns"),
    ({"rules": list(reversed(RULES))}, "rules[0]: is not a normalized rule in the normalized order"),
    ({"source_device": "mlfnope0"}, "source_device mlfnope0 does not exist"),
])
def test_bad_arguments_fail_before_changing_anything(lab, capsys, overrides, message):
    result = call(capsys, args(lab, **overrides))
    assert result["rc"] == 1 and message in result["msg"], result["msg"]
    assert link(lab, "mlfvx0") is None and table_text(lab) is None


def test_missing_namespace_fails_for_present(capsys):
    result = call(capsys, {"netns": "mlf-does-not-exist", "source_device": "x0", "local_ip": LOCAL,
                           "target_ip": TARGET, "vxlan_device": "mlfvx0", "table": "t"})
    assert result["rc"] == 1 and "network namespace mlf-does-not-exist does not exist" in result["msg"]
