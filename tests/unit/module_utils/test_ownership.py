"""module_utils/ownership.py: which stacks and buckets are the deployment's (moto, in-process)."""

import json

import boto3
import pytest
from moto import mock_aws

from conftest import module_main

from ansible_collections.mirrorlab.vpc.plugins.module_utils.ownership import (
    deployment_buckets,
    foreign_buckets,
    foreign_stacks,
    refusal,
    tag_problem,
)
from ansible_collections.mirrorlab.vpc.plugins.module_utils.stacks import describe_stacks
from ansible_collections.mirrorlab.vpc.plugins.modules import stack_info

TAG = "mirrorlab:deployment"
OWN_BUCKET = json.dumps({"Resources": {"B": {"Type": "AWS::S3::Bucket"}},
                         "Outputs": {"BucketName": {"Value": {"Ref": "B"}}}})


def names_template(bucket):
    return json.dumps({"Resources": {"H": {"Type": "AWS::SQS::Queue"}},
                       "Outputs": {"BucketName": {"Value": bucket}}})


@pytest.fixture
def aws(monkeypatch):
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        yield boto3.client("cloudformation", region_name="us-east-1"), boto3.client("s3", region_name="us-east-1")


def tags(**kw):
    return [{"Key": k.replace("_", ":"), "Value": v} for k, v in kw.items()]


def test_tag_problem_says_why():
    assert tag_problem({TAG: "ml"}, "ml") is None
    assert tag_problem({}, "ml") == "it has no tag mirrorlab:deployment, so mirrorlab did not create it"
    assert tag_problem({TAG: "other"}, "ml") == "it is tagged mirrorlab:deployment=other, another deployment"


def test_foreign_stacks_in_any_state_including_rollback_complete():
    stacks = {
        "ml-a": {"status": "ROLLBACK_COMPLETE", "tags": {}},
        "ml-b": {"status": "CREATE_COMPLETE", "tags": {TAG: "ml"}},
        "ml-c": {"status": "ABSENT", "tags": {}},
        "ml-d": {"status": "UPDATE_IN_PROGRESS", "tags": {TAG: "ml2"}},
    }
    assert foreign_stacks(stacks, "ml") == [
        {"kind": "stack", "name": "ml-a",
         "reason": "it has no tag mirrorlab:deployment, so mirrorlab did not create it (status ROLLBACK_COMPLETE)"},
        {"kind": "stack", "name": "ml-d",
         "reason": "it is tagged mirrorlab:deployment=ml2, another deployment (status UPDATE_IN_PROGRESS)"},
    ]


def test_a_bucket_is_the_deployments_when_its_stack_made_it_or_it_is_tagged(aws):
    cfn, s3 = aws
    cfn.create_stack(StackName="ml-own", TemplateBody=OWN_BUCKET, Tags=tags(mirrorlab_deployment="ml"))
    s3.create_bucket(Bucket="someone-elses")
    s3.create_bucket(Bucket="tagged-ours")
    s3.put_bucket_tagging(Bucket="tagged-ours", Tagging={"TagSet": tags(mirrorlab_deployment="ml")})
    cfn.create_stack(StackName="ml-points-away", TemplateBody=names_template("someone-elses"),
                     Tags=tags(mirrorlab_deployment="ml"))
    cfn.create_stack(StackName="ml-tagged", TemplateBody=names_template("tagged-ours"),
                     Tags=tags(mirrorlab_deployment="ml"))
    cfn.create_stack(StackName="ml-gone", TemplateBody=names_template("no-such-bucket"),
                     Tags=tags(mirrorlab_deployment="ml"))
    # A foreign stack's bucket is not looked at (the stack itself is refused).
    cfn.create_stack(StackName="ml-foreign", TemplateBody=names_template("someone-elses"))
    state = describe_stacks(cfn, ["ml-own", "ml-points-away", "ml-tagged", "ml-gone", "ml-foreign"])
    assert foreign_buckets(cfn, s3, state["stacks"], "ml") == [
        {"kind": "bucket", "name": "someone-elses",
         "reason": "it has no tag mirrorlab:deployment, so mirrorlab did not create it, and it is not a resource "
                   "of the stack ml-points-away that names it"},
    ]
    assert [f["name"] for f in foreign_stacks(state["stacks"], "ml")] == ["ml-foreign"]


def test_refusal_names_everything_and_the_way_out():
    assert refusal([], "ml") == ""
    text = refusal([{"kind": "stack", "name": "ml-a", "reason": "it has no tag"}], "ml")
    assert "stack ml-a: it has no tag" in text and "nothing was changed" in text
    assert "mirrorlab_deployment" in text


def test_stack_info_returns_foreign_with_deployment_only(aws, capsys):
    cfn, dummy = aws
    cfn.create_stack(StackName="ml-sample-service", TemplateBody=OWN_BUCKET)
    plain = module_main(stack_info.main, {"names": ["ml-sample-service"], "region": "us-east-1"}, capsys)[1]
    assert plain["foreign"] == [] and plain["refusal"] == ""
    owned = module_main(stack_info.main, {"names": ["ml-sample-service"], "region": "us-east-1",
                                          "deployment": "ml", "_ansible_check_mode": True}, capsys)[1]
    assert owned["changed"] is False
    assert [f["name"] for f in owned["foreign"]] == ["ml-sample-service"]
    assert owned["refusal"].startswith("Refusing to touch what is not deployment ml's")


def test_deployment_buckets_are_the_tagged_ones(aws, capsys):
    cfn, s3 = aws
    for name, tag in (("b-ours", "ml"), ("b-other", "ml2"), ("b-untagged", None)):
        s3.create_bucket(Bucket=name)
        if tag:
            s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": tags(mirrorlab_deployment=tag)})
    assert deployment_buckets(s3, "ml") == ["b-ours"]
    result = module_main(stack_info.main, {"names": ["ml-x"], "region": "us-east-1", "deployment": "ml",
                                           "buckets": True}, capsys)[1]
    assert result["buckets"] == ["b-ours"] and result["foreign"] == []
