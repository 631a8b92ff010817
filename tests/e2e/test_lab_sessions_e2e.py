"""Several sessions per source and one VNI per source ENI, in the lab, with real packets.

One deployment (`mlses`), re-run with another experiment (the re-run reconciles):

1. three sessions on the ALB's interface (session numbers 1, 2, 3 with VNIs 701, 12345, 703):
   every packet is in the capture link of the lowest-numbered session whose filter accepts it,
   and in no other (AWS's priority, "Traffic mirror sessions");
2. the ALB's and the backend's interfaces with `vni_per_eni`: each interface's packets arrive
   with its own VNI on its own capture link, and vni-map.json next to the fetched captures says
   which VNI is which ENI and source.

The pcaps are read with tcpdump, not the project's code.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labtools import ROOT, leftovers, playbook

from ansible_collections.mirrorlab.vpc.plugins.modules.lab_plan import short_id

pytestmark = [
    pytest.mark.slow,
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
]

DEPLOYMENT = "mlses"
ALB, BACKEND, CLIENT = "10.0.0.10", "10.0.0.11", "198.51.100.10"
ALB_B = "10.0.128.10"  # the ALB's interface in zone b
CAPTURE = Path(f"/var/lib/mirrorlab/ml-{DEPLOYMENT}/machine/root/var/lib/mirrorlab/capture")
REQUESTS, DATAGRAMS = 5, 3
ANY = "0.0.0.0/0"


def rule(direction, number, protocol="all", **ports):
    return {"direction": direction, "number": number, "action": "accept", "protocol": protocol,
            "source_cidr": ANY, "destination_cidr": ANY, **ports}


def tcpdump(link, expression="", vni=None):
    """The packets of a capture link's files (of one VNI: the files name it) matching a BPF
    expression (tcpdump -r)."""
    lines = []
    for path in sorted((CAPTURE / link).glob(f"{link}-vni{vni}-*.pcap*" if vni else "*.pcap*")):
        out = subprocess.run(["tcpdump", "-nn", "-r", str(path), *([expression] if expression else [])],
                             capture_output=True, text=True)
        lines += [line for line in out.stdout.splitlines() if line.strip()]
    return lines


def traffic(alb=ALB):
    for i in range(REQUESTS):
        out = subprocess.run(["ip", "netns", "exec", f"ml-{DEPLOYMENT}-client", "curl", "-sf", "--max-time", "5",
                              f"http://{alb}/?s={i}"], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
    # Not TCP: UDP datagrams to the ALB's port 9 (discard).
    send = ("import socket,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
            f"for i in range({DATAGRAMS}):\n    s.sendto(b'mirrorlab-%d' % i, ('{ALB}', 9)); time.sleep(0.05)\n")
    out = subprocess.run(["ip", "netns", "exec", f"ml-{DEPLOYMENT}-client", sys.executable, "-c", send],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    time.sleep(2)  # tcpdump -U: in the file within about a second


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    captures = tmp_path_factory.mktemp("captures")
    yield captures
    playbook(ROOT / "teardown.yml", {"mirrorlab_deployment": DEPLOYMENT, "mirrorlab_discard_captures": True,
                                     "mirrorlab_captures_dir": str(captures)}, check=False)
    assert leftovers(DEPLOYMENT, "ml" + short_id(DEPLOYMENT)) == {}


def test_a_packet_goes_to_the_lowest_numbered_accepting_session_once(lab):
    experiment = {
        "mirrorlab_deployment": DEPLOYMENT, "mirrorlab_captures_dir": str(lab),
        "mirrorlab_sources": [{"type": "sample_service"}],
        # session 2: every TCP packet, both directions
        "mirrorlab_filter": {"rules": [rule("ingress", 100, "tcp"), rule("egress", 100, "tcp")]},
        "mirrorlab_session": {"vni": 12345, "session_number": 2, "extra": [
            # session 1: only requests to port 80 arriving at the ALB
            {"session_number": 1, "vni": 701, "filter": {"rules": [rule("ingress", 100, "tcp", destination_ports="80")]}},
            # session 3: everything (what sessions 1 and 2 leave: here the pings)
            {"session_number": 3, "vni": 703, "filter": {"rules": [rule("ingress", 100), rule("egress", 100)]}},
        ]},
    }
    proc, recap = playbook(ROOT / "site.yml", experiment, timeout=600)
    assert recap["failed"] == 0, proc.stdout[-3000:]
    assert "(VNI 12345, 701, 703, 3 session(s) per source," in " ".join(proc.stdout.split())
    links = sorted(p.name for p in CAPTURE.iterdir() if p.is_dir())
    assert links == ["capture0", "capv701", "capv703"], links
    traffic()

    # Session 1 (VNI 701): exactly the packets to the ALB's port 80, nothing else.
    first = tcpdump("capv701")
    assert len(first) >= REQUESTS * 3
    assert len(first) == len(tcpdump("capv701", f"tcp and dst host {ALB} and dst port 80")), first
    # Session 2 (VNI 12345): TCP only, and none of session 1's packets.
    second = tcpdump("capture0")
    assert second and len(second) == len(tcpdump("capture0", "tcp")), second[:20]
    assert tcpdump("capture0", f"dst host {ALB} and tcp dst port 80") == []
    assert tcpdump("capture0", f"src host {ALB} and tcp src port 80"), "the ALB's answers go to session 2"
    # Session 3 (VNI 703): what neither accepted: the datagrams (and any ICMP answer), no TCP.
    assert tcpdump("capv703") and tcpdump("capv703", "tcp") == []
    assert len(tcpdump("capv703", f"udp and dst host {ALB} and dst port 9")) == DATAGRAMS
    assert tcpdump("capture0", "not tcp") == [] and tcpdump("capv701", "udp") == []
    # So every packet is in one link only: the three filters above split the packets into
    # classes (to port 80 at the ALB; other TCP; the rest) and each class is in one link.


def test_one_vni_per_source_eni_and_the_vni_map(lab):
    experiment = {
        "mirrorlab_deployment": DEPLOYMENT, "mirrorlab_captures_dir": str(lab),
        "mirrorlab_sources": [{"type": "sample_service"}, {"type": "ecs_service", "cluster": "lab", "service": "backend"}],
        "mirrorlab_filter": {"rules": [rule("ingress", 100), rule("egress", 100)]},
        "mirrorlab_session": {"vni": 4000, "vni_per_eni": True},
    }
    proc, recap = playbook(ROOT / "site.yml", experiment, timeout=600)
    assert recap["failed"] == 0, proc.stdout[-3000:]
    out = " ".join(proc.stdout.split())
    assert "(VNI 4000, 4001, 4002, 1 session(s) per source," in out
    assert f"VNI map: {lab}/ml-{DEPLOYMENT}-target/vni-map.json" in out
    vni_map = json.loads((lab / f"ml-{DEPLOYMENT}-target" / "vni-map.json").read_text())["vnis"]
    assert sorted(vni_map) == ["4000", "4001", "4002"], vni_map
    by_source = {entry["source"]: (int(vni), entry) for vni, entry in vni_map.items()}
    # The ALB's two interfaces (zones a and b) and the backend's, each with its zone.
    assert sorted(by_source) == ["alb", "alb_b", "backend"]
    assert {s: e["zone"] for s, (dummy, e) in by_source.items()} == {"alb": "lab-a", "alb_b": "lab-b", "backend": "lab-a"}
    # The ENIs sorted by id get the VNIs in order.
    assert [e["eni"] for _, e in sorted(by_source.values(), key=lambda x: x[0])] == sorted(e["eni"] for e in vni_map.values())
    # One link per VNI; the links of the earlier sessions are gone (their pcap files stay).
    config = json.loads((CAPTURE.parents[3] / "etc/mirrorlab/capture/config.json").read_text())
    assert [(link["name"], link["vni"]) for link in config["links"]] == [
        ("capture0", 4000), ("capv4001", 4001), ("capv4002", 4002)]
    assert not list((CAPTURE.parents[3] / "etc/systemd/system").glob("mirrorlab-capture@capv70*"))
    assert list((CAPTURE / "capv701").glob("*.pcap*")), "the earlier session's captures are kept"
    link_of = {4000: "capture0", 4001: "capv4001", 4002: "capv4002"}
    before = {vni: len(tcpdump(link, vni=vni)) for vni, link in link_of.items()}
    traffic()
    alb_vni, backend_vni = by_source["alb"][0], by_source["backend"][0]
    # The ALB's interface sees the client; the backend's sees only the ALB and itself.
    assert len(tcpdump(link_of[alb_vni], f"host {CLIENT}", vni=alb_vni)) >= REQUESTS * 3
    assert len(tcpdump(link_of[backend_vni], vni=backend_vni)) > before[backend_vni]
    assert tcpdump(link_of[backend_vni], f"host {CLIENT}", vni=backend_vni) == []
    assert tcpdump(link_of[backend_vni], f"host {BACKEND}", vni=backend_vni)
    # Each ALB interface has its own session: requests to zone b's ALB address are on its VNI's
    # link only, with its backend leg (from its own address), and not on zone a's.
    alb_b_vni = by_source["alb_b"][0]
    assert tcpdump(link_of[alb_b_vni], f"host {ALB_B}", vni=alb_b_vni) == []
    traffic(ALB_B)
    assert len(tcpdump(link_of[alb_b_vni], f"host {CLIENT} and host {ALB_B}", vni=alb_b_vni)) >= REQUESTS * 3
    assert tcpdump(link_of[alb_b_vni], f"src host {ALB_B} and dst host {BACKEND} and tcp dst port 80", vni=alb_b_vni)
    assert tcpdump(link_of[alb_vni], f"host {ALB_B}", vni=alb_vni) == []
    assert tcpdump(link_of[alb_b_vni], f"host {ALB}", vni=alb_b_vni) == []
    # Files of another VNI in the links' directories are the first experiment's (capture0 had 12345).
    assert {p.name.split("-")[1] for p in (CAPTURE / "capv4001").glob("*.pcap*")} == {"vni4001"}
