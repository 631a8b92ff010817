"""Scale-out in the lab (issue 15 item 3), with real packets: mirrorlab_target.count 2 boots two
capture machines behind the NLB stand-in, which spreads the mirrored VXLAN packets by the outer
5-tuple, as an NLB UDP listener does.

1. site.yml with count 2: two machines, both configured by the capture role, the sessions send
   to the stand-in; a re-run changes nothing; verify is green over both machines; status shows
   both and the stand-in's spread; watch takes the machine asked for and names the other.
2. Traffic, recorded at the mirrored interfaces themselves (tcpdump in the ALB's namespaces,
   not the project's code), then teardown.yml without the count (it finds both machines) keeps
   both machines' pcaps: every flow (one direction of one connection, one outer 5-tuple) is on
   exactly one machine, both machines have flows, and the union of the machines' packets is
   exactly what the interfaces carried.
3. Scale in: count 2, then count 1 removes the second machine and the stand-in (its pcaps kept
   first) and points the sessions at the one machine.

The pcaps are read with tshark.
"""

import json
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from conftest import ROOT, ansible_env
from labtools import leftovers, netns_names, playbook, recap_all

from ansible_collections.mirrorlab.vpc.plugins.modules.lab_plan import short_id

pytestmark = [
    pytest.mark.slow,
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
]

DEPLOYMENT = "mlnlb"
MACHINES = (f"ml-{DEPLOYMENT}-target", f"ml-{DEPLOYMENT}-target-2")
NLB_NS, NLB = f"ml-{DEPLOYMENT}-nlb", "10.0.0.9"
ALBS = {f"ml-{DEPLOYMENT}-alb": "10.0.0.10", f"ml-{DEPLOYMENT}-alb-b": "10.0.128.10"}
REQUESTS = 40
FIELDS = ("frame.time_epoch", "ip.src", "ip.dst", "ip.id", "tcp.srcport", "tcp.dstport", "tcp.seq_raw", "tcp.ack_raw",
          "tcp.flags", "tcp.len")


def experiment(captures, **more):
    return {"mirrorlab_deployment": DEPLOYMENT, "mirrorlab_captures_dir": str(captures), **more}


def packets(path):
    """(time, identity) of each TCP packet of a pcap file; the identity is what a packet carries
    (addresses, IP id, ports, sequence and acknowledgement numbers, flags, payload length)."""
    out = subprocess.run(["tshark", "-r", str(path), "-Y", "tcp", "-T", "fields", "-E", "separator=,",
                          *[arg for field in FIELDS for arg in ("-e", field)]],
                         capture_output=True, text=True, check=True).stdout
    rows = [line.split(",") for line in out.splitlines() if line.strip()]
    return [(float(row[0]), tuple(row[1:])) for row in rows]


def flow(identity):
    """One direction of one connection: source and destination address and port."""
    src, dst, dummy, sport, dport = identity[:5]
    return src, sport, dst, dport


def kept(captures, machine):
    files = sorted((captures / machine).glob("*/*.pcap*"))
    return [p for path in files for p in packets(path)]


def vxlan_remote(netns, device="mirror0"):
    out = subprocess.run(["ip", "-n", netns, "-d", "-j", "link", "show", "dev", device], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out)[0]["linkinfo"]["info_data"]["remote"]


def record_sources(directory):
    """Start tcpdump on each ALB interface (TCP only, packet-buffered); returns the processes."""
    procs = []
    for netns in ALBS:
        procs.append(subprocess.Popen(["ip", "netns", "exec", netns, "tcpdump", "-i", "vpc0", "-U", "-nn", "-Z", "root", "-w",
                                       str(directory / f"{netns}.pcap"), "tcp"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    for proc in procs:  # "listening on vpc0" once the socket is bound
        line = proc.stderr.readline().decode()
        assert "listening" in line, line
    return procs


def stop(procs):
    for proc in procs:
        proc.send_signal(signal.SIGINT)
    for proc in procs:
        proc.wait(timeout=10)


def traffic():
    addresses = list(ALBS.values())
    for i in range(REQUESTS):  # a new connection each, alternating the ALB's zones
        out = subprocess.run(["ip", "netns", "exec", f"ml-{DEPLOYMENT}-client", "curl", "-sf", "--max-time", "5",
                              f"http://{addresses[i % 2]}/?n={i}"], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr


def forwarded():
    """{target address: packets} from the stand-in's counters."""
    out = subprocess.run(["ip", "netns", "exec", NLB_NS, "nft", "-j", "list", "chain", "ip", f"ml_{DEPLOYMENT}_nlb",
                          "forward"], capture_output=True, text=True, check=True).stdout
    counts = {}
    for item in json.loads(out)["nftables"]:
        rule = item.get("rule")
        if rule:
            address = next(e["match"]["right"] for e in rule["expr"] if "match" in e
                           and e["match"]["left"].get("payload", {}).get("field") == "daddr")
            counts[address] = next(e["counter"]["packets"] for e in rule["expr"] if "counter" in e)
    return counts


@pytest.fixture
def lab(tmp_path):
    captures = tmp_path / "captures"
    yield captures
    playbook(ROOT / "teardown.yml", experiment(tmp_path / "discarded", mirrorlab_discard_captures=True), check=False)
    assert leftovers(DEPLOYMENT, "ml" + short_id(DEPLOYMENT)) == {}


def test_two_machines_behind_the_nlb_stand_in_each_flow_on_one(lab, tmp_path):
    two = experiment(lab, mirrorlab_target={"count": 2})
    proc, recap = playbook(ROOT / "site.yml", two)
    said = " ".join(proc.stdout.split())
    assert (f"to {NLB} = NLB stand-in {NLB_NS}, each flow to one of {MACHINES[0]} 10.0.0.12, "
            f"{MACHINES[1]} 10.0.0.13.") in said, said[-3000:]
    hosts = recap_all(proc.stdout)
    assert all(hosts[m]["failed"] == 0 and hosts[m]["changed"] > 0 for m in MACHINES), hosts
    assert {vxlan_remote(netns) for netns in ALBS} == {NLB}
    proc, recap = playbook(ROOT / "site.yml", two)
    assert all(counts["changed"] == 0 for counts in recap_all(proc.stdout).values()), proc.stdout[-3000:]

    # verify probes every ALB interface and finds each session's copies on one machine or the other.
    out = subprocess.run([str(ROOT / "mirrorlab"), "verify", "--json", "-e", json.dumps(two)], capture_output=True,
                         text=True, env=ansible_env(), cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    verdict = json.loads(out.stdout)
    assert verdict["ok"] and len(verdict["sessions"]) == 2, verdict

    status = subprocess.run([str(ROOT / "mirrorlab"), "status", "-e", json.dumps(two)], capture_output=True, text=True,
                            env=ansible_env(), cwd=ROOT, timeout=300)
    shown = " ".join(status.stdout.split())
    assert status.returncode == 0 and all(f"'{m}: " in shown for m in MACHINES), shown[-3000:]
    assert f"NLB stand-in {NLB_NS} {NLB}, sent to each machine: 10.0.0.12 " in shown, shown[-3000:]

    # watch takes one machine (the first, or mirrorlab_watch_target) and names the others.
    proc, dummy = playbook(ROOT / "playbooks" / "watch.yml", dict(two, mirrorlab_watch_count=0,
                                                                 mirrorlab_watch_target=MACHINES[1]))
    said = " ".join(proc.stdout.split())
    assert f"on {MACHINES[1]}: sources " in said and f"the others (-e mirrorlab_watch_target=<name>): {MACHINES[0]};" in said
    proc, dummy = playbook(ROOT / "playbooks" / "watch.yml", dict(two, mirrorlab_watch_count=0,
                                                                 mirrorlab_watch_target="ml-mlnlb-target-9"), check=False)
    said = " ".join(proc.stdout.split())
    assert proc.returncode != 0 and ("mirrorlab_watch_target: ml-mlnlb-target-9 is not a running capture target of "
                                     f"mirrorlab_deployment {DEPLOYMENT}; choose one of {MACHINES[0]}, {MACHINES[1]}") in said

    sources = tmp_path / "sources"
    sources.mkdir()
    before = forwarded()
    procs = record_sources(sources)
    try:
        traffic()
        time.sleep(1)
    finally:
        stop(procs)
    spread = forwarded()
    assert all(spread[t] > before.get(t, 0) for t in ("10.0.0.12", "10.0.0.13")), (before, spread)

    # teardown.yml without mirrorlab_target: it finds both machines and keeps both machines' pcaps.
    proc, dummy = playbook(ROOT / "teardown.yml", experiment(lab))
    said = " ".join(proc.stdout.split())
    assert all(f"Kept the captures of {m}: " in said for m in MACHINES), said[-3000:]
    assert leftovers(DEPLOYMENT, "ml" + short_id(DEPLOYMENT)) == {}

    seen = [p for netns in ALBS for p in packets(sources / f"{netns}.pcap")]
    assert len(seen) >= REQUESTS * 6, len(seen)
    start = min(t for t, dummy in seen)
    flows = {flow(identity) for dummy, identity in seen}
    on = {m: kept(lab, m) for m in MACHINES}
    # Every flow of the traffic on exactly one machine, both machines with some.
    where = {f: [m for m in MACHINES if any(flow(i) == f for dummy, i in on[m])] for f in flows}
    assert all(len(ms) == 1 for ms in where.values()), {f: ms for f, ms in where.items() if len(ms) != 1}
    assert set(ms[0] for ms in where.values()) == set(MACHINES), Counter(ms[0] for ms in where.values())
    # The union of the machines' packets from the traffic's start on is exactly what the
    # interfaces carried (before it: site.yml's checks and verify's probes).
    union = [i for m in MACHINES for t, i in on[m] if t >= start]
    assert Counter(union) == Counter(i for dummy, i in seen)


def test_scale_in_keeps_the_removed_machines_pcaps(lab):
    playbook(ROOT / "site.yml", experiment(lab, mirrorlab_target={"count": 2}))
    assert {NLB_NS, MACHINES[1]} <= set(netns_names())
    traffic()
    time.sleep(1)  # the capture writes packet-buffered

    proc, dummy = playbook(ROOT / "site.yml", experiment(lab, mirrorlab_target={"count": 1}))
    said = " ".join(proc.stdout.split())
    assert f"Kept the captures of {MACHINES[1]}: " in said, said[-3000:]
    assert not {NLB_NS, MACHINES[1]} & set(netns_names())
    assert not Path(f"/var/lib/mirrorlab/ml-{DEPLOYMENT}/machine-2").exists()
    assert kept(lab, MACHINES[1]), "the removed machine's pcaps are kept"
    assert {vxlan_remote(netns) for netns in ALBS} == {"10.0.0.12"}
    assert "to 10.0.0.12." in said and "= NLB stand-in" not in said
