"""mirrorlab.vpc.traffic_mirror_info against the plain moto server (moto's EC2 API has the
traffic mirror objects; only their CloudFormation types are missing)."""

import json

import boto3
import pytest
import requests

from conftest import ansible_env, run

pytestmark = pytest.mark.moto

TAG = "mirrorlab:deployment"


def _spec(kind, deployment):
    return [{"ResourceType": kind, "Tags": [{"Key": TAG, "Value": deployment}]}]


def test_lists_only_the_deployments_resources(aws_env, moto_server):
    requests.post(moto_server + "/moto-api/reset", timeout=30).raise_for_status()
    ec2 = boto3.client("ec2", endpoint_url=moto_server, region_name="us-east-1")
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.1.1.0/24")["Subnet"]["SubnetId"]
    enis = [ec2.create_network_interface(SubnetId=subnet)["NetworkInterface"]["NetworkInterfaceId"] for _ in range(3)]
    made = {}
    for deployment in ("mine", "other"):
        target = ec2.create_traffic_mirror_target(
            NetworkInterfaceId=enis[0], TagSpecifications=_spec("traffic-mirror-target", deployment))["TrafficMirrorTarget"]
        mirror_filter = ec2.create_traffic_mirror_filter(
            TagSpecifications=_spec("traffic-mirror-filter", deployment))["TrafficMirrorFilter"]
        session = ec2.create_traffic_mirror_session(
            NetworkInterfaceId=enis[1 if deployment == "mine" else 2], TrafficMirrorTargetId=target["TrafficMirrorTargetId"],
            TrafficMirrorFilterId=mirror_filter["TrafficMirrorFilterId"], SessionNumber=1, VirtualNetworkId=4242,
            TagSpecifications=_spec("traffic-mirror-session", deployment))["TrafficMirrorSession"]
        made[deployment] = (session, target, mirror_filter)

    args = json.dumps({"region": "us-east-1", "tags": {TAG: "mine"}})
    proc = run(["ansible", "localhost", "-m", "mirrorlab.vpc.traffic_mirror_info", "-a", args, "-o"],
               env={**ansible_env(), **aws_env}, check=True)
    result = json.loads(proc.stdout.split("=>", 1)[1])
    session, target, mirror_filter = made["mine"]
    assert result["changed"] is False
    assert [s["traffic_mirror_session_id"] for s in result["traffic_mirror_sessions"]] == [session["TrafficMirrorSessionId"]]
    assert result["traffic_mirror_sessions"][0]["virtual_network_id"] == 4242
    assert result["traffic_mirror_sessions"][0]["network_interface_id"] == enis[1]
    assert result["traffic_mirror_sessions"][0]["tags"] == {TAG: "mine"}
    assert [t["traffic_mirror_target_id"] for t in result["traffic_mirror_targets"]] == [target["TrafficMirrorTargetId"]]
    assert [f["traffic_mirror_filter_id"] for f in result["traffic_mirror_filters"]] == [mirror_filter["TrafficMirrorFilterId"]]

    only_sessions = json.dumps({"region": "us-east-1", "resources": ["sessions"]})
    proc = run(["ansible", "localhost", "-m", "mirrorlab.vpc.traffic_mirror_info", "-a", only_sessions, "-o", "--check"],
               env={**ansible_env(), **aws_env}, check=True)
    result = json.loads(proc.stdout.split("=>", 1)[1])
    assert len(result["traffic_mirror_sessions"]) == 2
    assert result["traffic_mirror_targets"] == [] and result["traffic_mirror_filters"] == []
