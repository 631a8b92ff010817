"""Cost, expiry and `status --all` on AWS, against a moto server with the mirrorlab emulation
(tests/moto_ext; the expiry schedule's CloudFormation type is emulated there too, item 10).

One deployment serves every check: site.yml with mirrorlab_expire_after, then an orphan made
out of band, then status_all.yml, then teardown.yml. What moto cannot show: the schedule never
fires (moto runs no schedule), so its DeleteStack as the expiry role is not exercised here; the
role's policy is checked as a document (tests/lint/test_expiry_template.py).
"""

import datetime
import json

import boto3
import pytest
import requests

from conftest import ansible_env, moto_ext_server, run

from ansible_collections.mirrorlab.vpc.plugins.module_utils import pricing

pytestmark = pytest.mark.moto

REGION = "us-east-1"
DEPLOYMENT = "mlbt"
TAG = "mirrorlab:deployment"
HOURS = 2


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    with moto_ext_server(0.5, 0.5) as url:
        requests.post(url + "/moto-api/reset", timeout=30).raise_for_status()
        creds = dict(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION, endpoint_url=url)
        clients = {name: boto3.client(name, **creds) for name in ("ec2", "cloudformation", "scheduler")}
        ec2 = clients["ec2"]
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{z}")["Subnet"]["SubnetId"]
                   for i, z in ((1, "a"), (2, "b"))]
        env = ansible_env(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_SESSION_TOKEN="testing",
                          AWS_DEFAULT_REGION=REGION, AWS_REGION=REGION, AWS_URL=url, AWS_ENDPOINT_URL=url)
        varsfile = tmp_path_factory.mktemp("billing") / "vars.json"
        varsfile.write_text(json.dumps({
            "mirrorlab_deployment": DEPLOYMENT, "mirrorlab_region": REGION, "mirrorlab_expire_after": HOURS,
            "mirrorlab_network": {"vpc_id": vpc, "subnet_ids": subnets, "vpc_cidr": "10.0.0.0/16"},
        }))

        def playbook(name, *args):
            return run(["ansible-playbook", "-i", "inventories/aws", name, "--skip-tags", "capture", "-e", f"@{varsfile}",
                        "-e", "stacks_poll_interval=1", *args], env=env, timeout=900)

        started = datetime.datetime.now(datetime.timezone.utc)
        site = playbook("site.yml")
        yield {"clients": clients, "playbook": playbook, "site": site, "started": started}


def test_the_cost_is_shown_before_and_after_deploying(deployed):
    out = deployed["site"].stdout
    heading = f"What this costs on AWS ({REGION}, prices read {pricing.READ}"
    assert out.count(heading) >= 2, out[-6000:]
    # after deploying, the two deployed sessions (one per ALB ENI) are priced
    session = pricing.PRICES[REGION]["mirror_session_hour"]["usd"]
    assert f"mirror sessions: 2 x ${session:g} per session-hour = ${2 * session:.4f} per hour" in " ".join(out.split())


def test_the_expiry_schedule_deletes_the_mirroring_stack_at_the_time(deployed):
    schedule = deployed["clients"]["scheduler"].get_schedule(Name=f"{DEPLOYMENT}-expire-mirroring")
    at = datetime.datetime.strptime(schedule["ScheduleExpression"], "at(%Y-%m-%dT%H:%M:%S)").replace(
        tzinfo=datetime.timezone.utc)
    expected = deployed["started"] + datetime.timedelta(hours=HOURS)
    assert abs((at - expected).total_seconds()) < 600, (at, expected)
    assert schedule["ScheduleExpressionTimezone"] == "UTC"
    assert schedule["Target"]["Arn"] == "arn:aws:scheduler:::aws-sdk:cloudformation:deleteStack"
    assert json.loads(schedule["Target"]["Input"]) == {"StackName": f"{DEPLOYMENT}-mirroring"}
    resources = deployed["clients"]["cloudformation"].list_stack_resources(
        StackName=f"{DEPLOYMENT}-target-instance")["StackResourceSummaries"]
    assert {(r["LogicalResourceId"], r["ResourceType"]) for r in resources} >= {
        ("ExpireMirroring", "AWS::Scheduler::Schedule"), ("ExpiryRole", "AWS::IAM::Role")}
    assert "Expiry: at " + at.strftime("%Y-%m-%dT%H:%M:%S") in deployed["site"].stdout


def test_status_all_lists_the_deployment_and_an_orphan_then_teardown_removes_the_schedule(deployed):
    ec2 = deployed["clients"]["ec2"]
    # An orphan: a session of this deployment that no stack holds (made by hand, or left by a
    # failed stack deletion), on the deployment's own target and filter.
    tagged = [{"Key": TAG, "Value": DEPLOYMENT}]
    target = ec2.describe_traffic_mirror_targets()["TrafficMirrorTargets"][0]["TrafficMirrorTargetId"]
    mirror_filter = ec2.describe_traffic_mirror_filters()["TrafficMirrorFilters"][0]["TrafficMirrorFilterId"]
    subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    eni = ec2.create_network_interface(SubnetId=subnet)["NetworkInterface"]["NetworkInterfaceId"]
    orphan = ec2.create_traffic_mirror_session(
        NetworkInterfaceId=eni, TrafficMirrorTargetId=target, TrafficMirrorFilterId=mirror_filter, SessionNumber=1,
        TagSpecifications=[{"ResourceType": "traffic-mirror-session", "Tags": tagged}],
    )["TrafficMirrorSession"]["TrafficMirrorSessionId"]
    status = deployed["playbook"]("playbooks/status_all.yml")
    # the callback wraps long lines: compare with whitespace collapsed
    out = " ".join(status.stdout.split())
    summary = out.split(f"aws {DEPLOYMENT} ({REGION}): ", 1)[1].split("'", 1)[0]
    assert f"{DEPLOYMENT}-mirroring CREATE_COMPLETE" in summary and "3 session(s)" in summary, out[-3000:]
    assert "expires 20" in summary and " per hour" in summary and " so far" in summary
    assert out.count("ORPHAN ") == 1
    assert (f"ORPHAN traffic-mirror-session {orphan} of deployment {DEPLOYMENT} (in no stack, still billed): "
            f"aws ec2 delete-traffic-mirror-session --traffic-mirror-session-id {orphan} --region {REGION}") in out
    ec2.delete_traffic_mirror_session(TrafficMirrorSessionId=orphan)

    deployed["playbook"]("teardown.yml")
    with pytest.raises(deployed["clients"]["scheduler"].exceptions.ResourceNotFoundException):
        deployed["clients"]["scheduler"].get_schedule(Name=f"{DEPLOYMENT}-expire-mirroring")
