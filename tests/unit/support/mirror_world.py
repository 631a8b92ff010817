"""Fixtures and helpers for the tests of mirror_eni_info (imported by name: pytest.ini puts
tests/unit/support on the path; not a conftest.py, so that it never shadows tests/conftest.py): an AWS account in moto (`mock_aws`) with
a VPC, and helpers that build the things the module resolves.

What moto does not do by itself, and these helpers do instead (each said where it happens):
- moto's elbv2 creates no ENIs for a load balancer. AWS creates one per zone, requester-managed,
  described `ELB app/<name>/<id>` (ALB; type `interface`) or `ELB net/<name>/<id>` (NLB; type
  `network_load_balancer`). `World.load_balancer` creates them through the EC2 API with that
  description and then sets RequesterManaged / InterfaceType in moto's backend, which the API
  cannot set. moto gives every load balancer, NLBs included, an `app/` ARN; the helper derives
  the description from the ARN moto returns, as AWS does from its own.
- moto's ECS service launches no task, and ListTasks ignores serviceName. `World.ecs_service`
  runs the tasks with RunTask and group `service:<name>`, which is the group ECS gives the
  tasks of a service. moto's awsvpc tasks need DNS hostnames on the VPC (moto reads the ENI's
  private DNS name), so the VPC has them, as a Fargate VPC does.
- moto names traffic mirror targets `traf-mir-tar-...`; AWS names them `tmt-...`. The `world`
  fixture sets moto's prefix to AWS's for the test.
"""

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ec2.models import ec2_backends
from moto.ec2 import utils as moto_ec2_utils

REGION = "us-east-1"


class CallCounter:
    """Counts the AWS API calls made by clients it is attached to (botocore `before-call`)."""

    def __init__(self):
        self.calls = []

    def attach(self, client):
        client.meta.events.register("before-call.*.*", self._before_call)
        return client

    def _before_call(self, model, **kwargs):
        self.calls.append(f"{model.service_model.service_name}:{model.name}")

    def reset(self):
        self.calls.clear()


class World:
    def __init__(self):
        self.ec2 = boto3.client("ec2", region_name=REGION)
        self.elbv2 = boto3.client("elbv2", region_name=REGION)
        self.ecs = boto3.client("ecs", region_name=REGION)
        self.cfn = boto3.client("cloudformation", region_name=REGION)
        self.backend = ec2_backends[DEFAULT_ACCOUNT_ID][REGION]
        self.vpc_id = self.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        self.ec2.modify_vpc_attribute(VpcId=self.vpc_id, EnableDnsHostnames={"Value": True})
        self.subnets = [
            self.ec2.create_subnet(VpcId=self.vpc_id, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{z}")[
                "Subnet"
            ]["SubnetId"]
            for i, z in ((1, "a"), (2, "b"))
        ]
        self.sg = self.ec2.create_security_group(GroupName="ml-eni", Description="test", VpcId=self.vpc_id)["GroupId"]
        self.counter = CallCounter()

    def client_factory(self, name):
        """What the resolver gets: a fresh client per service, counted."""
        return self.counter.attach(boto3.client(name, region_name=REGION))

    def eni(self, description="", subnet=0, requester_managed=False, interface_type="interface"):
        eni_id = self.ec2.create_network_interface(SubnetId=self.subnets[subnet], Description=description)[
            "NetworkInterface"
        ]["NetworkInterfaceId"]
        if requester_managed or interface_type != "interface":
            # Attributes only AWS sets; the EC2 API cannot (see the module docstring).
            self.backend.enis[eni_id].requester_managed = requester_managed
            self.backend.enis[eni_id].interface_type = interface_type
        return eni_id

    def load_balancer(self, name, lb_type="application"):
        lb = self.elbv2.create_load_balancer(Name=name, Subnets=self.subnets, Type=lb_type)["LoadBalancers"][0]
        kind, lb_name, lb_id = lb["LoadBalancerArn"].split(":loadbalancer/")[1].split("/")
        interface_type = "network_load_balancer" if lb_type == "network" else "interface"
        enis = [
            self.eni(f"ELB {kind}/{lb_name}/{lb_id}", subnet=i, requester_managed=True, interface_type=interface_type)
            for i in range(len(self.subnets))
        ]
        return lb["LoadBalancerArn"], enis

    def instance(self, instance_type="t3.small", tags=None, extra_enis=0):
        params = dict(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType=instance_type, SubnetId=self.subnets[0])
        if tags:
            params["TagSpecifications"] = [
                {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
            ]
        instance = self.ec2.run_instances(**params)["Instances"][0]
        enis = [instance["NetworkInterfaces"][0]["NetworkInterfaceId"]]
        for index in range(1, extra_enis + 1):
            eni_id = self.eni(f"extra {index}")
            self.ec2.attach_network_interface(NetworkInterfaceId=eni_id, InstanceId=instance["InstanceId"], DeviceIndex=index)
            enis.append(eni_id)
        return instance["InstanceId"], enis

    def ecs_service(self, cluster, service, tasks=2):
        self.ecs.create_cluster(clusterName=cluster)
        self.ecs.register_task_definition(
            family=service,
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="256",
            memory="512",
            containerDefinitions=[{"name": "nginx", "image": "nginx", "memory": 512}],
        )
        network = {"awsvpcConfiguration": {"subnets": [self.subnets[0]], "securityGroups": [self.sg]}}
        arn = self.ecs.create_service(
            cluster=cluster, serviceName=service, taskDefinition=service, desiredCount=tasks,
            launchType="FARGATE", networkConfiguration=network,
        )["service"]["serviceArn"]
        enis = []
        if tasks:
            # The tasks the service would launch (moto's service launches none).
            run = self.ecs.run_task(
                cluster=cluster, taskDefinition=service, launchType="FARGATE", group=f"service:{service}",
                count=tasks, networkConfiguration=network,
            )["tasks"]
            for task in run:
                for detail in task["attachments"][0]["details"]:
                    if detail["name"] == "networkInterfaceId":
                        enis.append(detail["value"])
                        # Fargate task ENIs are requester-managed on AWS.
                        self.backend.enis[detail["value"]].requester_managed = True
        return arn, enis

    def stack(self, name, outputs):
        """A stack whose outputs echo the given values (parameters -> outputs)."""
        template = {
            "AWSTemplateFormatVersion": "2010-09-09",
            "Parameters": {f"P{k}": {"Type": "String"} for k in outputs},
            "Resources": {
                "Group": {
                    "Type": "AWS::EC2::SecurityGroup",
                    "Properties": {"GroupDescription": f"stack {name}", "VpcId": self.vpc_id},
                }
            },
            "Outputs": {k: {"Value": {"Ref": f"P{k}"}} for k in outputs},
        }
        import json

        self.cfn.create_stack(
            StackName=name,
            TemplateBody=json.dumps(template),
            Parameters=[{"ParameterKey": f"P{k}", "ParameterValue": v} for k, v in outputs.items()],
        )

    def mirror_target(self, eni_id):
        return self.ec2.create_traffic_mirror_target(NetworkInterfaceId=eni_id)["TrafficMirrorTarget"][
            "TrafficMirrorTargetId"
        ]

    def sessions(self, source_eni, count, target_eni=None, first=1, target_id=None):
        """`count` sessions from source_eni to target_id, or to a new target on target_eni or a
        new ENI (session numbers first, first+1, ...). Returns the target id."""
        target = target_id or self.mirror_target(target_eni or self.eni("capture target"))
        mirror_filter = self.ec2.create_traffic_mirror_filter()["TrafficMirrorFilter"]["TrafficMirrorFilterId"]
        for number in range(first, first + count):
            self.ec2.create_traffic_mirror_session(
                NetworkInterfaceId=source_eni, TrafficMirrorTargetId=target,
                TrafficMirrorFilterId=mirror_filter, SessionNumber=number,
            )
        return target


@pytest.fixture
def aws_credentials(monkeypatch):
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_URL", "AWS_ENDPOINT_URL", "EC2_URL"):
        monkeypatch.delenv(key, raising=False)


@pytest.fixture
def aws_ids(monkeypatch):
    """AWS's id prefix for traffic mirror targets in moto (see the module docstring)."""
    monkeypatch.setitem(moto_ec2_utils.EC2_RESOURCE_TO_PREFIX, "traffic-mirror-target", "tmt")


@pytest.fixture
def world(aws_credentials, aws_ids):
    with mock_aws():
        yield World()
