"""The rig's parts that need no lab: the emulated Session Manager session API (tests/moto_ext,
in the tests' own moto server), what the stand-in session-manager-plugin refuses, and that
none of it ships in the collection."""

import json
import os
import subprocess
import tarfile

import boto3
import pytest
from botocore.exceptions import ClientError

from conftest import ROOT, free_port, run
from rig import BIN, REGION, start_moto

AGENT_POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*", "Action": [
    "ssm:UpdateInstanceInformation", "ssmmessages:*"]}]}


@pytest.fixture(scope="module")
def url():
    port = free_port()
    proc = start_moto(port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture(scope="module")
def aws(url):
    def client(service):
        return boto3.client(service, region_name=REGION, endpoint_url=url, aws_access_key_id="testing",
                            aws_secret_access_key="testing")

    ec2, iam = client("ec2"), client("iam")
    image = ec2.describe_images()["Images"][0]["ImageId"]

    def instance(policy=AGENT_POLICY, profile=True, name="p"):
        kwargs = {}
        if profile:
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}))
            if policy:
                iam.put_role_policy(RoleName=name, PolicyName="agent", PolicyDocument=json.dumps(policy))
            iam.create_instance_profile(InstanceProfileName=name)
            iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
            kwargs["IamInstanceProfile"] = {"Name": name}
        return ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, **kwargs)["Instances"][0]["InstanceId"]

    return client, instance


def error(call, **kwargs):
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    return info.value.response["Error"]


@pytest.mark.moto
def test_session_lifecycle_as_the_ssm_api_describes_it(aws):
    client, instance = aws
    ssm, target = client("ssm"), instance(name="life")
    started = ssm.start_session(Target=target)
    assert started["SessionId"].startswith("moto-")
    assert started["StreamUrl"].startswith(f"wss://ssmmessages.{REGION}.amazonaws.com/v1/data-channel/{started['SessionId']}?")
    assert len(started["TokenValue"]) > 100
    (active,) = ssm.describe_sessions(State="Active", Filters=[{"key": "SessionId", "value": started["SessionId"]}])["Sessions"]
    assert (active["Target"], active["Status"], active["DocumentName"]) == (target, "Connected", "SSM-SessionManagerRunShell")
    assert ssm.describe_sessions(State="Active", Filters=[{"key": "Target", "value": "i-0000"}])["Sessions"] == []
    resumed = ssm.resume_session(SessionId=started["SessionId"])
    assert resumed["SessionId"] == started["SessionId"] and resumed["TokenValue"] != started["TokenValue"]

    assert ssm.terminate_session(SessionId=started["SessionId"])["SessionId"] == started["SessionId"]
    assert ssm.terminate_session(SessionId=started["SessionId"])["SessionId"] == started["SessionId"]  # again: fine
    assert not [s for s in ssm.describe_sessions(State="Active")["Sessions"] if s["SessionId"] == started["SessionId"]]
    (gone,) = [s for s in ssm.describe_sessions(State="History")["Sessions"] if s["SessionId"] == started["SessionId"]]
    assert gone["Status"] == "Terminated" and gone["EndDate"] >= gone["StartDate"]
    assert error(ssm.resume_session, SessionId=started["SessionId"])["Code"] == "DoesNotExistException"
    assert error(ssm.terminate_session, SessionId="moto-00000000000000000")["Code"] == "DoesNotExistException"
    assert error(ssm.describe_sessions, State="Active", Filters=[{"key": "Colour", "value": "x"}])["Code"] == "InvalidFilterKey"


@pytest.mark.moto
def test_start_session_refuses_a_target_ssm_could_not_manage(aws):
    client, instance = aws
    ssm, ec2 = client("ssm"), client("ec2")
    cases = {
        "no instance": "i-0123456789abcdef0",
        "no instance profile": instance(profile=False),
        "a role without the agent's permissions": instance(policy={"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Resource": "*", "Action": ["s3:GetObject", "ssm:UpdateInstanceInformation"]}]}, name="weak"),
    }
    stopped = instance(name="stopped")
    ec2.stop_instances(InstanceIds=[stopped])
    cases["a stopped instance"] = stopped
    for why, target in cases.items():
        err = error(ssm.start_session, Target=target)
        assert err["Code"] == "TargetNotConnected" and err["Message"].startswith(f"{target} is not connected."), (why, err)
    assert "ssmmessages:CreateControlChannel" in error(ssm.start_session, Target=cases["a role without the agent's permissions"])["Message"]


def standin(*args, env=None):
    return subprocess.run([str(BIN / "session-manager-plugin"), *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                               "MIRRORLAB_SSM_RIG": "/nonexistent", **(env or {})})


@pytest.mark.moto
def test_the_stand_in_plugin_serves_only_sessions_the_service_knows(aws, url):
    client, instance = aws
    ssm, target = client("ssm"), instance(name="standin")
    assert "installed successfully" in standin().stdout
    started = {k: v for k, v in ssm.start_session(Target=target).items() if k != "ResponseMetadata"}
    other = instance(name="other")
    for response, params in [
        ({**started, "SessionId": "moto-00000000000000000"}, {"Target": target}),  # unknown session
        (started, {"Target": other}),  # someone else's session
    ]:
        proc = standin(json.dumps(response), REGION, "StartSession", "", json.dumps(params), url)
        assert proc.returncode == 1 and "Cannot perform start session" in proc.stdout, proc
        assert "Starting session" not in proc.stdout
    ssm.terminate_session(SessionId=started["SessionId"])
    ended = standin(json.dumps(started), REGION, "StartSession", "", json.dumps({"Target": target}), url)
    assert ended.returncode == 1 and "is not an active session" in ended.stdout
    bad = standin("{}", REGION, "StartSession", "", "{}", url)
    assert bad.returncode == 1 and "bad arguments" in bad.stdout


def test_the_rig_is_not_in_the_collection_tarball(tmp_path):
    run(["ansible-galaxy", "collection", "build", "--output-path", str(tmp_path), str(ROOT)])
    (tarball,) = tmp_path.glob("mirrorlab-vpc-*.tar.gz")
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
    assert not [n for n in names if n.startswith(("tests/ssm", "tests/moto_ext"))]
    assert "roles/capture/tasks/main.yml" in names
