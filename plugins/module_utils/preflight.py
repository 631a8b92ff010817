# -*- coding: utf-8 -*-

# Copyright: Contributors to the mirrorlab project
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The AWS pre-flight pass: everything about the account that the stacks depend on, checked
before the first write, every problem reported at once (mirrorlab.vpc.aws_preflight).

``run_checks(clients, experiment)`` takes boto3 clients ({"ec2", "cloudformation", "acm"}) and
the normalized experiment model, and returns (problems, facts): problems are
``"mirrorlab_<variable>: <what is wrong and the rule>"``; facts say what was found (the
network's VPC, subnets, zones). It reads only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

try:
    import botocore.session
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:  # pragma: no cover - handled by AnsibleAWSModule (HAS_BOTO3)
    BotoCoreError = ClientError = Exception

from ansible_collections.mirrorlab.vpc.plugins.module_utils.model import PREFIX

EXPORT_SUFFIXES = ("VpcId", "VpcCidr", "PublicSubnets", "PrivateSubnets")
ALB_PRESETS = ("alb_client", "alb_target")
MIN_ZONES = 2  # an ALB needs subnets in at least two Availability Zones


def _code(exc):
    return getattr(exc, "response", {}).get("Error", {}).get("Code", "")


class Problems(object):
    def __init__(self):
        self.messages = []

    def add(self, variable, text):
        self.messages.append("%s%s: %s" % (PREFIX, variable, text))


def known_regions():
    """Every region of every partition that botocore has endpoints for (no AWS call)."""
    session = botocore.session.get_session()
    regions = set()
    for partition in session.get_available_partitions():
        regions.update(session.get_available_regions("ec2", partition))
    return regions


def check_region(ec2, region, problems):
    """The region is one AWS has and the account may use. False: the other checks cannot run."""
    if region not in known_regions():
        problems.add("region", "%s is not an AWS region (botocore has no endpoint for it); `aws ec2 describe-regions "
                               "--all-regions` lists them" % region)
        return False
    try:
        regions = ec2.describe_regions(AllRegions=True)["Regions"]
    except (BotoCoreError, ClientError) as exc:
        problems.add("region", "%s is not a region AWS answers in (%s); pick one from `aws ec2 describe-regions`"
                     % (region, exc))
        return False
    status = dict((r["RegionName"], r.get("OptInStatus", "opt-in-not-required")) for r in regions)
    if region not in status:
        problems.add("region", "%s is not an AWS region (known: %s)" % (region, ", ".join(sorted(status))))
        return False
    if status[region] == "not-opted-in":
        problems.add("region", "%s is an opt-in region this account has not enabled (AWS console: Account > "
                               "AWS Regions)" % region)
        return False
    return True


def read_exports(cfn):
    exports = {}
    for page in cfn.get_paginator("list_exports").paginate():
        for export in page.get("Exports", []):
            exports[export["Name"]] = export["Value"]
    return exports


def imported_network(cfn, network, preset, region, problems):
    """(vpc_id, instance subnets, ALB subnets) from the <prefix>-* exports, or None."""
    prefix = network["import_prefix"]
    exports = read_exports(cfn)
    missing = [prefix + "-" + suffix for suffix in EXPORT_SUFFIXES if prefix + "-" + suffix not in exports]
    if missing:
        problems.add("network.import_prefix", "the CloudFormation export%s %s %s missing in %s: deploy the network "
                     "stack that exports %s-VpcId, -VpcCidr, -PublicSubnets and -PrivateSubnets, or give "
                     "mirrorlab_network.vpc_id, subnet_ids and vpc_cidr"
                     % ("s" if len(missing) > 1 else "", ", ".join(missing), "are" if len(missing) > 1 else "is",
                        region, prefix))
        return None
    cidr = exports[prefix + "-VpcCidr"]
    if cidr != network["vpc_cidr"] and preset in ALB_PRESETS:
        problems.add("network.vpc_cidr", "%s differs from the imported VPC CIDR %s (export %s-VpcCidr), which the "
                     "filter preset %s is about; set mirrorlab_network.vpc_cidr: %s"
                     % (network["vpc_cidr"], cidr, prefix, preset, cidr))
    public = [s for s in exports[prefix + "-PublicSubnets"].split(",") if s]
    private = [s for s in exports[prefix + "-PrivateSubnets"].split(",") if s]
    return exports[prefix + "-VpcId"], private, public


def check_vpc(ec2, vpc_id, cidr, variable, region, problems):
    try:
        vpcs = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"]
    except ClientError as exc:
        if _code(exc) not in ("InvalidVpcID.NotFound", "InvalidVpcID.Malformed"):
            raise
        vpcs = []
    if not vpcs:
        problems.add(variable, "%s does not exist in %s (this account)" % (vpc_id, region))
        return False
    if cidr is not None and vpcs[0]["CidrBlock"] != cidr:
        problems.add("network.vpc_cidr", "%s is not the CIDR of %s, which is %s: the capture security group and "
                     "the filter presets use it; set mirrorlab_network.vpc_cidr: %s"
                     % (cidr, vpc_id, vpcs[0]["CidrBlock"], vpcs[0]["CidrBlock"]))
    return True


def describe_subnets(ec2, subnet_ids):
    """{id: subnet} of those that exist (each asked for alone: one missing id fails a whole call)."""
    found = {}
    for subnet_id in subnet_ids:
        try:
            for subnet in ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"]:
                found[subnet["SubnetId"]] = subnet
        except ClientError as exc:
            if _code(exc) not in ("InvalidSubnetID.NotFound", "InvalidSubnetID.Malformed"):
                raise
    return found


def check_subnets(ec2, subnet_ids, alb_subnet_ids, vpc_id, variable, region, problems):
    """The subnets exist and are in the VPC, the ALB's span two zones; returns {id: zone} of
    those found."""
    found = describe_subnets(ec2, subnet_ids)
    for subnet_id in subnet_ids:
        if subnet_id not in found:
            problems.add(variable, "%s does not exist in %s (this account)" % (subnet_id, region))
        elif found[subnet_id]["VpcId"] != vpc_id:
            problems.add(variable, "%s is in %s, not in the experiment's VPC %s"
                         % (subnet_id, found[subnet_id]["VpcId"], vpc_id))
    zones = dict((s, found[s]["AvailabilityZone"]) for s in subnet_ids if s in found)
    alb_zones = set(zones[s] for s in alb_subnet_ids if s in zones)
    if all(s in zones for s in alb_subnet_ids) and len(alb_zones) < MIN_ZONES:
        problems.add(variable, "must be subnets in at least %d Availability Zones (the ALB needs them), got all in %s"
                     % (MIN_ZONES, ", ".join(sorted(alb_zones)) or "none"))
    return zones


def check_certificate(acm, arn, region, problems):
    arn_region = arn.split(":")[3]
    if arn_region != region:
        problems.add("certificate_arn", "is in region %s; the ALB in %s needs a certificate of its own region "
                                        "(ACM certificates are regional)" % (arn_region, region))
        return
    try:
        certificate = acm.describe_certificate(CertificateArn=arn)["Certificate"]
    except ClientError as exc:
        if _code(exc) not in ("ResourceNotFoundException", "ValidationException", "InvalidArnException"):
            raise
        problems.add("certificate_arn", "%s does not exist in %s (this account)" % (arn, region))
        return
    if certificate.get("Status") != "ISSUED":
        problems.add("certificate_arn", "%s is %s; an HTTPS listener needs an ISSUED certificate"
                     % (arn, certificate.get("Status")))


def check_instance_type(ec2, instance_type, zones, problems):
    if not zones:
        return
    offered = set()
    paginator = ec2.get_paginator("describe_instance_type_offerings")
    for page in paginator.paginate(LocationType="availability-zone", Filters=[
            {"Name": "instance-type", "Values": [instance_type]},
            {"Name": "location", "Values": sorted(set(zones))}]):
        offered.update(o["Location"] for o in page.get("InstanceTypeOfferings", []))
    missing = sorted(set(zones) - offered)
    if missing:
        problems.add("target.instance_type", "%s is not offered in %s, where the capture instances go; pick a type "
                     "offered there (aws ec2 describe-instance-type-offerings --location-type availability-zone)"
                     % (instance_type, ", ".join(missing)))


def check_gwlb_endpoint(ec2, endpoint_id, region, problems):
    """The Gateway Load Balancer endpoint target exists, is one, and is available."""
    try:
        endpoints = ec2.describe_vpc_endpoints(VpcEndpointIds=[endpoint_id])["VpcEndpoints"]
    except ClientError as exc:
        if not _code(exc).startswith("InvalidVpcEndpoint"):
            raise
        endpoints = []
    if not endpoints:
        problems.add("target.gwlb_endpoint_id", "%s does not exist in %s (this account)" % (endpoint_id, region))
        return
    endpoint = endpoints[0]
    if endpoint.get("VpcEndpointType") != "GatewayLoadBalancer":
        problems.add("target.gwlb_endpoint_id", "%s is a %s endpoint; a traffic mirror target needs a Gateway Load "
                     "Balancer endpoint" % (endpoint_id, endpoint.get("VpcEndpointType")))
    elif endpoint.get("State", "").lower() != "available":
        problems.add("target.gwlb_endpoint_id", "%s is %s, not available" % (endpoint_id, endpoint.get("State")))


def run_checks(clients, experiment):
    problems = Problems()
    region = experiment["region"]
    network = experiment["network"]
    facts = {"vpc_id": network["vpc_id"], "subnets": {}, "imported": not network["vpc_id"]}
    if not check_region(clients["ec2"], region, problems):
        return problems.messages, facts
    preset = (experiment.get("filter") or {}).get("preset")
    if network["vpc_id"]:
        vpc_id, instance_subnets, alb_subnets = network["vpc_id"], network["subnet_ids"], network["subnet_ids"]
        subnet_variable = "network.subnet_ids"
        vpc_ok = check_vpc(clients["ec2"], vpc_id, network["vpc_cidr"], "network.vpc_id", region, problems)
    else:
        imported = imported_network(clients["cloudformation"], network, preset, region, problems)
        vpc_ok = imported is not None
        if vpc_ok:
            vpc_id, instance_subnets, alb_subnets = imported
            subnet_variable = "network.import_prefix"
            vpc_ok = check_vpc(clients["ec2"], vpc_id, None, "network.import_prefix", region, problems)
    zones = {}
    capture_instances = experiment.get("capture_instances", 1)
    if vpc_ok:
        facts["vpc_id"] = vpc_id
        zones = check_subnets(clients["ec2"], list(dict.fromkeys(alb_subnets + instance_subnets)), alb_subnets,
                              vpc_id, subnet_variable, region, problems)
        facts["subnets"] = zones
        if capture_instances:
            check_instance_type(clients["ec2"], experiment["target"]["instance_type"],
                                [zones[s] for s in instance_subnets[:2] if s in zones], problems)
    if not capture_instances:  # a Gateway Load Balancer endpoint target
        check_gwlb_endpoint(clients["ec2"], experiment["target"]["gwlb_endpoint_id"], region, problems)
    if experiment.get("https") and experiment.get("certificate_arn"):
        check_certificate(clients["acm"], experiment["certificate_arn"], region, problems)
    return problems.messages, facts
