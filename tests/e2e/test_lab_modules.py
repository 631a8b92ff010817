"""The lab's own modules: lab_plan (pure), lab_netns and lab_daemon (root, namespaces)."""

import ipaddress
import json
import os
import re
import subprocess
import time
import uuid

import pytest

from conftest import ROOT, ansible_env, run
from labtools import leftovers, module, netns_names

from ansible_collections.mirrorlab.vpc.plugins.module_utils import experiment
from ansible_collections.mirrorlab.vpc.plugins.modules import lab_plan

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


# ---- lab_plan ------------------------------------------------------------------------------

def test_plan_names_and_addresses():
    lab = module("lab_plan", {"deployment": "mirrorlab"})["lab"]
    assert lab["namespaces"] == dict({n: f"ml-mirrorlab-{n}" for n in ("router", "client", "alb", "backend", "target")},
                                     alb_b="ml-mirrorlab-alb-b")
    nodes = lab["nodes"]
    assert nodes["router"]["bridge_address"] == "10.0.0.1"
    assert (nodes["alb"]["address"], nodes["backend"]["address"], nodes["target"]["address"]) == (
        "10.0.0.10", "10.0.0.11", "10.0.0.12")
    # Two zones: the VPC's halves, each a bridge with the router's address; the ALB has an
    # interface in each (an ALB has one ENI per zone), the backend and the target are in zone a.
    assert {z: (v["subnet"], v["router"]) for z, v in lab["zones"].items()} == {
        "a": ("10.0.0.0/17", "10.0.0.1"), "b": ("10.0.128.0/17", "10.0.128.1")}
    assert [(a["node"], a["zone"], a["address"], a["qualified_interface"]) for a in lab["albs"]] == [
        ("alb", "a", "10.0.0.10", "ml-mirrorlab-alb/vpc0"), ("alb_b", "b", "10.0.128.10", "ml-mirrorlab-alb-b/vpc0")]
    assert nodes["alb_b"]["gateway"] == "10.0.128.1" and nodes["alb"]["prefixlen"] == 17
    assert [b["addresses"] for b in lab["topology"]["bridges"]] == [["10.0.0.1/17"], ["10.0.128.1/17"]]
    assert [s["name"] for s in lab["services"]] == ["backend", "alb", "alb_b"]
    assert nodes["client"]["address"] == "198.51.100.10" and nodes["client"]["gateway"] == "198.51.100.1"
    # The router namespace's links (bridge, internet side, bridge ports) carry the deployment's
    # prefix and name the node they lead to; the teardown looks for these in the root namespace.
    assert lab["prefix"] == "mldcdf7"
    shared = [nodes["router"]["bridge"], lab["zones"]["b"]["bridge"], nodes["router"]["inet_interface"]] + [
        nodes[node]["peer"] for node in ("alb", "alb_b", "backend", "target")]
    assert shared == ["mldcdf7vpc", "mldcdf7vpcb", "mldcdf7inet", "mldcdf7alb", "mldcdf7albb", "mldcdf7backend",
                      "mldcdf7target"]
    assert all(n.startswith(lab["prefix"]) and len(n) <= 15 for n in shared), shared
    # In a namespace of its own an interface has a plain name that says what it is.
    assert {node: nodes[node]["interface"] for node in ("client", "alb", "backend", "target")} == {
        "client": "inet0", "alb": "vpc0", "backend": "vpc0", "target": "vpc0"}
    assert {s["vxlan"] for s in lab["sessions"] + lab["unused_sessions"]} == {"mirror0"}
    assert nodes["alb"]["qualified_interface"] == "ml-mirrorlab-alb/vpc0"
    # Every name is unique in its namespace (the VXLAN sender lives in its source's namespace).
    per_netns = {}
    for veth in lab["topology"]["veths"]:
        per_netns.setdefault(veth["netns"], []).append(veth["name"])
        per_netns.setdefault(veth["peer_netns"], []).append(veth["peer"])
    for bridge in lab["topology"]["bridges"]:
        per_netns.setdefault(bridge["netns"], []).append(bridge["name"])
    for session in lab["sessions"] + lab["unused_sessions"]:
        per_netns[session["netns"]].append(session["vxlan"])
    assert sorted(per_netns) == sorted(lab["namespaces"].values())
    assert all(len(set(names)) == len(names) and all(len(n) <= 15 for n in names) for names in per_netns.values())
    assert sorted(per_netns[lab["namespaces"]["router"]]) == sorted(shared)
    assert [s["interface"] for s in lab["sessions"]] == ["vpc0", "vpc0"]
    assert [s["qualified_interface"] for s in lab["sessions"]] == ["ml-mirrorlab-alb/vpc0", "ml-mirrorlab-alb-b/vpc0"]
    assert [e["zone"] for e in lab["enis"]] == ["lab-a", "lab-b"]
    assert len({s["eni_id"] for s in lab["sessions"]}) == 2 and len({s["table"] for s in lab["sessions"]}) == 2
    assert lab["state_dir"] == "/run/ml-mirrorlab"


def test_plan_small_vpc_and_other_deployment_differ():
    a = module("lab_plan", {"deployment": "a-very-long-deploy-name", "vpc_cidr": "172.16.5.16/28"})["lab"]
    b = module("lab_plan", {"deployment": "mirrorlab"})["lab"]
    assert a["prefix"] != b["prefix"]
    assert a["nodes"]["target"]["address"] == "172.16.5.28" and a["nodes"]["alb"]["prefixlen"] == 28
    # A /28 VPC has room for one zone: one ALB interface, one session.
    assert list(a["zones"]) == ["a"] and [x["node"] for x in a["albs"]] == ["alb"] and "alb_b" not in a["nodes"]
    assert [s["node"] for s in a["sessions"]] == ["alb"]
    assert all(len(v["name"]) <= 15 and len(v["peer"]) <= 15 for v in a["topology"]["veths"])
    assert a["nodes"]["backend"]["peer"] == a["prefix"] + "backend"


@pytest.mark.parametrize("sources, nodes", [
    ([{"type": "sample_service"}], ["alb", "alb_b"]),
    ([{"type": "load_balancer", "name": "x"}, {"type": "sample_service"}], ["alb", "alb_b"]),
    ([{"type": "ecs_service", "cluster": "c", "service": "s"}], ["backend"]),
    ([{"type": "network_interface", "id": "backend"}, {"type": "network_interface", "id": "alb"}], ["alb", "backend"]),
    ([{"type": "network_interface", "id": "alb_b"}], ["alb_b"]),
    ([{"type": "network_interface", "id": "ml-mirrorlab-alb-b/vpc0"}], ["alb_b"]),
    ([{"type": "network_interface", "id": "BACKEND_ENI"}], ["backend"]),
    ([{"type": "network_interface", "id": "mldcdf7alb"}], ["alb"]),  # the ALB's bridge port
    ([{"type": "network_interface", "id": "ml-mirrorlab-backend/vpc0"}], ["backend"]),
])
def test_plan_maps_sources(sources, nodes):
    enis = module("lab_plan", {"deployment": "mirrorlab"})["lab"]["nodes"]
    assert re.match(r"^eni-[0-9a-f]{8}$", enis["backend"]["eni_id"]) and enis["alb"]["eni_id"] != enis["backend"]["eni_id"]
    sources = [dict(s, id=enis["backend"]["eni_id"]) if s.get("id") == "BACKEND_ENI" else s for s in sources]
    lab = module("lab_plan", {"deployment": "mirrorlab", "sources": sources})["lab"]
    assert [s["node"] for s in lab["sessions"]] == nodes
    assert sorted(s["node"] for s in lab["sessions"] + lab["unused_sessions"]) == ["alb", "alb_b", "backend"]


@pytest.mark.parametrize("args, message", [
    ({"sources": [{"type": "instance", "id": "i-123"}]}, "source type 'instance' has no counterpart"),
    ({"sources": [{"type": "network_interface", "id": "eni-0123abcd"}]}, "'eni-0123abcd' is not a lab interface"),
    ({"vpc_cidr": "10.0.0.0/8"}, "vpc_cidr"),
    ({"vpc_cidr": "198.51.100.0/24"}, "overlaps"),
    ({"internet_cidr": "198.51.100.0/29"}, "internet_cidr: '198.51.100.0/29' must be an IPv4 CIDR from /24 to /28"),
    ({"deployment": "Mirror_Lab"}, "mirrorlab_deployment: must be 1-23 characters"),
    ({"vpc_cidr": "10.0.0.0/27", "target_count": 4},
     "mirrorlab_target.count: 4 capture machines need host addresses 12 to 15 of the lab's zone a (10.0.0.0/28), "
     "which ends at host 14; use at most 3"),
    ({"target_count": 0}, "mirrorlab_target.count: must be at least 1, got 0"),
])
def test_plan_rejects(args, message):
    result = module("lab_plan", dict({"deployment": "mirrorlab"}, **args), expect_failure=True)
    assert message in result["msg"]


# lab_plan in-process from here (no ansible run): the same functions the module calls.

@pytest.mark.parametrize("vpc,count", [("10.0.0.0/16", 10), ("172.16.8.0/26", 10), ("10.1.2.16/28", 3), ("10.1.2.0/27", 2)])
def test_plan_several_machines_behind_the_nlb_stand_in(vpc, count):
    lab = lab_plan.plan("mirrorlab", vpc_cidr=vpc, target_count=count)
    zone_a = ipaddress.ip_network(lab["zones"]["a"]["subnet"])
    targets = lab["targets"]
    assert [t["machine"] for t in targets] == ["ml-mirrorlab-target"] + [f"ml-mirrorlab-target-{k}" for k in range(2, count + 1)]
    assert [t["address"] for t in targets] == [str(zone_a.network_address + 11 + k) for k in range(1, count + 1)]
    assert targets[0]["machine_dir"] == lab["machine_dir"] == "/var/lib/mirrorlab/ml-mirrorlab/machine"
    assert [t["machine_dir"].rsplit("/", 1)[1] for t in targets[1:]] == [f"machine-{k}" for k in range(2, count + 1)]
    nlb = lab["nlb"]
    assert nlb["address"] == lab["target_address"] == str(zone_a.network_address + 9)
    assert nlb["targets"] == [t["address"] for t in targets] and nlb["table"] == "ml_mirrorlab_nlb"
    # Every node its own namespace and bridge port (within 15 characters), the stand-in forwarding
    # without redirects, every address inside zone a and distinct.
    names = [ns["name"] for ns in lab["topology"]["namespaces"]]
    assert len(set(names)) == len(names) and {t["netns"] for t in targets} | {nlb["netns"]} <= set(names)
    peers = [v["peer"] for v in lab["topology"]["veths"]]
    assert len(set(peers)) == len(peers) and all(len(p) <= 15 for p in peers)
    (stand_in,) = [ns for ns in lab["topology"]["namespaces"] if ns["name"] == nlb["netns"]]
    assert stand_in["sysctls"]["net.ipv4.ip_forward"] == 1 and stand_in["sysctls"]["net.ipv4.conf.all.send_redirects"] == 0
    addresses = [v["addresses"][0].split("/")[0] for v in lab["topology"]["veths"]]
    assert len(set(addresses)) == len(addresses)
    assert all(ipaddress.ip_address(a) in zone_a for a in nlb["targets"] + [nlb["address"]])


def test_plan_one_machine_has_no_stand_in_and_keeps_its_names():
    lab = lab_plan.plan("mirrorlab")
    assert lab["nlb"] is None and lab["target_address"] == "10.0.0.12" == lab["nodes"]["target"]["address"]
    assert [t["machine"] for t in lab["targets"]] == [lab["machine"]] == ["ml-mirrorlab-target"]
    assert "nlb" not in lab["nodes"] and lab["unused_targets"] == [] and lab["unused_topology"]["namespaces"] == []


def test_plan_names_what_an_earlier_larger_run_left():
    found = lab_plan.found_target_count("mirrorlab", ["ml-mirrorlab-target", "ml-mirrorlab-target-3", "ml-other-target-9",
                                                      "ml-mirrorlab-target-x", "ml-mirrorlab-nlb"], ["machine", "machine-4", "y"])
    assert found == 4 and lab_plan.found_target_count("mirrorlab", [], []) == 0
    lab = lab_plan.plan("mirrorlab", target_count=2, found_targets=found, found_nlb=True)
    assert [t["machine"] for t in lab["unused_targets"]] == ["ml-mirrorlab-target-3", "ml-mirrorlab-target-4"]
    assert [ns["name"] for ns in lab["unused_topology"]["namespaces"]] == ["ml-mirrorlab-target-3", "ml-mirrorlab-target-4"]
    # Down to one machine: the stand-in goes too.
    one = lab_plan.plan("mirrorlab", target_count=1, found_targets=found, found_nlb=True)
    assert [ns["name"] for ns in one["unused_topology"]["namespaces"]][-1] == "ml-mirrorlab-nlb"
    assert [v["peer"] for v in one["unused_topology"]["veths"]] == ["mldcdf7target2", "mldcdf7target3", "mldcdf7target4",
                                                                    "mldcdf7nlb"]

@pytest.mark.parametrize("deployment", ["mlbad-", "9lab", "a" * 24, "", "lab.x"])
def test_plan_checks_the_deployment_with_the_models_rule(deployment):
    _, errors = experiment.build_experiment({"deployment": deployment})
    errors = [e for e in errors if e.startswith("mirrorlab_deployment:")]
    assert len(errors) == 1  # the model refuses it ...
    with pytest.raises(lab_plan.PlanError) as refused:
        lab_plan.plan(deployment)
    assert errors[0].startswith(str(refused.value))  # ... and lab_plan with the model's rule (experiment_info adds what breaks it)
    assert str(refused.value).startswith("mirrorlab_deployment: must be 1-23 characters")


def test_plan_internet_prefixes_are_one_rule():
    low, high = lab_plan.INTERNET_PREFIXES
    stated = f"/{low} to /{high}"
    # The module's documentation, the role's argument spec and its defaults say the same range.
    assert stated in " ".join(lab_plan.DOCUMENTATION.split())
    for path in ("roles/lab/meta/argument_specs.yml", "roles/lab/defaults/main.yml"):
        assert stated in " ".join((ROOT / path).read_text().split()), path
    # The widest and narrowest allowed hold the client (the 10th host); one bit more is refused.
    for prefix in (low, high):
        lab = lab_plan.plan("mirrorlab", internet_cidr=f"198.51.100.0/{prefix}")
        assert lab["nodes"]["client"]["address"] == "198.51.100.10" and lab["nodes"]["client"]["prefixlen"] == prefix
    for prefix in (low - 1, high + 1):
        with pytest.raises(lab_plan.PlanError, match=f"must be an IPv4 CIDR from {stated}"):
            lab_plan.plan("mirrorlab", internet_cidr=f"198.51.0.0/{prefix}" if prefix < low else f"198.51.100.0/{prefix}")


@pytest.mark.lab
@needs_root
def test_teardown_with_a_bad_deployment_name_removes_nothing():
    """`mlbad-` matched the teardown's old pattern but not the model's rule (no trailing '-'):
    a namespace of that name's lab must survive the refused teardown."""
    victim = "ml-mlbad--router"
    subprocess.run(["ip", "netns", "add", victim], check=True)
    try:
        proc = run(["ansible-playbook", "teardown.yml", "-e", "mirrorlab_deployment=mlbad-"], check=False)
        assert proc.returncode != 0
        assert "mirrorlab_deployment: must be 1-23 characters" in proc.stdout and "not ending in '-'" in proc.stdout
        assert victim in netns_names()
        assert "Remove the capture machine" not in proc.stdout  # stopped at the plan
    finally:
        subprocess.run(["ip", "netns", "del", victim], check=False)


def alive(pid, wait=5.0):
    """Whether pid is still a live process after up to `wait` seconds (a zombie is not)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            with open(f"/proc/{pid}/stat") as handle:
                state = handle.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            return False
        if state == "Z" or time.monotonic() > deadline:
            return state != "Z"
        time.sleep(0.05)


def reachable(netns, address):
    """A TCP connect from netns to address answers (a reset counts: the host is there)."""
    probe = ("import socket,sys\ntry:\n socket.create_connection((sys.argv[1], 9), 2)\n"
             "except ConnectionRefusedError:\n pass\n")
    return subprocess.run(["ip", "netns", "exec", netns, "python3", "-c", probe, address],
                          capture_output=True).returncode == 0


# ---- lab_netns -----------------------------------------------------------------------------

def _topology(tag):
    a, b = f"ml-{tag}-a", f"ml-{tag}-b"
    return {
        "namespaces": [{"name": a, "sysctls": {"net.ipv4.ip_forward": 1}},
                       {"name": b, "routes": [{"dest": "default", "via": "10.77.0.1"}]}],
        "bridges": [{"name": f"ml{tag}br", "netns": a, "addresses": ["10.77.0.1/24"]}],
        "veths": [{"name": f"ml{tag}b", "netns": b, "addresses": ["10.77.0.2/24"],
                   "peer": f"ml{tag}bp", "peer_netns": a, "peer_master": f"ml{tag}br"}],
    }


@pytest.fixture
def tag():
    value = "t" + uuid.uuid4().hex[:5]
    yield value
    topo = _topology(value)
    module("lab_netns", {"state": "absent", "namespaces": topo["namespaces"], "bridges": topo["bridges"],
                         "veths": topo["veths"]})


@pytest.mark.lab
@needs_root
def test_netns_converges_idempotently_and_leaves_nothing(tag):
    topo = _topology(tag)
    before_root = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True).stdout

    planned = module("lab_netns", topo, check=True)
    assert planned["changed"] and not any(n.startswith(f"ml-{tag}") for n in netns_names())

    first = module("lab_netns", topo)
    assert first["changed"] and any("veth" in c for c in first["commands"])
    assert reachable(f"ml-{tag}-b", "10.77.0.1")
    assert subprocess.run(["ip", "-br", "link"], capture_output=True, text=True).stdout == before_root

    again = module("lab_netns", topo)
    assert not again["changed"], again["commands"]

    # Drift is repaired: a removed address and a downed link come back.
    subprocess.run(["ip", "-n", f"ml-{tag}-b", "addr", "flush", "dev", f"ml{tag}b"], check=True)
    subprocess.run(["ip", "-n", f"ml-{tag}-a", "link", "set", f"ml{tag}bp", "nomaster"], check=True)
    repaired = module("lab_netns", topo)
    assert repaired["changed"] and module("lab_netns", topo)["changed"] is False

    # A process left in a namespace is ended by the teardown.
    sleeper = subprocess.Popen(["ip", "netns", "exec", f"ml-{tag}-b", "sleep", "300"], start_new_session=True)
    time.sleep(0.3)
    gone = module("lab_netns", dict(topo, state="absent"))
    assert gone["changed"] and sleeper.pid in gone["killed"][f"ml-{tag}-b"]
    assert sleeper.wait(timeout=10) is not None
    assert not any(n.startswith(f"ml-{tag}") for n in netns_names())
    assert module("lab_netns", dict(topo, state="absent"))["changed"] is False
    assert leftovers(tag, f"ml{tag}") == {}


@pytest.mark.lab
@needs_root
def test_netns_teardown_sweeps_only_shared_names_from_the_root_namespace(tag):
    """A bridge or veth peer name left in the root namespace is removed; a veth's first end is
    named for its own namespace (it may be the host's eth0) and is never looked for there."""
    topo = _topology(tag)
    bridge, peer, own_end = topo["bridges"][0]["name"], topo["veths"][0]["peer"], topo["veths"][0]["name"]
    for name in (bridge, peer, own_end):
        subprocess.run(["ip", "link", "add", name, "type", "bridge"], check=True)
    try:
        gone = module("lab_netns", dict(topo, state="absent"))
        assert gone["changed"] and sorted(gone["commands"]) == sorted(
            [f"ip link del {bridge}", f"ip link del {peer}"])
        root = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True).stdout.split()
        assert own_end in root and bridge not in root and peer not in root
    finally:
        for name in (bridge, peer, own_end):
            subprocess.run(["ip", "link", "del", name], capture_output=True)


# ---- lab_daemon ----------------------------------------------------------------------------

@pytest.mark.lab
@needs_root
def test_daemon_lifecycle(tag, tmp_path):
    topo = _topology(tag)
    module("lab_netns", topo)
    state_dir = str(tmp_path / "state")
    base = {"name": "web", "netns": f"ml-{tag}-b", "state_dir": state_dir, "listen_port": 8080,
            "command": ["python3", "-m", "http.server", "--bind", "10.77.0.2", "8080"]}

    started = module("lab_daemon", base)
    pid = started["pid"]
    assert started["changed"] and alive(pid, wait=0)
    assert os.readlink(f"/proc/{pid}/ns/net") != os.readlink("/proc/self/ns/net")
    assert subprocess.run(["ip", "netns", "exec", f"ml-{tag}-a", "curl", "-sf", "http://10.77.0.2:8080/"],
                          capture_output=True).returncode == 0

    same = module("lab_daemon", base)
    assert not same["changed"] and same["pid"] == pid

    restarted = module("lab_daemon", dict(base, fingerprint="config v2"))
    assert restarted["changed"] and restarted["pid"] != pid and not alive(pid)
    pid = restarted["pid"]

    # A pid file naming somebody else's process (a reused PID) is never signalled.
    with open(os.path.join(state_dir, "other.pid"), "w") as handle:
        json.dump({"pid": os.getpid(), "start_time": 1}, handle)
    other = module("lab_daemon", {"name": "other", "state_dir": state_dir, "state": "stopped"})
    assert other["changed"] and not os.path.exists(os.path.join(state_dir, "other.pid"))

    stopped = module("lab_daemon", dict(base, state="stopped"))
    assert stopped["changed"] and stopped["pid"] is None
    assert not alive(pid)
    assert module("lab_daemon", dict(base, state="stopped"))["changed"] is False


@pytest.mark.lab
@needs_root
def test_daemon_reports_a_failing_start(tag, tmp_path):
    module("lab_netns", _topology(tag))
    result = module("lab_daemon", {"name": "bad", "netns": f"ml-{tag}-b", "state_dir": str(tmp_path),
                                   "command": ["sh", "-c", "echo broken config >&2; exit 3"]},
                    expect_failure=True)
    assert "exited with status 3" in result["msg"] and "broken config" in result["log_tail"]


# ---- preflight -----------------------------------------------------------------------------

def test_site_stops_at_once_when_not_root(tmp_path):
    """The first task finds a non-root uid (a stand-in `id` on PATH reports uid 1000, as the
    project's interpreter lives under /root and cannot run as another user here)."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "id").write_text("#!/bin/sh\necho 1000\n")
    (fake / "id").chmod(0o755)
    env = ansible_env(PATH=f"{fake}{os.pathsep}{os.environ['PATH']}")
    proc = run(["ansible-playbook", "playbooks/lab_site.yml", "-e", "mirrorlab_deployment=mlnoroot"], env=env,
               check=False)
    assert proc.returncode != 0
    assert "The local lab needs root" in proc.stdout and "uid 1000" in proc.stdout
    assert "Validate the experiment" not in proc.stdout  # stopped before anything else
    assert not [n for n in netns_names() if n.startswith("ml-mlnoroot")]


@needs_root
def test_site_names_missing_tools():
    proc = run(["ansible-playbook", "playbooks/lab_site.yml", "-e", "mirrorlab_deployment=mlnotool", "-e",
                json.dumps({"lab_required_tools": {"nft": "nftables", "ml-no-such-tool": "ml-pkg"}})], check=False)
    assert proc.returncode != 0
    assert "ml-no-such-tool (Debian package ml-pkg)" in proc.stdout and "apt-get install ml-pkg" in proc.stdout
    assert "nft (" not in proc.stdout
    assert not [n for n in netns_names() if n.startswith("ml-mlnotool")]


# ---- lab_nlb -------------------------------------------------------------------------------

def _nlb_topology(tag):
    sender, nlb = f"ml-{tag}-s", f"ml-{tag}-n"
    return {"namespaces": [{"name": sender}, {"name": nlb, "sysctls": {"net.ipv4.ip_forward": 1}}],
            "bridges": [],
            "veths": [{"name": "vpc0", "netns": sender, "addresses": ["10.78.0.2/24"], "peer": f"ml{tag}n",
                       "peer_netns": nlb, "peer_addresses": ["10.78.0.1/24"]}]}


@pytest.fixture
def nlb_lab():
    tag = "t" + uuid.uuid4().hex[:5]
    topo = _nlb_topology(tag)
    module("lab_netns", dict(topo, state="present"))
    yield f"ml-{tag}-s", f"ml-{tag}-n"
    module("lab_netns", dict(topo, state="absent"))


def _send_from(netns, ports):
    """One UDP datagram to the stand-in's VXLAN port from each source port."""
    code = ("import socket, sys\n"
            "for port in sys.argv[1:]:\n"
            "    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            "    s.bind(('10.78.0.2', int(port)))\n"
            "    s.sendto(b'x' * 50, ('10.78.0.1', 4789))\n"
            "    s.close()\n")
    subprocess.run(["ip", "netns", "exec", netns, "python3", "-c", code, *map(str, ports)], check=True)


def _flows(netns):
    """{source port: target} of the stand-in's tracked flows (the reply comes from the target)."""
    out = subprocess.run(["ip", "netns", "exec", netns, "conntrack", "-L", "-p", "udp"], capture_output=True, text=True,
                         check=True).stdout
    flows = {}
    for line in out.splitlines():
        sources, ports = re.findall(r"\bsrc=(\S+)", line), re.findall(r"\bsport=(\d+)", line)
        if len(sources) == 2 and "dport=4789" in line:
            flows[int(ports[0])] = sources[1]
    return flows


@pytest.mark.lab
@needs_root
def test_nlb_stand_in_hashes_each_flow_onto_one_target_and_moves_those_of_a_removed_one(nlb_lab):
    sender, nlb = nlb_lab
    targets = ["10.78.0.12", "10.78.0.13", "10.78.0.14"]
    args = {"netns": nlb, "table": "ml_t_nlb", "address": "10.78.0.1", "targets": targets, "seed": 7}
    assert module("lab_nlb", args)["changed"]
    assert not module("lab_nlb", args)["changed"]
    ports = list(range(40000, 40040))
    _send_from(sender, ports)
    first = _flows(nlb)
    assert sorted(first) == ports and set(first.values()) == set(targets), first
    # The hash decides, not the first packet's luck: forgotten flows land where they were.
    subprocess.run(["ip", "netns", "exec", nlb, "conntrack", "-F"], check=True)
    _send_from(sender, ports)
    assert _flows(nlb) == first
    spread = module("lab_nlb", args)["spread"]
    assert spread == ", ".join(f"{t} {list(first.values()).count(t) * 2} packets" for t in targets), spread

    # One target less: the flows of the removed one are hashed onto the others, the rest stay.
    assert module("lab_nlb", dict(args, targets=targets[:2]), check=True)["changed"]
    assert _flows(nlb) == first  # check mode changed nothing
    assert module("lab_nlb", dict(args, targets=targets[:2]))["changed"]
    kept = _flows(nlb)
    assert kept == {p: t for p, t in first.items() if t != targets[2]}
    _send_from(sender, ports)
    after = _flows(nlb)
    assert set(after.values()) == set(targets[:2]) and all(after[p] == t for p, t in kept.items())

    assert module("lab_nlb", {"netns": nlb, "table": "ml_t_nlb", "state": "absent"})["changed"]
    assert subprocess.run(["ip", "netns", "exec", nlb, "nft", "list", "table", "ip", "ml_t_nlb"],
                          capture_output=True).returncode != 0
