"""module_utils/stacks.py (behind mirrorlab.vpc.stack_info and stack_wait) against moto
(`mock_aws`): a stack's status, outputs and newest events, ABSENT for a missing or deleted
stack, the lists the playbooks decide on, and the progress report."""

import json

import boto3
import pytest
from moto import mock_aws

from ansible_collections.mirrorlab.vpc.plugins.module_utils import stacks

REGION = "us-east-1"
TEMPLATE = json.dumps({
    "Parameters": {"Deployment": {"Type": "String"}},
    "Resources": {"Handle": {"Type": "AWS::SQS::Queue"}},
    "Outputs": {"Echo": {"Value": {"Ref": "Deployment"}}, "HandleId": {"Value": {"Ref": "Handle"}}},
})


@pytest.fixture
def cfn(monkeypatch):
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        yield boto3.client("cloudformation", region_name=REGION)


def test_present_and_absent_stacks(cfn):
    cfn.create_stack(StackName="ml-a", TemplateBody=TEMPLATE,
                     Parameters=[{"ParameterKey": "Deployment", "ParameterValue": "ml"}],
                     Tags=[{"Key": "mirrorlab:deployment", "Value": "ml"}])
    result = stacks.describe_stacks(cfn, ["ml-a", "ml-missing", "ml-a"], events=2)
    assert list(result["stacks"]) == ["ml-a", "ml-missing"]
    a = result["stacks"]["ml-a"]
    assert a["status"] == "CREATE_COMPLETE" and a["stack_id"].startswith("arn:aws:cloudformation:")
    assert a["outputs"]["Echo"] == "ml" and set(a["outputs"]) == {"Echo", "HandleId"}
    assert a["parameters"] == {"Deployment": "ml"} and a["tags"] == {"mirrorlab:deployment": "ml"}
    assert len(a["events"]) == 2
    assert set(a["events"][0]) == {"timestamp", "logical_resource_id", "resource_type", "resource_status",
                                   "resource_status_reason"}
    # newest first: the stack's own CREATE_COMPLETE is the last event of a creation
    assert (a["events"][0]["logical_resource_id"], a["events"][0]["resource_status"]) == ("ml-a", "CREATE_COMPLETE")
    missing = result["stacks"]["ml-missing"]
    assert missing == {"name": "ml-missing", "status": "ABSENT", "stack_id": None, "status_reason": "",
                       "outputs": {}, "parameters": {}, "tags": {}, "events": []}
    assert result["status"] == {"ml-a": "CREATE_COMPLETE", "ml-missing": "ABSENT"}
    assert result["outputs"] == {"ml-a": a["outputs"], "ml-missing": {}}
    assert result["present"] == ["ml-a"]
    assert result["in_progress"] == result["settling"] == result["unrecoverable"] == []
    assert result["summary"] == "ml-a CREATE_COMPLETE, ml-missing ABSENT"


def test_no_events_unless_asked_and_a_deleted_stack_is_absent(cfn):
    cfn.create_stack(StackName="ml-b", TemplateBody=TEMPLATE,
                     Parameters=[{"ParameterKey": "Deployment", "ParameterValue": "ml"}])
    assert stacks.describe_stack(cfn, "ml-b")["events"] == []
    cfn.delete_stack(StackName="ml-b")
    assert stacks.describe_stack(cfn, "ml-b", events=3)["status"] == "ABSENT"


@pytest.mark.parametrize(
    "status, busy, settle, dead",
    [
        ("CREATE_IN_PROGRESS", True, False, False),
        ("DELETE_IN_PROGRESS", True, False, False),
        ("UPDATE_IN_PROGRESS", True, True, False),
        ("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", True, True, False),
        ("UPDATE_ROLLBACK_IN_PROGRESS", True, True, False),
        ("ROLLBACK_IN_PROGRESS", True, True, False),
        ("REVIEW_IN_PROGRESS", True, False, False),
        ("CREATE_COMPLETE", False, False, False),
        ("UPDATE_ROLLBACK_COMPLETE", False, False, False),
        ("ROLLBACK_COMPLETE", False, False, True),
        ("ROLLBACK_FAILED", False, False, True),
        ("CREATE_FAILED", False, False, True),
        ("DELETE_FAILED", False, False, True),
        ("ABSENT", False, False, False),
    ],
)
def test_classification(status, busy, settle, dead):
    result = stacks.summarize({"s": {"status": status, "outputs": {}}})
    assert (result["in_progress"] == ["s"]) is busy
    assert (result["settling"] == ["s"]) is settle
    assert (result["unrecoverable"] == ["s"]) is dead
    assert (result["present"] == ["s"]) is (status != "ABSENT")


def test_progress_lines():
    reading = {
        "a": {"status": "CREATE_IN_PROGRESS", "events": [
            {"timestamp": "2026-01-01T00:00:02+00:00", "logical_resource_id": "Bucket", "resource_type": "AWS::S3::Bucket",
             "resource_status": "CREATE_FAILED", "resource_status_reason": "already exists"},
            {"timestamp": "2026-01-01T00:00:01+00:00", "logical_resource_id": "a", "resource_type": "AWS::CloudFormation::Stack",
             "resource_status": "CREATE_IN_PROGRESS", "resource_status_reason": ""},
        ]},
        "b": {"status": "ABSENT", "events": []},
    }
    assert stacks.progress_lines(reading, 30) == [
        "a: CREATE_IN_PROGRESS, 30 s",
        "  2026-01-01T00:00:02+00:00 Bucket (AWS::S3::Bucket) CREATE_FAILED: already exists",
        "  2026-01-01T00:00:01+00:00 a (AWS::CloudFormation::Stack) CREATE_IN_PROGRESS",
        "b: no stack (yet/any more), 30 s",
    ]


def test_jobs():
    assert stacks.job_stack_name({"item": "ml-mirroring"}) == "ml-mirroring"
    assert stacks.job_stack_name({"item": {"name": "ml-a", "template_body": "..."}}) == "ml-a"
    assert stacks.job_stack_name({}) is None
    assert stacks.job_outcome("ml-a", {"finished": 1, "changed": True}) == {
        "name": "ml-a", "changed": True, "failed": False, "msg": ""}
    assert stacks.job_outcome("ml-a", {"failed": True, "msg": "Stack CREATE_FAILED", "output": "Bucket exists"}) == {
        "name": "ml-a", "changed": False, "failed": True, "msg": "Stack CREATE_FAILED; Bucket exists"}
