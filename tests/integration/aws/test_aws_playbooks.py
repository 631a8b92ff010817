"""site.yml and teardown.yml on AWS (-i inventories/aws), run against a moto server.

The moto server runs in its own process with the mirrorlab emulation (tests/moto_ext, see
docs/aws.md): the AWS::EC2::TrafficMirror* CloudFormation types, stacks that take a few
seconds to create and delete as on AWS, "No updates are to be performed", ALB ENIs. The
capture step (SSM) cannot run here: every site.yml run skips it with --skip-tags capture.
"""

import json
import re
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import timedelta

import boto3
import jinja2
import pytest
import requests

from conftest import ROOT, ansible_env, moto_ext_server, run

pytestmark = pytest.mark.moto

REGION = "us-east-1"
DEPLOYMENT = "mlt"
STACK_DELAY = 2.0  # seconds a stack stays CREATE_IN_PROGRESS / DELETE_IN_PROGRESS
TAG = "mirrorlab:deployment"
STACKS = [f"{DEPLOYMENT}-sample-service", f"{DEPLOYMENT}-target-instance", f"{DEPLOYMENT}-mirroring"]


@pytest.fixture(scope="module")
def ext_server():
    """A moto server with tests/moto_ext loaded, in a separate process; yields its URL."""
    # deletions as long as creations: the two concurrent deletions must overlap even on a busy machine
    with moto_ext_server(STACK_DELAY, STACK_DELAY) as url:
        yield url


class Aws:
    """boto3 clients, the ansible environment and the experiment variables for one test."""

    def __init__(self, url, tmp_path):
        self.url = url
        creds = dict(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION, endpoint_url=url)
        self.ec2 = boto3.client("ec2", **creds)
        self.cfn = boto3.client("cloudformation", **creds)
        self.acm = boto3.client("acm", **creds)
        self.s3 = boto3.client("s3", **creds)
        self.elbv2 = boto3.client("elbv2", **creds)
        self.env = ansible_env(
            AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_SESSION_TOKEN="testing",
            AWS_DEFAULT_REGION=REGION, AWS_REGION=REGION, AWS_URL=url, AWS_ENDPOINT_URL=url,
        )
        vpc = self.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        self.subnets = [
            self.ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{zone}")["Subnet"]["SubnetId"]
            for i, zone in ((1, "a"), (2, "b"))
        ]
        self.vpc = vpc
        self.tmp = tmp_path
        self.vars = {
            "mirrorlab_deployment": DEPLOYMENT,
            "mirrorlab_region": REGION,
            "mirrorlab_network": {"vpc_id": vpc, "subnet_ids": self.subnets, "vpc_cidr": "10.0.0.0/16"},
        }

    def vars_file(self, extra=None, name="vars.json"):
        path = self.tmp / name
        path.write_text(json.dumps({**self.vars, **(extra or {})}))
        return path

    def command(self, playbook, *args, extra=None, name="vars.json"):
        return [
            "ansible-playbook", "-i", "inventories/aws", playbook, "--skip-tags", "capture",
            # teardown.yml keeps the captures: in the test's folder, never in the checkout
            "-e", f"mirrorlab_captures_dir={self.tmp / 'kept'}",
            "-e", f"@{self.vars_file(extra, name)}", "-e", "stacks_poll_interval=1", *args,
        ]

    def playbook(self, playbook, *args, extra=None, check=True):
        return run(self.command(playbook, *args, extra=extra), env=self.env, check=check, timeout=900)

    # ---- what exists on the (emulated) AWS side
    def live_stacks(self):
        return {
            s["StackName"]: s["StackStatus"]
            for s in self.cfn.list_stacks()["StackSummaries"]
            if s["StackStatus"] != "DELETE_COMPLETE"
        }

    def tagged_mirroring(self):
        def tagged(items):
            return [i for i in items if any(t["Key"] == TAG and t["Value"] == DEPLOYMENT for t in i.get("Tags", []))]

        return {
            "sessions": tagged(self.ec2.describe_traffic_mirror_sessions()["TrafficMirrorSessions"]),
            "targets": tagged(self.ec2.describe_traffic_mirror_targets()["TrafficMirrorTargets"]),
            "filters": tagged(self.ec2.describe_traffic_mirror_filters()["TrafficMirrorFilters"]),
        }

    def leftovers(self):
        left = {"stacks": self.live_stacks(), **{k: [x for x in v] for k, v in self.tagged_mirroring().items()}}
        left["certificates"] = self.acm.list_certificates()["CertificateSummaryList"]
        left["buckets"] = [b["Name"] for b in self.s3.list_buckets()["Buckets"]]
        return {k: v for k, v in left.items() if v}

    def events(self, stack_name):
        return self.cfn.describe_stack_events(StackName=stack_name)["StackEvents"]

    def wait_for(self, stack_name, status, timeout=30):
        deadline = time.monotonic() + timeout
        while self.live_stacks().get(stack_name) != status:
            assert time.monotonic() < deadline, f"{stack_name}: {self.live_stacks().get(stack_name)}, wanted {status}"
            time.sleep(0.3)


@pytest.fixture
def aws(ext_server, tmp_path):
    requests.post(ext_server + "/moto-api/reset", timeout=30).raise_for_status()
    return Aws(ext_server, tmp_path)


def recap(proc):
    """The PLAY RECAP counters of localhost."""
    line = [l for l in proc.stdout.splitlines() if l.startswith("localhost")][-1]
    return {k: int(v) for k, v in (item.split("=") for item in line.split(":", 1)[1].split())}


# ------------------------------------------------------------------------ (a) validation
# The bad inputs, and someone else's stacks, are in test_bad_input_battery.py (one seeded moto
# server, every input at once).


def _exports_template(values):
    return json.dumps({
        "Resources": {"Handle": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {name: {"Value": value, "Export": {"Name": f"infra-vpc-{name}"}} for name, value in values.items()},
    })


@pytest.mark.slow
def test_imported_network_is_checked_before_any_stack(aws):
    """With the network imported (no vpc_id), missing exports or a VPC CIDR that differs from
    the one the alb_* presets were expanded with stop the run before anything is created."""
    imported = {"mirrorlab_network": {"import_prefix": "infra-vpc"}, "mirrorlab_filter": {"preset": "alb_client"}}
    missing = aws.playbook("site.yml", extra=imported, check=False)
    assert missing.returncode != 0
    assert ("mirrorlab_network.import_prefix: the CloudFormation exports infra-vpc-VpcId, infra-vpc-VpcCidr, "
            "infra-vpc-PublicSubnets, infra-vpc-PrivateSubnets are missing in us-east-1"
            in " ".join(missing.stdout.split()))
    assert aws.leftovers() == {}

    subnets = ",".join(aws.subnets)
    aws.cfn.create_stack(StackName="infra-vpc", TemplateBody=_exports_template(
        {"VpcId": aws.vpc, "VpcCidr": "10.20.0.0/16", "PublicSubnets": subnets, "PrivateSubnets": subnets}))
    aws.wait_for("infra-vpc", "CREATE_COMPLETE")
    differs = aws.playbook("site.yml", extra=imported, check=False)
    assert differs.returncode != 0
    assert ("mirrorlab_network.vpc_cidr: 10.0.0.0/16 differs from the imported VPC CIDR 10.20.0.0/16"
            in " ".join(differs.stdout.split()))
    assert aws.leftovers() == {"stacks": {"infra-vpc": "CREATE_COMPLETE"}}


# ------------------------------------------------------------------------ (b) order, concurrency


def _interval(aws, stack, begin="CREATE_IN_PROGRESS", end="CREATE_COMPLETE", stack_id=None):
    events = aws.events(stack_id or stack)
    start = min(e["Timestamp"] for e in events if e["LogicalResourceId"] == stack and e["ResourceStatus"] == begin)
    stop = max(e["Timestamp"] for e in events if e["LogicalResourceId"] == stack and e["ResourceStatus"] == end)
    return start, stop


@pytest.mark.slow
def test_site_deploys_in_order_and_concurrently_then_reconciles(aws):
    proc = aws.playbook("site.yml")
    service, target, mirroring = STACKS
    assert aws.live_stacks() == {name: "CREATE_COMPLETE" for name in STACKS}

    s_start, s_end = _interval(aws, service)
    t_start, t_end = _interval(aws, target)
    m_start, m_end = _interval(aws, mirroring)
    # Each stack took the emulated time; the two independent ones overlapped ...
    assert s_end - s_start >= timedelta(seconds=STACK_DELAY * 0.9)
    assert t_end - t_start >= timedelta(seconds=STACK_DELAY * 0.9)
    assert s_start < t_end and t_start < s_end, (s_start, s_end, t_start, t_end)
    # ... and the mirroring stack began only after both were complete.
    assert m_start >= max(s_end, t_end), (m_start, s_end, t_end)
    # The user could follow both stacks: each round printed each stack's status and time. Which
    # statuses a round catches depends on how long a round takes against the emulated 2 s (a
    # loaded machine may see only "no stack (yet/any more)" then CREATE_COMPLETE); the order and
    # the overlap above are asserted from the stack events, which do not depend on it.
    for name in (service, target):
        seen = re.findall(rf"{name}: (CREATE_IN_PROGRESS|CREATE_COMPLETE|no stack \(yet/any more\)), \d+ s", proc.stdout)
        assert seen, (name, proc.stdout[-4000:])

    # A session per ALB ENI (one per subnet), to the capture ENI, with the experiment's VNI.
    outputs = {o["OutputKey"]: o["OutputValue"] for o in aws.cfn.describe_stacks(StackName=target)["Stacks"][0]["Outputs"]}
    alb = aws.elbv2.describe_load_balancers()["LoadBalancers"][0]
    alb_desc = "ELB app/" + alb["LoadBalancerArn"].split("loadbalancer/app/", 1)[1]
    alb_enis = sorted(e["NetworkInterfaceId"] for e in aws.ec2.describe_network_interfaces(
        Filters=[{"Name": "description", "Values": [alb_desc]}])["NetworkInterfaces"])
    assert len(alb_enis) == 2
    mirroring_now = aws.tagged_mirroring()
    sessions = mirroring_now["sessions"]
    assert sorted(s["NetworkInterfaceId"] for s in sessions) == alb_enis
    assert {s["VirtualNetworkId"] for s in sessions} == {12345}
    assert [t["NetworkInterfaceId"] for t in mirroring_now["targets"]] == [outputs["EniId"]]
    assert len(mirroring_now["filters"]) == 1
    assert "VNI 12345" in proc.stdout and "curl" in proc.stdout and "teardown.yml" in proc.stdout

    # (d) Nothing changed: the re-run changes nothing.
    again = aws.playbook("site.yml")
    assert recap(again)["changed"] == 0, again.stdout[-6000:]
    assert sorted(s["TrafficMirrorSessionId"] for s in aws.tagged_mirroring()["sessions"]) == sorted(
        s["TrafficMirrorSessionId"] for s in sessions)

    # --check on the deployed experiment: change sets say nothing would change.
    checked = aws.playbook("site.yml", "--check")
    assert recap(checked)["changed"] == 0, checked.stdout[-6000:]

    # (d) The ALB scales out into a new ENI: the next run adds exactly its session.
    new_eni = aws.ec2.create_network_interface(SubnetId=aws.subnets[0], Description=alb_desc)["NetworkInterface"]["NetworkInterfaceId"]
    grown = aws.playbook("site.yml")
    assert recap(grown)["changed"] >= 1
    assert sorted(s["NetworkInterfaceId"] for s in aws.tagged_mirroring()["sessions"]) == sorted(alb_enis + [new_eni])
    assert f"added for {new_eni}" in grown.stdout
    kept = {s["TrafficMirrorSessionId"] for s in sessions}
    assert kept <= {s["TrafficMirrorSessionId"] for s in aws.tagged_mirroring()["sessions"]}

    # (d) An ENI vanishes: its session goes, the others stay.
    aws.ec2.delete_network_interface(NetworkInterfaceId=alb_enis[0])
    shrunk = aws.playbook("site.yml")
    assert sorted(s["NetworkInterfaceId"] for s in aws.tagged_mirroring()["sessions"]) == sorted([alb_enis[1], new_eni])
    assert f"removed for {alb_enis[0]}" in shrunk.stdout

    # Teardown: mirroring first, then the other two concurrently; verified clean; twice fine.
    ids = {name: aws.cfn.describe_stacks(StackName=name)["Stacks"][0]["StackId"] for name in STACKS}
    down = aws.playbook("teardown.yml")
    assert aws.leftovers() == {}
    m_del, s_del, t_del = (
        _interval(aws, name, "DELETE_IN_PROGRESS", "DELETE_COMPLETE", stack_id=ids[name])
        for name in (mirroring, service, target)
    )
    assert min(s_del[0], t_del[0]) >= m_del[1]
    assert s_del[0] < t_del[1] and t_del[0] < s_del[1]
    assert "Nothing tagged mirrorlab:deployment=mlt is left" in down.stdout
    twice = aws.playbook("teardown.yml")
    assert recap(twice)["changed"] == 0


# ------------------------------------------------------------------------ (c) partial states


def _create(aws, stack, template, parameters):
    aws.cfn.create_stack(
        StackName=stack, TemplateBody=template, Capabilities=["CAPABILITY_IAM"],
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Tags=[{"Key": TAG, "Value": DEPLOYMENT}],
    )


def _target_template(count=1):
    """roles/stacks/templates/target-instance.yml.j2 rendered for `count` instances."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(ROOT / "roles/stacks/templates")),
                             undefined=jinja2.StrictUndefined)
    return env.get_template("target-instance.yml.j2").render(target_instance_count=count)


def _target_stack(aws):
    _create(aws, STACKS[1], _target_template(), {
        "Deployment": DEPLOYMENT, "VpcId": aws.vpc, "VpcCidr": "10.0.0.0/16",
        "PublicSubnetIds": ",".join(aws.subnets)})


def _broken_mirroring_stack(aws):
    """A mirroring stack whose session names a missing ENI: creation fails, ROLLBACK_COMPLETE."""
    template = {
        "Resources": {
            "Filter": {"Type": "AWS::EC2::TrafficMirrorFilter", "Properties": {"Description": "x"}},
            "Session": {"Type": "AWS::EC2::TrafficMirrorSession", "Properties": {
                "NetworkInterfaceId": "eni-00000000000000000", "TrafficMirrorTargetId": "tmt-00000000000000000",
                "TrafficMirrorFilterId": {"Ref": "Filter"}, "SessionNumber": 1}},
        }
    }
    _create(aws, STACKS[2], json.dumps(template), {})


def _interrupted_site(aws):
    """site.yml killed while the two base stacks are being created."""
    proc = subprocess.Popen(aws.command("site.yml", name="interrupted.json"), cwd=ROOT, env=aws.env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not all(aws.live_stacks().get(s) == "CREATE_IN_PROGRESS" for s in STACKS[:2]):
            assert proc.poll() is None and time.monotonic() < deadline, "site.yml did not start the stacks"
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def _delete_failed(aws):
    """Full deployment, then the mirroring stack cannot be deleted (a foreign session uses its
    target), ending DELETE_FAILED; the blocker is then removed by hand."""
    aws.playbook("site.yml")
    target = aws.tagged_mirroring()["targets"][0]["TrafficMirrorTargetId"]
    mirror_filter = aws.tagged_mirroring()["filters"][0]["TrafficMirrorFilterId"]
    eni = aws.ec2.create_network_interface(SubnetId=aws.subnets[1])["NetworkInterface"]["NetworkInterfaceId"]
    blocker = aws.ec2.create_traffic_mirror_session(
        NetworkInterfaceId=eni, TrafficMirrorTargetId=target, TrafficMirrorFilterId=mirror_filter, SessionNumber=1,
    )["TrafficMirrorSession"]["TrafficMirrorSessionId"]
    aws.cfn.delete_stack(StackName=STACKS[2])
    aws.wait_for(STACKS[2], "DELETE_FAILED")
    aws.ec2.delete_traffic_mirror_session(TrafficMirrorSessionId=blocker)


PARTIAL_STATES = {
    "nothing": lambda aws: None,
    "only_target_stack": lambda aws: (_target_stack(aws), aws.wait_for(STACKS[1], "CREATE_COMPLETE")),
    "target_in_progress_and_rollback_complete_mirroring": lambda aws: (
        _target_stack(aws), _broken_mirroring_stack(aws), aws.wait_for(STACKS[2], "ROLLBACK_COMPLETE")),
    "interrupted_site": _interrupted_site,
    "mirroring_delete_failed": _delete_failed,
}


@pytest.mark.slow
@pytest.mark.parametrize("state", sorted(PARTIAL_STATES))
def test_teardown_from_partial_state_leaves_nothing_tagged(aws, state):
    PARTIAL_STATES[state](aws)
    before = aws.live_stacks()
    if state != "nothing":
        assert before, "the partial state has no stack"
    proc = aws.playbook("teardown.yml")
    assert aws.leftovers() == {}, proc.stdout[-6000:]
    assert "Nothing tagged mirrorlab:deployment=mlt is left" in proc.stdout
    again = aws.playbook("teardown.yml")
    assert recap(again)["changed"] == 0


@pytest.mark.slow
def test_teardown_fails_listing_what_is_left(aws):
    """A session of the deployment that no stack owns (created by hand) is reported, and the
    run fails, after the stacks are gone."""
    eni = aws.ec2.create_network_interface(SubnetId=aws.subnets[0])["NetworkInterface"]["NetworkInterfaceId"]
    target = aws.ec2.create_traffic_mirror_target(
        NetworkInterfaceId=eni,
        TagSpecifications=[{"ResourceType": "traffic-mirror-target", "Tags": [{"Key": TAG, "Value": DEPLOYMENT}]}],
    )["TrafficMirrorTarget"]["TrafficMirrorTargetId"]
    proc = aws.playbook("teardown.yml", check=False)
    assert proc.returncode != 0
    assert "Teardown incomplete" in proc.stdout and f"traffic mirror target {target}" in proc.stdout


# ------------------------------------------------------------------------ captures, HTTPS


@pytest.mark.slow
def test_fetch_is_incremental_and_teardown_keeps_the_archive(aws, tmp_path):
    """fetch_captures.yml lays the archive out as <dir>/<instance>/<link>/ and a second run
    downloads only what is new; teardown.yml downloads the rest before it deletes the bucket
    (nothing of the archive is lost), and says where it went."""
    _target_stack(aws)
    aws.wait_for(STACKS[1], "CREATE_COMPLETE")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in aws.cfn.describe_stacks(StackName=STACKS[1])["Stacks"][0]["Outputs"]}
    bucket = outputs["BucketName"]
    pcaps = {"pcap/i-0123/capture0/capture0-vni12345-1.pcap": b"\xd4\xc3\xb2\xa1first",
             "pcap/i-0123/capture0/capture0-vni12345-2.pcap": b"\xd4\xc3\xb2\xa1second"}
    for key, body in pcaps.items():
        aws.s3.put_object(Bucket=bucket, Key=key, Body=body)
    aws.s3.put_object(Bucket=bucket, Key="i-0123/ssm-transfer", Body=b"not a capture")

    dest = tmp_path / "captures"
    cmd = ["ansible-playbook", "-i", "inventories/aws", "playbooks/fetch_captures.yml",
           "-e", f"@{aws.vars_file()}", "-e", f"mirrorlab_captures_dir={dest}"]
    first = run(cmd, env=aws.env)
    assert "2 capture file(s)" in first.stdout and "(2 new)" in first.stdout

    def local():
        return {str(p.relative_to(dest)): p.read_bytes() for p in dest.rglob("*") if p.is_file()}

    assert local() == {k.removeprefix("pcap/"): v for k, v in pcaps.items()}
    late = {"pcap/i-0123/capture0/capture0-vni12345-3.pcap": b"\xd4\xc3\xb2\xa1third"}
    aws.s3.put_object(Bucket=bucket, Key=next(iter(late)), Body=next(iter(late.values())))
    second = run(cmd, env=aws.env)
    assert "3 capture file(s)" in second.stdout and "(1 new)" in second.stdout

    late2 = {"pcap/i-0123/capv777/capv777-vni777-1.pcap": b"\xd4\xc3\xb2\xa1fourth"}
    aws.s3.put_object(Bucket=bucket, Key=next(iter(late2)), Body=next(iter(late2.values())))
    gone = aws.playbook("teardown.yml", extra={"mirrorlab_captures_dir": str(dest)})
    assert f"Kept the captures: 4 file(s) in {dest}" in gone.stdout
    assert local() == {k.removeprefix("pcap/"): v for k, v in {**pcaps, **late, **late2}.items()}
    assert bucket not in [b["Name"] for b in aws.s3.list_buckets()["Buckets"]]
    assert aws.live_stacks() == {}


@pytest.mark.slow
def test_https_imports_a_tagged_self_signed_certificate_and_teardown_deletes_it(aws):
    aws.playbook("site.yml", extra={"mirrorlab_https": True})
    (cert,) = aws.acm.list_certificates()["CertificateSummaryList"]
    tags = {t["Key"]: t["Value"] for t in aws.acm.list_tags_for_certificate(CertificateArn=cert["CertificateArn"])["Tags"]}
    assert tags == {"Name": f"{DEPLOYMENT}-https", TAG: DEPLOYMENT}
    params = {p["ParameterKey"]: p["ParameterValue"] for p in aws.cfn.describe_stacks(StackName=STACKS[0])["Stacks"][0]["Parameters"]}
    assert params["CertificateArn"] == cert["CertificateArn"]
    # A second run reuses the certificate instead of importing another one.
    again = aws.playbook("site.yml", extra={"mirrorlab_https": True})
    assert len(aws.acm.list_certificates()["CertificateSummaryList"]) == 1
    assert recap(again)["changed"] == 0
    # Someone else's certificate with the same Name but without the deployment's tag: kept.
    foreign = aws.acm.request_certificate(DomainName="other.example.invalid",
                                          Tags=[{"Key": "Name", "Value": f"{DEPLOYMENT}-https"}])["CertificateArn"]
    aws.playbook("teardown.yml", extra={"mirrorlab_https": True})
    left = aws.leftovers()
    assert [c["CertificateArn"] for c in left.pop("certificates", [])] == [foreign] and left == {}


# ------------------------------------------------------------------------ the SSM boundary


@pytest.mark.slow
def test_capture_step_runs_up_to_the_ssm_session(aws, tmp_path):
    """Without the Session Manager plugin, site.yml refuses to start (with how to install it);
    with that check turned off and no inventory (mirrorlab.vpc.site -e mirrorlab_backend=aws),
    the capture step adds the instance from the target stack's outputs, maps the variables,
    validates the capture role's input and stops exactly where the SSM session would begin (no
    plugin here)."""
    if shutil.which("session-manager-plugin"):
        pytest.skip("the Session Manager plugin is installed here: the boundary lies further on")
    refused = run(["ansible-playbook", "-i", "inventories/aws", "site.yml", "-e", f"@{aws.vars_file()}"],
                  env={**aws.env, "PATH": os.path.dirname(sys.executable) + ":/usr/bin:/bin"}, check=False)
    assert refused.returncode != 0
    assert "session-manager-plugin" in refused.stdout and "--skip-tags capture" in refused.stdout
    assert aws.live_stacks() == {}

    aws.playbook("site.yml")  # the stacks, capture step skipped
    instance = {o["OutputKey"]: o["OutputValue"] for o in
                aws.cfn.describe_stacks(StackName=STACKS[1])["Stacks"][0]["Outputs"]}["InstanceId"]

    # As from the installed collection: no inventory, no ansible.cfg, -e mirrorlab_backend=aws
    # (the checkout's .collections link stands in for the installed copy).
    work = tmp_path / "work"
    work.mkdir()
    env = {**aws.env, "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".collections")}
    env.pop("ANSIBLE_CONFIG")
    full = run(["ansible-playbook", "mirrorlab.vpc.site", "-e", "mirrorlab_backend=aws", "-e", f"@{aws.vars_file()}",
                "-e", "stacks_check_ssm_plugin=false", "-e", "stacks_poll_interval=1"], env=env, cwd=work, check=False)
    assert full.returncode != 0
    assert "Could not match supplied host pattern" not in full.stdout + full.stderr
    assert f"included: mirrorlab.vpc.capture for {instance}" in full.stdout, (
        instance, [line for line in full.stdout.splitlines() if "included: mirrorlab.vpc.capture" in line or line.startswith("i-")])
    failure = full.stdout[full.stdout.index(f"included: mirrorlab.vpc.capture for {instance}"):]
    assert 'Failed to find required executable "session-manager-plugin"' in failure + full.stderr

    # teardown.yml with the drain (no --skip-tags capture) needs the plugin as site.yml does:
    # refused before anything is deleted.
    teardown = ["ansible-playbook", "-i", "inventories/aws", "teardown.yml", "-e", f"@{aws.vars_file()}",
                "-e", f"mirrorlab_captures_dir={tmp_path / 'kept'}", "-e", "stacks_poll_interval=1"]
    kept = aws.live_stacks()
    refused = run(teardown, env={**aws.env, "PATH": os.path.dirname(sys.executable) + ":/usr/bin:/bin"}, check=False)
    assert refused.returncode != 0 and "--skip-tags capture" in refused.stdout and aws.live_stacks() == kept

    # With the tests' stand-in plugin and a rig without machines, the instance cannot be reached
    # (TargetNotConnected): the drain says so and the teardown goes on; nothing is left.
    rig = tmp_path / "empty-rig"
    rig.mkdir()
    (rig / "rig.json").write_text(json.dumps({"machines": []}))
    down = run(teardown, env={**aws.env, "MIRRORLAB_SSM_RIG": str(rig),
                              "PATH": f"{ROOT / 'tests' / 'ssm' / 'bin'}:{os.path.dirname(sys.executable)}:/usr/bin:/bin"})
    said = " ".join(down.stdout.split())  # the callback wraps long messages
    assert f"{instance} could not be reached, so nothing more was archived" in said, down.stdout[-4000:]
    assert aws.leftovers() == {}


@pytest.mark.slow
def test_a_gwlb_endpoint_target_makes_no_capture_instance(aws):
    """mirrorlab_target.type gateway_load_balancer_endpoint: the sessions mirror to the given
    endpoint; the target stack holds no instance or bucket, no capture step runs (so no Session
    Manager plugin is needed), the summary says where the packets go; a missing endpoint is
    refused before any stack; teardown leaves nothing (and the user's endpoint alone)."""
    path = {"PATH": os.path.dirname(sys.executable) + ":/usr/bin:/bin"}  # no session-manager-plugin
    missing = {"mirrorlab_target": {"type": "gateway_load_balancer_endpoint", "gwlb_endpoint_id": "vpce-0123456789abcdef0"}}
    cmd = [c for c in aws.command("site.yml", extra=missing) if c not in ("--skip-tags", "capture")]
    refused = run(cmd, env={**aws.env, **path}, check=False)
    assert refused.returncode != 0
    assert "mirrorlab_target.gwlb_endpoint_id: vpce-0123456789abcdef0 does not exist in us-east-1" in " ".join(
        refused.stdout.split()), refused.stdout[-3000:]
    assert aws.live_stacks() == {}

    endpoint = aws.ec2.create_vpc_endpoint(
        VpcEndpointType="GatewayLoadBalancer", VpcId=aws.vpc, SubnetIds=[aws.subnets[0]],
        ServiceName="com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0")["VpcEndpoint"]["VpcEndpointId"]
    extra = {"mirrorlab_target": {"type": "gateway_load_balancer_endpoint", "gwlb_endpoint_id": endpoint}}
    cmd = [c for c in aws.command("site.yml", extra=extra) if c not in ("--skip-tags", "capture")]
    proc = run(cmd, env={**aws.env, **path})
    assert aws.live_stacks() == {name: "CREATE_COMPLETE" for name in STACKS}
    target_stack = aws.cfn.describe_stacks(StackName=STACKS[1])["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in target_stack["Outputs"]}
    assert outputs["TargetCount"] == "0" and outputs["MirrorTarget"] == endpoint, outputs
    assert not [r for r in aws.ec2.describe_instances()["Reservations"] if r["Instances"]]
    assert aws.s3.list_buckets()["Buckets"] == []
    mirroring = aws.tagged_mirroring()
    (target,) = mirroring["targets"]
    assert target["Type"] == "gateway-load-balancer-endpoint" and target["GatewayLoadBalancerEndpointId"] == endpoint
    assert mirroring["sessions"] and {s["TrafficMirrorTargetId"] for s in mirroring["sessions"]} == {
        target["TrafficMirrorTargetId"]}
    out = " ".join(proc.stdout.split())
    assert f"no capture instance (target: the Gateway Load Balancer endpoint {endpoint})" in out
    assert f"The sessions mirror to your Gateway Load Balancer endpoint {endpoint}" in out
    assert "capture instances (t3.small)" not in out  # not in the cost estimate either
    assert "Configure the capture instances over SSM" in out and "skipping: no hosts matched" in out

    again = run(cmd, env={**aws.env, **path})
    assert recap(again)["changed"] == 0, again.stdout[-6000:]

    down = [c for c in aws.command("teardown.yml", extra=extra) if c not in ("--skip-tags", "capture")]
    run(down, env={**aws.env, **path})
    assert aws.leftovers() == {}
    assert [e["VpcEndpointId"] for e in aws.ec2.describe_vpc_endpoints()["VpcEndpoints"]] == [endpoint]
