"""The mirroring template with several sessions per ENI, per-ENI VNIs and the target kinds,
deployed on a moto server with the test-only emulation of the TrafficMirror CloudFormation
types (tests/moto_ext): what CloudFormation would create, read back through the EC2 API.

Rendered by plain Jinja2 from the project's model code (tests/lint/test_cfn_lint.py lints the
same renderings). Emulated: the four TrafficMirror types (moto has the EC2 objects only); the
rules the emulation enforces are AWS's (3 sessions per ENI, distinct session numbers).
"""

import time

import boto3
import jinja2
import pytest

from conftest import ROOT, moto_ext_server

from ansible_collections.mirrorlab.vpc.plugins.module_utils.experiment import build_experiment
from ansible_collections.mirrorlab.vpc.plugins.module_utils.model import template_constants

pytestmark = pytest.mark.moto
REGION = "us-east-1"


@pytest.fixture(scope="module")
def aws():
    with moto_ext_server(0, 0) as url:
        creds = dict(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION, endpoint_url=url)
        yield boto3.client("ec2", **creds), boto3.client("cloudformation", **creds)


def render(variables):
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(ROOT / "roles" / "stacks" / "templates")),
                             undefined=jinja2.StrictUndefined)
    return env.get_template("mirroring.yml.j2").render(**variables)


def deploy(cfn, name, body, parameters=None):
    cfn.create_stack(StackName=name, TemplateBody=body, Parameters=[
        {"ParameterKey": k, "ParameterValue": str(v)} for k, v in (parameters or {}).items()])
    deadline = time.monotonic() + 60
    while True:
        status = cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
        if not status.endswith("IN_PROGRESS"):
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.2)


def model(**session):
    experiment, errors = build_experiment({"backend": "aws", "session": session, "filter": {"preset": "alb_client"}})
    assert errors == [], errors
    return experiment


def enis_in_a_vpc(ec2, count):
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    return [ec2.create_network_interface(SubnetId=subnet)["NetworkInterface"]["NetworkInterfaceId"] for _ in range(count)]


def sessions_of(ec2, enis):
    found = ec2.describe_traffic_mirror_sessions(Filters=[{"Name": "network-interface-id", "Values": enis}])
    return sorted(found["TrafficMirrorSessions"], key=lambda s: (s["NetworkInterfaceId"], s["SessionNumber"]))


def test_three_sessions_per_eni_each_with_its_filter_and_vni(aws):
    ec2, cfn = aws
    enis = enis_in_a_vpc(ec2, 3)
    source_enis, target_eni = sorted(enis[:2]), enis[2]
    experiment = model(vni=100, session_number=5, extra=[
        {"session_number": 9, "vni": 900, "packet_length": 64, "filter": {"preset": "all_tcp"}},
        {"session_number": 2, "filter": {"rules": [
            {"direction": "ingress", "number": 1, "action": "accept", "protocol": "udp",
             "source_cidr": "::/0", "destination_cidr": "::/0", "destination_ports": "53"}]}},
    ])
    extra = [{"session_number": x["session_number"], "vni": x["vni"], "packet_length": x["packet_length"],
              "rules": x["filter"]["rules"]} for x in experiment["session"]["extra"]]
    body = render({"mirroring_rules": experiment["filter"]["rules"], "mirroring_source_enis": source_enis,
                   "mirroring_target": {"type": "network-interface", "id": target_eni},
                   "mirroring_constants": template_constants(), "mirroring_extra_sessions": extra})
    assert deploy(cfn, "mlses-three", body, {"Vni": 100, "SessionNumber": 5}) == "CREATE_COMPLETE"

    sessions = sessions_of(ec2, source_enis)
    assert [(s["NetworkInterfaceId"], s["SessionNumber"], s["VirtualNetworkId"], s.get("PacketLength"))
            for s in sessions] == [(eni, n, vni, length) for eni in source_enis
                                   for n, vni, length in ((2, 100, None), (5, 100, None), (9, 900, 64))]
    assert len({s["TrafficMirrorFilterId"] for s in sessions}) == 3  # one filter per session number
    # every rule became a resource of the stack (moto's DescribeTrafficMirrorFilters does not
    # return the emulation's rules; their properties are checked on the rendering by cfn-lint's test)
    resources = cfn.list_stack_resources(StackName="mlses-three")["StackResourceSummaries"]
    rules = sorted(r["LogicalResourceId"] for r in resources if r["ResourceType"] == "AWS::EC2::TrafficMirrorFilterRule")
    assert rules == sorted(["RuleIngress100", "RuleIngress200", "RuleEgress100", "RuleEgress200",
                            "S9RuleIngress100", "S9RuleEgress100", "S2RuleIngress1"])
    assert all(r["ResourceStatus"] == "CREATE_COMPLETE" for r in resources)


def test_one_vni_per_eni_and_a_gwlb_endpoint_target(aws):
    ec2, cfn = aws
    source_enis = sorted(enis_in_a_vpc(ec2, 2))
    experiment = model(vni=4000, vni_per_eni=True)
    eni_vnis = {eni: experiment["session"]["vni"] + n for n, eni in enumerate(source_enis)}
    body = render({"mirroring_rules": experiment["filter"]["rules"], "mirroring_source_enis": source_enis,
                   "mirroring_target": {"type": "gateway-load-balancer-endpoint", "id": "vpce-0123456789abcdef0"},
                   "mirroring_constants": template_constants(), "mirroring_eni_vnis": eni_vnis})
    assert deploy(cfn, "mlses-gwlb", body, {"Vni": 4000}) == "CREATE_COMPLETE"
    assert [(s["NetworkInterfaceId"], s["VirtualNetworkId"]) for s in sessions_of(ec2, source_enis)] == [
        (source_enis[0], 4000), (source_enis[1], 4001)]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(StackName="mlses-gwlb")["Stacks"][0]["Outputs"]}
    (target,) = ec2.describe_traffic_mirror_targets(TrafficMirrorTargetIds=[outputs["TargetId"]])["TrafficMirrorTargets"]
    assert target["Type"] == "gateway-load-balancer-endpoint"
    assert target["GatewayLoadBalancerEndpointId"] == "vpce-0123456789abcdef0"
