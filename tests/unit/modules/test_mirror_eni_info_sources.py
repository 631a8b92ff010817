"""mirror_eni_info's `sources` and `sample_service_load_balancer` options as a module
(argument spec, check mode, failures), in-process against moto (`mock_aws`)."""

from conftest import module_main

from ansible_collections.mirrorlab.vpc.plugins.modules import mirror_eni_info


from mirror_world import aws_credentials, aws_ids, world  # noqa: F401 (pytest fixtures)


def run_module(capsys, **args):
    code, result = module_main(mirror_eni_info.main, args, capsys)
    result["rc"] = code
    return result


def test_experiment_sources_in_check_mode(world, capsys):
    arn, enis = world.load_balancer("sample")
    eni = world.eni("plain")
    args = dict(sources=[{"type": "sample_service"}, {"type": "network_interface", "id": eni}],
                sample_service_load_balancer=arn, region="us-east-1")
    normal = run_module(capsys, **args)
    checked = run_module(capsys, **args, _ansible_check_mode=True)
    assert normal["rc"] == checked["rc"] == 0 and checked["changed"] is False
    assert checked["network_interfaces"] == normal["network_interfaces"]
    assert sorted(e["id"] for e in checked["network_interfaces"]) == sorted(enis + [eni])
    assert {e["source"] for e in checked["network_interfaces"]} == {
        f"sources[0] sample_service '{arn}'", f"sources[1] network_interface '{eni}'"}


def test_sources_failure_names_the_model_variable(world, capsys):
    result = run_module(capsys, sources=[{"type": "instance", "id": "i-0123456789abcdef0", "tags": {"a": "b"}}])
    assert result["rc"] == 1 and result["failed"] is True
    assert result["msg"] == "mirrorlab_sources[0]: an instance source takes only one of id, tags"


def test_sources_must_be_mappings(world, capsys):
    result = run_module(capsys, sources=["sample_service"])
    assert result["failed"] is True and "sources" in result["msg"]


def test_no_input_names_sources_too(world, capsys):
    result = run_module(capsys, sample_service_load_balancer="sample")
    assert result["failed"] is True and result["msg"].endswith("stacks, sources (all are empty)")
