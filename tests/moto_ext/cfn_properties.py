"""EMULATION for the mirrorlab tests only: resource properties moto's CloudFormation drops.

moto 5.2.5 accepts these properties in a template and silently ignores them; AWS applies them.
The target stack depends on both (tests/ssm runs it end to end):

- `AWS::ElasticLoadBalancingV2::LoadBalancer` `Type` (and `IpAddressType`, `Tags`): moto made
  every load balancer an application one, so the scale-out NLB (`Type: network`) refused its
  UDP 4789 listener ("Listener protocol 'UDP' must be one of 'HTTP, HTTPS'") and
  `mirrorlab_target.count` > 1 could not be deployed. moto's own ELBv2 validation (an NLB takes
  TCP, UDP, TLS, TCP_UDP listeners) applies unchanged.
- `AWS::IAM::Role` `ManagedPolicyArns`: moto attached none, so the capture instances' role had
  no AmazonSSMManagedInstanceCore and the emulated StartSession (ssm_sessions.py) rightly found
  the instance unmanageable. Each ARN is attached as AWS does; an AWS managed policy moto knows
  (its policy data) is created on first use, and an unknown ARN fails the resource, as on AWS;
  deleting the role detaches them first, as CloudFormation does.
"""

from __future__ import annotations

import json

from moto.elbv2 import models as elbv2_models
from moto.iam import models as iam_models
from moto.iam.aws_managed_policies import aws_managed_policies_data
from moto.utilities.utils import get_partition


def _load_balancer_keeps_its_type() -> None:
    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        properties = cloudformation_json["Properties"]
        backend = elbv2_models.elbv2_backends[account_id][region_name]
        return backend.create_load_balancer(
            resource_name,
            properties.get("SecurityGroups"),
            properties.get("Subnets"),
            scheme=properties.get("Scheme", "internet-facing"),
            loadbalancer_type=properties.get("Type", "application"),
            ip_address_type=properties.get("IpAddressType", "ipv4"),
            tags=properties.get("Tags"),
        )

    elbv2_models.FakeLoadBalancer.create_from_cloudformation_json = create_from_cloudformation_json


def _aws_managed_policy(backend, arn: str):
    """The AWS managed policy `arn` in this IAM backend, created from moto's data if needed."""
    policy = backend.managed_policies.get(arn)
    name = arn.rsplit("/", 1)[-1]
    data = json.loads(aws_managed_policies_data).get(name)
    if policy is None and data is not None and arn.split(":")[4] == "aws":
        policy = iam_models.AWSManagedPolicy.from_data(name, backend.account_id, backend.region_name, data)
        if policy.arn == arn:
            backend.managed_policies[arn] = policy
    return policy


def _role_attaches_managed_policies() -> None:
    original = iam_models.Role.create_from_cloudformation_json.__func__

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        role = original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        backend = iam_models.iam_backends[account_id][get_partition(region_name)]
        for arn in cloudformation_json["Properties"].get("ManagedPolicyArns", []) or []:
            _aws_managed_policy(backend, arn)
            backend.attach_role_policy(arn, role.name)  # NoSuchEntity for an unknown ARN, as on AWS
        return role

    original_delete = iam_models.Role.delete_from_cloudformation_json.__func__

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
        # CloudFormation detaches what it attached before it deletes the role.
        backend = iam_models.iam_backends[account_id][get_partition(region_name)]
        for role in [r for r in backend.roles.values() if r.name == resource_name]:
            for arn in list(role.managed_policies):
                backend.detach_role_policy(arn, role.name)
        original_delete(cls, resource_name, cloudformation_json, account_id, region_name)

    iam_models.Role.create_from_cloudformation_json = create_from_cloudformation_json
    iam_models.Role.delete_from_cloudformation_json = delete_from_cloudformation_json


def install() -> None:
    _load_balancer_keeps_its_type()
    _role_attaches_managed_policies()
