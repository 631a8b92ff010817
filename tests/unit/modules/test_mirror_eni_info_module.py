"""mirror_eni_info as a module (AnsibleAWSModule, argument spec, check mode, failures),
run in-process against moto (`mock_aws`)."""

import json

from conftest import module_main, run

from ansible_collections.mirrorlab.vpc.plugins.modules import mirror_eni_info


from mirror_world import aws_credentials, aws_ids, world  # noqa: F401 (pytest fixtures)


def run_module(capsys, **args):
    code, result = module_main(mirror_eni_info.main, args, capsys)
    result["rc"] = code
    return result


def test_resolves_and_changes_nothing(world, capsys):
    _, enis = world.load_balancer("web")
    instance_id, instance_enis = world.instance("m6i.large")
    result = run_module(capsys, load_balancers=["web"], instances=[instance_id], region="us-east-1")
    assert result["rc"] == 0 and result["changed"] is False
    entries = {e["id"]: e for e in result["network_interfaces"]}
    assert sorted(entries) == sorted(enis + instance_enis)
    assert all(entries[e]["mirror_source"] for e in enis)
    assert entries[instance_enis[0]]["mirror_source"] is False
    assert "m6i" in entries[instance_enis[0]]["reason"]


def test_check_mode_gives_the_same_answer(world, capsys):
    _, enis = world.load_balancer("web")
    normal = run_module(capsys, load_balancers=["web"])
    checked = run_module(capsys, load_balancers=["web"], _ansible_check_mode=True)
    assert checked["rc"] == 0 and checked["changed"] is False
    assert checked["network_interfaces"] == normal["network_interfaces"]
    assert sorted(e["id"] for e in checked["network_interfaces"]) == sorted(enis)


def test_failure_names_the_input(world, capsys):
    result = run_module(capsys, load_balancers=["missing"])
    assert result["rc"] == 1 and result["failed"] is True
    assert result["msg"] == (
        "load_balancers[0] 'missing' resolved to no ENI: no such load balancer (set allow_empty=true to accept this)"
    )


def test_allow_empty_returns_a_warning(world, capsys):
    result = run_module(capsys, ecs_services=[{"cluster": "lab", "service": "gone"}], allow_empty=True)
    assert result["rc"] == 0 and result["network_interfaces"] == []
    # ansible-core 2.19 sends warnings as WarningSummary events; older cores as strings.
    warnings = [w["event"]["msg"] if isinstance(w, dict) else w for w in result["warnings"]]
    assert warnings == ["ecs_services[0] lab/gone resolved to no ENI: no such cluster"]


def test_no_input_fails(world, capsys):
    result = run_module(capsys, target="eni-0123456789abcdef0")
    assert result["failed"] is True
    assert result["msg"].startswith("give at least one of load_balancers, instances")


def test_argument_spec_is_enforced(world, capsys):
    result = run_module(capsys, ecs_services=[{"cluster": "lab"}])
    assert result["failed"] is True and "service" in result["msg"]
    result = run_module(capsys, instances=["i-0123456789abcdef0"], instance_interfaces="secondary")
    assert result["failed"] is True and "instance_interfaces" in result["msg"]


def test_aws_errors_are_reported_with_the_aws_error(world, capsys, monkeypatch):
    """An AWS failure other than 'not found' goes through fail_json_aws."""
    import botocore.exceptions

    from ansible_collections.mirrorlab.vpc.plugins.module_utils import mirror_eni

    def broken(*args, **kwargs):
        raise botocore.exceptions.ClientError(
            {"Error": {"Code": "AuthFailure", "Message": "bad credentials"}}, "DescribeNetworkInterfaces"
        )

    monkeypatch.setattr(mirror_eni.EniResolver, "describe_enis", broken)
    result = run_module(capsys, network_interfaces=["eni-0123456789abcdef0"])
    assert result["failed"] is True
    assert result["msg"].startswith("Failed to resolve the traffic mirroring sources")
    assert result["error"]["code"] == "AuthFailure"


# ---- documentation ---------------------------------------------------------------------


def test_ansible_doc_renders_with_the_amazon_aws_fragments():
    proc = run(["ansible-doc", "mirrorlab.vpc.mirror_eni_info"])
    for words in ("load_balancers", "allow_empty", "mirror_source", "endpoint_url", "profile", "region"):
        assert words in proc.stdout, words
    proc = run(["ansible-doc", "--json", "mirrorlab.vpc.mirror_eni_info"])
    doc = json.loads(proc.stdout)["mirrorlab.vpc.mirror_eni_info"]
    assert set(doc["return"]["network_interfaces"]["contains"]) == {
        "id", "private_ip", "subnet_id", "availability_zone", "vpc_id", "interface_type", "requester_managed",
        "description", "instance_id", "instance_type", "source", "mirror_source", "reason", "warning",
    }
    # Every documented option is in the argument spec and the other way round (the fragments
    # add the amazon.aws connection options).
    spec = mirror_eni_info.argument_spec()
    assert set(spec) <= set(doc["doc"]["options"])


def test_examples_are_a_valid_play(tmp_path):
    import yaml

    tasks = yaml.safe_load(mirror_eni_info.EXAMPLES)
    playbook = tmp_path / "examples.yml"
    playbook.write_text(yaml.safe_dump([{"name": "Examples", "hosts": "localhost", "gather_facts": False, "tasks": tasks}]))
    run(["ansible-playbook", "--syntax-check", "-i", "localhost,", str(playbook)])
    assert any("group/mirrorlab.vpc.aws" in (t.get("module_defaults") or {}) for t in tasks)
