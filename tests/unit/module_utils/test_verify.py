"""The verdict rules of ./mirrorlab verify (module_utils/verify.py), on hand-made copies, and the
reading of a hand-made pcap with the real tshark."""

import json
import shutil
import struct

import pytest

from ansible_collections.mirrorlab.vpc.plugins.module_utils import filter_rules, verify

ANY = "0.0.0.0/0"
CLIENT, ALB, BACKEND, OTHER = "198.51.100.10", "10.0.0.10", "10.0.0.11", "10.0.0.99"
T0 = 1000.0
PROBE = {"answered": 5, "requests": 5, "urls": ["http://10.0.0.10:80/"], "start": T0, "end": T0 + 10}
BOTH = [filter_rules.make_rule(d, 100, "accept", "all", ANY, ANY) for d in ("ingress", "egress")]
INGRESS_ONLY = [filter_rules.make_rule("ingress", 100, "accept", "all", ANY, ANY)]


def source(eni, address, rules=BOTH, present=True, vni=12345, extra=()):
    sessions = [verify._session(1, vni, rules, 0, present, "mirrorlab_filter")]
    sessions += [verify._session(n, v, r, 0, present, "extra") for n, v, r in extra]
    return {"eni": eni, "addresses": [address], "label": eni, "where": "table of " + eni, "sessions": sessions}


def copy(src, dst, sport, dport, seq, vni=12345, length=100, ip_len=86, time=T0 + 1):
    key = (src, dst, 6, sport, dport, "0x1", str(seq), "0", "0x18", ip_len)
    return {"time": time, "len": length, "version": 4, "src": src, "dst": dst, "proto": 6, "sport": sport,
            "dport": dport, "ip_len": ip_len, "vni": vni, "target": "t", "link": "capture0", "uri": None, "key": key}


def conversation(alb_copies=1, backend_copies=1, vni=12345):
    """A request and its answer: client -> ALB -> backend and back. The ALB's leg to the backend
    passes both mirrored ENIs: one copy from each session that mirrors it."""
    copies = [copy(CLIENT, ALB, 40000, 80, 1, vni), copy(ALB, CLIENT, 80, 40000, 2, vni)]
    for n in range(alb_copies + backend_copies):
        copies += [copy(ALB, BACKEND, 50000, 80, 3, vni), copy(BACKEND, ALB, 80, 50000, 4, vni)]
    return copies


DELTAS = [{"target": "t", "link": "capture0", "vni": 12345, "mtu": 8951, "rx_packets": 10, "rx_bytes": 1000}]


def judge(sources, copies, deltas=DELTAS, probe=PROBE):
    return verify.analyse(sources, copies, deltas, probe, (probe["start"], probe["end"]))


def test_healthy_two_sources_both_directions():
    verdict = judge([source("eni-alb", ALB), source("eni-be", BACKEND)], conversation())
    assert verdict["ok"] and not verdict["causes"]
    for eni in verdict["enis"]:
        assert eni["ingress"] and eni["egress"] and eni["ok"]
    alb = verdict["sessions"][0]
    # The ALB's ingress: the client's request and the backend's answer (both copies arrived).
    assert alb["ingress"] == {"packets": 2, "bytes": 200, "expected": 2, "state": "ok"}


def test_copies_outside_the_window_are_other_traffic():
    late = [dict(c, time=T0 + 60) for c in conversation()]
    verdict = judge([source("eni-alb", ALB)], late)
    assert not verdict["ok"] and verdict["copies"] == 0


def test_a_shared_packet_proves_nothing_when_a_copy_is_missing():
    # The backend's session is gone: the ALB <-> backend packets arrive once instead of twice.
    verdict = judge([source("eni-alb", ALB), source("eni-be", BACKEND)], conversation(backend_copies=0))
    enis = {e["eni"]: e for e in verdict["enis"]}
    assert enis["eni-alb"]["ok"]  # proven by its client leg, which only it mirrors
    assert not enis["eni-be"]["ingress"] and not enis["eni-be"]["egress"]
    assert "its session exists, but no mirrored packet came from it" in enis["eni-be"]["causes"][0]


def test_a_missing_session_is_named():
    verdict = judge([source("eni-alb", ALB), source("eni-be", BACKEND, present=False)], conversation(backend_copies=0))
    enis = {e["eni"]: e for e in verdict["enis"]}
    assert enis["eni-be"]["causes"] == ["nothing for this ENI: its session is missing (no table of eni-be)"]
    assert verdict["sessions"][1]["causes"][0].startswith("session missing: no table of eni-be")


def test_one_direction_names_the_filter():
    copies = [c for c in conversation(backend_copies=0) if c["dst"] == ALB]
    verdict = judge([source("eni-alb", ALB, rules=INGRESS_ONLY)], copies)
    (eni,) = verdict["enis"]
    assert eni["ingress"] and not eni["egress"]
    assert eni["causes"] == ["one direction only: no egress copy arrived, only ingress; the filter does not mirror egress "
                             "traffic such as tcp 10.0.0.10:80 -> 198.51.100.10:40000 (session 1 (mirrorlab_filter): "
                             "no egress rule matches it)"]


def test_a_rejecting_rule_is_named():
    rules = INGRESS_ONLY + [filter_rules.make_rule("egress", 50, "reject", "tcp", ANY, ANY),
                            filter_rules.make_rule("egress", 100, "accept", "all", ANY, ANY)]
    copies = [c for c in conversation(backend_copies=0) if c["dst"] == ALB]
    (eni,) = judge([source("eni-alb", ALB, rules=rules)], copies)["enis"]
    assert eni["causes"][0].endswith("(session 1 (mirrorlab_filter): egress rule 50 rejects it)")


def test_one_direction_lost_although_the_filter_accepts_it():
    copies = [c for c in conversation(backend_copies=0) if c["dst"] == ALB]
    (eni,) = judge([source("eni-alb", ALB)], copies)["enis"]
    assert "although the filter accepts egress packets such as tcp 10.0.0.10:80 -> 198.51.100.10:40000" in eni["causes"][0]


def test_nothing_arrived_with_counters_still():
    still = [dict(DELTAS[0], rx_packets=0, rx_bytes=0)]
    verdict = judge([source("eni-alb", ALB)], [], deltas=still)
    assert not verdict["ok"] and len(verdict["causes"]) == 1
    assert verdict["causes"][0].startswith("nothing arrived at any capture link of t during the probe")
    assert verdict["enis"][0]["causes"] == ["see above: nothing arrived at all"]


def test_counters_moved_but_no_pcap():
    verdict = judge([source("eni-alb", ALB)], [])
    assert verdict["causes"] == ["the capture links received 10 packet(s) during the probe but none is in the pcap "
                                 "files: the capture service is not writing (./mirrorlab status)"]


def test_an_unanswered_probe_is_the_cause():
    verdict = judge([source("eni-alb", ALB)], [], probe=dict(PROBE, answered=0, error="curl: (7) refused"))
    assert verdict["causes"][0].startswith("the probes got no answer (curl: (7) refused)")


def test_truncation_by_mtu_fails_and_by_packet_length_is_a_note():
    cut = [dict(c, len=60) if c["src"] == ALB else c for c in conversation(backend_copies=0)]
    verdict = judge([source("eni-alb", ALB)], cut)
    (session,) = verdict["sessions"]
    assert not verdict["ok"] and not session["ok"]
    assert "fewer bytes than sent: 2 egress copies arrived cut to at most 60 bytes" in session["causes"][0]
    assert "minus 54 bytes (IPv4 encapsulation)" in session["causes"][0]
    configured = [source("eni-alb", ALB)]
    configured[0]["sessions"][0]["packet_length"] = 60
    verdict = judge(configured, cut)
    assert verdict["ok"], verdict
    assert verdict["sessions"][0]["causes"] == [
        "note: 2 egress copies cut to 60 bytes, as mirrorlab_session packet_length 60 asks"]


def test_several_sessions_lowest_number_first():
    # Session 1 mirrors only ingress; session 2 (VNI 702) takes the rest. Each direction is
    # proven on its session's VNI; a third session gets nothing and is not probed.
    copies = [copy(CLIENT, ALB, 40000, 80, 1, 12345), copy(ALB, CLIENT, 80, 40000, 2, 702)]
    src = source("eni-alb", ALB, rules=INGRESS_ONLY, extra=[(2, 702, BOTH), (3, 703, BOTH)])
    verdict = judge([src], copies)
    assert verdict["ok"], verdict
    first, second, third = verdict["sessions"]
    assert (first["ingress"]["state"], first["egress"]["state"]) == ("ok", "not_probed")
    assert (second["ingress"]["state"], second["egress"]["state"]) == ("not_probed", "ok")
    assert third["ingress"]["state"] == third["egress"]["state"] == "not_probed"
    # The answer on the wrong VNI does not count for session 2.
    wrong = [copies[0], dict(copies[1], vni=703)]
    verdict = judge([src], wrong)
    assert not verdict["ok"] and verdict["sessions"][1]["egress"]["state"] == "missing"


def test_lab_and_aws_sources():
    session = {"session_number": 1, "packet_length": None,
               "extra": [{"session_number": 2, "vni": 9, "packet_length": None, "filter": {"rules": BOTH}}]}
    slots = [{"eni_id": "eni-a", "address": ALB, "node": "alb", "qualified_interface": "ns/vpc0", "table": "t_a",
              "netns": "ns"}]
    (src,) = verify.lab_sources(slots, {"eni-a": 12345}, session, BOTH, [{"lab_session": {"table": "t_a"}, "rc": 0}])
    assert [(s["session_number"], s["vni"], s["present"]) for s in src["sessions"]] == [(1, 12345, True), (2, 9, True)]
    (gone,) = verify.lab_sources(slots, {"eni-a": 12345}, session, BOTH, [{"lab_session": {"table": "t_a"}, "rc": 1}])
    assert not gone["sessions"][0]["present"]
    enis = [{"id": "eni-a", "private_ip": ALB, "description": "ELB app/x/1", "availability_zone": "us-east-1a"},
            {"id": "eni-b", "private_ip": "", "description": "", "availability_zone": ""}]
    deployed = [{"network_interface_id": "eni-a", "session_number": 1, "virtual_network_id": 77,
                 "traffic_mirror_filter_id": "tmf-1", "packet_length": 100},
                {"network_interface_id": "eni-c", "session_number": 1, "virtual_network_id": 78}]  # not a source now
    a, b = verify.aws_sources(enis, {"eni-a": 5, "eni-b": 6}, session, BOTH, deployed)
    # The deployed session's VNI and packet length; the further session is not deployed.
    assert [(x["session_number"], x["vni"], x["present"], x["packet_length"]) for x in a["sessions"]] == [
        (1, 77, True, 100), (2, 9, False, 0)]
    assert a["label"] == "eni-a (ELB app/x/1, us-east-1a)" and a["addresses"] == [ALB]
    assert (b["eni"], b["label"], b["addresses"], b["sessions"][0]["vni"], b["sessions"][0]["present"]) == (
        "eni-b", "eni-b", [], 6, False)
    assert b["where"] == "traffic mirror session number 1/2 on eni-b"


def test_link_counters_and_deltas():
    ip_json = json.dumps([{"ifname": "capture0", "mtu": 8950, "linkinfo": {"info_kind": "vxlan", "info_data": {"id": 12345}},
                           "stats64": {"rx": {"packets": 15, "bytes": 1500}}}])
    before = {"t": verify.link_counters(ip_json)}
    after = {"t": verify.link_counters(ip_json.replace("15,", "25,").replace("1500", "2600"))}
    assert verify.counter_deltas(before, after) == [
        {"target": "t", "link": "capture0", "vni": 12345, "mtu": 8950, "rx_packets": 10, "rx_bytes": 1100}]


def _pcap(path, frames):
    with open(path, "wb") as handle:
        handle.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for ts, frame, wire in frames:
            handle.write(struct.pack("<IIII", int(ts), int((ts % 1) * 1e6), len(frame), wire) + frame)


def _frame(src, dst, sport, dport, payload, ip_len=None):
    tcp = struct.pack("!HHIIBBHHH", sport, dport, 7, 0, 5 << 4, 0x18, 65535, 0, 0) + payload
    total = ip_len or 20 + len(tcp)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0x1234, 0x4000, 64, 6, 0,
                     bytes(map(int, src.split("."))), bytes(map(int, dst.split("."))))
    return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + tcp


@pytest.mark.skipif(shutil.which("tshark") is None, reason="needs tshark")
def test_read_copies_with_tshark(tmp_path):
    whole = _frame(CLIENT, ALB, 40000, 80, b"GET /?mirrorlab-verify=abc-1 HTTP/1.1\r\nHost: x\r\n\r\n")
    cut = _frame(ALB, CLIENT, 80, 40000, b"x" * 10, ip_len=1500)  # arrived with 50 of 1514 bytes
    path = tmp_path / "capture0-vni777-20261203T120000Z.pcap"
    _pcap(path, [(T0 + 0.5, whole, len(whole)), (T0 + 0.6, cut, len(cut))])
    first, second = verify.read_copies(str(path), "t", "capture0")
    assert (first["vni"], first["src"], first["dst"], first["sport"], first["dport"]) == (777, CLIENT, ALB, 40000, 80)
    assert first["uri"] == "/?mirrorlab-verify=abc-1" and first["len"] == len(whole) == first["ip_len"] + 14
    assert second["ip_len"] == 1500 and second["len"] == len(cut) < second["ip_len"] + 14
    assert abs(first["time"] - (T0 + 0.5)) < 1e-3
    with pytest.raises(verify.VerifyError):
        verify.read_copies(str(tmp_path / "other.pcap"))


def test_nothing_arrived_because_the_filter_takes_none_of_the_probe():
    udp_only = [filter_rules.make_rule(d, 100, "accept", "udp", ANY, ANY) for d in ("ingress", "egress")]
    still = [dict(DELTAS[0], rx_packets=0, rx_bytes=0)]
    probe = dict(PROBE, flows=[{"client": CLIENT, "server": ALB, "port": 80}])
    verdict = judge([source("eni-alb", ALB, rules=udp_only)], [], deltas=still, probe=probe)
    assert verdict["causes"] == ["nothing arrived, and no session's filter mirrors the probe's packets: eni-alb ingress "
                                 "tcp 198.51.100.10:49152 -> 10.0.0.10:80 (session 1 (mirrorlab_filter): no ingress rule "
                                 "matches it)"]
    # With a filter that takes the probe, the same silence is the target's path.
    verdict = judge([source("eni-alb", ALB)], [], deltas=still, probe=probe)
    assert verdict["causes"][0].startswith("nothing arrived at any capture link")
