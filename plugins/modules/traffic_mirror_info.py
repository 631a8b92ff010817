#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the mirrorlab project
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: traffic_mirror_info
version_added: 0.1.0
short_description: Gather information about VPC Traffic Mirroring sessions, targets and filters
description:
  - Describes Traffic Mirror sessions, targets and filters, optionally only those carrying the
    given tags (matched on the client, because the C(DescribeTrafficMirror*) APIs have no tag
    filter), so that a playbook can read the VNI of a deployed session or check that nothing
    of a deployment is left.
  - Changes nothing; supports check mode.
author:
  - mirrorlab developers (@mirrorlab)
options:
  resources:
    description: Which kinds of resources to describe.
    type: list
    elements: str
    choices: [sessions, targets, filters]
    default: [sessions, targets, filters]
  tags:
    description:
      - Return only resources carrying all these tags (key and value).
    type: dict
    default: {}
  session_ids:
    description: Describe only these session ids (server-side filter).
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: The sessions, targets and filters of a deployment
  mirrorlab.vpc.traffic_mirror_info:
    region: eu-west-1
    tags:
      "mirrorlab:deployment": mirrorlab
  register: mirror

- name: The VNI of the first session
  ansible.builtin.debug:
    msg: "{{ mirror.traffic_mirror_sessions[0].virtual_network_id }}"
"""

RETURN = r"""
traffic_mirror_sessions:
  description: The sessions (only when C(sessions) is in O(resources)).
  returned: always
  type: list
  elements: dict
  contains:
    traffic_mirror_session_id: {description: Session id., type: str, sample: tms-0123456789abcdef0}
    network_interface_id: {description: The source ENI., type: str}
    traffic_mirror_target_id: {description: The target., type: str}
    traffic_mirror_filter_id: {description: The filter., type: str}
    session_number: {description: Session number., type: int}
    virtual_network_id: {description: The VXLAN network identifier (VNI)., type: int, sample: 12345}
    packet_length: {description: 'Truncation length (absent for whole packets).', type: int}
    tags: {description: Tags as a dictionary., type: dict}
traffic_mirror_targets:
  description: The targets (only when C(targets) is in O(resources)).
  returned: always
  type: list
  elements: dict
  contains:
    traffic_mirror_target_id: {description: Target id., type: str}
    type: {description: 'C(network-interface), C(network-load-balancer) or C(gateway-load-balancer-endpoint).', type: str}
    network_interface_id: {description: The target ENI., type: str}
    network_load_balancer_arn: {description: The target NLB., type: str}
    tags: {description: Tags as a dictionary., type: dict}
traffic_mirror_filters:
  description: The filters (only when C(filters) is in O(resources)).
  returned: always
  type: list
  elements: dict
  contains:
    traffic_mirror_filter_id: {description: Filter id., type: str}
    ingress_filter_rules: {description: Inbound rules., type: list}
    egress_filter_rules: {description: Outbound rules., type: list}
    tags: {description: Tags as a dictionary., type: dict}
"""

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict

# kind -> (API operation, response key, server-side id parameter)
OPERATIONS = {
    "sessions": ("describe_traffic_mirror_sessions", "TrafficMirrorSessions", "TrafficMirrorSessionIds"),
    "targets": ("describe_traffic_mirror_targets", "TrafficMirrorTargets", "TrafficMirrorTargetIds"),
    "filters": ("describe_traffic_mirror_filters", "TrafficMirrorFilters", "TrafficMirrorFilterIds"),
}


@AWSRetry.jittered_backoff()
def _describe_page(client, operation, **params):
    return getattr(client, operation)(**params)


def describe(client, kind, ids=None):
    """All resources of one kind, following NextToken."""
    operation, key, id_param = OPERATIONS[kind]
    params = {}
    if ids:
        params[id_param] = ids
    items = []
    while True:
        page = _describe_page(client, operation, **params)
        items.extend(page.get(key, []))
        token = page.get("NextToken")
        if not token:
            return items
        params["NextToken"] = token


def normalize(item):
    tags = boto3_tag_list_to_ansible_dict(item.get("Tags", []))
    result = camel_dict_to_snake_dict({k: v for k, v in item.items() if k != "Tags"})
    result["tags"] = tags
    return result


def matches(item, wanted):
    return all(item["tags"].get(key) == value for key, value in wanted.items())


def main():
    argument_spec = dict(
        resources=dict(
            type="list", elements="str", choices=list(OPERATIONS), default=list(OPERATIONS)
        ),
        tags=dict(type="dict", default={}),
        session_ids=dict(type="list", elements="str", default=[]),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    client = module.client("ec2")
    wanted = {str(k): str(v) for k, v in module.params["tags"].items()}

    result = dict(changed=False)
    for kind in OPERATIONS:
        found = []
        if kind in module.params["resources"]:
            ids = module.params["session_ids"] if kind == "sessions" else None
            try:
                found = [normalize(item) for item in describe(client, kind, ids)]
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
                module.fail_json_aws(e, msg=f"Failed to describe traffic mirror {kind}")
        result[f"traffic_mirror_{kind}"] = [item for item in found if matches(item, wanted)]
    module.exit_json(**result)


if __name__ == "__main__":
    main()
