"""The bad-input battery (issue 11): at least 60 bad inputs against one moto server seeded with
someone else's resources (stacks, in ROLLBACK_COMPLETE too, a bucket with objects, a
certificate, a mirror filter, another VPC, a network stack with only some exports). Each input
must fail with a message naming its mirrorlab_* variable, and the account must be exactly as
it was afterwards (stacks with their status, tags and update times, buckets with their objects
and tags, certificates, mirror sessions/targets/filters, instances, security groups, IAM roles,
VPCs, subnets). One ansible-playbook run per input, several at once (a thread pool): the whole
battery is one test, and prints its duration.

The moto server carries the mirrorlab emulation (tests/moto_ext, docs/aws.md): the
AWS::EC2::TrafficMirror* CloudFormation types and stacks that fail into ROLLBACK_COMPLETE.
"""

import concurrent.futures
import json
import time

import boto3
import pytest

from conftest import ansible_env, moto_ext_server, run

pytestmark = [pytest.mark.moto, pytest.mark.slow]

REGION = "us-east-1"
DEPLOYMENT = "mlbat"
WORKERS = 4
TAG = "mirrorlab:deployment"
ACCOUNT = "123456789012"
CERT = "arn:aws:acm:%s:" + ACCOUNT + ":certificate/12345678-1234-1234-1234-123456789012"
RULE = {"direction": "ingress", "number": 100, "action": "accept", "protocol": "tcp",
        "source_cidr": "0.0.0.0/0", "destination_cidr": "0.0.0.0/0"}

# ---- inputs the model refuses (no AWS call): (extra variables, a piece of the message)
MODEL = [
    ({"mirrorlab_deployment": "Bad_Name"}, "mirrorlab_deployment: must be 1-23 characters"),
    ({"mirrorlab_deployment": "a" * 30}, "it has 30 characters"),
    ({"mirrorlab_deployment": "ends-"}, "mirrorlab_deployment: must be 1-23 characters"),
    ({"mirrorlab_deployment": "9lab"}, "it starts with '9', not a lower-case letter"),
    ({"mirrorlab_deployment": "my.lab"}, "'.' is not allowed"),
    ({"mirrorlab_deployment": None}, "mirrorlab_deployment: is null"),
    ({"mirrorlab_deployment": ""}, "mirrorlab_deployment: must be 1-23 characters"),
    ({"mirrorlab_region": "mars-north-9x"}, "mirrorlab_region: must be an AWS region name"),
    ({"mirrorlab_region": None}, "mirrorlab_region: is null"),
    ({"mirrorlab_network": {"vpc_cidr": "10.0.0.0/8"}}, "mirrorlab_network.vpc_cidr: must be an IPv4 CIDR from /16 to /28"),
    ({"mirrorlab_network": {"vpc_cidr": "10.0.0.1/16"}}, "mirrorlab_network.vpc_cidr: must be an IPv4 CIDR"),
    ({"mirrorlab_network": {"vpc_id": "vpc-xyz", "subnet_ids": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]}},
     "mirrorlab_network.vpc_id: must be an id like vpc-"),
    ({"mirrorlab_network": {"vpc_id": "vpc-0123456789abcdef0", "subnet_ids": ["subnet-0123456789abcdef0"]}},
     "mirrorlab_network.subnet_ids: must list at least 2 subnets"),
    ({"mirrorlab_network": {"subnet_ids": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]}},
     "mirrorlab_network.subnet_ids: is only used with mirrorlab_network.vpc_id"),
    ({"mirrorlab_network": "10.0.0.0/16"}, "mirrorlab_network: must be a mapping with keys"),
    ({"mirrorlab_network": {"vpc_cdir": "10.0.0.0/16"}}, "mirrorlab_network.vpc_cdir: unknown key"),
    ({"mirrorlab_sources": []}, "mirrorlab_sources: must be a non-empty list"),
    ({"mirrorlab_sources": {"type": "sample_service"}}, "mirrorlab_sources: must be a non-empty list"),
    ({"mirrorlab_sources": ["sample_service"]}, "mirrorlab_sources[0]: must be a mapping with a type"),
    ({"mirrorlab_sources": [{"type": "bucket"}]}, "mirrorlab_sources[0].type: must be one of"),
    ({"mirrorlab_sources": [{"type": "instance"}]}, "mirrorlab_sources[0]: an instance source needs"),
    ({"mirrorlab_sources": [{"type": "network_interface", "id": "eni-zz"}]}, "mirrorlab_sources[0].id: must be an id like eni-"),
    ({"mirrorlab_sources": [{"type": "load_balancer", "arn": "arn:aws:s3:::bucket"}]},
     "mirrorlab_sources[0].arn: must be an elasticloadbalancing"),
    ({"mirrorlab_sources": [{"type": "sample_service"}, {"type": "sample_service"}]},
     "mirrorlab_sources[1]: is the same source as mirrorlab_sources[0]"),
    ({"mirrorlab_sources": [{"type": "network_interface", "id": "eni-0123456%010x" % i} for i in range(11)]},
     "an ENI target (mirrorlab_target.count 1) accepts at most 10 sessions"),
    ({"mirrorlab_filter": {"preset": "everything"}}, "mirrorlab_filter.preset: must be one of"),
    ({"mirrorlab_filter": ["all_tcp"]}, "mirrorlab_filter: must be a mapping with keys"),
    ({"mirrorlab_filter": {"rules": [{**RULE, "number": n} for n in range(1, 12)]}}, "at most 10 rules per filter"),
    ({"mirrorlab_filter": {"rules": [RULE, dict(RULE)]}},
     "mirrorlab_filter.rules[1].number: rule number 100 is already used by mirrorlab_filter.rules[0]"),
    ({"mirrorlab_filter": {"rules": [{**RULE, "destination_cidr": "::/0"}]}},
     "mirrorlab_filter.rules[0].destination_cidr: must be in the same IP family"),
    ({"mirrorlab_session": {"extra": [{"session_number": 1}]}},
     "mirrorlab_session.extra[0].session_number: 1 is already the number of mirrorlab_session.session_number"),
    ({"mirrorlab_session": {"extra": [{"session_number": n} for n in (2, 3, 4)]}},
     "mirrorlab_session.extra: lists 3 sessions: with mirrorlab_session itself that is 4 per source ENI"),
    ({"mirrorlab_session": {"vni_per_eni": True, "extra": [{"session_number": 2}]}},
     "mirrorlab_session.vni_per_eni: works with one session per ENI only"),
    ({"mirrorlab_target": {"type": "gateway_load_balancer_endpoint"}},
     "mirrorlab_target.gwlb_endpoint_id: is required with type: gateway_load_balancer_endpoint"),
    ({"mirrorlab_target": {"gwlb_endpoint_id": "vpce-0123456789abcdef0"}},
     "mirrorlab_target.gwlb_endpoint_id: is only used with type: gateway_load_balancer_endpoint"),
    ({"mirrorlab_filter": {"rules": [{**RULE, "protocol": "icmp", "destination_ports": "80"}]}},
     "mirrorlab_filter.rules[0].destination_ports: port ranges are only allowed with protocol tcp or udp"),
    ({"mirrorlab_filter": {"rules": [{**RULE, "destination_ports": "70000"}]}},
     "mirrorlab_filter.rules[0].destination_ports: ports must be 0-65535 (\"N\" or \"N-M\"), got '70000'"),
    ({"mirrorlab_filter": {"rules": [{**RULE, "number": 0}]}}, "mirrorlab_filter.rules[0].number: must be an integer 1-32766"),
    ({"mirrorlab_filter": {"rules": [{**RULE, "direction": "both"}]}}, "mirrorlab_filter.rules[0].direction: must be ingress or egress"),
    ({"mirrorlab_filter": {"rules": [{**RULE, "protocol": "sctp"}]}}, "mirrorlab_filter.rules[0].protocol: must be one of tcp"),
    ({"mirrorlab_session": {"vni": 16777216}}, "mirrorlab_session.vni: must be an integer 0-16777215"),
    ({"mirrorlab_session": {"vni": -1}}, "mirrorlab_session.vni: must be an integer 0-16777215"),
    ({"mirrorlab_session": {"vni": {"a": 1}}}, "mirrorlab_session.vni: must be an integer 0-16777215, got {'a': 1}"),
    ({"mirrorlab_session": {"session_number": 0}}, "mirrorlab_session.session_number: must be an integer 1-32766"),
    ({"mirrorlab_session": {"session_number": 32767}}, "mirrorlab_session.session_number: must be an integer 1-32766"),
    ({"mirrorlab_session": {"packet_length": 9000}}, "mirrorlab_session.packet_length: must be an integer 1-8500"),
    ({"mirrorlab_target": {"count": 11}}, "mirrorlab_target.count: must be an integer 1-10"),
    ({"mirrorlab_target": [1]},
     "mirrorlab_target: must be a mapping with keys count, gwlb_endpoint_id, instance_type, spot, type"),
    ({"mirrorlab_target": {"instance_type": "t2.micro"}}, "not built on the AWS Nitro System"),
    ({"mirrorlab_target": {"spot": "maybe"}}, "mirrorlab_target.spot: must be a boolean"),
    ({"mirrorlab_capture": ["dumpcap"]}, "mirrorlab_capture: must be a mapping"),
    ({"mirrorlab_capture": {"rotate_secs": 60}}, "mirrorlab_capture.rotate_secs: unknown key"),
    ({"mirrorlab_capture": {"dir": "/tmp"}}, "mirrorlab_capture.dir: must be an absolute path"),
    ({"mirrorlab_https": "maybe"}, "mirrorlab_https: must be a boolean (true or false), got 'maybe'"),
    ({"mirrorlab_https": True, "mirrorlab_certificate_arn": "not-an-arn"}, "mirrorlab_certificate_arn: must be an ACM certificate ARN"),
    ({"mirrorlab_certificate_arn": CERT % REGION}, "mirrorlab_certificate_arn: is only used with mirrorlab_https: true"),
]


class Seed:
    """The account before the battery: the experiment's network and someone else's things."""

    def __init__(self, url):
        creds = dict(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION, endpoint_url=url)
        self.ec2, self.cfn, self.acm, self.s3, self.iam = (
            boto3.client(name, **creds) for name in ("ec2", "cloudformation", "acm", "s3", "iam"))
        self.vpc = self.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        self.subnets = [self.ec2.create_subnet(VpcId=self.vpc, CidrBlock=f"10.0.{i}.0/24",
                                               AvailabilityZone=REGION + zone)["Subnet"]["SubnetId"]
                        for i, zone in ((1, "a"), (2, "b"), (3, "a"))]
        self.other_vpc = self.ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
        self.other_subnet = self.ec2.create_subnet(VpcId=self.other_vpc, CidrBlock="10.9.1.0/24",
                                                   AvailabilityZone=REGION + "c")["Subnet"]["SubnetId"]
        # Someone else's: a bucket with data, a certificate, a mirror filter, three stacks named
        # like mirrorlab's (untagged; another deployment's; failed into ROLLBACK_COMPLETE).
        self.s3.create_bucket(Bucket="someone-elses-data")
        self.s3.put_object(Bucket="someone-elses-data", Key="important.csv", Body=b"keep me")
        self.acm.request_certificate(DomainName="example.com")
        self.ec2.create_traffic_mirror_filter(Description="someone else's filter")
        bucket_stack = json.dumps({"Resources": {"Data": {"Type": "AWS::S3::Bucket"}},
                                   "Outputs": {"BucketName": {"Value": {"Ref": "Data"}}}})
        self.cfn.create_stack(StackName="mlfor-sample-service", TemplateBody=bucket_stack)
        self.cfn.create_stack(StackName="mlfor-target-instance", TemplateBody=bucket_stack)
        self.cfn.create_stack(StackName="mlother-target-instance", TemplateBody=bucket_stack,
                              Tags=[{"Key": TAG, "Value": "someone"}])
        broken = {"Resources": {
            "Filter": {"Type": "AWS::EC2::TrafficMirrorFilter", "Properties": {"Description": "x"}},
            "Session": {"Type": "AWS::EC2::TrafficMirrorSession", "Properties": {
                "NetworkInterfaceId": "eni-00000000000000000", "TrafficMirrorTargetId": "tmt-00000000000000000",
                "TrafficMirrorFilterId": {"Ref": "Filter"}, "SessionNumber": 1}}}}
        self.cfn.create_stack(StackName="mlroll-mirroring", TemplateBody=json.dumps(broken))
        # A network stack with only two of the four exports.
        partial = {"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}, "Outputs": {
            name: {"Value": value, "Export": {"Name": f"partial-{name}"}}
            for name, value in {"VpcId": self.vpc, "VpcCidr": "10.0.0.0/16"}.items()}}
        self.cfn.create_stack(StackName="partial-net", TemplateBody=json.dumps(partial))
        deadline = time.monotonic() + 60
        while any(s["StackStatus"].endswith("IN_PROGRESS") for s in self.cfn.list_stacks()["StackSummaries"]):
            assert time.monotonic() < deadline, self.cfn.list_stacks()["StackSummaries"]
            time.sleep(0.3)
        assert self.stack_status("mlroll-mirroring") == "ROLLBACK_COMPLETE"

    def stack_status(self, name):
        return self.cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]

    def snapshot(self):
        stacks = {s["StackName"]: (s["StackStatus"], sorted((t["Key"], t["Value"]) for t in s.get("Tags", [])),
                                   str(s.get("LastUpdatedTime")), [o["OutputValue"] for o in s.get("Outputs", [])])
                  for s in self.cfn.describe_stacks()["Stacks"]}
        buckets = {}
        for bucket in self.s3.list_buckets()["Buckets"]:
            name = bucket["Name"]
            objects = self.s3.list_objects_v2(Bucket=name).get("Contents", [])
            buckets[name] = sorted((o["Key"], o["Size"], o["ETag"]) for o in objects)
        return {
            "stacks": stacks,
            "buckets": buckets,
            # ARN and domain, not the status: moto moves a requested certificate from
            # PENDING_VALIDATION to ISSUED on its own after a while.
            "certificates": sorted((c["CertificateArn"], c.get("DomainName")) for c in
                                   self.acm.list_certificates()["CertificateSummaryList"]),
            "sessions": sorted(s["TrafficMirrorSessionId"] for s in
                               self.ec2.describe_traffic_mirror_sessions()["TrafficMirrorSessions"]),
            "targets": sorted(t["TrafficMirrorTargetId"] for t in
                              self.ec2.describe_traffic_mirror_targets()["TrafficMirrorTargets"]),
            "filters": sorted(f["TrafficMirrorFilterId"] for f in
                              self.ec2.describe_traffic_mirror_filters()["TrafficMirrorFilters"]),
            "instances": sorted(i["InstanceId"] for r in self.ec2.describe_instances()["Reservations"]
                                for i in r["Instances"]),
            "security_groups": sorted(g["GroupId"] for g in self.ec2.describe_security_groups()["SecurityGroups"]),
            "roles": sorted(r["RoleName"] for r in self.iam.list_roles()["Roles"]),
            "vpcs": sorted(v["VpcId"] for v in self.ec2.describe_vpcs()["Vpcs"]),
            "subnets": sorted(s["SubnetId"] for s in self.ec2.describe_subnets()["Subnets"]),
        }


def account_cases(seed):
    """Inputs the model accepts but the account refutes, and someone else's stacks, for both
    playbooks: (playbook, extra variables, a piece of the message)."""
    net = {"vpc_id": seed.vpc, "subnet_ids": seed.subnets[:2], "vpc_cidr": "10.0.0.0/16"}
    site = [
        ({"mirrorlab_network": {**net, "vpc_id": "vpc-0123456789abcdef0"}},
         "mirrorlab_network.vpc_id: vpc-0123456789abcdef0 does not exist in us-east-1"),
        ({"mirrorlab_network": {**net, "vpc_cidr": "10.1.0.0/16"}},
         f"mirrorlab_network.vpc_cidr: 10.1.0.0/16 is not the CIDR of {seed.vpc}"),
        ({"mirrorlab_network": {**net, "subnet_ids": [seed.subnets[0], seed.subnets[2]]}},
         "mirrorlab_network.subnet_ids: must be subnets in at least 2 Availability Zones"),
        ({"mirrorlab_network": {**net, "subnet_ids": [seed.subnets[0], seed.other_subnet]}},
         f"mirrorlab_network.subnet_ids: {seed.other_subnet} is in {seed.other_vpc}, not in the experiment's VPC"),
        ({"mirrorlab_network": {**net, "subnet_ids": [seed.subnets[0], "subnet-0123456789abcdef0"]}},
         "mirrorlab_network.subnet_ids: subnet-0123456789abcdef0 does not exist"),
        ({"mirrorlab_network": {"import_prefix": "nothing"}},
         "mirrorlab_network.import_prefix: the CloudFormation exports nothing-VpcId, nothing-VpcCidr"),
        ({"mirrorlab_network": {"import_prefix": "partial"}},
         "mirrorlab_network.import_prefix: the CloudFormation exports partial-PublicSubnets, partial-PrivateSubnets are missing"),
        ({"mirrorlab_https": True, "mirrorlab_certificate_arn": CERT % "eu-west-1"},
         "mirrorlab_certificate_arn: is in region eu-west-1"),
        ({"mirrorlab_https": True, "mirrorlab_certificate_arn": CERT % REGION},
         "mirrorlab_certificate_arn: %s does not exist" % (CERT % REGION)),
        ({"mirrorlab_region": "xx-nowhere-1"}, "mirrorlab_region: xx-nowhere-1 is not an AWS region"),
        ({"mirrorlab_target": {"instance_type": "zz9.large"}}, "mirrorlab_target.instance_type: zz9.large is not offered"),
        ({"mirrorlab_network": {**net, "vpc_id": "vpc-0123456789abcdef0", "vpc_cidr": "10.1.0.0/16"},
          "mirrorlab_target": {"instance_type": "zz9.large"}},
         "mirrorlab_network.vpc_id: vpc-0123456789abcdef0 does not exist"),
    ]
    cases = [("site.yml", extra, expected) for extra, expected in site]
    foreign = [
        ("mlfor", "stack mlfor-sample-service: it has no tag mirrorlab:deployment, so mirrorlab did not create it"),
        ("mlother", "stack mlother-target-instance: it is tagged mirrorlab:deployment=someone, another deployment"),
        ("mlroll", "stack mlroll-mirroring: it has no tag mirrorlab:deployment, so mirrorlab did not create it "
                   "(status ROLLBACK_COMPLETE)"),
    ]
    for playbook in ("site.yml", "teardown.yml"):
        for deployment, expected in foreign:
            cases.append((playbook, {"mirrorlab_deployment": deployment},
                          "Refusing to touch what is not deployment %s's (nothing was changed): " % deployment + expected))
    return cases


@pytest.fixture(scope="module")
def seeded():
    with moto_ext_server(0.3, 0.3) as url:
        yield url, Seed(url)


def test_bad_inputs_fail_naming_the_variable_and_change_nothing(seeded, tmp_path):
    url, seed = seeded
    env = ansible_env(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_SESSION_TOKEN="testing",
                      AWS_DEFAULT_REGION=REGION, AWS_REGION=REGION, AWS_URL=url, AWS_ENDPOINT_URL=url)
    base = {"mirrorlab_deployment": DEPLOYMENT, "mirrorlab_region": REGION,
            "mirrorlab_network": {"vpc_id": seed.vpc, "subnet_ids": seed.subnets[:2], "vpc_cidr": "10.0.0.0/16"}}
    cases = [("site.yml", extra, expected) for extra, expected in MODEL] + account_cases(seed)
    assert len(cases) >= 60
    before = seed.snapshot()

    def attempt(index):
        playbook, extra, expected = cases[index]
        path = tmp_path / f"bad{index}.json"
        path.write_text(json.dumps({**base, **extra}))
        cmd = ["ansible-playbook", "-i", "inventories/aws", playbook, "--skip-tags", "capture", "-e", f"@{path}"]
        return index, run(cmd, env=env, check=False, timeout=600)

    started = time.monotonic()
    problems = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=WORKERS) as pool:
        for index, proc in pool.map(attempt, range(len(cases))):
            playbook, extra, expected = cases[index]
            out = " ".join((proc.stdout + proc.stderr).split())
            if proc.returncode == 0:
                problems.append(f"{index} {playbook}: accepted {extra}")
            elif " ".join(expected.split()) not in out:
                problems.append(f"{index} {playbook} {extra}: expected {expected!r} in:\n{out[-1200:]}")
            elif "<class" in out or "unable to convert" in out:
                problems.append(f"{index}: a Python class or a coercion message in:\n{out[-2500:]}")
            elif (index < len(MODEL)) and "Ask AWS who we are" in out:
                problems.append(f"{index}: went past the model's validation")
    duration = time.monotonic() - started
    print(f"\nbad-input battery: {len(cases)} inputs, {WORKERS} at a time, {duration:.1f} s")
    assert not problems, "\n".join(problems)
    assert seed.snapshot() == before
