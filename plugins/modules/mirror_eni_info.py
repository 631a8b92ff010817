#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the mirrorlab project
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: mirror_eni_info
version_added: 0.1.0
short_description: Resolve VPC Traffic Mirroring sources and targets to ENIs, with eligibility
description:
  - Resolves load balancers, EC2 instances, ECS services, ENI ids and CloudFormation stack
    outputs to their elastic network interfaces (ENIs), and tells for each ENI whether it can
    be a Traffic Mirroring source, with the reason when it cannot.
  - "An ENI cannot be a source when: it is the O(target) (or is already a traffic mirror
    target); its interface type is not C(interface); it is attached to an instance of a type
    AWS documents as unsupported (the list lives in C(module_utils/mirror_support.py), with the
    date of the AWS page it was read from); or it already carries 3 traffic mirror sessions
    (sessions to the O(target) are not counted: a re-run updates them in place)."
  - Requester-managed ENIs of load balancers and Fargate tasks, whose support AWS documents
    inconsistently, are returned with RV(network_interfaces[].mirror_source=true) and a
    RV(network_interfaces[].warning).
  - Every lookup is filtered on the server side and batched, so the number of AWS API calls
    depends on the inputs, not on the number of ENIs in the account. Resolving one ALB by ARN
    takes 3 calls, by name 4.
  - The inputs are the per-kind options (O(load_balancers), O(instances), O(ecs_services),
    O(network_interfaces), O(stacks)) and the experiment model's O(sources), which map onto
    the same kinds.
  - An input that resolves to no ENI (load balancer not found, service with no running task,
    instance terminated, ENI not found, stack missing) fails naming the input, unless
    O(allow_empty=true).
  - This module changes nothing and supports check mode.
author:
  - mirrorlab developers (@mirrorlab)
options:
  load_balancers:
    description:
      - Names or ARNs of Application, Network or Gateway Load Balancers.
      - Their ENIs are found by the description AWS gives them, C(ELB app/<name>/<id>) or
        C(ELB net/<name>/<id>).
    type: list
    elements: str
    default: []
  instances:
    description:
      - "EC2 instances, each an instance id (C(i-...)), a dict C({id: i-...}), or a dict
        C({tags: {Name: web}}) selecting every instance that is not terminated and carries all
        the tags."
      - Only the primary ENI of each instance is returned unless O(instance_interfaces=all).
    type: list
    elements: raw
    default: []
  instance_interfaces:
    description:
      - Which ENIs of the O(instances) to return.
    type: str
    choices: [primary, all]
    default: primary
  ecs_services:
    description:
      - ECS services; returns the ENIs of their running tasks (C(awsvpc) network mode, which
        Fargate always uses).
    type: list
    elements: dict
    default: []
    suboptions:
      cluster:
        description: Cluster name or ARN.
        type: str
        required: true
      service:
        description: Service name.
        type: str
        required: true
  network_interfaces:
    description:
      - ENI ids (C(eni-...)); each is checked to exist.
    type: list
    elements: str
    default: []
  stacks:
    description:
      - CloudFormation stack outputs whose value is a load balancer ARN, an ECS service ARN,
        one or more instance ids, or one or more ENI ids (a comma-separated list holds one
        kind). The kind is detected from the value.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Stack name or id.
        type: str
        required: true
      output:
        description: Output key.
        type: str
        required: true
      cluster:
        description:
          - Cluster of an ECS service whose ARN is in the old format without the cluster name.
        type: str
  sources:
    description:
      - The sources of the experiment model, as the C(experiment.sources) fact of the role
        mirrorlab.vpc.experiment holds them (the variable C(mirrorlab_sources), see
        docs/experiment.md); the alternative to the per-kind options above, which can be given
        as well.
      - "Each is a dict with a C(type): C({type: sample_service}) (the load balancer in
        O(sample_service_load_balancer)), C({type: load_balancer, name: ...}) or C(arn),
        C({type: instance, id: i-...}) or C(tags: {...}), C({type: ecs_service, cluster: ...,
        service: ...}), C({type: network_interface, id: eni-...})."
      - They are checked by the experiment model's own rules (module_utils/experiment.py), so
        a failure names C(mirrorlab_sources[N]); each resolved ENI's
        RV(network_interfaces[].source) is C(sources[N] <type> <value>).
    type: list
    elements: dict
    default: []
    version_added: 0.1.0
  sample_service_load_balancer:
    description:
      - "Name or ARN of the load balancer a C(type: sample_service) entry of O(sources) stands
        for: the sample-service stack's C(LoadBalancerArn) output. Required when O(sources)
        has such an entry."
    type: str
    version_added: 0.1.0
  target:
    description:
      - The traffic mirror target that will receive the mirrored traffic, so that its ENIs are
        never returned as sources. An ENI id, a traffic mirror target id (C(tmt-...)), or a
        Network Load Balancer name or ARN.
    type: str
  allow_empty:
    description:
      - Accept inputs that resolve to no ENI (with a warning) instead of failing.
    type: bool
    default: false
notes:
  - Needs C(ec2:DescribeNetworkInterfaces), C(ec2:DescribeInstances),
    C(ec2:DescribeTrafficMirrorSessions) and C(ec2:DescribeTrafficMirrorTargets), plus
    C(elasticloadbalancing:DescribeLoadBalancers), C(ecs:ListTasks), C(ecs:DescribeTasks),
    C(ecs:DescribeServices) and C(cloudformation:DescribeStacks) for the matching inputs.
  - When the traffic mirror sessions or targets cannot be read (permission missing, endpoint
    without the API) the module warns and leaves the 3-session limit unchecked instead of
    failing.
  - Retries with jittered exponential backoff when AWS throttles the calls.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
# Note: These examples do not set authentication details, see the AWS Guide for details.

- name: Resolve the sample service's ALB and the capture instance's ENI
  module_defaults:
    group/mirrorlab.vpc.aws:
      region: eu-west-1
  block:
    - name: Find the ENIs to mirror
      mirrorlab.vpc.mirror_eni_info:
        load_balancers:
          - mirrorlab-alb
        target: eni-0123456789abcdef0
      register: sources

    - name: Show the sources that can be mirrored
      ansible.builtin.debug:
        msg: "{{ sources.network_interfaces | selectattr('mirror_source') | map(attribute='id') | list }}"

- name: Sources from a CloudFormation stack output, instances by tag and an ECS service
  mirrorlab.vpc.mirror_eni_info:
    region: eu-west-1
    stacks:
      - name: mirrorlab-sample-service
        output: LoadBalancerArn
    instances:
      - i-0123456789abcdef0
      - tags:
          Role: web
    instance_interfaces: all
    ecs_services:
      - cluster: mirrorlab
        service: nginx
    target: tmt-0123456789abcdef0
  register: sources

- name: The experiment's sources (mirrorlab_sources) as they are, the sample service's ALB from its stack
  mirrorlab.vpc.mirror_eni_info:
    region: eu-west-1
    sources:
      - type: sample_service
      - type: instance
        tags:
          Role: web
      - type: network_interface
        id: eni-0fedcba9876543210
    sample_service_load_balancer: arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/mirrorlab-alb/50dc6c495c0c9188
    target: eni-0123456789abcdef0
  register: sources

- name: Tolerate an ECS service that is scaled to zero
  mirrorlab.vpc.mirror_eni_info:
    ecs_services:
      - cluster: mirrorlab
        service: nginx
    allow_empty: true
  register: sources
"""

RETURN = r"""
network_interfaces:
  description:
    - The resolved ENIs, in input order; an ENI reached by several inputs appears once, with
      the first input as RV(network_interfaces[].source).
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: ENI id.
      type: str
      returned: always
      sample: eni-0123456789abcdef0
    private_ip:
      description: Primary private IPv4 address.
      type: str
      returned: always
      sample: 10.0.1.17
    subnet_id:
      description: Subnet id.
      type: str
      returned: always
      sample: subnet-0123456789abcdef0
    availability_zone:
      description: Availability zone.
      type: str
      returned: always
      sample: eu-west-1a
    vpc_id:
      description: VPC id.
      type: str
      returned: always
      sample: vpc-0123456789abcdef0
    interface_type:
      description: EC2 interface type (C(interface), C(network_load_balancer), C(efa), ...).
      type: str
      returned: always
      sample: interface
    requester_managed:
      description: Whether an AWS service manages the ENI (load balancers, Fargate, ...).
      type: bool
      returned: always
      sample: true
    description:
      description: The ENI's description.
      type: str
      returned: always
      sample: ELB app/mirrorlab-alb/50dc6c495c0c9188
    instance_id:
      description: The attached instance, or null.
      type: str
      returned: always
      sample: i-0123456789abcdef0
    instance_type:
      description: The attached instance's type, or null.
      type: str
      returned: always
      sample: t3.small
    source:
      description:
        - The input that resolved to this ENI, e.g. C(load_balancers[0] 'mirrorlab-alb') or
          C(sources[0] sample_service 'arn:aws:elasticloadbalancing:...').
      type: str
      returned: always
      sample: "load_balancers[0] 'mirrorlab-alb'"
    mirror_source:
      description: Whether the ENI can be a traffic mirror source.
      type: bool
      returned: always
      sample: true
    reason:
      description: Why the ENI cannot be a source (all reasons, joined by C(; )), or null.
      type: str
      returned: always
      sample: "interface type 'network_load_balancer': only type 'interface' can be a mirror source"
    warning:
      description: A caveat about an ENI that is returned as a source, or null.
      type: str
      returned: always
      sample: "requester-managed ENI of a load balancer (ELB app/mirrorlab-alb/50dc6c495c0c9188): ..."
"""

try:
    import botocore
except ImportError:
    pass  # Handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.mirrorlab.vpc.plugins.module_utils.mirror_eni import EniResolver
from ansible_collections.mirrorlab.vpc.plugins.module_utils.mirror_eni import ResolveError

INPUTS = ["load_balancers", "instances", "ecs_services", "network_interfaces", "stacks", "sources"]


def argument_spec():
    return dict(
        load_balancers=dict(type="list", elements="str", default=[]),
        instances=dict(type="list", elements="raw", default=[]),
        instance_interfaces=dict(type="str", choices=["primary", "all"], default="primary"),
        ecs_services=dict(
            type="list",
            elements="dict",
            default=[],
            options=dict(cluster=dict(type="str", required=True), service=dict(type="str", required=True)),
        ),
        network_interfaces=dict(type="list", elements="str", default=[]),
        stacks=dict(
            type="list",
            elements="dict",
            default=[],
            options=dict(
                name=dict(type="str", required=True),
                output=dict(type="str", required=True),
                cluster=dict(type="str"),
            ),
        ),
        sources=dict(type="list", elements="dict", default=[]),
        sample_service_load_balancer=dict(type="str"),
        target=dict(type="str"),
        allow_empty=dict(type="bool", default=False),
    )


def main():
    module = AnsibleAWSModule(argument_spec=argument_spec(), supports_check_mode=True)
    if not any(module.params[name] for name in INPUTS):
        module.fail_json(msg=f"give at least one of {', '.join(INPUTS)} (all are empty)")

    resolver = EniResolver(module.client)
    try:
        network_interfaces = resolver.resolve(module.params)
    except ResolveError as e:
        module.fail_json(msg=str(e))
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="Failed to resolve the traffic mirroring sources")

    for warning in resolver.warnings:
        module.warn(warning)
    module.exit_json(changed=False, network_interfaces=network_interfaces)


if __name__ == "__main__":
    main()
