"""The SSM rig (tests only, never shipped): the AWS playbooks' capture step over the real
amazon.aws.aws_ssm connection plugin, with lab machines standing in for the EC2 instances.

What runs where (docs/aws.md, "The SSM rig"):

- host root namespace: pytest, and the moto server process (tests/moto_ext/server.py) whose
  first listener is 127.0.0.1:<port>, for the test's own boto3 calls. Nothing else.
- mls-net: the rig's bridge mls-br; every other rig namespace has one veth on it.
- mls-aws (10.99.0.2): the moto server's second listener (10.99.0.2:5000, same process, same
  moto state) and the controller: `ansible-playbook site.yml -i inventories/aws` runs here with
  AWS_ENDPOINT_URL=http://10.99.0.2:5000, so the S3 URLs amazon.aws.aws_ssm presigns for its
  file transfers, and the capture's S3 archive, point at an address the machines reach.
- mls-t1, mls-t2 (10.99.0.11, .12): lab machines (systemd-nspawn, Debian 12, booted with
  mirrorlab.vpc.lab_machine from a mirrorlab.vpc.lab_rootfs tree with sudo added), one per EC2
  instance of the target stack. No default route, no other link: they reach the bridge only.
- mls-s1, mls-s2 (10.99.0.3, .4): mirror sources of the data-path check (source ENIs, with
  mirrorlab.vpc.lab_mirror_session: nftables dup into VXLAN).

The stand-in session-manager-plugin (tests/ssm/bin, first on the controller's PATH) is started
by amazon.aws.aws_ssm in mls-aws and enters the machine that stands for the session's target.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
import yaml

from conftest import ROOT, ansible_env, free_port, run

# The marks of every test on the rig.
MARKS = [
    pytest.mark.ssm,
    pytest.mark.lab,
    pytest.mark.slow,
    pytest.mark.moto,
    pytest.mark.skipif(os.geteuid() != 0, reason="the SSM rig needs root (namespaces, nspawn)"),
]

NET = "10.99.0"
AWS_NS, BRIDGE_NS, BRIDGE = "mls-aws", "mls-net", "mls-br"
MOTO_ADDRESS, MOTO_PORT = f"{NET}.2", 5000
MOTO_URL = f"http://{MOTO_ADDRESS}:{MOTO_PORT}"
RIG_DIR = Path("/run/mls-ssm")
BIN = ROOT / "tests" / "ssm" / "bin"
MAX_MACHINES = 2
REGION = "us-east-1"
STACK_DELAY = "1"  # seconds an emulated stack stays *_IN_PROGRESS
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def machine_name(index):
    return f"mls-t{index}"


def machine_address(index):
    return f"{NET}.{10 + index}"


def source_ns(index):
    """Mirror source N (a source ENI): its own namespace, as two VXLAN devices with one VNI
    cannot share one."""
    return f"mls-s{index}"


def source_address(index):
    return f"{NET}.{2 + index}"


def rootfs_packages():
    """The lab's documented package list (mirrorlab.vpc.lab_rootfs) and sudo, which Amazon
    Linux has and the SSM agent's ssm-user relies on; the lab's machines have no sudo."""
    sys.path.insert(0, str(ROOT / ".collections"))
    from ansible_collections.mirrorlab.vpc.plugins.modules import lab_rootfs

    return sorted(set(yaml.safe_load(lab_rootfs.DOCUMENTATION)["options"]["packages"]["default"]) | {"sudo"})


def topology(count):
    def veth(netns, address, peer):
        return {"name": "eth0", "netns": netns, "addresses": [f"{address}/24"], "peer": peer,
                "peer_netns": BRIDGE_NS, "peer_master": BRIDGE, "offloads": False}

    indexes = range(1, count + 1)
    return {
        "namespaces": [{"name": n} for n in [BRIDGE_NS, AWS_NS] + [source_ns(i) for i in indexes]
                       + [machine_name(i) for i in indexes]],
        "bridges": [{"name": BRIDGE, "netns": BRIDGE_NS}],
        "veths": [veth(AWS_NS, MOTO_ADDRESS, "mlsa")]
        + [veth(source_ns(i), source_address(i), f"mlss{i}") for i in indexes]
        + [veth(machine_name(i), machine_address(i), f"mlst{i}") for i in indexes],
    }


def start_moto(port, *args):
    """tests/moto_ext/server.py (moto with the mirrorlab emulation) in a process of its own."""
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "moto_ext" / "server.py"), str(port), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    assert proc.stdout.readline().strip() == "ready", "the moto server did not start"
    socket.create_connection(("127.0.0.1", port), timeout=5).close()
    return proc


def rig_playbook(state, count):
    extra = {"rig_state": state, "rig_topology": topology(count), "rig_packages": rootfs_packages(),
             "rig_machines": [machine_name(i) for i in range(1, count + 1)]}
    env = ansible_env(ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
    proc = run(["ansible-playbook", str(ROOT / "tests" / "ssm" / "rig.yml"), "-e", json.dumps(extra)],
               env=env, check=False, timeout=900)
    assert proc.returncode == 0, proc.stdout[-20000:] + proc.stderr[-4000:]
    tasks = json.loads(proc.stdout)["plays"][0]["tasks"]
    booted = next(t for t in tasks if t["task"]["name"] == "Boot the lab machines")["hosts"]["localhost"]
    return [r for r in booted.get("results", []) if not r.get("skipped")]


class Rig:
    """Namespaces, machines and the moto server of one deployment; `down()` removes them all."""

    def __init__(self, count):
        self.count = count
        self.moto = None
        self.port = free_port()
        self.machines = {}

    # ---- life cycle
    def up(self):
        self.down()  # whatever an interrupted earlier run left
        RIG_DIR.mkdir(mode=0o755)
        booted = rig_playbook("present", self.count)
        self.machines = {r["rig_machine"]: {"name": r["rig_machine"], "pid": r["pid"], "root": r["root"],
                                            "address": machine_address(int(r["rig_machine"][len("mls-t"):]))}
                         for r in booted}
        (RIG_DIR / "rig.json").write_text(json.dumps({"machines": list(self.machines.values())}, indent=1))
        self.moto = start_moto(self.port, STACK_DELAY, STACK_DELAY, "--netns", AWS_NS, f"{MOTO_ADDRESS}:{MOTO_PORT}")
        return self

    def down(self):
        if self.moto is not None:
            self.moto.terminate()
            self.moto.wait(timeout=30)
            self.moto = None
        rig_playbook("absent", MAX_MACHINES)
        shutil.rmtree(RIG_DIR, ignore_errors=True)

    # ---- the controller
    def env(self, **extra):
        return ansible_env(
            **CREDENTIALS, AWS_SESSION_TOKEN="testing", AWS_DEFAULT_REGION=REGION, AWS_REGION=REGION,
            AWS_URL=MOTO_URL, AWS_ENDPOINT_URL=MOTO_URL, MIRRORLAB_SSM_RIG=str(RIG_DIR),
            AWS_SESSION_MANAGER_PLUGIN=str(BIN / "session-manager-plugin"),
            PATH=f"{BIN}{os.pathsep}{ansible_env()['PATH']}", **extra)

    def playbook(self, *args, check=True, timeout=1200, env=None):
        """ansible-playbook -i inventories/aws ... on the controller (in mls-aws)."""
        cmd = ["ip", "netns", "exec", AWS_NS, "ansible-playbook", "-i", "inventories/aws", *map(str, args)]
        return run(cmd, env=env or self.env(), check=check, timeout=timeout)

    def client(self, service):
        return boto3.client(service, region_name=REGION, endpoint_url=f"http://127.0.0.1:{self.port}",
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    # ---- the machines
    def claims(self):
        path = RIG_DIR / "claims.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def machine_of(self, instance_id):
        return self.machines[self.claims()[instance_id]]

    def sessions(self):
        path = RIG_DIR / "sessions.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def in_machine(self, machine, *cmd, check=True):
        """A command as root inside a machine (the test's own look, not over SSM)."""
        proc = subprocess.run(["nsenter", "--target", str(machine["pid"]), "--mount", "--uts", "--ipc", "--net",
                               "--pid", *cmd], capture_output=True, text=True, timeout=60)
        assert not check or proc.returncode == 0, f"{cmd}: {proc.stdout}{proc.stderr}"
        return proc


def wait_for(predicate, timeout, what, explain=None):
    """predicate()'s first true value within `timeout` s; on a timeout the assertion says what
    was awaited and, with `explain`, what explain() reports (the state to debug it from)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            detail = f"\n{explain()}" if explain else ""
            raise AssertionError(f"timed out after {timeout} s waiting for {what}{detail}")
        time.sleep(0.5)


def netns_names():
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def leftovers():
    """Everything of the rig still on the host (empty when clean)."""
    left = {"namespaces": [n for n in netns_names() if n.startswith("mls-")],
            "machines": [d for d in os.listdir("/var/lib/mirrorlab/machines") if d.startswith("mls-")]
            if os.path.isdir("/var/lib/mirrorlab/machines") else [],
            "dirs": [str(RIG_DIR)] if RIG_DIR.exists() else []}
    with open("/proc/self/mountinfo") as handle:
        left["mounts"] = [line.split()[4] for line in handle if "/machines/mls-" in line]
    procs = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if ("/machines/mls-" in cmdline or "--netns mls-aws" in cmdline) and "pytest" not in cmdline:
            procs.append(f"{pid} {cmdline.strip()}")
    left["processes"] = procs
    return {k: v for k, v in left.items() if v}


# --------------------------------------------------------------------------- one deployment

TAG = "mirrorlab:deployment"
CAPTURE_DIR = "/var/lib/mirrorlab/capture"


class Deployment:
    """The experiment on the emulated account: the network the user brings, site.yml and
    teardown.yml on the controller, and what the account holds afterwards."""

    def __init__(self, rig, name, tmp_path, **variables):
        self.rig, self.name = rig, name
        self.ec2, self.cfn, self.s3 = rig.client("ec2"), rig.client("cloudformation"), rig.client("s3")
        vpc = self.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnets = [self.ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24",
                                          AvailabilityZone=f"{REGION}{zone}")["Subnet"]["SubnetId"]
                   for i, zone in ((1, "a"), (2, "b"))]
        self.vars_file = tmp_path / f"{name}.json"
        self.vars_file.write_text(json.dumps({
            "mirrorlab_deployment": name, "mirrorlab_region": REGION,
            "mirrorlab_network": {"vpc_id": vpc, "subnet_ids": subnets, "vpc_cidr": "10.0.0.0/16"},
            "stacks_poll_interval": 1,
            # What the instance profile gives the uploader on AWS: credentials, and the S3
            # endpoint (the rig's moto; on AWS boto3's default).
            "capture_s3_endpoint_url": MOTO_URL, "capture_s3_environment": CREDENTIALS,
            **variables,
        }))

    def playbook(self, playbook, *args, check=True):
        return self.rig.playbook(playbook, "-e", f"@{self.vars_file}", *args, check=check)

    def outputs(self, stack="target-instance"):
        stack = self.cfn.describe_stacks(StackName=f"{self.name}-{stack}")["Stacks"][0]
        return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}

    def tagged(self, kind):
        items = getattr(self.ec2, f"describe_traffic_mirror_{kind}")()[
            {"sessions": "TrafficMirrorSessions", "targets": "TrafficMirrorTargets",
             "filters": "TrafficMirrorFilters"}[kind]]
        return [i for i in items if {"Key": TAG, "Value": self.name} in i.get("Tags", [])]

    def leftovers(self):
        left = {"stacks": [s["StackName"] for s in self.cfn.list_stacks()["StackSummaries"]
                           if s["StackStatus"] != "DELETE_COMPLETE" and s["StackName"].startswith(self.name + "-")],
                **{kind: self.tagged(kind) for kind in ("sessions", "targets", "filters")},
                "instances": [i["InstanceId"] for r in self.ec2.describe_instances()["Reservations"]
                              for i in r["Instances"] if i["State"]["Name"] != "terminated"],
                "buckets": [b["Name"] for b in self.s3.list_buckets()["Buckets"]]}
        return {k: v for k, v in left.items() if v}


def recap(stdout):
    """{host: {field: value}} of the PLAY RECAP."""
    hosts = {}
    for line in stdout[stdout.rfind("PLAY RECAP"):].splitlines()[1:]:
        if "ok=" in line:
            hosts[line.split()[0]] = {k: int(v) for k, v in (f.split("=") for f in line.split(":", 1)[1].split())}
    return hosts


# --------------------------------------------------------------------------- the data path


def normalized(rules):
    """The rules as experiment_info returns them (lab_mirror_session takes only those)."""
    from ansible_collections.mirrorlab.vpc.plugins.module_utils.filter_rules import normalize_rules

    rules, errors = normalize_rules(rules, "rules")
    assert not errors, errors
    return rules


def mirror(index, machine, vni, port=9):
    """A mirror session on source `index` (nftables dup into VXLAN, mirrorlab.vpc.lab_mirror_session)
    of its UDP packets to MOTO_ADDRESS:port, towards the machine, with the given VNI."""
    rule = {"direction": "egress", "number": 100, "action": "accept", "protocol": "udp",
            "source_cidr": "0.0.0.0/0", "destination_cidr": f"{MOTO_ADDRESS}/32", "destination_ports": str(port)}
    args = {"netns": source_ns(index), "source_device": "eth0", "local_ip": source_address(index),
            "target_ip": machine["address"], "vni": vni, "vxlan_device": "mlsvx", "table": "mls_mirror",
            "rules": normalized([rule])}
    run(["ansible", "localhost", "-m", "mirrorlab.vpc.lab_mirror_session", "-a", json.dumps(args)])


def mirror_rules(index, machine, vni, directions, port):
    """A mirror session on source `index` of its TCP packets to or from `port` (each of
    `directions`: (direction, the rule's port key)), towards the machine; returns its table."""
    rules = [{"direction": direction, "number": 100, "action": "accept", "protocol": "tcp", "source_cidr": "0.0.0.0/0",
              "destination_cidr": "0.0.0.0/0", key: str(port)} for direction, key in directions]
    args = {"netns": source_ns(index), "source_device": "eth0", "local_ip": source_address(index),
            "target_ip": machine["address"], "vni": vni, "vxlan_device": "mlsvx", "table": "mls_mirror",
            "rules": normalized(rules)}
    run(["ansible", "localhost", "-m", "mirrorlab.vpc.lab_mirror_session", "-a", json.dumps(args)])
    return args["table"]


def send(index, marker, count, port=9):
    """`count` UDP datagrams carrying `marker` from source `index` to MOTO_ADDRESS:port
    (nothing listens there: the mirror copies them on the way out)."""
    code = ("import socket, sys\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            "for i in range(int(sys.argv[3])):\n"
            "    s.sendto(sys.argv[1].encode() + b'-%05d' % i + b'.' * 80, (sys.argv[2], int(sys.argv[4])))\n")
    subprocess.run(["ip", "netns", "exec", source_ns(index), sys.executable, "-c", code, marker, MOTO_ADDRESS, str(count),
                    str(port)], check=True, timeout=60)


def local_pcaps(machine, link="capture0"):
    """{file name: bytes} of the machine's pcap files of one link (read from the host)."""
    directory = Path(machine["root"]) / CAPTURE_DIR.lstrip("/") / link
    return {p.name: p.read_bytes() for p in directory.glob(f"{link}-*.pcap*")} if directory.is_dir() else {}


def markers(pcap, port, tmp_path):
    """The payload markers of the UDP packets to `port` in a pcap file's bytes (read with
    tshark, so the file must be a readable capture; a file still being written may end in a
    partial packet, which tshark reports after the complete ones)."""
    path = tmp_path / "read.pcap"
    path.write_bytes(pcap)
    out = subprocess.run(["tshark", "-n", "-r", str(path), "-Y", f"udp.dstport == {port}", "-T", "fields",
                          "-e", "data.data"], capture_output=True, text=True, timeout=60).stdout
    return {bytes.fromhex(h).split(b".")[0].decode(errors="replace") for h in out.split()}
