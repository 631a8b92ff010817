"""EniResolver (module_utils/mirror_eni.py) against moto: every input kind, the eligibility
rules, the failure messages, and the number of API calls (server-side filtering)."""

import boto3
import pytest
from botocore.stub import Stubber

from ansible_collections.mirrorlab.vpc.plugins.module_utils import mirror_eni
from ansible_collections.mirrorlab.vpc.plugins.module_utils.mirror_eni import EniResolver
from ansible_collections.mirrorlab.vpc.plugins.module_utils.mirror_eni import ResolveError
from ansible_collections.mirrorlab.vpc.plugins.module_utils.mirror_eni import classify_output
from ansible_collections.mirrorlab.vpc.plugins.module_utils.mirror_eni import lb_description


from mirror_world import aws_credentials, aws_ids, world  # noqa: F401 (pytest fixtures)

FIELDS = {
    "id", "private_ip", "subnet_id", "availability_zone", "vpc_id", "interface_type", "requester_managed",
    "description", "instance_id", "instance_type", "source", "mirror_source", "reason", "warning",
}


def resolve(world, **params):
    resolver = EniResolver(world.client_factory)
    world.counter.reset()
    return resolver.resolve(params), resolver


def by_id(results):
    return {r["id"]: r for r in results}


# ---- input kinds -----------------------------------------------------------------------


def test_alb_by_name_returns_its_enis_with_every_field(world):
    arn, enis = world.load_balancer("web")
    world.load_balancer("other")
    world.eni("unrelated")
    results, resolver = resolve(world, load_balancers=["web"])
    assert sorted(r["id"] for r in results) == sorted(enis)
    for entry in results:
        assert set(entry) == FIELDS
        assert entry["description"] == lb_description(arn)
        assert entry["vpc_id"] == world.vpc_id
        assert entry["subnet_id"] in world.subnets
        assert entry["availability_zone"] in ("us-east-1a", "us-east-1b")
        assert entry["private_ip"].startswith("10.0.")
        assert entry["requester_managed"] is True
        assert entry["instance_id"] is None and entry["instance_type"] is None
        assert entry["source"] == "load_balancers[0] 'web'"
        # Requester-managed ENI of an ALB: a source, with a warning rather than a refusal.
        assert entry["mirror_source"] is True and entry["reason"] is None
        assert "requester-managed ENI of a load balancer" in entry["warning"]
    assert resolver.warnings == []


def test_alb_by_arn_needs_no_elbv2_call(world):
    arn, enis = world.load_balancer("web")
    results, _ = resolve(world, load_balancers=[arn])
    assert sorted(r["id"] for r in results) == sorted(enis)
    assert not any(c.startswith("elbv2:") for c in world.counter.calls)


def test_nlb_enis_are_not_sources(world):
    arn, enis = world.load_balancer("net1", lb_type="network")
    results, _ = resolve(world, load_balancers=[arn])
    assert sorted(r["id"] for r in results) == sorted(enis)
    for entry in results:
        # AWS would say "ELB net/net1/..."; moto's elbv2 gives every load balancer an app/ ARN.
        assert entry["description"] == lb_description(arn)
        assert entry["mirror_source"] is False
        assert "interface type 'network_load_balancer'" in entry["reason"]


def test_instance_by_id_primary_only_unless_all(world):
    instance_id, enis = world.instance("t3.small", extra_enis=1)
    results, _ = resolve(world, instances=[instance_id])
    assert [r["id"] for r in results] == [enis[0]]
    assert results[0]["instance_id"] == instance_id and results[0]["instance_type"] == "t3.small"
    assert results[0]["mirror_source"] is True and results[0]["warning"] is None
    results, _ = resolve(world, instances=[{"id": instance_id}], instance_interfaces="all")
    assert sorted(r["id"] for r in results) == sorted(enis)


def test_instances_by_tags(world):
    a, enis_a = world.instance(tags={"Role": "web", "Env": "lab"})
    b, enis_b = world.instance(tags={"Role": "web", "Env": "prod"})
    world.instance(tags={"Role": "db", "Env": "lab"})
    results, _ = resolve(world, instances=[{"tags": {"Role": "web"}}])
    assert sorted(r["id"] for r in results) == sorted(enis_a + enis_b)
    results, _ = resolve(world, instances=[{"tags": {"Role": "web", "Env": "lab"}}])
    assert [r["id"] for r in results] == enis_a


def test_ecs_service_running_task_enis(world):
    _, enis = world.ecs_service("lab", "nginx", tasks=2)
    _, other = world.ecs_service("lab", "api", tasks=1)
    results, _ = resolve(world, ecs_services=[{"cluster": "lab", "service": "nginx"}])
    # moto's ListTasks ignores serviceName; the resolver keeps only the service's own tasks.
    assert sorted(r["id"] for r in results) == sorted(enis)
    assert not set(other) & {r["id"] for r in results}
    for entry in results:
        assert entry["source"] == "ecs_services[0] lab/nginx"
        assert entry["mirror_source"] is True
        assert "ECS/Fargate task" in entry["warning"]
    calls = world.counter.calls
    assert calls.count("ecs:ListTasks") == 1 and calls.count("ecs:DescribeTasks") == 1


def test_network_interfaces_by_id(world):
    eni = world.eni("plain")
    results, _ = resolve(world, network_interfaces=[eni])
    assert [r["id"] for r in results] == [eni]
    assert results[0]["mirror_source"] is True and results[0]["reason"] is None


@pytest.mark.parametrize("kind", ["alb", "instance", "enis", "ecs"])
def test_stack_output_kind_is_detected(world, kind):
    if kind == "alb":
        value, expected = world.load_balancer("stackalb")
    elif kind == "instance":
        instance_id, expected = world.instance()
        value = instance_id
    elif kind == "enis":
        expected = [world.eni("one"), world.eni("two")]
        value = ",".join(expected)
    else:
        value, expected = world.ecs_service("lab", "nginx", tasks=2)
    world.stack("svc", {"Out": value})
    results, _ = resolve(world, stacks=[{"name": "svc", "output": "Out"}])
    assert sorted(r["id"] for r in results) == sorted(expected)
    assert all(r["source"].startswith("stacks[0] 'svc' output 'Out'") for r in results)


def test_duplicates_appear_once_with_the_first_input(world):
    eni = world.eni("plain")
    results, _ = resolve(world, network_interfaces=[eni, eni])
    assert [r["source"] for r in results] == [f"network_interfaces[0] '{eni}'"]


# ---- eligibility -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "instance_type, ok",
    [("t3.small", True), ("m5.large", True), ("c4.large", True), ("m6i.large", False),
     ("t2.micro", False), ("c5.metal", False), ("m7i-flex.large", False)],
)
def test_instance_family_rule(world, instance_type, ok):
    instance_id, _ = world.instance(instance_type)
    (entry,), _ = resolve(world, instances=[instance_id])
    assert entry["instance_type"] == instance_type
    assert entry["mirror_source"] is ok
    assert (entry["reason"] is None) is ok


def test_instance_type_is_looked_up_for_enis_given_by_id(world):
    instance_id, enis = world.instance("m6i.large")
    (entry,), _ = resolve(world, network_interfaces=enis)
    assert entry["instance_id"] == instance_id and entry["instance_type"] == "m6i.large"
    assert entry["mirror_source"] is False and "m6i" in entry["reason"]


def test_interface_type_rule(world):
    eni = world.eni("efa", interface_type="efa")
    (entry,), _ = resolve(world, network_interfaces=[eni])
    assert entry["mirror_source"] is False
    assert entry["reason"] == "interface type 'efa': only type 'interface' can be a mirror source"


def test_target_eni_is_never_a_source(world):
    instance_id, enis = world.instance("t3.small", extra_enis=1)
    results, _ = resolve(world, instances=[instance_id], instance_interfaces="all", target=enis[1])
    entries = by_id(results)
    assert entries[enis[0]]["mirror_source"] is True
    assert entries[enis[1]]["mirror_source"] is False
    assert "mirror target given in 'target'" in entries[enis[1]]["reason"]


def test_target_nlb_by_name_and_tmt_id(world):
    nlb_arn, nlb_enis = world.load_balancer("capture", lb_type="network")
    source = world.eni("source")
    results, _ = resolve(world, network_interfaces=[source, nlb_enis[0]], target="capture")
    entries = by_id(results)
    assert entries[source]["mirror_source"] is True
    assert "mirror target given in 'target'" in entries[nlb_enis[0]]["reason"]
    target_eni = world.eni("capture eni")
    tmt = world.mirror_target(target_eni)
    results, _ = resolve(world, network_interfaces=[source, target_eni], target=tmt)
    entries = by_id(results)
    assert entries[source]["mirror_source"] is True
    assert "mirror target given in 'target'" in entries[target_eni]["reason"]
    # ... and an ENI that is some existing traffic mirror target is refused too.
    assert "already a traffic mirror target" in entries[target_eni]["reason"]


@pytest.mark.parametrize("existing, ok", [(2, True), (3, False)])
def test_three_sessions_rule(world, existing, ok):
    source = world.eni("busy source")
    world.sessions(source, existing)
    (entry,), _ = resolve(world, network_interfaces=[source])
    assert entry["mirror_source"] is ok
    if not ok:
        assert "already carries 3 traffic mirror sessions to other targets" in entry["reason"]


@pytest.mark.parametrize("given_as", ["tmt", "eni", "nlb"])
def test_sessions_to_the_given_target_do_not_count(world, given_as):
    """A re-run of the deployment updates its own session; only sessions to other targets
    use up the quota of 3, whichever way the target is given."""
    source = world.eni("source")
    if given_as == "nlb":
        nlb_arn, _ = world.load_balancer("capture", lb_type="network")
        ours = world.ec2.create_traffic_mirror_target(NetworkLoadBalancerArn=nlb_arn)["TrafficMirrorTarget"][
            "TrafficMirrorTargetId"
        ]
        world.sessions(source, 1, target_id=ours)
        target = "capture"
    else:
        target_eni = world.eni("capture eni")
        ours = world.sessions(source, 1, target_eni=target_eni)
        target = ours if given_as == "tmt" else target_eni
    world.sessions(source, 2, first=2)
    (entry,), _ = resolve(world, network_interfaces=[source], target=target)
    assert entry["mirror_source"] is True, entry["reason"]
    other = world.sessions(world.eni("other source"), 1)
    (entry,), _ = resolve(world, network_interfaces=[source], target=other)
    assert entry["mirror_source"] is False
    assert "3 traffic mirror sessions to other targets" in entry["reason"]


def test_unreadable_sessions_are_unknown_with_a_warning(world):
    """An endpoint that cannot answer DescribeTrafficMirrorSessions (no permission, not
    implemented) leaves the 3-session rule unchecked with a warning instead of failing."""
    eni = world.eni("plain")
    ec2 = boto3.client("ec2", region_name="us-east-1")
    real = world.client_factory

    def factory(name):
        return ec2 if name == "ec2" else real(name)

    described = boto3.client("ec2", region_name="us-east-1").describe_network_interfaces(NetworkInterfaceIds=[eni])
    with Stubber(ec2) as stub:
        stub.add_response("describe_network_interfaces", {"NetworkInterfaces": described["NetworkInterfaces"]})
        stub.add_client_error("describe_traffic_mirror_sessions", "UnauthorizedOperation", "not allowed")
        stub.add_response("describe_traffic_mirror_targets", {"TrafficMirrorTargets": []})
        resolver = EniResolver(factory)
        (entry,) = resolver.resolve({"network_interfaces": [eni]})
        stub.assert_no_pending_responses()
    assert entry["mirror_source"] is True
    assert "3-session limit is unchecked" in entry["warning"]
    assert any("UnauthorizedOperation" in w for w in resolver.warnings)


def test_other_errors_of_the_session_lookup_are_raised(world):
    eni = world.eni("plain")
    ec2 = boto3.client("ec2", region_name="us-east-1")
    described = ec2.describe_network_interfaces(NetworkInterfaceIds=[eni])
    with Stubber(ec2) as stub:
        stub.add_response("describe_network_interfaces", {"NetworkInterfaces": described["NetworkInterfaces"]})
        stub.add_client_error("describe_traffic_mirror_sessions", "InvalidParameterValue", "bad filter")
        with pytest.raises(Exception, match="InvalidParameterValue"):
            EniResolver(lambda name: ec2).resolve({"network_interfaces": [eni]})


def test_throttling_is_retried(world, monkeypatch):
    from ansible_collections.amazon.aws.plugins.module_utils import cloud

    sleeps = []
    monkeypatch.setattr(cloud.time, "sleep", sleeps.append)
    eni = world.eni("plain")
    ec2 = boto3.client("ec2", region_name="us-east-1")
    described = ec2.describe_network_interfaces(NetworkInterfaceIds=[eni])
    with Stubber(ec2) as stub:
        stub.add_client_error("describe_network_interfaces", "RequestLimitExceeded", "slow down")
        stub.add_client_error("describe_network_interfaces", "Throttling", "slow down")
        stub.add_response("describe_network_interfaces", {"NetworkInterfaces": described["NetworkInterfaces"]})
        stub.add_response("describe_traffic_mirror_sessions", {"TrafficMirrorSessions": []})
        stub.add_response("describe_traffic_mirror_targets", {"TrafficMirrorTargets": []})
        (entry,) = EniResolver(lambda name: ec2).resolve({"network_interfaces": [eni]})
        stub.assert_no_pending_responses()
    assert entry["id"] == eni
    assert len(sleeps) == 2


# ---- failures --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params, message",
    [
        ({"load_balancers": ["missing"]}, "load_balancers[0] 'missing' resolved to no ENI: no such load balancer"),
        ({"instances": ["i-0123456789abcdef0"]}, "instances[0] 'i-0123456789abcdef0' resolved to no ENI: no such instance, or it is terminated"),
        ({"instances": [{"tags": {"Role": "none"}}]}, "instances[0] {'tags': {'Role': 'none'}} resolved to no ENI"),
        ({"network_interfaces": ["eni-0123456789abcdef0"]}, "network_interfaces[0] 'eni-0123456789abcdef0' resolved to no ENI: no such ENI"),
        ({"network_interfaces": ["nic-1"]}, "network_interfaces[0] 'nic-1': not an ENI id"),
        ({"ecs_services": [{"cluster": "nocluster", "service": "x"}]}, "ecs_services[0] nocluster/x resolved to no ENI: no such cluster"),
        ({"stacks": [{"name": "nostack", "output": "Out"}]}, "stacks[0] 'nostack' output 'Out' resolved to no ENI: stack does not exist"),
        ({"instances": [{"name": "web"}]}, "instances[0] {'name': 'web'}: must be an instance id or a dict"),
        ({"network_interfaces": ["eni-0123456789abcdef0"], "target": "nolb"}, "target 'nolb': no such load balancer"),
        ({"load_balancers": ["arn:aws:ec2:us-east-1:123456789012:instance/i-1"]}, "load_balancers[0] 'arn:aws:ec2:us-east-1:123456789012:instance/i-1': not a load balancer ARN"),
        ({"load_balancers": ["arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/gone/0123456789abcdef"]}, "resolved to no ENI: no ENI has the description 'ELB app/gone/0123456789abcdef'"),
    ],
)
def test_failures_name_the_input(world, params, message):
    with pytest.raises(ResolveError) as info:
        resolve(world, **params)
    assert message in str(info.value)


def test_ecs_service_without_running_task_and_missing_service(world):
    world.ecs_service("lab", "idle", tasks=0)
    with pytest.raises(ResolveError, match=r"ecs_services\[0\] lab/idle resolved to no ENI: service has no running task"):
        resolve(world, ecs_services=[{"cluster": "lab", "service": "idle"}])
    with pytest.raises(ResolveError, match=r"ecs_services\[0\] lab/ghost resolved to no ENI: no such service"):
        resolve(world, ecs_services=[{"cluster": "lab", "service": "ghost"}])


def test_terminated_instance_fails(world):
    instance_id, _ = world.instance()
    world.ec2.terminate_instances(InstanceIds=[instance_id])
    with pytest.raises(ResolveError, match=r"instances\[0\] .* no such instance, or it is terminated"):
        resolve(world, instances=[instance_id])


def test_stack_output_errors(world):
    world.stack("svc", {"Out": "not-a-resource", "Mixed": "i-0123456789abcdef0,eni-0123456789abcdef0"})
    with pytest.raises(ResolveError, match=r"stacks\[0\] 'svc' output 'Nope': the stack has no such output \(outputs: Mixed, Out\)"):
        resolve(world, stacks=[{"name": "svc", "output": "Nope"}])
    with pytest.raises(ResolveError, match=r"stacks\[0\] 'svc' output 'Out': value 'not-a-resource' is not a load balancer ARN"):
        resolve(world, stacks=[{"name": "svc", "output": "Out"}])
    with pytest.raises(ResolveError, match="one kind"):
        resolve(world, stacks=[{"name": "svc", "output": "Mixed"}])


def test_allow_empty_warns_and_keeps_the_rest(world):
    eni = world.eni("plain")
    results, resolver = resolve(world, load_balancers=["missing"], network_interfaces=[eni], allow_empty=True)
    assert [r["id"] for r in results] == [eni]
    assert resolver.warnings == ["load_balancers[0] 'missing' resolved to no ENI: no such load balancer"]


def test_classify_output_old_ecs_arn_needs_cluster():
    arn = "arn:aws:ecs:us-east-1:123456789012:service/web"
    with pytest.raises(ResolveError, match="without a cluster name"):
        classify_output("stacks[0]", arn)
    assert classify_output("stacks[0]", arn, cluster="lab") == ("ecs_service", [{"cluster": "lab", "service": "web"}])


# ---- API calls do not grow with the account -------------------------------------------


def test_call_count_does_not_grow_with_enis_in_the_account(world):
    arn, enis = world.load_balancer("web")
    instance_id, instance_enis = world.instance()
    results, _ = resolve(world, load_balancers=["web"])
    small = list(world.counter.calls)
    for index in range(300):
        world.eni(f"noise {index}")
    for index in range(20):
        world.load_balancer(f"noise{index}")
    results, _ = resolve(world, load_balancers=["web"])
    assert sorted(r["id"] for r in results) == sorted(enis)
    assert world.counter.calls == small
    assert world.counter.calls == [
        "elbv2:DescribeLoadBalancers",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeTrafficMirrorSessions",
        "ec2:DescribeTrafficMirrorTargets",
    ]
    # Every input kind together still costs a fixed handful of calls.
    resolve(world, load_balancers=[arn], instances=[instance_id], network_interfaces=instance_enis)
    assert len(world.counter.calls) == 5, world.counter.calls


def test_filters_are_chunked_to_200_values(world, monkeypatch):
    monkeypatch.setattr(mirror_eni, "MAX_FILTER_VALUES", 2)
    enis = [world.eni(f"e{i}") for i in range(5)]
    results, _ = resolve(world, network_interfaces=enis)
    assert [r["id"] for r in results] == enis
    assert world.counter.calls.count("ec2:DescribeNetworkInterfaces") == 3
