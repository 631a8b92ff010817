"""EniResolver with the experiment model's sources (mirror_eni_info's `sources` option) against
moto: each source type resolves through the same dispatch as its per-kind option, checked by the
model's own rules, with labels that name the source."""

import pytest

from ansible_collections.mirrorlab.vpc.plugins.module_utils.mirror_eni import EniResolver
from ansible_collections.mirrorlab.vpc.plugins.module_utils.mirror_eni import ResolveError
from ansible_collections.mirrorlab.vpc.plugins.module_utils.mirror_eni import experiment_source_inputs
from ansible_collections.mirrorlab.vpc.plugins.module_utils.mirror_eni import input_items


from mirror_world import aws_credentials, aws_ids, world  # noqa: F401 (pytest fixtures)


def resolve(world, **params):
    resolver = EniResolver(world.client_factory)
    world.counter.reset()
    return resolver.resolve(params), resolver


def ids_and_sources(results):
    return sorted((r["id"], r["source"]) for r in results)


def test_every_source_type_resolves_like_its_per_kind_option(world):
    arn, alb_enis = world.load_balancer("sample")
    _, web_enis = world.load_balancer("web")
    instance_id, instance_enis = world.instance(tags={"Role": "db"})
    _, task_enis = world.ecs_service("lab", "nginx", tasks=1)
    eni = world.eni("plain")
    sources = [
        {"type": "sample_service"},
        {"type": "load_balancer", "name": "web"},
        {"type": "instance", "tags": {"Role": "db"}},
        {"type": "ecs_service", "cluster": "lab", "service": "nginx"},
        {"type": "network_interface", "id": eni},
    ]
    results, resolver = resolve(world, sources=sources, sample_service_load_balancer=arn)
    assert ids_and_sources(results) == sorted(
        [(e, f"sources[0] sample_service '{arn}'") for e in alb_enis]
        + [(e, "sources[1] load_balancer 'web'") for e in web_enis]
        + [(e, "sources[2] instance {'tags': {'Role': 'db'}}") for e in instance_enis]
        + [(e, "sources[3] ecs_service lab/nginx") for e in task_enis]
        + [(eni, f"sources[4] network_interface '{eni}'")]
    )
    by_sources = {r["id"]: {k: v for k, v in r.items() if k != "source"} for r in results}
    calls_by_sources = list(world.counter.calls)

    per_kind, _ = resolve(
        world, load_balancers=[arn, "web"], instances=[{"tags": {"Role": "db"}}],
        ecs_services=[{"cluster": "lab", "service": "nginx"}], network_interfaces=[eni],
    )
    # The same ENIs with the same eligibility, and the same AWS calls: one dispatch.
    assert {r["id"]: {k: v for k, v in r.items() if k != "source"} for r in per_kind} == by_sources
    assert sorted(world.counter.calls) == sorted(calls_by_sources)
    assert resolver.warnings == []
    assert instance_id  # the db instance's primary ENI was found by its tag


def test_sample_service_by_arn_takes_three_calls(world):
    arn, enis = world.load_balancer("sample")
    results, _ = resolve(world, sources=[{"type": "sample_service"}], sample_service_load_balancer=arn)
    assert sorted(r["id"] for r in results) == sorted(enis)
    assert len(world.counter.calls) == 3, world.counter.calls


def test_sources_and_per_kind_options_together_one_entry_per_eni(world):
    arn, enis = world.load_balancer("sample")
    results, _ = resolve(world, load_balancers=[arn], sources=[{"type": "sample_service"}],
                         sample_service_load_balancer=arn)
    # The per-kind options come first; an ENI reached twice appears once, with the first input.
    assert ids_and_sources(results) == sorted((e, f"load_balancers[0] '{arn}'") for e in enis)


def test_instance_source_by_id_and_the_instance_rule(world):
    instance_id, enis = world.instance("m6i.large")
    (entry,), _ = resolve(world, sources=[{"type": "instance", "id": instance_id}])
    assert entry["id"] == enis[0] and entry["source"] == f"sources[0] instance {{'id': '{instance_id}'}}"
    assert entry["mirror_source"] is False and "m6i" in entry["reason"]


def test_sample_service_needs_the_load_balancer(world):
    with pytest.raises(ResolveError, match=r"sources\[0\] sample_service: give sample_service_load_balancer"):
        resolve(world, sources=[{"type": "sample_service"}])
    assert world.counter.calls == []


@pytest.mark.parametrize(
    "source, message",
    [
        ({"type": "bucket"}, "mirrorlab_sources[0].type: must be one of"),
        ({"type": "instance"}, "mirrorlab_sources[0]: an instance source needs id or tags"),
        ({"type": "load_balancer", "name": "a", "arn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/a/0123"},
         "mirrorlab_sources[0]: a load_balancer source takes only one of name, arn"),
        ({"type": "network_interface", "id": "eni-zz"}, "mirrorlab_sources[0].id: must be an id like eni-"),
        ({"type": "sample_service", "name": "x"}, "mirrorlab_sources[0].name: unknown key for a sample_service source"),
    ],
)
def test_bad_sources_fail_with_the_model_rules_before_any_call(world, source, message):
    with pytest.raises(ResolveError) as info:
        resolve(world, sources=[source], sample_service_load_balancer="sample")
    assert message in str(info.value)
    assert world.counter.calls == []


def test_a_source_listed_twice_is_refused():
    with pytest.raises(ResolveError, match=r"mirrorlab_sources\[1\]: is the same source as mirrorlab_sources\[0\]"):
        experiment_source_inputs([{"type": "network_interface", "id": "eni-0123456789abcdef0"}] * 2)


def test_source_resolving_to_nothing_names_the_source(world):
    with pytest.raises(ResolveError, match=r"sources\[0\] load_balancer 'gone' resolved to no ENI: no such load balancer"):
        resolve(world, sources=[{"type": "load_balancer", "name": "gone"}])


def test_input_items_keep_the_per_kind_labels():
    items = input_items({
        "load_balancers": ["web"], "instances": ["i-0123456789abcdef0"],
        "ecs_services": [{"cluster": "lab", "service": "nginx"}], "network_interfaces": ["eni-0123456789abcdef0"],
        "stacks": [{"name": "svc", "output": "Out"}],
        "sources": [{"type": "sample_service"}], "sample_service_load_balancer": "sample",
    })
    assert [(kind, label) for kind, label, _ in items] == [
        ("load_balancer", "load_balancers[0] 'web'"),
        ("instance", "instances[0] 'i-0123456789abcdef0'"),
        ("ecs_service", "ecs_services[0] lab/nginx"),
        ("network_interface", "network_interfaces[0] 'eni-0123456789abcdef0'"),
        ("stack", "stacks[0] 'svc' output 'Out'"),
        ("load_balancer", "sources[0] sample_service 'sample'"),
    ]
