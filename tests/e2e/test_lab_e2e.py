"""The local lab end to end: site.yml, HTTP traffic, mirrored packets in the target's pcaps
for each filter preset and a user rule set, idempotent re-runs, teardown leaving nothing.

One deployment (`mle2e`, never the user's `mirrorlab`) is deployed once and reconciled between
the cases by re-running site.yml with other variables, as a user would; the tests run in order.
"""

import glob
import json
import os
import re
import subprocess
import time
import uuid

import pytest

from labtools import ROOT, leftovers, module, netns_names, playbook, recap_all

pytestmark = [
    pytest.mark.slow,
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
]

DEPLOYMENT = "mle2e"
CLIENT, ALB, BACKEND = "198.51.100.10", "10.0.0.10", "10.0.0.11"


def site(**variables):
    extra = {"mirrorlab_deployment": DEPLOYMENT, **variables}
    proc, _ = playbook(ROOT / "site.yml", extra, timeout=600)
    return proc


def http(path, count=3):
    """HTTP requests from the client namespace to the ALB; all must succeed."""
    for i in range(count):
        out = subprocess.run(["ip", "netns", "exec", f"ml-{DEPLOYMENT}-client", "curl", "-sf", "--max-time", "5",
                              f"http://{ALB}{path}?n={i}"], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        assert "backend" in out.stdout


def http_requests(pcap_dir):
    """(src, dst, uri) of every HTTP request in every capture file, and (src, dst) of responses."""
    requests, responses = set(), set()
    for path in sorted(glob.glob(os.path.join(pcap_dir, "**", "*"), recursive=True)):
        if not os.path.isfile(path) or not re.search(r"\.pcap(ng)?\d*(\.gz)?$", path):
            continue
        out = subprocess.run(["tshark", "-n", "-r", path, "-Y", "http", "-T", "fields", "-e", "ip.src", "-e",
                              "ip.dst", "-e", "http.request.uri", "-e", "http.response.code"],
                             capture_output=True, text=True)
        for line in out.stdout.splitlines():
            src, dst, uri, code = (line.split("\t") + ["", "", "", ""])[:4]
            if uri:
                requests.add((src, dst, uri.split("?")[0]))
            if code:
                responses.add((src, dst))
    return requests, responses


class Lab:
    pcap_dir = None


@pytest.fixture(scope="module")
def lab():
    state = Lab()
    yield state
    # Whatever happened, leave nothing behind.
    playbook(ROOT / "teardown.yml", {"mirrorlab_deployment": DEPLOYMENT}, check=False)


def mirrored(state, *, present, absent=(), timeout=20):
    """Wait until every `present` request is in the pcaps; then none of `absent` may be."""
    deadline = time.monotonic() + timeout
    while True:
        requests, responses = http_requests(state.pcap_dir)
        if set(present) <= requests or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    missing = set(present) - requests
    assert not missing, f"not mirrored: {missing}; captured: {sorted(requests)}"
    unexpected = set(absent) & requests
    assert not unexpected, f"mirrored although filtered out: {unexpected}"
    return requests, responses


def legs(marker):
    return {"client_alb": (CLIENT, ALB, marker), "alb_backend": (ALB, BACKEND, marker)}


def exercise(state, name, expect, not_expect, timeout=40):
    """HTTP traffic with a fresh marker; then check which legs were mirrored.

    The capture tool writes its files through a buffer, so after the marker's requests more
    requests (with a flush marker) follow in batches until the flush marker's first expected
    leg is in the files: everything of the marker has been written by then, and the absent legs
    can be judged."""
    marker = f"/{name}-{uuid.uuid4().hex[:8]}"
    flush = marker + "-flush"
    http(marker)
    flushed = legs(flush)[expect[0]]
    deadline = time.monotonic() + timeout
    while True:
        http(flush, count=20)
        if flushed in http_requests(state.pcap_dir)[0] or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    mirrored(state, present=[legs(marker)[leg] for leg in expect] + [flushed],
             absent=[legs(marker)[leg] for leg in not_expect] + [legs(flush)[leg] for leg in not_expect], timeout=1)
    return marker


def test_deploy_all_tcp(lab):
    proc = site(mirrorlab_filter={"preset": "all_tcp"})
    match = re.search(r"Pcaps \(host path\): (\S+)", proc.stdout)
    assert match, proc.stdout[-3000:]
    lab.pcap_dir = match.group(1).rstrip("'\",")
    assert os.path.isdir(lab.pcap_dir), lab.pcap_dir
    assert f"ip netns exec ml-{DEPLOYMENT}-client curl" in proc.stdout and "teardown.yml" in proc.stdout
    # Nothing in the host's root namespace: no address or route of the lab there.
    addrs = subprocess.run(["ip", "-4", "addr"], capture_output=True, text=True).stdout
    routes = subprocess.run(["ip", "route"], capture_output=True, text=True).stdout
    assert "10.0.0." not in addrs and "198.51.100." not in addrs + routes and "10.0.0.0/16" not in routes
    # Inside its own namespace each interface has a plain name; the router's carry the prefix.
    plan = module("lab_plan", {"deployment": DEPLOYMENT})["lab"]
    assert link_names(f"ml-{DEPLOYMENT}-alb") == {"lo", "vpc0", "mirror0"}
    assert link_names(f"ml-{DEPLOYMENT}-client") == {"lo", "inet0"}
    assert link_names(f"ml-{DEPLOYMENT}-alb-b") == {"lo", "vpc0", "mirror0"}
    assert link_names(f"ml-{DEPLOYMENT}-router") == {"lo"} | {plan["prefix"] + n for n in (
        "vpc", "vpcb", "inet", "alb", "albb", "backend", "target")}
    # The ALB has an interface in each zone, each with its session (as on AWS: one ENI per zone).
    said = " ".join(proc.stdout.split())
    assert f"Sources mirrored: ml-{DEPLOYMENT}-alb/vpc0, ml-{DEPLOYMENT}-alb-b/vpc0 " in said
    assert f"Zones (subnets): a 10.0.0.0/17, b 10.0.128.0/17" in said
    for alb in plan["albs"]:
        assert f"ALB zone {alb['zone']} {alb['qualified_interface']} = {alb['eni_id']}" in said


def link_names(netns):
    links = json.loads(subprocess.run(["ip", "-n", netns, "-j", "link", "show"], capture_output=True, text=True,
                                      check=True).stdout)
    return {link["ifname"] for link in links}


def test_rerun_changes_nothing(lab):
    proc = site(mirrorlab_filter={"preset": "all_tcp"})
    recap = recap_all(proc.stdout)
    assert recap and all(r["changed"] == 0 for r in recap.values()), recap


def test_all_tcp_mirrors_both_legs(lab):
    exercise(lab, "all-tcp", expect=["client_alb", "alb_backend"], not_expect=[])


def test_traffic_playbook(lab):
    marker = f"/traffic-{uuid.uuid4().hex[:8]}"
    proc, _ = playbook(ROOT / "playbooks" / "lab_traffic.yml", {
        "mirrorlab_deployment": DEPLOYMENT, "lab_traffic_requests": 5, "lab_traffic_path": marker})
    assert "5 requests, status codes: 200" in proc.stdout
    exercise(lab, "traffic-flush", expect=["client_alb"], not_expect=[])  # pushes the files out
    mirrored(lab, present=[legs(marker)["client_alb"], legs(marker)["alb_backend"]])


def test_alb_client_mirrors_only_client_leg(lab):
    site(mirrorlab_filter={"preset": "alb_client"})
    exercise(lab, "alb-client", expect=["client_alb"], not_expect=["alb_backend"])


def test_alb_target_mirrors_only_backend_leg(lab):
    site(mirrorlab_filter={"preset": "alb_target"})
    exercise(lab, "alb-target", expect=["alb_backend"], not_expect=["client_alb"])


def test_user_rules_reject_before_accept(lab):
    rules = [
        # Requests arriving at the ALB (ingress, to port 80) are rejected by rule 100 before
        # rule 200 accepts all TCP: the client's requests are not mirrored, the backend's
        # responses (ingress, from port 80) are.
        {"direction": "ingress", "number": 100, "action": "reject", "protocol": "tcp",
         "source_cidr": "0.0.0.0/0", "destination_cidr": "0.0.0.0/0", "destination_ports": "80"},
        {"direction": "ingress", "number": 200, "action": "accept", "protocol": "tcp",
         "source_cidr": "0.0.0.0/0", "destination_cidr": "0.0.0.0/0"},
        {"direction": "egress", "number": 100, "action": "accept", "protocol": "tcp",
         "source_cidr": "0.0.0.0/0", "destination_cidr": "0.0.0.0/0"},
    ]
    site(mirrorlab_filter={"rules": rules})
    exercise(lab, "user-rules", expect=["alb_backend"], not_expect=["client_alb"])
    _, responses = http_requests(lab.pcap_dir)
    assert (BACKEND, ALB) in responses  # ingress rule 200 accepted the backend's responses


def test_backend_interface_as_source(lab):
    eni = module("lab_plan", {"deployment": DEPLOYMENT})["lab"]["nodes"]["backend"]["eni_id"]
    proc = site(mirrorlab_filter={"preset": "all_tcp"},
                mirrorlab_sources=[{"type": "network_interface", "id": eni}])
    # the summary names the lab's ENI ids (the callback wraps long lines)
    assert f"backend ml-{DEPLOYMENT}-backend/vpc0 = {eni}" in " ".join(proc.stdout.split())
    # The ALB's session is gone: only the backend's interface is mirrored now.
    tables = subprocess.run(["ip", "netns", "exec", f"ml-{DEPLOYMENT}-alb", "nft", "list", "tables"],
                            capture_output=True, text=True).stdout
    assert "netdev" not in tables
    exercise(lab, "backend-source", expect=["alb_backend"], not_expect=["client_alb"])


def test_teardown_leaves_nothing(lab):
    plan = module("lab_plan", {"deployment": DEPLOYMENT})["lab"]
    pids = set()
    for ns in netns_names():
        if ns.startswith(f"ml-{DEPLOYMENT}-"):
            out = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout
            pids |= {int(p) for p in out.split()}
    assert pids, "the lab's namespaces should hold the sample service and the machine"

    # A partial state: the router namespace is already gone and the ALB's pid file lost; the
    # teardown must still find and end the ALB's processes (they live in its namespace).
    subprocess.run(["ip", "netns", "del", f"ml-{DEPLOYMENT}-router"], check=True)
    os.unlink(os.path.join(plan["state_dir"], "alb.pid"))

    first, _ = playbook(ROOT / "teardown.yml", {"mirrorlab_deployment": DEPLOYMENT})
    assert leftovers(DEPLOYMENT, plan["prefix"]) == {}
    time.sleep(0.5)
    survivors = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as handle:
                if handle.read().rsplit(")", 1)[1].split()[0] != "Z":
                    survivors.append(pid)
        except OSError:
            pass
    assert not survivors, f"processes of the lab still running: {survivors}"

    second, _ = playbook(ROOT / "teardown.yml", {"mirrorlab_deployment": DEPLOYMENT})
    recap = recap_all(second.stdout)
    assert recap["localhost"]["changed"] == 0, second.stdout[-3000:]
