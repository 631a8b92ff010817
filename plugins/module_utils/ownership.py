# -*- coding: utf-8 -*-

# Copyright: Contributors to the mirrorlab project
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Ownership: what mirrorlab may update or delete (docs/aws.md, "Ownership").

A stack is the deployment's when it carries the tag ``mirrorlab:deployment=<deployment>``
(site.yml tags every stack it creates so, and CloudFormation keeps the stack's tags in every
state, ROLLBACK_COMPLETE included). A bucket is the deployment's when it is a resource of one
of the deployment's stacks (its physical id), or carries the same tag. Anything else with the
same name is someone else's: site.yml and teardown.yml stop before any write, naming it and
saying why (``refusal``), and teardown never deletes it.

Kept free of AnsibleModule: the functions take plain boto3 clients or the states that
module_utils/stacks.py reads.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

try:
    from botocore.exceptions import ClientError
except ImportError:  # pragma: no cover - handled by AnsibleAWSModule (HAS_BOTO3)
    ClientError = Exception

from ansible_collections.mirrorlab.vpc.plugins.module_utils.model import DEPLOYMENT_TAG


def tag_problem(tags, deployment):
    """Why resources with these tags ({key: value}) are not the deployment's; None if they are."""
    if DEPLOYMENT_TAG not in tags:
        return "it has no tag %s, so mirrorlab did not create it" % DEPLOYMENT_TAG
    if tags[DEPLOYMENT_TAG] != deployment:
        return "it is tagged %s=%s, another deployment" % (DEPLOYMENT_TAG, tags[DEPLOYMENT_TAG])
    return None


def foreign_stacks(stacks, deployment):
    """[{kind, name, reason}] for the existing stacks ({name: state of stacks.describe_stack})
    that are not the deployment's."""
    foreign = []
    for name, state in stacks.items():
        if state["status"] == "ABSENT":
            continue
        problem = tag_problem(state.get("tags") or {}, deployment)
        if problem:
            foreign.append({"kind": "stack", "name": name,
                            "reason": "%s (status %s)" % (problem, state["status"])})
    return foreign


def _bucket_tags(s3, bucket):
    try:
        return dict((t["Key"], t["Value"]) for t in s3.get_bucket_tagging(Bucket=bucket).get("TagSet", []))
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code == "NoSuchTagSet":
            return {}
        if code in ("NoSuchBucket", "404"):
            return None
        raise


def _stack_buckets(cfn, stack_id):
    resources = cfn.get_paginator("list_stack_resources").paginate(StackName=stack_id).build_full_result()
    return set(r.get("PhysicalResourceId") for r in resources.get("StackResourceSummaries", [])
               if r.get("ResourceType") == "AWS::S3::Bucket")


def foreign_buckets(cfn, s3, stacks, deployment, output="BucketName"):
    """[{kind, name, reason}] for the buckets that the deployment's stacks name in their
    ``output`` output and that are neither the stack's own resource nor tagged for the deployment.
    Stacks that are not the deployment's are left out (foreign_stacks reports them)."""
    foreign = []
    for name, state in stacks.items():
        bucket = (state.get("outputs") or {}).get(output)
        if not bucket or state["status"] == "ABSENT" or tag_problem(state.get("tags") or {}, deployment):
            continue
        if bucket in _stack_buckets(cfn, state["stack_id"] or name):
            continue
        tags = _bucket_tags(s3, bucket)
        if tags is None:
            continue  # no such bucket any more: nothing to refuse, nothing to delete
        problem = tag_problem(tags, deployment)
        if problem:
            foreign.append({"kind": "bucket", "name": bucket,
                            "reason": "%s, and it is not a resource of the stack %s that names it" % (problem, name)})
    return foreign


def deployment_buckets(s3, deployment):
    """The names of the buckets tagged mirrorlab:deployment=<deployment> (teardown's leftover
    check): one ListBuckets call, one GetBucketTagging per bucket."""
    names = []
    for bucket in s3.list_buckets().get("Buckets", []):
        tags = _bucket_tags(s3, bucket["Name"])
        if tags and tag_problem(tags, deployment) is None:
            names.append(bucket["Name"])
    return sorted(names)


def refusal(foreign, deployment):
    """The message that stops site.yml and teardown.yml, or "" when everything is the deployment's."""
    if not foreign:
        return ""
    items = "; ".join("%s %s: %s" % (f["kind"], f["name"], f["reason"]) for f in foreign)
    return ("Refusing to touch what is not deployment %s's (nothing was changed): %s. "
            "mirrorlab updates and deletes only what carries %s=%s. Choose another mirrorlab_deployment, "
            "or remove or rename these yourself if they are really leftovers of this deployment."
            % (deployment, items, DEPLOYMENT_TAG, deployment))
