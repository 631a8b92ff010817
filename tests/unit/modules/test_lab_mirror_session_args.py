"""lab_mirror_session refuses bad extra_sessions before it touches any device (no root
needed: the arguments are checked before the namespace is entered)."""

import pytest

from ansible_collections.mirrorlab.vpc.plugins.modules import lab_mirror_session

from conftest import module_main

BASE = {"source_device": "mlfs0", "local_ip": "10.0.1.7", "target_ip": "10.0.0.1", "vxlan_device": "mlfvx0",
        "table": "mlf_args", "session_number": 1}


@pytest.mark.parametrize("extra,message", [
    ([{"session_number": 1, "vxlan_device": "mlfvx1"}], "distinct session numbers"),
    # one device for two VNIs (sessions of one VNI and target may share theirs)
    ([{"session_number": 2, "vxlan_device": "mlfvx0", "vni": 7}], "sessions that share a VXLAN device the same VNI and target"),
    ([{"session_number": 2, "vxlan_device": "mlfvx0", "target_ip": "10.0.0.2"}], "share a VXLAN device the same VNI and target"),
    ([{"session_number": n, "vxlan_device": "mlfvx%d" % n} for n in (2, 3, 4)], "at most 3 sessions"),
    ([{"session_number": 0, "vxlan_device": "mlfvx1"}], "extra_sessions[0]: session_number must be 1-32766"),
    ([{"session_number": 2, "vxlan_device": "mlfvx1", "vni": 2 ** 24}], "extra_sessions[0]: vni must be"),
    ([{"session_number": 2, "vxlan_device": "a" * 16}], "extra_sessions[0]: vxlan_device must be an interface name"),
    ([{"session_number": 2, "vxlan_device": "mlfvx1", "target_ip": "fd00::1"}], "same IP family"),
    ([{"session_number": 2, "vxlan_device": "mlfvx1", "rules": [{"direction": "in"}]}], "extra_sessions[0].rules"),
    ([{"session_number": 2, "vxlan_device": "mlfvx1", "filter": []}], "unknown key(s) filter"),
])
def test_bad_extra_sessions_are_refused(capsys, extra, message):
    code, result = module_main(lab_mirror_session.main, dict(BASE, extra_sessions=extra), capsys)
    assert code == 1 and result["failed"] is True
    assert message in result["msg"]


def test_extra_sessions_share_a_device_of_their_vni_and_target_else_get_their_own():
    params = dict(BASE, vni=100, dstport=4789, rules=[], extra_sessions=[
        {"session_number": 2},  # VNI 100 and the target of the session: its device
        {"session_number": 3, "vni": 300},  # another VNI: <vxlan_device>s<number>
        {"session_number": 4, "vni": 300, "vxlan_device": "mine"},  # named: as named
    ])
    devices = [(s["session_number"], s["vxlan_device"], s["vni"]) for s in lab_mirror_session.sessions_of(params)]
    assert devices == [(1, "mlfvx0", 100), (2, "mlfvx0", 100), (3, "mlfvx0s3", 300), (4, "mine", 300)]
