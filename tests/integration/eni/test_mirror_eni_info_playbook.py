"""mirror_eni_info from a playbook against a moto server (AWS_URL), like the AWS playbooks use
it: module_defaults group/mirrorlab.vpc.aws, region and endpoint from the environment.

The moto server runs in the pytest process (tests/conftest.py `moto_server`), so the
resources are made with the same helpers as the unit tests (tests/unit/support/mirror_world.py:
moto creates no ENIs for load balancers and launches no ECS service tasks; the helpers do
what AWS would, and say so)."""

import importlib.util
import json
import sys

import boto3
import pytest
import requests

from conftest import ROOT, ansible_env, run

pytestmark = pytest.mark.moto

PLAYBOOK = ROOT / "tests" / "integration" / "eni" / "resolve.yml"


def _world_class():
    spec = importlib.util.spec_from_file_location("mirror_world_server", ROOT / "tests" / "unit" / "support" / "mirror_world.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def world(moto_server, aws_env, monkeypatch):
    helpers = _world_class()
    monkeypatch.setitem(helpers.moto_ec2_utils.EC2_RESOURCE_TO_PREFIX, "traffic-mirror-target", "tmt")
    requests.post(moto_server + "/moto-api/reset", timeout=30)
    # boto3 clients of the helpers go to the server: AWS_ENDPOINT_URL is set by aws_env.
    yield helpers.World()
    requests.post(moto_server + "/moto-api/reset", timeout=30)


def play(tmp_path, params, check=False):
    out = tmp_path / "result.json"
    extra = {"eni_params": params, "eni_result_file": str(out), "ansible_python_interpreter": sys.executable}
    cmd = ["ansible-playbook", "-i", "localhost,", str(PLAYBOOK), "-e", json.dumps(extra)]
    if check:
        cmd.append("--check")
    proc = run(cmd, env=ansible_env(), check=False)
    result = json.loads(out.read_text()) if out.exists() else None
    return proc, result


def test_every_input_kind_from_a_playbook(world, tmp_path):
    alb_arn, alb_enis = world.load_balancer("sample-alb")
    instance_id, instance_enis = world.instance("t3.small", tags={"mirrorlab:deployment": "ml"})
    _, task_enis = world.ecs_service("mirrorlab", "nginx", tasks=2)
    target_instance, target_enis = world.instance("t3.small")
    tmt = world.mirror_target(target_enis[0])
    world.stack("ml-sample-service", {"LoadBalancerArn": alb_arn})
    params = {
        "stacks": [{"name": "ml-sample-service", "output": "LoadBalancerArn"}],
        "instances": [{"tags": {"mirrorlab:deployment": "ml"}}],
        "ecs_services": [{"cluster": "mirrorlab", "service": "nginx"}],
        "network_interfaces": target_enis,
        "target": tmt,
    }
    proc, result = play(tmp_path, params)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-3000:]
    assert result["changed"] is False
    entries = {e["id"]: e for e in result["network_interfaces"]}
    assert sorted(entries) == sorted(alb_enis + instance_enis + task_enis + target_enis)
    for eni in alb_enis + instance_enis + task_enis:
        assert entries[eni]["mirror_source"] is True, entries[eni]
    assert entries[target_enis[0]]["mirror_source"] is False
    assert "mirror target" in entries[target_enis[0]]["reason"]
    assert entries[alb_enis[0]]["source"].startswith("stacks[0] 'ml-sample-service' output 'LoadBalancerArn'")
    assert entries[instance_enis[0]]["instance_type"] == "t3.small"

    check_proc, checked = play(tmp_path, params, check=True)
    assert check_proc.returncode == 0, check_proc.stdout[-5000:]
    assert checked["network_interfaces"] == result["network_interfaces"]


def test_a_missing_source_fails_the_play_naming_it(world, tmp_path):
    proc, result = play(tmp_path, {"load_balancers": ["no-such-alb"]})
    assert proc.returncode != 0 and result is None
    assert "load_balancers[0] 'no-such-alb' resolved to no ENI: no such load balancer" in proc.stdout


def test_the_endpoint_really_is_the_moto_server(world, tmp_path, monkeypatch):
    """The same ENI id is unknown to a second, empty moto account: the module asked the server."""
    eni = world.eni("plain")
    proc, result = play(tmp_path, {"network_interfaces": [eni]})
    assert proc.returncode == 0 and result["network_interfaces"][0]["id"] == eni
    boto3.client("ec2").delete_network_interface(NetworkInterfaceId=eni)
    proc, _ = play(tmp_path, {"network_interfaces": [eni]})
    assert proc.returncode != 0 and "no such ENI" in proc.stdout
