"""lab_mirror_session refuses bad extra_sessions before it touches any device (no root
needed: the arguments are checked before the namespace is entered)."""

import pytest

from ansible_collections.mirrorlab.vpc.plugins.modules import lab_mirror_session

from conftest import module_main

BASE = {"source_device": "mlfs0", "local_ip": "10.0.1.7", "target_ip": "10.0.0.1", "vxlan_device": "mlfvx0",
        "table": "mlf_args", "session_number": 1}


@pytest.mark.parametrize("extra,message", [
    ([{"session_number": 1, "vxlan_device": "mlfvx1"}], "distinct session numbers"),
    ([{"session_number": 2, "vxlan_device": "mlfvx0"}], "distinct session numbers and VXLAN devices"),
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
