"""site.yml and teardown.yml on AWS (-i inventories/aws) with NO --skip-tags: the capture step
runs over the real amazon.aws.aws_ssm connection plugin, on the SSM rig (tests/ssm/rig.py,
docs/aws.md "The SSM rig"): the emulated account is the tests' moto server (tests/moto_ext,
with Session Manager's session API), the instances are lab machines, the stand-in
session-manager-plugin plays the agent's side. Then real mirrored packets (the lab's data
path, with the VNI read back from the deployed sessions) must be in the pcap files on the
machines and in the moto archive bucket, and teardown.yml must leave nothing.

One deployment per target count: 1 (the archive, the transfers, ssm-user) and 2 (scale-out:
every instance configured, each its own machine).
"""

import time
import uuid

import pytest
from ansible_collections.amazon.aws.plugins.module_utils.common import AMAZON_AWS_COLLECTION_VERSION

from rig import (
    CAPTURE_DIR, MARKS, Deployment, Rig, leftovers, local_pcaps, markers, mirror, recap, send, wait_for,
)

pytestmark = MARKS

VNI = 4242  # not the default, so the capture link's VNI shows it came from the deployed session
CAPTURE = {"rotate_seconds": 2, "rotate_mb": 1, "max_total_mb": 64, "min_free_mb": 16}
# amazon.aws < 10.3.0 opens a new SSM session per loop item and fails to terminate the earlier
# ones when the worker exits (amazon.aws#2753, #2728; docs/aws.md): they stay active.
TERMINATES_EVERY_SESSION = tuple(map(int, AMAZON_AWS_COLLECTION_VERSION.split(".")[:3])) >= (10, 3, 0)


@pytest.fixture
def rig(request):
    rig = Rig(request.param).up()
    try:
        yield rig
    finally:
        rig.down()


def deployed_vni(deployment):
    vnis = {s["VirtualNetworkId"] for s in deployment.tagged("sessions")}
    assert len(vnis) == 1, vnis
    return vnis.pop()


def check_capture_host(rig, machine, vni):
    """What the role did as root through sudo, in the machine that stands for the instance."""
    user = rig.in_machine(machine, "id", "-nG", "ssm-user").stdout.split()
    assert user == ["ssm-user"], user  # as the agent creates it: no other group
    sudoers = rig.in_machine(machine, "stat", "-c", "%a %U", "/etc/sudoers.d/ssm-agent-users").stdout.split()
    assert sudoers == ["440", "root"]
    units = rig.in_machine(machine, "systemctl", "is-active", "mirrorlab-capture@capture0.service",
                           "mirrorlab-capture-housekeeping.timer").stdout.split()
    assert units == ["active", "active"]
    link = rig.in_machine(machine, "ip", "-d", "link", "show", "dev", "capture0").stdout
    assert f"vxlan id {vni} " in link and "dstport 4789" in link
    owner = rig.in_machine(machine, "stat", "-c", "%U:%G %a", f"{CAPTURE_DIR}/capture0").stdout.split()
    assert owner == ["mirrorlab-capture:pcap", "2750"]


@pytest.mark.parametrize("rig", [1], indirect=True)
def test_site_over_ssm_captures_and_archives_mirrored_packets(rig, tmp_path):
    deployment = Deployment(rig, "mlssm1", tmp_path, mirrorlab_session={"vni": VNI}, mirrorlab_capture=CAPTURE,
                            capture_housekeeping_seconds=1)
    started = time.monotonic()
    site = deployment.playbook("site.yml")
    site_seconds = time.monotonic() - started
    (instance,) = deployment.outputs()["InstanceIds"].split(",")
    assert recap(site.stdout)[instance]["failed"] == 0 and recap(site.stdout)[instance]["changed"] > 0

    # Every remote task went over SSM sessions for this instance, served by its lab machine.
    assert rig.claims() == {instance: "mls-t1"}
    sessions = rig.sessions()
    # One session per remote module execution; a first run makes at most 15 (issue 12), today 4
    # (setup, package, capture_target_info, capture_target).
    assert 1 <= len(sessions) <= 15 and {s["target"] for s in sessions} == {instance}, sessions
    ssm = rig.client("ssm")
    history = ssm.describe_sessions(State="History")["Sessions"]
    assert {s["Target"] for s in history} == {instance} and len(history) >= len(sessions)
    if TERMINATES_EVERY_SESSION:
        assert ssm.describe_sessions(State="Active")["Sessions"] == []
    machine = rig.machine_of(instance)
    vni = deployed_vni(deployment)
    assert vni == VNI
    check_capture_host(rig, machine, vni)

    # The plugin's transfers went through the target stack's bucket and were removed again.
    bucket = deployment.outputs()["BucketName"]
    keys = [o["Key"] for o in deployment.s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert not [k for k in keys if k.startswith(instance + "/")], keys

    # Mirrored packets: batch A, then (after the rotation interval) batch B, whose first packet
    # closes A's file. B's packets are in the open file at once (tcpdump -U): looked for first,
    # before anything else could rotate it. The housekeeping archives A's file to
    # s3://bucket/pcap/<instance>/capture0/ and then deletes it locally.
    mirror(1, machine, vni)
    tag = uuid.uuid4().hex[:8]
    send(1, f"A{tag}", 5)
    time.sleep(CAPTURE["rotate_seconds"] + 1)
    send(1, f"B{tag}", 200)
    prefix = f"pcap/{instance}/capture0/"

    def archive():
        """{key: markers} of the archived files of the link."""
        objects = deployment.s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
        return {o["Key"]: markers(deployment.s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read(), 9, tmp_path)
                for o in objects}

    def local():
        """The markers of the machine's pcap files of the link."""
        return set().union(*(markers(data, 9, tmp_path) for data in local_pcaps(machine).values()))

    def explain():
        journal = rig.in_machine(machine, "journalctl", "--no-pager", "-o", "short-precise", "-n", "80",
                                 "-u", "mirrorlab-capture@capture0.service",
                                 "-u", "mirrorlab-capture-housekeeping.service", check=False).stdout
        state = rig.in_machine(machine, "/usr/local/sbin/mirrorlab-capture", "status", "--json", check=False)
        archived = {key: sorted(found)[:2] for key, found in archive().items()}
        files = {name: sorted(markers(data, 9, tmp_path))[:2] for name, data in local_pcaps(machine).items()}
        return f"archive: {archived}\nlocal: {files}\nstatus: {state.stdout}{state.stderr}\njournal:\n{journal}"

    on_machine = wait_for(lambda: {m for m in local() if m.startswith(f"B{tag}")}, 30,
                          "batch B in the machine's open pcap file", explain)
    assert f"B{tag}-00000" in on_machine

    def archived_a():
        return {m for found in archive().values() for m in found if m.startswith(f"A{tag}")}

    assert wait_for(archived_a, 60, "batch A in the archive", explain) == {f"A{tag}-{i:05d}" for i in range(5)}
    # Deleted locally once uploaded (the pass uploads, checks the size, then deletes).
    wait_for(lambda: not any(m.startswith(f"A{tag}") for m in local()), 30, "batch A's file deleted locally", explain)

    # Teardown with the capture running and files not archived: the housekeeping's timer is
    # stopped (as if S3 had been slow), batch C goes into a file that batch D's first packet
    # closes, D stays in the file tcpdump writes. The drain stops the capture over SSM, lets the
    # housekeeping archive every file, checks the archive against the instance's list; then
    # teardown downloads the archive and deletes. Every packet on the machine is kept.
    rig.in_machine(machine, "systemctl", "stop", "mirrorlab-capture-housekeeping.timer")
    send(1, f"C{tag}", 50)
    wait_for(lambda: {m for m in local() if m.startswith(f"C{tag}")}, 30, "batch C on the machine", explain)
    time.sleep(CAPTURE["rotate_seconds"] + 1)
    send(1, f"D{tag}", 50)
    before = wait_for(lambda: {m for m in local() if m.startswith(f"D{tag}")} and local(), 30, "batch D on the machine",
                      explain)
    assert len(local_pcaps(machine)) >= 2 and {m[:9] for m in before} >= {f"C{tag}", f"D{tag}"}
    kept = tmp_path / "kept"
    down = deployment.playbook("teardown.yml", "-e", f"mirrorlab_captures_dir={kept}")
    drained = down.stdout[down.stdout.find("TASK [mirrorlab.vpc.stacks : Drain"):][:6000]
    said = " ".join(down.stdout.split())  # the callback wraps long messages
    assert f"{instance}: capture stopped; all " in said and "are in the archive" in said, drained
    kept_markers = set().union(*(markers(p.read_bytes(), 9, tmp_path) for p in (kept / instance / "capture0").iterdir()))
    assert before <= kept_markers and {f"A{tag}-{i:05d}" for i in range(5)} <= kept_markers
    assert f"Nothing tagged mirrorlab:deployment={deployment.name} is left" in down.stdout
    assert deployment.leftovers() == {}
    rig.down()
    assert leftovers() == {}
    print(f"site.yml over the SSM rig, target count 1: {site_seconds:.0f} s, {len(sessions)} SSM sessions")


@pytest.mark.parametrize("rig", [2], indirect=True)
def test_site_over_ssm_configures_every_instance_of_a_scale_out(rig, tmp_path):
    deployment = Deployment(rig, "mlssm2", tmp_path, mirrorlab_session={"vni": VNI}, mirrorlab_capture=CAPTURE,
                            mirrorlab_target={"count": 2})
    site = deployment.playbook("site.yml")
    outputs = deployment.outputs()
    instances = outputs["InstanceIds"].split(",")
    assert len(instances) == 2 and outputs["MirrorTargetType"] == "network-load-balancer"
    hosts = recap(site.stdout)
    assert all(hosts[i]["failed"] == 0 and hosts[i]["changed"] > 0 for i in instances), hosts
    # The mirror target is the NLB in front of both instances.
    (target,) = deployment.tagged("targets")
    assert target.get("NetworkLoadBalancerArn") == outputs["NlbArn"]

    # Each instance is its own machine, each configured over its own sessions.
    claims = rig.claims()
    assert sorted(claims) == sorted(instances) and sorted(claims.values()) == ["mls-t1", "mls-t2"]
    assert {s["target"] for s in rig.sessions()} == set(instances)
    for s in rig.sessions():
        assert claims[s["target"]] == s["machine"]
    vni = deployed_vni(deployment)
    tag = uuid.uuid4().hex[:8]
    for index, instance in enumerate(instances, start=1):
        machine = rig.machine_of(instance)
        check_capture_host(rig, machine, vni)
        # As the NLB spreads flows over its targets: source N's flow goes to instance N.
        mirror(index, machine, vni)
        send(index, f"S{index}{tag}", 200)
    for index, instance in enumerate(instances, start=1):
        machine = rig.machine_of(instance)

        def local(machine=machine):
            files = local_pcaps(machine)
            return set().union(*(markers(data, 9, tmp_path) for data in files.values())) if files else set()

        mine = wait_for(local, 60, f"the flow to {instance} in its pcap files")
        assert f"S{index}{tag}-00000" in mine, mine
        assert {m[:2] for m in mine} == {f"S{index}"}, "a flow reached the other instance"

    down = deployment.playbook("teardown.yml")
    assert f"Nothing tagged mirrorlab:deployment={deployment.name} is left" in down.stdout
    assert deployment.leftovers() == {}
    rig.down()
    assert leftovers() == {}
