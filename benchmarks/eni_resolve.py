#!/usr/bin/env python3
"""ENI resolution cost: API calls and wall time to resolve one ALB among many ENIs.

    ./mirrorlab bench eni_resolve [--enis 5000] [--repeat 5]

Builds an account in moto (in-process, `mock_aws`): one VPC, --enis unrelated ENIs, and one
ALB with an ENI in each of two zones. moto's elbv2 creates no ENIs for a load balancer, so the
benchmark creates the ALB's two ENIs itself through the EC2 API with the description AWS gives
them (`ELB app/<name>/<id>`, derived from the ARN moto returned) and marks them
requester-managed in moto's backend, as AWS does.

Then it resolves the ALB with mirrorlab's resolver (module_utils/mirror_eni.py, the logic of
mirrorlab.vpc.mirror_eni_info), by name and by ARN, and prints the AWS API calls (counted with
a botocore `before-call` hook) and the wall time (median of --repeat runs). For comparison it
also times the approach the module avoids: listing every ENI in the account (paginated) and
matching the description on the client side.

Target (issue 3): at most 4 calls, independent of the number of ENIs. Exit status 0 when met,
1 when not. Wall times are moto's in-process times (no network), so they show how the cost
scales, not what AWS would take.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / ".collections"))

REGION = "us-east-1"
TARGET_CALLS = 4


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--enis", type=int, default=5000, help="unrelated ENIs in the account (default 5000)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement; the median is printed")
    return parser.parse_args()


class Counter:
    def __init__(self):
        self.calls = []

    def attach(self, client):
        client.meta.events.register("before-call.*.*", self._count)
        return client

    def _count(self, model, **kwargs):
        self.calls.append(f"{model.service_model.service_name}:{model.name}")


def build_account(boto3, n_enis):
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ec2.models import ec2_backends

    ec2 = boto3.client("ec2", region_name=REGION)
    elbv2 = boto3.client("elbv2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=REGION + zone)["Subnet"]["SubnetId"]
        for cidr, zone in (("10.0.0.0/18", "a"), ("10.0.64.0/18", "b"))
    ]
    started = time.monotonic()
    for index in range(n_enis):
        ec2.create_network_interface(SubnetId=subnets[index % 2], Description=f"noise {index}")
    build_seconds = time.monotonic() - started
    lb = elbv2.create_load_balancer(Name="bench-alb", Subnets=subnets)["LoadBalancers"][0]
    kind, name, lb_id = lb["LoadBalancerArn"].split(":loadbalancer/")[1].split("/")
    backend = ec2_backends[DEFAULT_ACCOUNT_ID][REGION]
    alb_enis = []
    for subnet in subnets:
        eni = ec2.create_network_interface(SubnetId=subnet, Description=f"ELB {kind}/{name}/{lb_id}")
        eni_id = eni["NetworkInterface"]["NetworkInterfaceId"]
        backend.enis[eni_id].requester_managed = True
        alb_enis.append(eni_id)
    return lb, alb_enis, build_seconds


def measure(fn, repeat):
    times, calls, result = [], None, None
    for _ in range(repeat):
        counter = Counter()
        started = time.perf_counter()
        result = fn(counter)
        times.append(time.perf_counter() - started)
        calls = counter.calls
    return result, calls, statistics.median(times)


def main():
    args = parse_args()
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        os.environ[key] = value
    for key in ("AWS_PROFILE", "AWS_URL", "AWS_ENDPOINT_URL"):
        os.environ.pop(key, None)

    import boto3
    from moto import mock_aws

    from ansible_collections.mirrorlab.vpc.plugins.module_utils.mirror_eni import EniResolver

    with mock_aws():
        lb, alb_enis, build_seconds = build_account(boto3, args.enis)

        def resolver_run(value):
            def run(counter):
                resolver = EniResolver(lambda name: counter.attach(boto3.client(name, region_name=REGION)))
                return [e["id"] for e in resolver.resolve({"load_balancers": [value]})]
            return run

        def naive(counter):
            ec2 = counter.attach(boto3.client("ec2", region_name=REGION))
            desc = "ELB app/{0}".format(lb["LoadBalancerArn"].split(":loadbalancer/app/")[1])
            found = []
            for page in ec2.get_paginator("describe_network_interfaces").paginate(PaginationConfig={"PageSize": 1000}):
                found.extend(e["NetworkInterfaceId"] for e in page["NetworkInterfaces"] if e["Description"] == desc)
            return found

        rows = []
        for label, fn in (
            ("resolver, ALB by name", resolver_run(lb["LoadBalancerName"])),
            ("resolver, ALB by ARN", resolver_run(lb["LoadBalancerArn"])),
            ("naive: list all ENIs, match client-side", naive),
        ):
            found, calls, seconds = measure(fn, args.repeat)
            assert sorted(found) == sorted(alb_enis), (label, found, alb_enis)
            rows.append((label, calls, seconds))

    print(f"account: {args.enis} unrelated ENIs + 1 ALB with {len(alb_enis)} ENIs (moto {__import__('moto').__version__}, in-process)")
    print(f"setup: created the {args.enis} ENIs in {build_seconds:.1f} s")
    print(f"{'approach':42} {'API calls':>9} {'wall time (median of ' + str(args.repeat) + ')':>26}")
    for label, calls, seconds in rows:
        print(f"{label:42} {len(calls):>9} {seconds * 1000:>23.1f} ms")
    for label, calls, _ in rows:
        print(f"  {label}: {', '.join(calls)}")
    naive_calls = len(rows[-1][1])
    if naive_calls == 1:
        print(
            "  note: moto answers the unfiltered listing in one page (it ignores MaxResults); AWS "
            f"returns at most 1000 ENIs per call, so the naive listing takes >= {-(-(args.enis + 2) // 1000)} calls there"
        )
    worst = max(len(calls) for label, calls, _ in rows if label.startswith("resolver"))
    verdict = "met" if worst <= TARGET_CALLS else "MISSED"
    print(f"target: <= {TARGET_CALLS} calls to resolve the ALB: {verdict} (resolver needs at most {worst})")
    return 0 if worst <= TARGET_CALLS else 1


if __name__ == "__main__":
    sys.exit(main())
