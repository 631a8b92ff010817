"""mirrorlab.vpc.vni_map: the per-ENI VNI rule, the map's content, the file (idempotent, check
mode), and that the pcap report reads the file it writes."""

import json

from ansible_collections.mirrorlab.vpc.plugins.module_utils import pcap_report
from ansible_collections.mirrorlab.vpc.plugins.module_utils.experiment import build_experiment
from ansible_collections.mirrorlab.vpc.plugins.modules import vni_map

from conftest import module_main

ENIS = [
    {"id": "eni-0fedcba9876543210", "zone": "eu-west-1b", "description": "ELB app/mirrorlab-alb/0123456789abcdef",
     "source": "sample_service"},
    {"id": "eni-0123456789abcdef0", "zone": "eu-west-1a", "description": "ELB app/mirrorlab-alb/0123456789abcdef",
     "source": "sample_service"},
]


def session(**values):
    experiment, errors = build_experiment({"backend": "aws", "session": values})
    assert errors == []
    return experiment["session"]


def run(capsys, check_mode=False, **args):
    if check_mode:
        args["_ansible_check_mode"] = True
    return module_main(vni_map.main, args, capsys)


def test_one_vni_per_eni_in_id_order_and_the_report_reads_the_file(capsys, tmp_path):
    dest = tmp_path / "captures" / "vni-map.json"
    code, result = run(capsys, session=session(vni=500, vni_per_eni=True), network_interfaces=ENIS, dest=str(dest))
    assert code == 0 and result["changed"] is True
    assert result["eni_vnis"] == {"eni-0123456789abcdef0": 500, "eni-0fedcba9876543210": 501}
    assert json.loads(dest.read_text())["vnis"]["501"] == {
        "eni": "eni-0fedcba9876543210", "zone": "eu-west-1b", "session_number": 1, "source": "sample_service",
        "description": "ELB app/mirrorlab-alb/0123456789abcdef"}
    # the report names the ENI and zone of a file captured on the link of VNI 501
    pcap = dest.parent / "target_capv501_capv501-vni501-20261202T000000Z.pcap"
    source = pcap_report.file_source(str(pcap), {})
    assert (source["vni"], source["eni"], source["zone"]) == (501, "eni-0fedcba9876543210", "eu-west-1b")
    # again: nothing changes; check mode writes nothing
    assert run(capsys, session=session(vni=500, vni_per_eni=True), network_interfaces=ENIS, dest=str(dest))[1]["changed"] is False
    before = dest.read_text()
    code, result = run(capsys, check_mode=True, session=session(vni=600, vni_per_eni=True), network_interfaces=ENIS,
                       dest=str(dest))
    assert result["changed"] is True and dest.read_text() == before


def test_one_vni_for_all_enis_and_the_extra_sessions(capsys):
    code, result = run(capsys, network_interfaces=ENIS, session=session(vni=7, extra=[
        {"session_number": 2, "vni": 8}, {"session_number": 3}]))
    assert code == 0 and result["changed"] is False
    assert result["eni_vnis"] == {"eni-0123456789abcdef0": 7, "eni-0fedcba9876543210": 7}
    both = ["eni-0123456789abcdef0", "eni-0fedcba9876543210"]
    assert result["vnis"] == {"7": {"enis": both, "session_numbers": [1, 3]}, "8": {"enis": both, "session_numbers": [2]}}


def test_vnis_above_the_maximum_are_refused(capsys):
    code, result = run(capsys, session=session(vni=16777215, vni_per_eni=True), network_interfaces=ENIS)
    assert code == 1 and "need VNIs up to 16777216" in result["msg"] and "mirrorlab_session.vni" in result["msg"]
