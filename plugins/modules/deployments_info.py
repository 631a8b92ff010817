#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the mirrorlab project
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: deployments_info
short_description: List every mirrorlab deployment, on AWS and in the local lab, with its cost and orphans
version_added: 0.2.0
description:
  - "AWS (O(aws=true)): every CloudFormation stack of the region tagged C(mirrorlab:deployment),
    grouped by deployment, with the deployment's age, its expiry (the target-instance stack's
    C(ExpiresAt) output), its mirror sessions, its estimated cost per hour and so far
    (M(mirrorlab.vpc.cost_estimate)'s price table, counting only what the live stacks run)."
  - "Orphans: traffic mirror sessions, targets and filters, instances and buckets tagged
    C(mirrorlab:deployment) that belong to no live stack, each with the AWS CLI command that
    removes it."
  - "Lab (O(lab=true)): every lab on this machine, found by its router namespace
    C(ml-<deployment>-router), with its namespaces, its capture machine's directory and the
    bytes of pcap files below it."
  - Changes nothing; for C(./mirrorlab status --all) (C(playbooks/status_all.yml)).
author:
  - mirrorlab developers (@mirrorlab)
options:
  aws:
    description: Look for deployments on AWS in the region.
    type: bool
    default: true
  lab:
    description: Look for labs on this machine.
    type: bool
    default: true
  netns_dir:
    description: Where the lab's named network namespaces are.
    type: path
    default: /run/netns
  machine_root:
    description: Directory under which each lab keeps C(ml-<deployment>) (lab_plan's C(machine_root)).
    type: path
    default: /var/lib/mirrorlab
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
attributes:
  check_mode:
    support: full
    description: Changes nothing, in check mode or not.
"""

EXAMPLES = r"""
- name: Every deployment
  mirrorlab.vpc.deployments_info:
    region: eu-west-1
  register: everything

- name: Show them
  ansible.builtin.debug:
    msg: "{{ everything.lines }}"
"""

RETURN = r"""
deployments:
  description: One per deployment found, C(backend) C(aws) or C(lab).
  returned: success
  type: list
  elements: dict
  sample:
    - {deployment: demo, backend: aws, region: eu-west-1, stacks: {demo-mirroring: CREATE_COMPLETE},
       age_hours: 2.5, expires_at: "2026-12-02T18:00:00", sessions: 2, hourly_usd: 0.03, so_far_usd: 0.075,
       unknown_prices: []}
    - {deployment: mirrorlab, backend: lab, namespaces: [ml-mirrorlab-router], machine_dir: /var/lib/mirrorlab/ml-mirrorlab,
       pcap_bytes: 123456, hourly_usd: 0.0}
orphans:
  description: Tagged AWS resources in no live stack, with C(kind), C(id), C(deployment), C(region) and C(remove) (a command).
  returned: success
  type: list
  elements: dict
lines:
  description: The findings as text lines.
  returned: success
  type: list
  elements: str
"""

import datetime
import os

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.mirrorlab.vpc.plugins.module_utils import deployments as found

LIVE = ("CREATE_IN_PROGRESS", "CREATE_FAILED", "CREATE_COMPLETE", "ROLLBACK_IN_PROGRESS", "ROLLBACK_FAILED",
        "ROLLBACK_COMPLETE", "DELETE_IN_PROGRESS", "DELETE_FAILED", "UPDATE_IN_PROGRESS",
        "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_COMPLETE", "UPDATE_FAILED", "UPDATE_ROLLBACK_IN_PROGRESS",
        "UPDATE_ROLLBACK_FAILED", "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE",
        "REVIEW_IN_PROGRESS", "IMPORT_IN_PROGRESS", "IMPORT_COMPLETE", "IMPORT_ROLLBACK_IN_PROGRESS",
        "IMPORT_ROLLBACK_FAILED", "IMPORT_ROLLBACK_COMPLETE")
MIRROR_KINDS = (
    ("traffic-mirror-session", "describe_traffic_mirror_sessions", "TrafficMirrorSessions", "TrafficMirrorSessionId"),
    ("traffic-mirror-target", "describe_traffic_mirror_targets", "TrafficMirrorTargets", "TrafficMirrorTargetId"),
    ("traffic-mirror-filter", "describe_traffic_mirror_filters", "TrafficMirrorFilters", "TrafficMirrorFilterId"),
)


def paginate(client, operation, key, **params):
    return client.get_paginator(operation).paginate(**params).build_full_result().get(key, [])


@AWSRetry.jittered_backoff()
def _describe_stack(cfn, name):
    return cfn.describe_stacks(StackName=name)["Stacks"][0]


def tagged_stacks(cfn):
    """The live stacks tagged mirrorlab:deployment, with their outputs, parameters and resources."""
    stacks = []
    for summary in paginate(cfn, "list_stacks", "StackSummaries", StackStatusFilter=list(LIVE)):
        stack = _describe_stack(cfn, summary["StackId"])
        tags = found.tag_dict(stack.get("Tags"))
        if found.TAG not in tags:
            continue
        resources = paginate(cfn, "list_stack_resources", "StackResourceSummaries", StackName=summary["StackId"])
        stacks.append({
            "name": stack["StackName"], "status": stack["StackStatus"], "created": stack["CreationTime"], "tags": tags,
            "outputs": dict((o["OutputKey"], o["OutputValue"]) for o in stack.get("Outputs", [])),
            "parameters": dict((p["ParameterKey"], p.get("ParameterValue", "")) for p in stack.get("Parameters", [])),
            "resources": [r.get("PhysicalResourceId") for r in resources if r.get("PhysicalResourceId")],
        })
    return stacks


def tagged_resources(ec2, s3, region):
    """[{kind, id, deployment}] of the tagged traffic mirror resources, instances and buckets."""
    items = []
    for kind, operation, key, id_key in MIRROR_KINDS:
        for item in paginate(ec2, operation, key):
            deployment = found.tag_dict(item.get("Tags")).get(found.TAG)
            if deployment:
                items.append({"kind": kind, "id": item[id_key], "deployment": deployment})
    filters = [{"Name": "tag-key", "Values": [found.TAG]},
               {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}]
    for reservation in paginate(ec2, "describe_instances", "Reservations", Filters=filters):
        for instance in reservation["Instances"]:
            items.append({"kind": "instance", "id": instance["InstanceId"],
                          "deployment": found.tag_dict(instance.get("Tags"))[found.TAG]})
    for bucket in s3.list_buckets().get("Buckets", []):
        try:
            tags = found.tag_dict(s3.get_bucket_tagging(Bucket=bucket["Name"]).get("TagSet"))
            where = s3.get_bucket_location(Bucket=bucket["Name"]).get("LocationConstraint") or "us-east-1"
        except botocore.exceptions.ClientError:
            continue  # no tags (NoSuchTagSet) or not ours to read
        if found.TAG in tags and where == region:
            items.append({"kind": "bucket", "id": bucket["Name"], "deployment": tags[found.TAG]})
    return items


def main():
    module = AnsibleAWSModule(
        argument_spec={
            "aws": {"type": "bool", "default": True},
            "lab": {"type": "bool", "default": True},
            "netns_dir": {"type": "path", "default": "/run/netns"},
            "machine_root": {"type": "path", "default": "/var/lib/mirrorlab"},
        },
        supports_check_mode=True,
    )
    result = {"changed": False, "deployments": [], "orphans": []}
    if module.params["aws"]:
        region = module.region
        if not region:
            module.fail_json(msg="region: needed to look for AWS deployments (mirrorlab_region)")
        try:
            stacks = tagged_stacks(module.client("cloudformation"))
            items = tagged_resources(module.client("ec2"), module.client("s3"), region)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            module.fail_json_aws(e, msg="Failed to list the mirrorlab deployments in %s" % region)
        sessions = {}
        for item in items:
            if item["kind"] == "traffic-mirror-session":
                sessions[item["deployment"]] = sessions.get(item["deployment"], 0) + 1
        now = datetime.datetime.now(datetime.timezone.utc)
        result["deployments"] += found.aws_deployments(region, stacks, sessions, now)
        result["orphans"] = found.orphans(region, items, [r for s in stacks for r in s["resources"]])
    if module.params["lab"]:
        netns_dir = module.params["netns_dir"]
        names = os.listdir(netns_dir) if os.path.isdir(netns_dir) else []
        result["deployments"] += found.lab_deployments(names, module.params["machine_root"])
    result["lines"] = found.lines(result["deployments"], result["orphans"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
