#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the mirrorlab project
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: stack_info
version_added: 0.1.0
short_description: Status, outputs and newest events of CloudFormation stacks, by name
description:
  - Reads each named CloudFormation stack and returns its status (C(ABSENT) when there is no
    such stack, never created or deleted), outputs, parameters and tags as mappings, and
    optionally its newest events; plus the lists the mirrorlab playbooks decide on (which
    stacks exist, are in progress, must settle before a deletion, or failed in a way only a
    deletion repairs).
  - A missing stack is not an error. One C(DescribeStacks) call per stack, plus one
    C(DescribeStackEvents) call per existing stack when O(events) is not 0.
  - This module changes nothing and supports check mode.
author:
  - mirrorlab developers (@mirrorlab)
options:
  names:
    description:
      - Stack names (or ids). The result keeps their order; a name given twice is read once.
    type: list
    elements: str
    required: true
  deployment:
    description:
      - The deployment the stacks should belong to. When given, RV(foreign) lists every existing
        stack without the tag C(mirrorlab:deployment=<deployment>), and every bucket named in a
        C(BucketName) output of the deployment's stacks that is neither that stack's own resource
        nor tagged so (one C(ListStackResources) call per such stack, one C(GetBucketTagging) at most).
    type: str
  buckets:
    description:
      - With O(deployment), also list the buckets tagged C(mirrorlab:deployment=<deployment>) in
        RV(buckets) (one C(ListBuckets) call and one C(GetBucketTagging) per bucket of the account).
    type: bool
    default: false
  events:
    description:
      - How many of each stack's newest events to return (0 = none).
    type: int
    default: 0
notes:
  - Needs C(cloudformation:DescribeStacks), and C(cloudformation:DescribeStackEvents) with
    O(events).
  - Retries with jittered exponential backoff when AWS throttles the calls.
  - mirrorlab.vpc.stack_wait runs this module while it waits for stacks.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
# Note: These examples do not set authentication details, see the AWS Guide for details.

- name: Read the experiment's stacks
  mirrorlab.vpc.stack_info:
    region: eu-west-1
    names:
      - mirrorlab-sample-service
      - mirrorlab-target-instance
      - mirrorlab-mirroring
  register: stacks_state

- name: Use an output of a stack that exists
  ansible.builtin.debug:
    msg: "{{ stacks_state.outputs['mirrorlab-sample-service'].HttpUrl }}"
  when: "'mirrorlab-sample-service' in stacks_state.present"

- name: The three newest events of a stack
  mirrorlab.vpc.stack_info:
    names: [mirrorlab-target-instance]
    events: 3
  register: target_events

- name: Stop when a stack or bucket of that name is someone else's
  mirrorlab.vpc.stack_info:
    names: [mirrorlab-sample-service, mirrorlab-target-instance, mirrorlab-mirroring]
    deployment: mirrorlab
  register: stacks_owned
  failed_when: stacks_owned.foreign | length > 0
"""

RETURN = r"""
stacks:
  description: Each stack by name.
  returned: always
  type: dict
  contains:
    name:
      description: The name given.
      type: str
      returned: always
      sample: mirrorlab-target-instance
    status:
      description: The stack status, or C(ABSENT) when there is no such stack.
      type: str
      returned: always
      sample: CREATE_COMPLETE
    stack_id:
      description: The stack's id (ARN), or null when absent.
      type: str
      returned: always
      sample: arn:aws:cloudformation:eu-west-1:123456789012:stack/mirrorlab-target-instance/8c3e0f10-0000-0000-0000-000000000000
    status_reason:
      description: The stack's status reason, or an empty string.
      type: str
      returned: always
      sample: ""
    outputs:
      description: Output key to value (empty when absent).
      type: dict
      returned: always
      sample: {"BucketName": "mirrorlab-target-instance-capturebucket-1a2b3c4d5e6f"}
    parameters:
      description: Parameter key to value (empty when absent).
      type: dict
      returned: always
      sample: {"Deployment": "mirrorlab"}
    tags:
      description: Tag key to value (empty when absent).
      type: dict
      returned: always
      sample: {"mirrorlab:deployment": "mirrorlab"}
    events:
      description: The newest O(events) events, newest first.
      type: list
      elements: dict
      returned: always
      sample:
        - timestamp: "2026-05-09T07:35:25.123000+00:00"
          logical_resource_id: CaptureInstance1
          resource_type: AWS::EC2::Instance
          resource_status: CREATE_IN_PROGRESS
          resource_status_reason: ""
status:
  description: Stack name to status (C(ABSENT) when there is no such stack).
  returned: always
  type: dict
  sample: {"mirrorlab-sample-service": "CREATE_COMPLETE", "mirrorlab-mirroring": "ABSENT"}
outputs:
  description: Stack name to its outputs (empty for an absent stack).
  returned: always
  type: dict
  sample: {"mirrorlab-sample-service": {"HttpUrl": "http://mirrorlab-alb-1.eu-west-1.elb.amazonaws.com/"}}
present:
  description: The names of the stacks that exist, in the order given.
  returned: always
  type: list
  elements: str
  sample: [mirrorlab-sample-service]
in_progress:
  description: The stacks CloudFormation is still working on (status C(*_IN_PROGRESS)).
  returned: always
  type: list
  elements: str
  sample: [mirrorlab-target-instance]
settling:
  description:
    - The stacks in an update or rollback (C(UPDATE*_IN_PROGRESS), C(*ROLLBACK*_IN_PROGRESS)),
      which must end before the stack can be deleted; a creation in progress can be deleted.
  returned: always
  type: list
  elements: str
  sample: []
unrecoverable:
  description:
    - The stacks in C(ROLLBACK_COMPLETE), C(ROLLBACK_FAILED), C(CREATE_FAILED) or
      C(DELETE_FAILED), which CloudFormation cannot update (delete, then create).
  returned: always
  type: list
  elements: str
  sample: []
foreign:
  description:
    - With O(deployment), the stacks and buckets that are not the deployment's, each with why;
      mirrorlab updates or deletes none of them. Empty without O(deployment).
  returned: always
  type: list
  elements: dict
  sample: [{kind: stack, name: mirrorlab-sample-service,
            reason: "it has no tag mirrorlab:deployment, so mirrorlab did not create it (status CREATE_COMPLETE)"}]
buckets:
  description: With O(buckets) and O(deployment), the names of the buckets tagged for the deployment.
  returned: always
  type: list
  elements: str
  sample: [mirrorlab-target-instance-capturebucket-1a2b3c4d5e6f]
refusal:
  description: With RV(foreign) not empty, the message that stops the playbooks; else empty.
  returned: always
  type: str
  sample: ""
summary:
  description: Every stack with its status, for messages.
  returned: always
  type: str
  sample: mirrorlab-sample-service CREATE_COMPLETE, mirrorlab-mirroring ABSENT
"""

try:
    import botocore
except ImportError:
    pass  # Handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.mirrorlab.vpc.plugins.module_utils.ownership import (
    deployment_buckets,
    foreign_buckets,
    foreign_stacks,
    refusal,
)
from ansible_collections.mirrorlab.vpc.plugins.module_utils.stacks import describe_stacks


def main():
    argument_spec = dict(
        names=dict(type="list", elements="str", required=True),
        events=dict(type="int", default=0),
        deployment=dict(type="str"),
        buckets=dict(type="bool", default=False),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    if module.params["events"] < 0:
        module.fail_json(msg=f"events must be 0 or more, got {module.params['events']}")
    deployment = module.params["deployment"]
    try:
        cfn = module.client("cloudformation")
        result = describe_stacks(cfn, module.params["names"], module.params["events"])
        foreign, buckets = [], []
        if deployment:
            s3 = module.client("s3")
            foreign = foreign_stacks(result["stacks"], deployment) + foreign_buckets(cfn, s3, result["stacks"], deployment)
            if module.params["buckets"]:
                buckets = deployment_buckets(s3, deployment)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="Failed to read the CloudFormation stacks")
    result.update(foreign=foreign, buckets=buckets, refusal=refusal(foreign, deployment))
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
