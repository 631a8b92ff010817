"""./mirrorlab verify on AWS (-i inventories/aws), on the SSM rig (tests/ssm/rig.py): the
capture instance is a lab machine reached over the real amazon.aws.aws_ssm plugin, the account
is the tests' moto server. moto has no data path, so the test builds the one of the source
ENI it probes: the ENI's private address on a rig source namespace, an HTTP server there, and
an nftables mirror of its TCP packets (mirrorlab.vpc.lab_mirror_session) into VXLAN with the
deployed session's VNI towards the machine, as AWS would mirror them.

1. healthy ENI: the probe (mirrorlab_verify_url, the server) answered, both directions of that
   ENI's session arrived (read over SSM from the machine's counters and pcaps); the sample
   service's other ALB ENI carried no probe and is named so; exit 2 (a check failed).
   ./mirrorlab status -i inventories/aws then finds and reads the instance over SSM.
2. the mirror removed: nothing arrives and no link counter moved, so the cause is the path to
   the target (security group, NACL, route, target ENI).
"""

import json
import subprocess

import pytest

from conftest import run
from rig import AWS_NS, MARKS, Deployment, Rig, mirror_rules, source_address, source_ns

pytestmark = MARKS

VNI = 4343
PORT = 8080
CAPTURE = {"rotate_mb": 8, "max_total_mb": 64, "min_free_mb": 16}  # rotation by time stays 300 s: the probe's file stays


@pytest.fixture
def rig():
    rig = Rig(1).up()
    try:
        yield rig
    finally:
        rig.down()


def verify(rig, deployment, url):
    """./mirrorlab verify --json on the controller: (exit status, verdict)."""
    proc = run(["ip", "netns", "exec", AWS_NS, "./mirrorlab", "verify", "--json", "-i", "inventories/aws",
                "-e", f"@{deployment.vars_file}", "-e", f"mirrorlab_verify_url={url}"], env=rig.env(), check=False,
               timeout=600)
    try:
        return proc.returncode, json.loads(proc.stdout)
    except ValueError:
        pytest.fail(f"verify printed no JSON (rc {proc.returncode}): {proc.stdout[-4000:]} {proc.stderr[-4000:]}")


def test_verify_over_ssm_finds_both_directions_and_names_the_path(rig, tmp_path):
    deployment = Deployment(rig, "mlsver", tmp_path, mirrorlab_session={"vni": VNI}, mirrorlab_capture=CAPTURE)
    deployment.playbook("site.yml")
    sessions = deployment.tagged("sessions")
    assert len(sessions) == 2 and {s["VirtualNetworkId"] for s in sessions} == {VNI}  # the ALB's ENI per zone
    enis = deployment.ec2.describe_network_interfaces(NetworkInterfaceIds=[s["NetworkInterfaceId"] for s in sessions])
    by_id = {e["NetworkInterfaceId"]: e["PrivateIpAddress"] for e in enis["NetworkInterfaces"]}
    probed, other = sorted(by_id)
    address = by_id[probed]

    # The probed ENI's data path: its address on source 1, a server there, its TCP mirrored.
    ns = source_ns(1)
    subprocess.run(["ip", "-n", ns, "addr", "add", f"{address}/32", "dev", "eth0"], check=True)
    subprocess.run(["ip", "-n", AWS_NS, "route", "add", f"{address}/32", "via", source_address(1)], check=True)
    server = subprocess.Popen(["ip", "netns", "exec", ns, "python3", "-m", "http.server", "--bind", address, str(PORT)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    machine = next(iter(rig.machines.values()))
    table = mirror_rules(1, machine, VNI, [("ingress", "destination_ports"), ("egress", "source_ports")], PORT)
    try:
        url = f"http://{address}:{PORT}/"
        rc, verdict = verify(rig, deployment, url)
        assert rc == 2 and not verdict["ok"], verdict
        results = {s["eni"]: s for s in verdict["sessions"]}
        healthy = results[probed]
        assert healthy["ok"] and healthy["vni"] == VNI, healthy
        assert healthy["ingress"]["state"] == healthy["egress"]["state"] == "ok", healthy
        assert healthy["ingress"]["packets"] >= 5 * 3 and healthy["egress"]["packets"] >= 5 * 2, healthy
        enis_of = {e["eni"]: e for e in verdict["enis"]}
        assert enis_of[probed]["ok"] and not enis_of[other]["ok"]
        assert "the probes do not pass it" in " ".join(enis_of[other]["causes"]), enis_of[other]
        assert verdict["probe"]["answered"] == 5 and not verdict["causes"], verdict

        # status on AWS finds the instance on its own (it read no stack outputs before) and reads
        # it over SSM: the capture link of the deployed VNI, the probe's packets in its file.
        (instance,) = deployment.outputs()["InstanceIds"].split(",")
        status = run(["ip", "netns", "exec", AWS_NS, "./mirrorlab", "status", "-i", "inventories/aws",
                      "-e", f"@{deployment.vars_file}"], env=rig.env(), check=False, timeout=600)
        shown = " ".join(status.stdout.split())
        assert status.returncode == 0 and f"'{instance}: tcpdump in " in shown, shown[-4000:]
        assert f"capture0 (VNI {VNI}): mirrorlab-capture@capture0.service active, 1 file(s)" in shown, shown[-4000:]

        # The mirror gone: nothing arrives, no counter moves: the path to the target.
        subprocess.run(["ip", "netns", "exec", ns, "nft", "delete", "table", "netdev", table], check=True)
        rc, verdict = verify(rig, deployment, url)
        assert rc == 2 and not verdict["ok"]
        said = " ".join(verdict["causes"])
        assert "nothing arrived at any capture link" in said and "security group" in said, verdict["causes"]
    finally:
        server.terminate()
        server.wait(timeout=10)
    deployment.playbook("teardown.yml", "-e", "mirrorlab_discard_captures=true")
    assert deployment.leftovers() == {}
