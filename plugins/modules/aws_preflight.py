#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the mirrorlab project
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: aws_preflight
version_added: 0.1.0
short_description: Check the AWS account against the experiment before anything is created
description:
  - One read-only pass over everything the three stacks depend on, run by C(site.yml) before the
    first write. Every problem is reported at once, each naming the C(mirrorlab_*) variable and the
    rule, in O(experiment)'s terms.
  - The region is one AWS has and the account may use (C(DescribeRegions)).
  - With C(mirrorlab_network.vpc_id), the VPC exists and its CIDR is C(mirrorlab_network.vpc_cidr);
    the subnets exist, belong to that VPC and span at least two Availability Zones (the ALB).
  - Without it, the four exports C(<import_prefix>-VpcId), C(-VpcCidr), C(-PublicSubnets) and
    C(-PrivateSubnets) exist, the exported VPC and subnets exist as above, and with the filter
    presets C(alb_client)/C(alb_target) the exported CIDR is C(mirrorlab_network.vpc_cidr).
  - The capture instance type is offered in the zones of the capture instances' subnets; with a
    Gateway Load Balancer endpoint target (no capture instance), that the endpoint exists, is a
    C(GatewayLoadBalancer) endpoint and is available.
  - With C(mirrorlab_https) and C(mirrorlab_certificate_arn), the certificate is in the region,
    exists and is C(ISSUED).
  - Changes nothing and supports check mode.
author:
  - mirrorlab developers (@mirrorlab)
options:
  experiment:
    description:
      - The normalized experiment model, the C(experiment) fact of the role M(mirrorlab.vpc.experiment).
      - Read are C(region), C(network), C(filter.preset), C(target.instance_type), C(target.gwlb_endpoint_id),
        C(capture_instances), C(https) and C(certificate_arn).
    type: dict
    required: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Check the account before any stack is created
  mirrorlab.vpc.aws_preflight:
    region: "{{ experiment.region }}"
    experiment: "{{ experiment }}"
  register: preflight

- name: What the network is
  ansible.builtin.debug:
    msg: "VPC {{ preflight.vpc_id }}, subnets {{ preflight.subnets }}"
"""

RETURN = r"""
problems:
  description: "Every problem found, each C(mirrorlab_<variable>: <rule>) (also joined in C(msg)); empty on success."
  returned: always
  type: list
  elements: str
  sample: ["mirrorlab_network.subnet_ids: must be subnets in at least 2 Availability Zones (the ALB needs them), got all in eu-west-1a"]
vpc_id:
  description: The experiment's VPC (given or imported); empty when it could not be found.
  returned: always
  type: str
  sample: vpc-0123456789abcdef0
subnets:
  description: Subnet id to its Availability Zone, for the subnets found.
  returned: always
  type: dict
  sample: {"subnet-0123456789abcdef0": eu-west-1a, "subnet-0123456789abcdef1": eu-west-1b}
imported:
  description: Whether the network comes from the CloudFormation exports.
  returned: always
  type: bool
  sample: false
"""

try:
    import botocore
except ImportError:
    pass  # Handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.mirrorlab.vpc.plugins.module_utils.preflight import run_checks


def main():
    module = AnsibleAWSModule(argument_spec=dict(experiment=dict(type="dict", required=True)),
                              supports_check_mode=True)
    experiment = dict(module.params["experiment"])
    experiment["region"] = module.region or experiment.get("region")
    try:
        clients = dict((name, module.client(name)) for name in ("ec2", "cloudformation", "acm"))
        problems, facts = run_checks(clients, experiment)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="Failed to read the account for the pre-flight checks")
    if problems:
        module.fail_json(msg="The AWS account does not fit the experiment (%d problem%s):\n%s"
                         % (len(problems), "" if len(problems) == 1 else "s", "\n".join(problems)),
                         problems=problems, **facts)
    module.exit_json(changed=False, problems=[], **facts)


if __name__ == "__main__":
    main()
