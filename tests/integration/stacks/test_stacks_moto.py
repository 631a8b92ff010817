"""The sample-service and target-instance stacks deployed on a moto server through
amazon.aws.cloudformation, and what they create, checked with boto3.

moto 5.2.5 emulates only part of what these templates declare (docs/stacks.md lists it): its
CloudFormation models ignore AWS::EC2::Instance LaunchTemplate and NetworkInterfaces,
AWS::EC2::SecurityGroup SecurityGroupEgress, AWS::IAM::Role ManagedPolicyArns,
AWS::EC2::NetworkInterface GroupSet and Tags, the ECS service's network and load balancer
settings, the ECS task definition's launch type, network mode, CPU and execution role, S3
bucket properties other than encryption and tags, the load balancer's Type and attributes,
and have no AWS::S3::BucketPolicy or AWS::EC2::TrafficMirrorTarget/Filter/FilterRule/Session. Those parts are checked on the template itself
(tests/lint/test_cfn_lint.py), and where moto stores them (the launch template) on what moto
created; nothing here pretends moto applied what it did not.
"""

import ast
import json

import boto3
import pytest
import requests

from conftest import ROOT, ansible_env, run

PLAYBOOK = ROOT / "tests" / "integration" / "stacks" / "deploy.yml"
DEPLOYMENT = "mlstk"
AMI_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"

pytestmark = [
    pytest.mark.moto,
    # expected and documented: moto has no CloudFormation model for AWS::S3::BucketPolicy
    pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning"),
]


def playbook(aws_env, **extra_vars):
    env = ansible_env(**aws_env)
    return run(["ansible-playbook", str(PLAYBOOK), "-e", json.dumps(extra_vars)], env=env, timeout=600)


def recap_changed(proc):
    (line,) = [l for l in proc.stdout.splitlines() if l.startswith("localhost")]
    return int(line.split("changed=")[1].split()[0])


def outputs(cfn, stack, status="CREATE_COMPLETE"):
    (desc,) = cfn.describe_stacks(StackName=stack)["Stacks"]
    assert desc["StackStatus"] == status, desc.get("StackStatusReason")
    return {o["OutputKey"]: o["OutputValue"] for o in desc.get("Outputs", [])}


def resource_id(aws, stack, logical_id):
    summaries = aws["cloudformation"].list_stack_resources(StackName=stack)["StackResourceSummaries"]
    (resource,) = [r for r in summaries if r.get("LogicalResourceId") == logical_id]
    return resource["PhysicalResourceId"]


def policy_document(aws, role, name):
    document = aws["iam"].get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
    # moto 5.2.5 stores an inline policy created by CloudFormation as the repr of a dict
    return ast.literal_eval(document) if isinstance(document, str) else document


def tags(resource):
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}


def ingress(sg):
    return [
        (p["IpProtocol"], p.get("FromPort"), p.get("ToPort"),
         sorted([r["CidrIp"] for r in p.get("IpRanges", [])] + [g["GroupId"] for g in p.get("UserIdGroupPairs", [])]))
        for p in sg["IpPermissions"]
    ]


@pytest.fixture
def aws(aws_env, moto_server):
    requests.post(moto_server + "/moto-api/reset", timeout=30)
    session = boto3.session.Session(region_name=aws_env["AWS_REGION"])
    clients = {name: session.client(name, endpoint_url=moto_server) for name in
               ("cloudformation", "ec2", "elbv2", "ecs", "s3", "iam", "logs", "ssm", "acm")}
    yield clients
    requests.post(moto_server + "/moto-api/reset", timeout=30)


def test_deploy_with_imported_network(aws, aws_env):
    """Default path: the network comes from the infra-vpc exports; HTTPS with a certificate."""
    cert = aws["acm"].request_certificate(DomainName="mirrorlab.example.com")["CertificateArn"]
    extra = {"stacks_extra": {"sample-service": {"CertificateArn": cert}}}
    first = playbook(aws_env, **extra)
    assert recap_changed(first) == 2  # the infra-vpc task and the (looped) stacks task

    infra = outputs(aws["cloudformation"], "infra-vpc")
    public = infra["PublicSubnets"].split(",")
    private = infra["PrivateSubnets"].split(",")
    sample = outputs(aws["cloudformation"], f"{DEPLOYMENT}-sample-service")
    target = outputs(aws["cloudformation"], f"{DEPLOYMENT}-target-instance")
    ec2, elbv2 = aws["ec2"], aws["elbv2"]

    # --- sample service: ALB, listeners, target group, security groups
    (alb,) = elbv2.describe_load_balancers(LoadBalancerArns=[sample["LoadBalancerArn"]])["LoadBalancers"]
    assert alb["Scheme"] == "internet-facing"
    assert alb["VpcId"] == infra["VpcId"]
    assert sorted(az["SubnetId"] for az in alb["AvailabilityZones"]) == sorted(public)
    assert alb["SecurityGroups"] == [sample["AlbSecurityGroupId"]]
    assert sample["DnsName"] == alb["DNSName"]
    assert sample["HttpUrl"] == f"http://{alb['DNSName']}/"
    assert sample["HttpsUrl"] == f"https://{alb['DNSName']}/"
    assert sample["LoadBalancerFullName"] == alb["LoadBalancerArn"].split(":loadbalancer/")[1]
    assert sample["LoadBalancerFullName"].startswith(f"app/{alb['LoadBalancerName']}/")

    listeners = {l["Port"]: l for l in elbv2.describe_listeners(LoadBalancerArn=alb["LoadBalancerArn"])["Listeners"]}
    assert sorted(listeners) == [80, 443]
    assert listeners[80]["Protocol"] == "HTTP"
    assert listeners[443]["Protocol"] == "HTTPS"
    assert [c["CertificateArn"] for c in listeners[443]["Certificates"]] == [cert]
    for listener in listeners.values():
        (action,) = listener["DefaultActions"]
        assert (action["Type"], action["TargetGroupArn"]) == ("forward", sample["TargetGroupArn"])
    (tg,) = elbv2.describe_target_groups(TargetGroupArns=[sample["TargetGroupArn"]])["TargetGroups"]
    assert (tg["TargetType"], tg["Protocol"], tg["Port"], tg["VpcId"]) == ("ip", "HTTP", 80, infra["VpcId"])

    sgs = {g["GroupId"]: g for g in ec2.describe_security_groups(
        GroupIds=[sample["AlbSecurityGroupId"], sample["TaskSecurityGroupId"], target["SecurityGroupId"]])["SecurityGroups"]}
    alb_sg, task_sg = sgs[sample["AlbSecurityGroupId"]], sgs[sample["TaskSecurityGroupId"]]
    assert sorted(ingress(alb_sg)) == [("tcp", 80, 80, ["0.0.0.0/0"]), ("tcp", 443, 443, ["0.0.0.0/0"])]
    assert ingress(task_sg) == [("tcp", 80, 80, [alb_sg["GroupId"]])]
    for sg in sgs.values():
        assert sg["VpcId"] == infra["VpcId"]
        assert tags(sg)["mirrorlab:deployment"] == DEPLOYMENT

    # --- sample service: ECS cluster, service, task definition, logs, execution role
    ecs = aws["ecs"]
    (cluster,) = ecs.describe_clusters(clusters=[sample["ClusterName"]])["clusters"]
    assert cluster["status"] == "ACTIVE"
    (service,) = ecs.describe_services(cluster=sample["ClusterName"], services=[sample["ServiceName"]])["services"]
    assert service["desiredCount"] == 1
    task_def = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
    # moto's CloudFormation task definition keeps family, containers and memory only
    assert task_def["family"] == f"{DEPLOYMENT}-sample-service"
    assert task_def["memory"] == "512"
    (container,) = task_def["containerDefinitions"]
    assert container["image"] == "public.ecr.aws/nginx/nginx:stable"
    assert container["portMappings"][0]["containerPort"] == 80
    assert container["logConfiguration"]["logDriver"] == "awslogs"
    assert container["logConfiguration"]["options"]["awslogs-group"] == sample["LogGroupName"]
    (group,) = aws["logs"].describe_log_groups(logGroupNamePrefix=sample["LogGroupName"])["logGroups"]
    assert group["retentionInDays"] == 7
    execution_role = resource_id(aws, f"{DEPLOYMENT}-sample-service", "TaskExecutionRole")
    (policy_name,) = aws["iam"].list_role_policies(RoleName=execution_role)["PolicyNames"]
    (statement,) = policy_document(aws, execution_role, policy_name)["Statement"]
    assert statement["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert statement["Resource"].startswith(f"arn:aws:logs:us-east-1:123456789012:log-group:{sample['LogGroupName']}")

    # --- target instance: security group (only UDP 4789 from the VPC CIDR)
    capture_sg = sgs[target["SecurityGroupId"]]
    assert ingress(capture_sg) == [("udp", 4789, 4789, [infra["VpcCidr"]])]

    # --- target instance: the instance, its ENI and launch template
    assert target["TargetCount"] == "1"
    assert (target["MirrorTargetType"], target["MirrorTarget"]) == ("network-interface", target["EniId"])
    assert target["InstanceIds"] == target["InstanceId"]
    assert target["EniIds"] == target["EniId"] and target["PrivateIps"] == target["PrivateIp"]
    # one instance: no NLB, and no per-instance outputs (InstanceIds lists every instance)
    assert "NlbArn" not in target and not any(key.startswith("Instance1") for key in target)
    (reservation,) = ec2.describe_instances(InstanceIds=[target["InstanceId"]])["Reservations"]
    (instance,) = reservation["Instances"]
    ami = aws["ssm"].get_parameter(Name=AMI_PARAMETER)["Parameter"]["Value"]
    assert instance["ImageId"] == ami
    assert instance["InstanceType"] == "t3.small"
    assert "KeyName" not in instance
    assert tags(instance)["mirrorlab:deployment"] == DEPLOYMENT
    volume_ids = [m["Ebs"]["VolumeId"] for m in instance["BlockDeviceMappings"]]
    volumes = ec2.describe_volumes(VolumeIds=volume_ids)["Volumes"]
    assert volumes and all(v["Encrypted"] for v in volumes)
    profile = instance["IamInstanceProfile"]["Arn"].split("/")[-1]
    (role,) = aws["iam"].get_instance_profile(InstanceProfileName=profile)["InstanceProfile"]["Roles"]
    assert role["Arn"] == target["InstanceRoleArn"]
    # two inline policies and no managed one: Session Manager only, and the archive prefix
    assert sorted(aws["iam"].list_role_policies(RoleName=role["RoleName"])["PolicyNames"]) == [
        "pcap-archive", "session-manager"]
    assert aws["iam"].list_attached_role_policies(RoleName=role["RoleName"])["AttachedPolicies"] == []
    document = policy_document(aws, role["RoleName"], "pcap-archive")
    bucket_arn = f"arn:aws:s3:::{target['BucketName']}"
    assert sorted(s["Resource"] for s in document["Statement"]) == [bucket_arn, f"{bucket_arn}/pcap/*"]
    (agent,) = policy_document(aws, role["RoleName"], "session-manager")["Statement"]
    assert agent["Resource"] == "*" and sorted(agent["Action"]) == [
        "ssm:UpdateInstanceInformation", "ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel",
        "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel"]

    (eni,) = ec2.describe_network_interfaces(NetworkInterfaceIds=[target["EniId"]])["NetworkInterfaces"]
    assert eni["SubnetId"] == private[0]  # instance 1 in the first private subnet
    # (moto's ENI model reads "SecurityGroups" instead of GroupSet and ignores Tags)
    assert eni["PrivateIpAddress"] == target["PrivateIp"]

    # moto's CloudFormation instance ignores LaunchTemplate: check the launch template moto stored
    (version,) = ec2.describe_launch_template_versions(
        LaunchTemplateId=resource_id(aws, f"{DEPLOYMENT}-target-instance", "CaptureLaunchTemplate"),
        Versions=["$Latest"])["LaunchTemplateVersions"]
    assert version["LaunchTemplateData"]["MetadataOptions"]["HttpTokens"] == "required"
    assert "InstanceMarketOptions" not in version["LaunchTemplateData"]  # Spot defaults to false

    # --- target instance: the bucket (moto emulates the encryption setting only, see docstring)
    encryption = aws["s3"].get_bucket_encryption(Bucket=target["BucketName"])
    (rule,) = encryption["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    bucket_tags = tags({"Tags": aws["s3"].get_bucket_tagging(Bucket=target["BucketName"])["TagSet"]})
    assert bucket_tags["mirrorlab:deployment"] == DEPLOYMENT

    # --- a second run replaces nothing. (moto reports every update of an unchanged stack as a
    # change, where CloudFormation answers "No updates are to be performed": the changed
    # count of this run says nothing, the resources must stay the same.)
    playbook(aws_env, **extra)
    assert outputs(aws["cloudformation"], f"{DEPLOYMENT}-sample-service", "UPDATE_COMPLETE") == sample
    assert outputs(aws["cloudformation"], f"{DEPLOYMENT}-target-instance", "UPDATE_COMPLETE") == target

    # --- and the stacks delete cleanly (target and service first, the exports stack last)
    playbook(aws_env, stacks_state="absent", **extra)
    remaining = [s["StackName"] for s in aws["cloudformation"].describe_stacks()["Stacks"]
                 if s["StackStatus"] != "DELETE_COMPLETE"]
    assert remaining == []
    assert ec2.describe_instances(InstanceIds=[target["InstanceId"]])["Reservations"][0]["Instances"][0]["State"]["Name"] == "terminated"
    assert elbv2.describe_load_balancers()["LoadBalancers"] == []


def test_deploy_with_given_network_and_no_exports(aws, aws_env):
    """The user's own VPC with public subnets only: no export exists, so the templates must not
    resolve the Fn::ImportValue in the untaken Fn::If branches; the capture instance gets a
    public address (no NAT), the tasks a public IP."""
    ec2 = aws["ec2"]
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]][:2]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.42.{i}.0/24", AvailabilityZone=zone)["Subnet"]["SubnetId"]
               for i, zone in enumerate(zones)]
    network = {"VpcId": vpc, "VpcCidr": "10.42.0.0/16", "PublicSubnetIds": ",".join(subnets)}
    playbook(aws_env, stacks_with_infra_vpc=False, stacks_network=network,
             stacks_extra={"target-instance": {"Spot": "true", "RootVolumeSize": 50}})
    assert aws["cloudformation"].list_exports()["Exports"] == []

    sample = outputs(aws["cloudformation"], f"{DEPLOYMENT}-sample-service")
    target = outputs(aws["cloudformation"], f"{DEPLOYMENT}-target-instance")
    (alb,) = aws["elbv2"].describe_load_balancers(LoadBalancerArns=[sample["LoadBalancerArn"]])["LoadBalancers"]
    assert sorted(az["SubnetId"] for az in alb["AvailabilityZones"]) == sorted(subnets)
    assert "HttpsUrl" not in sample
    listeners = aws["elbv2"].describe_listeners(LoadBalancerArn=alb["LoadBalancerArn"])["Listeners"]
    assert [l["Port"] for l in listeners] == [80]

    (capture_sg,) = ec2.describe_security_groups(GroupIds=[target["SecurityGroupId"]])["SecurityGroups"]
    assert capture_sg["VpcId"] == vpc
    assert ingress(capture_sg) == [("udp", 4789, 4789, ["10.42.0.0/16"])]
    (eni,) = ec2.describe_network_interfaces(NetworkInterfaceIds=[target["EniId"]])["NetworkInterfaces"]
    assert eni["SubnetId"] == subnets[0]
    (address,) = ec2.describe_addresses()["Addresses"]
    assert address["InstanceId"] == target["InstanceId"]

    (instance,) = ec2.describe_instances(InstanceIds=[target["InstanceId"]])["Reservations"][0]["Instances"]
    volume_ids = [m["Ebs"]["VolumeId"] for m in instance["BlockDeviceMappings"]]
    (volume,) = ec2.describe_volumes(VolumeIds=volume_ids)["Volumes"]
    assert (volume["Size"], volume["Encrypted"]) == (50, True)
    (version,) = ec2.describe_launch_template_versions(
        LaunchTemplateId=resource_id(aws, f"{DEPLOYMENT}-target-instance", "CaptureLaunchTemplate"),
        Versions=["$Latest"])["LaunchTemplateVersions"]
    assert version["LaunchTemplateData"]["InstanceMarketOptions"]["MarketType"] == "spot"
