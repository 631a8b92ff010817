"""The expiry section of target-instance.yml.j2 (mirrorlab_expire_after): cfn-lint clean with
expiry on and off, and a role that can delete this deployment's mirroring stack and its
tagged traffic mirror resources, nothing else (policy document assertions; real IAM is not
reachable here, see docs/cost.md)."""

import json
import subprocess
import sys
from pathlib import Path

import jinja2
import pytest
from cfnlint.decode import cfn_yaml

from conftest import ROOT

TEMPLATE = ROOT / "roles" / "stacks" / "templates" / "target-instance.yml.j2"
CFN_LINT = Path(sys.executable).parent / "cfn-lint"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    path = tmp_path_factory.mktemp("expiry") / "target-instance-1.yml"
    path.write_text(jinja2.Template(TEMPLATE.read_text(), trim_blocks=True).render(target_instance_count=1))
    return path


@pytest.mark.parametrize("expire_at", ["2030-01-31T12:00:00", ""])
def test_lint_clean_with_expiry_on_and_off(rendered, expire_at):
    proc = subprocess.run([str(CFN_LINT), "--format", "json", "--parameters", f"ExpireAt={expire_at}", "--",
                           str(rendered)], capture_output=True, text=True, timeout=600)
    assert proc.stdout.strip().startswith("["), proc.stdout + proc.stderr
    assert json.loads(proc.stdout) == []


def test_the_expiry_resources_exist_only_with_an_expiry_time(rendered):
    template = cfn_yaml.load(str(rendered))
    assert template["Conditions"]["Expires"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "ExpireAt"}, ""]}]}
    assert template["Parameters"]["ExpireAt"]["Default"] == ""
    expiry = {name: r for name, r in template["Resources"].items() if r.get("Condition") == "Expires"}
    assert sorted(expiry) == ["ExpireMirroring", "ExpiryRole"]
    assert {template["Outputs"][o]["Condition"] for o in ("ExpiresAt", "ExpirySchedule")} == {"Expires"}


def test_the_schedule_deletes_the_mirroring_stack_once_at_the_time(rendered):
    schedule = cfn_yaml.load(str(rendered))["Resources"]["ExpireMirroring"]["Properties"]
    assert schedule["ScheduleExpression"] == {"Fn::Sub": "at(${ExpireAt})"}
    assert schedule["ScheduleExpressionTimezone"] == "UTC"
    target = schedule["Target"]
    assert target["Arn"] == "arn:aws:scheduler:::aws-sdk:cloudformation:deleteStack"
    assert json.loads(target["Input"]["Fn::Sub"].replace("${Deployment}", "demo")) == {"StackName": "demo-mirroring"}
    assert target["RoleArn"] == {"Fn::GetAtt": ["ExpiryRole", "Arn"]}


def test_the_role_is_least_privilege(rendered):
    role = cfn_yaml.load(str(rendered))["Resources"]["ExpiryRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"} and trust["Action"] == "sts:AssumeRole"
    # only the deployment's own schedule, from this account, may assume it
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert trust["Condition"]["ArnEquals"]["aws:SourceArn"]["Fn::Sub"].endswith(":schedule/default/${Deployment}-expire-mirroring")
    assert "ManagedPolicyArns" not in role
    (policy,) = role["Policies"]
    statements = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}
    assert all(s["Effect"] == "Allow" for s in statements.values())
    actions = [a for s in statements.values() for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])]
    assert not [a for a in actions if "*" in a]
    # CloudFormation: DeleteStack of <deployment>-mirroring only (not the other two stacks, not any stack)
    stack = statements["DeleteTheMirroringStack"]
    assert stack["Action"] == "cloudformation:DeleteStack"
    assert stack["Resource"]["Fn::Sub"].endswith(":stack/${Deployment}-mirroring/*")
    assert [a for a in actions if a.startswith("cloudformation:")] == ["cloudformation:DeleteStack"]
    # EC2 deletes: traffic mirror resources only, and only those tagged with this deployment;
    # filter rules carry no tags, so their own ARN is allowed (the filter itself must be tagged).
    tagged = statements["DeleteTheDeploymentsMirrorResources"]
    assert tagged["Condition"] == {"StringEquals": {"aws:ResourceTag/mirrorlab:deployment": {"Ref": "Deployment"}}}
    assert all(":traffic-mirror-" in r["Fn::Sub"] for r in tagged["Resource"])
    assert statements["FilterRulesCarryNoTags"]["Action"] == "ec2:DeleteTrafficMirrorFilterRule"
    assert statements["FilterRulesCarryNoTags"]["Resource"]["Fn::Sub"].endswith(":traffic-mirror-filter-rule/*")
    deletes = [a for a in actions if a.startswith("ec2:Delete")]
    assert set(deletes) == {"ec2:DeleteTrafficMirrorSession", "ec2:DeleteTrafficMirrorTarget",
                            "ec2:DeleteTrafficMirrorFilter", "ec2:DeleteTrafficMirrorFilterRule"}
    # the only "*" resource is for reading (Describe calls take no resource ARN)
    for statement in statements.values():
        if statement["Resource"] == "*":
            assert all(a.startswith("ec2:Describe") for a in statement["Action"])
