"""mirrorlab.vpc.stack_info as a module (argument spec, check mode, failures), in-process
against moto (`mock_aws`)."""

import json

import boto3
import pytest
from moto import mock_aws

from conftest import module_main

from ansible_collections.mirrorlab.vpc.plugins.modules import stack_info

TEMPLATE = json.dumps({"Resources": {"Handle": {"Type": "AWS::SQS::Queue"}},
                       "Outputs": {"HandleId": {"Value": {"Ref": "Handle"}}}})


@pytest.fixture
def cfn(monkeypatch):
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        yield boto3.client("cloudformation", region_name="us-east-1")


def run_module(capsys, **args):
    code, result = module_main(stack_info.main, args, capsys)
    result["rc"] = code
    return result


def test_reads_and_changes_nothing_in_check_mode_too(cfn, capsys):
    cfn.create_stack(StackName="ml-a", TemplateBody=TEMPLATE)
    normal = run_module(capsys, names=["ml-a", "ml-b"], events=1, region="us-east-1")
    checked = run_module(capsys, names=["ml-a", "ml-b"], events=1, region="us-east-1", _ansible_check_mode=True)
    assert normal["rc"] == checked["rc"] == 0 and checked["changed"] is False
    for key in ("stacks", "status", "outputs", "present", "summary"):
        assert checked[key] == normal[key]
    assert checked["status"] == {"ml-a": "CREATE_COMPLETE", "ml-b": "ABSENT"}
    assert list(checked["outputs"]["ml-a"]) == ["HandleId"] and checked["present"] == ["ml-a"]
    assert len(checked["stacks"]["ml-a"]["events"]) == 1


def test_argument_spec(cfn, capsys):
    assert "names" in run_module(capsys)["msg"]
    result = run_module(capsys, names=["ml-a"], events=-1)
    assert result["failed"] is True and result["msg"] == "events must be 0 or more, got -1"


def test_aws_errors_go_through_fail_json_aws(cfn, capsys, monkeypatch):
    import botocore.exceptions

    def denied(*args, **kwargs):
        raise botocore.exceptions.ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "DescribeStacks")

    monkeypatch.setattr(stack_info, "describe_stacks", denied)
    result = run_module(capsys, names=["ml-a"])
    assert result["failed"] is True
    assert result["msg"].startswith("Failed to read the CloudFormation stacks")
    assert result["error"]["code"] == "AccessDenied"
