"""module_utils/preflight.py and mirrorlab.vpc.aws_preflight against moto (in-process): every
problem found in one pass, each naming its mirrorlab_* variable; nothing written."""

import copy
import json

import boto3
import pytest
from moto import mock_aws

from conftest import module_main

from ansible_collections.mirrorlab.vpc.plugins.module_utils.experiment import build_experiment
from ansible_collections.mirrorlab.vpc.plugins.module_utils.preflight import run_checks
from ansible_collections.mirrorlab.vpc.plugins.modules import aws_preflight

REGION = "us-east-1"


class Account:
    def __init__(self):
        self.clients = dict((name, boto3.client(name, region_name=REGION))
                            for name in ("ec2", "cloudformation", "acm"))
        ec2 = self.clients["ec2"]
        self.vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        self.subnets = [ec2.create_subnet(VpcId=self.vpc, CidrBlock="10.0.%d.0/24" % i,
                                          AvailabilityZone=REGION + zone)["Subnet"]["SubnetId"]
                        for i, zone in ((1, "a"), (2, "b"), (3, "a"))]
        self.other_vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
        self.other_subnet = ec2.create_subnet(VpcId=self.other_vpc, CidrBlock="10.9.1.0/24",
                                              AvailabilityZone=REGION + "c")["Subnet"]["SubnetId"]

    def experiment(self, **values):
        base = {"backend": "aws", "region": REGION, "deployment": "mlp",
                "network": {"vpc_id": self.vpc, "subnet_ids": self.subnets[:2], "vpc_cidr": "10.0.0.0/16"}}
        base.update(values)
        experiment, errors = build_experiment(base)
        assert errors == []
        return experiment

    def check(self, **values):
        return run_checks(self.clients, self.experiment(**values))[0]

    def exports(self, **values):
        template = {"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}, "Outputs": dict(
            (name, {"Value": value, "Export": {"Name": "net-" + name}}) for name, value in values.items())}
        self.clients["cloudformation"].create_stack(StackName="net", TemplateBody=json.dumps(template))


@pytest.fixture
def account(monkeypatch):
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        yield Account()


def test_a_fitting_account_passes(account):
    problems, facts = run_checks(account.clients, account.experiment())
    assert problems == []
    assert facts["subnets"] == {account.subnets[0]: "us-east-1a", account.subnets[1]: "us-east-1b"}


def network(account, **kw):
    base = {"vpc_id": account.vpc, "subnet_ids": account.subnets[:2], "vpc_cidr": "10.0.0.0/16"}
    base.update(kw)
    return base


CASES = {
    "vpc missing": (lambda a: {"network": network(a, vpc_id="vpc-0123456789abcdef0")},
                    ["mirrorlab_network.vpc_id: vpc-0123456789abcdef0 does not exist in us-east-1"]),
    "cidr differs": (lambda a: {"network": network(a, vpc_cidr="10.1.0.0/16")},
                     ["mirrorlab_network.vpc_cidr: 10.1.0.0/16 is not the CIDR of"]),
    "subnet missing": (lambda a: {"network": network(a, subnet_ids=[a.subnets[0], "subnet-0123456789abcdef0"])},
                       ["mirrorlab_network.subnet_ids: subnet-0123456789abcdef0 does not exist in us-east-1"]),
    "subnet of another vpc": (lambda a: {"network": network(a, subnet_ids=[a.subnets[0], a.other_subnet])},
                              ["mirrorlab_network.subnet_ids: %s is in %s, not in the experiment's VPC"]),
    "one zone": (lambda a: {"network": network(a, subnet_ids=[a.subnets[0], a.subnets[2]])},
                 ["mirrorlab_network.subnet_ids: must be subnets in at least 2 Availability Zones (the ALB needs "
                  "them), got all in us-east-1a"]),
    "type not offered": (lambda a: {"target": {"instance_type": "zz9.large"}},
                         ["mirrorlab_target.instance_type: zz9.large is not offered in us-east-1a, us-east-1b"]),
    "certificate of another region": (
        lambda a: {"https": True, "certificate_arn":
                   "arn:aws:acm:eu-west-1:123456789012:certificate/12345678-1234-1234-1234-123456789012"},
        ["mirrorlab_certificate_arn: is in region eu-west-1; the ALB in us-east-1 needs"]),
    "certificate missing": (
        lambda a: {"https": True, "certificate_arn":
                   "arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012"},
        ["mirrorlab_certificate_arn: arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-"
         "123456789012 does not exist in us-east-1"]),
    "not a region": (lambda a: {"region": "xx-nowhere-1"}, ["mirrorlab_region: xx-nowhere-1 is not an AWS region"]),
    "exports missing": (lambda a: {"network": {"import_prefix": "nothing"}},
                        ["mirrorlab_network.import_prefix: the CloudFormation exports nothing-VpcId, nothing-VpcCidr, "
                         "nothing-PublicSubnets, nothing-PrivateSubnets are missing in us-east-1"]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_problem_names_its_variable(account, name):
    values, expected = CASES[name]
    problems = account.check(**values(account))
    for piece in expected:
        if "%s" in piece:
            piece = piece % (account.other_subnet, account.other_vpc)
        assert any(piece in p for p in problems), (piece, problems)
    assert len(problems) == len(expected), problems


def test_imported_network_needs_all_four_exports_and_the_cidr(account):
    account.exports(VpcId=account.vpc, VpcCidr="10.0.0.0/16", PublicSubnets=",".join(account.subnets[:2]))
    problems = account.check(network={"import_prefix": "net"})
    assert problems == ["mirrorlab_network.import_prefix: the CloudFormation export net-PrivateSubnets is missing "
                        "in us-east-1: deploy the network stack that exports net-VpcId, -VpcCidr, -PublicSubnets "
                        "and -PrivateSubnets, or give mirrorlab_network.vpc_id, subnet_ids and vpc_cidr"]


def test_imported_network_is_checked_like_a_given_one(account):
    account.exports(VpcId=account.vpc, VpcCidr="10.0.0.0/16", PublicSubnets="%s,%s" % (account.subnets[0], account.subnets[2]),
                    PrivateSubnets=account.other_subnet)
    problems = account.check(network={"import_prefix": "net", "vpc_cidr": "10.5.0.0/16"},
                             filter={"preset": "alb_client"})
    assert sorted(p.split(":")[0] for p in problems) == [
        "mirrorlab_network.import_prefix", "mirrorlab_network.import_prefix", "mirrorlab_network.vpc_cidr"], problems
    assert any("10.5.0.0/16 differs from the imported VPC CIDR 10.0.0.0/16" in p for p in problems)
    assert any("2 Availability Zones" in p for p in problems)
    assert any("%s is in %s" % (account.other_subnet, account.other_vpc) in p for p in problems)


def test_all_problems_at_once(account):
    problems = account.check(network=network(account, vpc_cidr="10.1.0.0/16", subnet_ids=[account.subnets[0], account.subnets[2]]),
                             target={"instance_type": "zz9.large"}, https=True,
                             certificate_arn="arn:aws:acm:eu-west-1:123456789012:certificate/12345678-1234-1234-1234-123456789012")
    assert [p.split(":")[0] for p in problems] == [
        "mirrorlab_network.vpc_cidr", "mirrorlab_network.subnet_ids", "mirrorlab_target.instance_type",
        "mirrorlab_certificate_arn"], problems


def test_module_check_mode_reads_only(account, capsys):
    experiment = account.experiment(network=network(account, subnet_ids=[account.subnets[0], account.subnets[2]]))
    before = copy.deepcopy(account.clients["ec2"].describe_vpcs()["Vpcs"])
    code, result = module_main(aws_preflight.main, {"experiment": experiment, "region": REGION,
                                                    "_ansible_check_mode": True}, capsys)
    assert code == 1 and result["failed"] is True and result.get("changed", False) is False
    assert result["msg"].startswith("The AWS account does not fit the experiment (1 problem):")
    assert result["problems"][0].startswith("mirrorlab_network.subnet_ids: must be subnets in at least 2")
    code, result = module_main(aws_preflight.main, {"experiment": account.experiment(), "region": REGION}, capsys)
    assert code == 0 and result["problems"] == [] and result["vpc_id"] == account.vpc
    assert account.clients["ec2"].describe_vpcs()["Vpcs"] == before
