"""Validation and normalization of the experiment model (docs/experiment.md)."""

import copy
import re

import pytest
from model_cases import assert_refused, case_ids

from ansible_collections.mirrorlab.vpc.plugins.module_utils import model
from ansible_collections.mirrorlab.vpc.plugins.module_utils.experiment import (
    DEFAULTS,
    build_experiment,
    misspelled_variables,
)


def R(**kw):
    base = {"direction": "ingress", "number": 100, "action": "accept", "protocol": "tcp",
            "source_cidr": "0.0.0.0/0", "destination_cidr": "0.0.0.0/0"}
    base.update(kw)
    return base


def rules(*items):
    return {"filter": {"rules": list(items)}}


# (values, the message's variable path, a piece of the rule it states)
BAD = [
    ({"deployment": "Mirror"}, "mirrorlab_deployment", "lower-case letter"),
    ({"deployment": "9lab"}, "mirrorlab_deployment", "lower-case letter"),
    ({"deployment": "lab-"}, "mirrorlab_deployment", "not ending in '-'"),
    ({"deployment": "a" * 24}, "mirrorlab_deployment", "1-23 characters"),
    ({"deployment": "my_lab"}, "mirrorlab_deployment", "CloudFormation"),
    ({"region": "europe"}, "mirrorlab_region", "AWS region name"),
    ({"backend": "gcp"}, "mirrorlab_backend", "must be lab or aws"),
    ({"network": {"vpc_cidr": "10.0.0.0/8"}}, "mirrorlab_network.vpc_cidr", "/16 to /28"),
    ({"network": {"vpc_cidr": "10.0.0.1/16"}}, "mirrorlab_network.vpc_cidr", "no host bits"),
    ({"network": {"vpc_cidr": "fd00::/56"}}, "mirrorlab_network.vpc_cidr", "IPv4 CIDR"),
    ({"network": {"vpc_id": "vpc-123"}}, "mirrorlab_network.vpc_id", "vpc-0123456789abcdef0"),
    ({"network": {"vpc_id": "vpc-0123456789abcdef0", "subnet_ids": ["subnet-0123456789abcdef0"]}},
     "mirrorlab_network.subnet_ids", "at least 2 subnets"),
    ({"network": {"vpc_id": "vpc-0123456789abcdef0", "subnet_ids": ["subnet-01234567", "sub-1"]}},
     "mirrorlab_network.subnet_ids[1]", "subnet-0123456789abcdef0"),
    ({"network": {"vpc_cdir": "10.0.0.0/16"}}, "mirrorlab_network.vpc_cdir", "unknown key"),
    ({"network": "10.0.0.0/16"}, "mirrorlab_network", "must be a mapping"),
    ({"sources": []}, "mirrorlab_sources", "non-empty list"),
    ({"sources": [{"type": "lambda"}]}, "mirrorlab_sources[0].type", "must be one of"),
    ({"sources": [{"type": "network_interface", "id": "eni-xyz"}]}, "mirrorlab_sources[0].id", "eni-0123456789abcdef0"),
    ({"sources": [{"type": "network_interface"}]}, "mirrorlab_sources[0]", "needs id"),
    ({"sources": [{"type": "instance", "id": "0123456789abcdef0"}]}, "mirrorlab_sources[0].id", "i-0123456789abcdef0"),
    ({"sources": [{"type": "instance", "id": "i-01234567", "tags": {"a": "b"}}]}, "mirrorlab_sources[0]", "only one of"),
    ({"sources": [{"type": "ecs_service", "cluster": "c"}]}, "mirrorlab_sources[0]", "needs service"),
    ({"sources": [{"type": "load_balancer", "name": "alb", "zone": "a"}]}, "mirrorlab_sources[0].zone", "unknown key"),
    ({"sources": [{"type": "load_balancer", "arn": "arn:aws:ec2:eu-west-1:123456789012:thing"}]},
     "mirrorlab_sources[0].arn", "load balancer ARN"),
    ({"sources": [{"type": "sample_service"}, {"type": "sample_service"}]}, "mirrorlab_sources[1]", "same source as mirrorlab_sources[0]"),
    ({"sources": [{"type": "network_interface", "id": "eni-0123456%010x" % i} for i in range(11)]},
     "mirrorlab_sources", "at most 10 sessions"),
    ({"filter": {"preset": "all"}}, "mirrorlab_filter.preset", "all_tcp, alb_client, alb_target"),
    ({"filter": {"preset": "all_tcp", "rule": []}}, "mirrorlab_filter.rule", "unknown key"),
    (rules(*[R(number=n) for n in range(1, 12)]), "mirrorlab_filter.rules", "at most 10 rules"),
    (rules(R(number=0)), "mirrorlab_filter.rules[0].number", "1-32766"),
    (rules(R(number=32767)), "mirrorlab_filter.rules[0].number", "1-32766"),
    (rules(R(number=5), R(number=5)), "mirrorlab_filter.rules[1].number", "unique per direction"),
    (rules(R(direction="inbound")), "mirrorlab_filter.rules[0].direction", "ingress or egress"),
    (rules(R(action="allow")), "mirrorlab_filter.rules[0].action", "accept or reject"),
    (rules(R(protocol="sctp")), "mirrorlab_filter.rules[0].protocol", "tcp, udp, icmp, all or a protocol number"),
    (rules(R(protocol=256)), "mirrorlab_filter.rules[0].protocol", "0-255"),
    (rules(R(source_cidr="10.0.0.0/33")), "mirrorlab_filter.rules[0].source_cidr", "IPv4 or IPv6 CIDR"),
    (rules(R(source_cidr="10.0.0.1/8")), "mirrorlab_filter.rules[0].source_cidr", "host bits"),
    (rules(R(destination_cidr="::/0")), "mirrorlab_filter.rules[0].destination_cidr", "same IP family"),
    (rules(R(destination_ports="80-70000")), "mirrorlab_filter.rules[0].destination_ports", "0-65535"),
    (rules(R(), R(), R(), R(number=4, destination_ports="80-70000")), "mirrorlab_filter.rules[3].destination_ports", "0-65535"),
    (rules(R(source_ports="90-80")), "mirrorlab_filter.rules[0].source_ports", "must not be above"),
    (rules(R(protocol="icmp", destination_ports="80")), "mirrorlab_filter.rules[0].destination_ports", "only allowed with protocol tcp or udp"),
    (rules(R(protocol="all", source_ports="1-2")), "mirrorlab_filter.rules[0].source_ports", "only allowed with protocol tcp or udp"),
    (rules(R(dport="80")), "mirrorlab_filter.rules[0].dport", "unknown key"),
    (rules({"direction": "ingress", "number": 1}), "mirrorlab_filter.rules[0].action", "is required"),
    (rules("accept all"), "mirrorlab_filter.rules[0]", "must be a mapping"),
    (rules(R(description="x" * 256)), "mirrorlab_filter.rules[0].description", "at most 255"),
    ({"session": {"vni": 16777216}}, "mirrorlab_session.vni", "0-16777215"),
    ({"session": {"vni": -1}}, "mirrorlab_session.vni", "0-16777215"),
    ({"session": {"vni": "twelve"}}, "mirrorlab_session.vni", "0-16777215"),
    ({"session": {"session_number": 0}}, "mirrorlab_session.session_number", "1-32766"),
    ({"session": {"session_number": 32767}}, "mirrorlab_session.session_number", "1-32766"),
    ({"session": {"packet_length": 0}}, "mirrorlab_session.packet_length", "1-8500 or null"),
    ({"session": {"packet_length": 9001}}, "mirrorlab_session.packet_length", "1-8500 or null"),
    ({"session": {"vni": True}}, "mirrorlab_session.vni", "0-16777215"),
    ({"session": {"sesion_number": 2}}, "mirrorlab_session.sesion_number", "unknown key"),
    ({"backend": "aws", "session": {"extra": [{"vni": 7}]}}, "mirrorlab_session.extra[0].session_number", "1-32766"),
    ({"backend": "aws", "session": {"extra": [{"session_number": 1}]}}, "mirrorlab_session.extra[0].session_number",
     "already the number of mirrorlab_session.session_number"),
    ({"backend": "aws", "session": {"extra": [{"session_number": 2}, {"session_number": 2}]}}, "mirrorlab_session.extra[1].session_number",
     "already the number of mirrorlab_session.extra[0]"),
    ({"backend": "aws", "session": {"extra": [{"session_number": n} for n in (2, 3, 4)]}}, "mirrorlab_session.extra",
     "AWS allows at most 3"),
    ({"backend": "aws", "session": {"extra": [{"session_number": 2, "vni": 16777216}]}}, "mirrorlab_session.extra[0].vni", "0-16777215"),
    ({"backend": "aws", "session": {"extra": [{"session_number": 2, "filter": {"preset": "none"}}]}},
     "mirrorlab_session.extra[0].filter.preset", "all_tcp, alb_client, alb_target"),
    ({"backend": "aws", "session": {"extra": [{"session_number": 2, "filter": {"rules": [R(protocol="sctp")]}}]}},
     "mirrorlab_session.extra[0].filter.rules[0].protocol", "tcp"),
    ({"backend": "aws", "session": {"extra": [{"session_number": 2, "target": "x"}]}}, "mirrorlab_session.extra[0].target", "unknown key"),
    ({"session": {"extra": {"session_number": 2}}}, "mirrorlab_session.extra", "must be a list of sessions"),
    ({"backend": "aws", "session": {"vni_per_eni": True, "extra": [{"session_number": 2}]}}, "mirrorlab_session.vni_per_eni",
     "one session per ENI only"),
    ({"session": {"vni_per_eni": "maybe"}}, "mirrorlab_session.vni_per_eni", "boolean"),
    # the same rules in the lab (the default backend), which mirrors several sessions too
    ({"session": {"extra": [{"session_number": 1}]}}, "mirrorlab_session.extra[0].session_number",
     "1 is already the number of mirrorlab_session.session_number"),
    ({"session": {"vni_per_eni": True, "extra": [{"session_number": 2}]}}, "mirrorlab_session.vni_per_eni",
     "works with one session per ENI only"),
    ({"target": {"type": "nlb"}}, "mirrorlab_target.type", "instance or gateway_load_balancer_endpoint"),
    ({"target": {"type": "gateway_load_balancer_endpoint"}}, "mirrorlab_target.type", "the lab cannot reproduce"),
    ({"backend": "aws", "target": {"type": "gateway_load_balancer_endpoint"}}, "mirrorlab_target.gwlb_endpoint_id",
     "is required with type: gateway_load_balancer_endpoint"),
    ({"backend": "aws", "target": {"gwlb_endpoint_id": "vpce-0123456789abcdef0"}}, "mirrorlab_target.gwlb_endpoint_id",
     "only used with type: gateway_load_balancer_endpoint"),
    ({"backend": "aws", "target": {"type": "gateway_load_balancer_endpoint", "gwlb_endpoint_id": "vpc-0123456789abcdef0"}},
     "mirrorlab_target.gwlb_endpoint_id", "vpce-0123456789abcdef0"),
    ({"backend": "aws", "target": {"type": "gateway_load_balancer_endpoint", "gwlb_endpoint_id": "vpce-0123456789abcdef0",
                                   "count": 2}}, "mirrorlab_target.count", "not used with a Gateway Load Balancer"),
    ({"target": {"count": 0}}, "mirrorlab_target.count", "1-10"),
    ({"target": {"count": 11}}, "mirrorlab_target.count", "1-10"),
    ({"target": {"instance_type": "t2.micro"}}, "mirrorlab_target.instance_type", "Nitro"),
    ({"target": {"instance_type": "large"}}, "mirrorlab_target.instance_type", "instance type"),
    ({"target": {"spot": "maybe"}}, "mirrorlab_target.spot", "boolean"),
    ({"capture": ["dumpcap"]}, "mirrorlab_capture", "must be a mapping"),
    ({"https": "sometimes"}, "mirrorlab_https", "boolean"),
    ({"https": True, "certificate_arn": "arn:aws:iam::123456789012:server-certificate/x"}, "mirrorlab_certificate_arn", "ACM certificate ARN"),
    ({"certificate_arn": "arn:aws:acm:eu-west-1:123456789012:certificate/12345678-1234-1234-1234-123456789012"},
     "mirrorlab_certificate_arn", "only used with mirrorlab_https: true"),
    ({"https": True, "certificate_arn": "arn:aws:acm:eu-west-1:123456789012:certificate/12345678-1234-1234-1234-123456789012"},
     "mirrorlab_certificate_arn", "AWS only; the lab makes its own"),
    ({"filters": {}}, "mirrorlab_filters", "unknown variable"),
]


def test_ipv6_rules_stay_valid_in_the_lab():
    experiment, errors = build_experiment(rules(R(source_cidr="::/0", destination_cidr="2001:db8::/32")))
    assert errors == [] and experiment["filter"]["rules"][0]["source_cidr"] == "::/0"


@pytest.mark.parametrize("values,path,message", BAD, ids=case_ids(BAD))
def test_bad_input_refused_naming_variable_and_rule(values, path, message):
    assert_refused(values, path, message)


def test_at_least_thirty_bad_inputs():
    assert len(BAD) >= 30


def test_all_errors_are_reported_together():
    dummy, errors = build_experiment({
        "deployment": "Bad", "session": {"vni": -1, "session_number": 0},
        "filter": {"rules": [R(number=0), R(number=2, destination_ports="1-2-3")]},
        "target": {"count": 99},
    })
    paths = sorted(e.split(": ")[0] for e in errors)
    assert paths == ["mirrorlab_deployment", "mirrorlab_filter.rules[0].number",
                     "mirrorlab_filter.rules[1].destination_ports", "mirrorlab_session.session_number",
                     "mirrorlab_session.vni", "mirrorlab_target.count"]


# Every capture role variable that mirrorlab_capture can set, with the role's default.
CAPTURE_DEFAULTS = {
    "link_name": "capture0", "extra_vnis": [], "interface": "", "dstport": 4789, "mtu": 0, "link_manager": "auto",
    "tool": "tcpdump", "dir": "/var/lib/mirrorlab/capture", "rotate_seconds": 300, "rotate_mb": 100,
    "max_total_mb": 2048, "min_free_mb": 1024, "housekeeping_seconds": 15, "snaplen": 0, "filter": "",
    "buffer_kib": 131072, "user": "mirrorlab-capture", "group": "pcap", "s3_bucket": "", "s3_prefix": "pcap/",
    "s3_region": "", "s3_endpoint_url": "", "s3_environment": {}, "install_packages": True,
}


def test_defaults_give_the_documented_model():
    experiment, errors = build_experiment({})
    assert errors == []
    assert experiment == {
        "backend": "lab",
        "deployment": "mirrorlab",
        "region": "eu-west-1",
        "tags": {"mirrorlab:deployment": "mirrorlab"},
        "stack_names": {"sample_service": "mirrorlab-sample-service",
                        "target_instance": "mirrorlab-target-instance", "mirroring": "mirrorlab-mirroring"},
        "network": {"vpc_cidr": "10.0.0.0/16", "vpc_id": "", "subnet_ids": [], "import_prefix": "infra-vpc"},
        "sources": [{"type": "sample_service"}],
        "filter": {"preset": "all_tcp", "rules": [
            {"direction": "ingress", "number": 100, "action": "accept", "protocol": 6, "source_cidr": "0.0.0.0/0",
             "destination_cidr": "0.0.0.0/0", "source_ports": None, "destination_ports": None,
             "description": "all TCP in"},
            {"direction": "egress", "number": 100, "action": "accept", "protocol": 6, "source_cidr": "0.0.0.0/0",
             "destination_cidr": "0.0.0.0/0", "source_ports": None, "destination_ports": None,
             "description": "all TCP out"},
        ]},
        "session": {"vni": 12345, "session_number": 1, "packet_length": None, "vni_per_eni": False, "extra": []},
        "target": {"type": "instance", "gwlb_endpoint_id": "", "count": 1, "instance_type": "t3.small", "spot": False},
        "expire_after": 0,
        "discard_captures": False,
        "capture": CAPTURE_DEFAULTS,
        "https": False,
        "certificate_arn": "",
        "capture_vars": {"capture_vni": 12345},
        "capture_instances": 1,
        "constants": {"deployment_pattern": "^[a-z]([a-z0-9-]{0,21}[a-z0-9])?$", "vni": {"min": 0, "max": 16777215},
                      "session_number": {"min": 1, "max": 32766}, "packet_length": {"min": 1, "max": 8500},
                      "all_protocols": -1},
    }


def test_defaults_are_not_mutated():
    before = copy.deepcopy(DEFAULTS)
    experiment, dummy = build_experiment({})
    experiment["network"]["subnet_ids"].append("x")
    experiment["sources"].append("x")
    assert DEFAULTS == before


def test_user_rules_replace_the_preset_and_are_normalized():
    experiment, errors = build_experiment({"filter": {"preset": "alb_client", "rules": [
        R(direction="egress", number=20, protocol="udp", destination_ports="53"),
        R(number=10, action="reject", protocol="6", source_ports="1024-65535", description="high ports"),
    ]}})
    assert errors == []
    assert experiment["filter"]["preset"] is None
    assert experiment["filter"]["rules"] == [
        {"direction": "ingress", "number": 10, "action": "reject", "protocol": 6, "source_cidr": "0.0.0.0/0",
         "destination_cidr": "0.0.0.0/0", "source_ports": {"from": 1024, "to": 65535}, "destination_ports": None,
         "description": "high ports"},
        {"direction": "egress", "number": 20, "action": "accept", "protocol": 17, "source_cidr": "0.0.0.0/0",
         "destination_cidr": "0.0.0.0/0", "source_ports": None, "destination_ports": {"from": 53, "to": 53},
         "description": ""},
    ]


def test_preset_follows_the_vpc_cidr():
    experiment, errors = build_experiment({"network": {"vpc_cidr": "172.16.0.0/20"}, "filter": {"preset": "alb_target"}})
    assert errors == []
    assert [r["source_cidr"] for r in experiment["filter"]["rules"]] == ["172.16.0.0/20", "0.0.0.0/0"]
    assert [r["destination_cidr"] for r in experiment["filter"]["rules"]] == ["0.0.0.0/0", "172.16.0.0/20"]
    assert experiment["network"] == {"vpc_cidr": "172.16.0.0/20", "vpc_id": "", "subnet_ids": [], "import_prefix": "infra-vpc"}


def test_strings_from_extra_vars_are_accepted():
    experiment, errors = build_experiment({"session": {"vni": "42", "session_number": "7", "packet_length": "128"},
                                           "target": {"count": "3", "spot": "true"}, "https": "no"})
    assert errors == []
    assert experiment["session"] == {"vni": 42, "session_number": 7, "packet_length": 128, "vni_per_eni": False, "extra": []}
    assert experiment["target"]["count"] == 3 and experiment["target"]["spot"] is True
    assert experiment["https"] is False


def test_good_aws_model():
    experiment, errors = build_experiment({
        "backend": "aws", "deployment": "team-a-lab2", "region": "eu-north-1",
        "network": {"vpc_id": "vpc-0123456789abcdef0", "subnet_ids": ["subnet-0123456789abcdef0", "subnet-89abcdef"]},
        "sources": [{"type": "load_balancer", "name": "my-alb"},
                    {"type": "instance", "tags": {"Name": "web"}},
                    {"type": "ecs_service", "cluster": "prod", "service": "api"},
                    {"type": "network_interface", "id": "eni-0123456789abcdef0"}],
        "session": {"vni": 0, "session_number": 32766, "packet_length": 8500},
        "target": {"count": 10, "instance_type": "c6gn.medium", "spot": True},
        "https": True, "certificate_arn": "arn:aws:acm:eu-north-1:123456789012:certificate/12345678-1234-1234-1234-123456789012",
    })
    assert errors == []
    assert experiment["stack_names"]["mirroring"] == "team-a-lab2-mirroring"
    assert experiment["tags"] == {"mirrorlab:deployment": "team-a-lab2"}
    assert len(experiment["sources"]) == 4
    assert experiment["session"] == {"vni": 0, "session_number": 32766, "packet_length": 8500, "vni_per_eni": False,
                                     "extra": []}


def test_ten_rules_are_the_limit():
    experiment, errors = build_experiment(rules(*[R(number=n) for n in range(1, 11)]))
    assert errors == [] and len(experiment["filter"]["rules"]) == 10


def test_misspelled_variables():
    warnings = misspelled_variables(["mirrorlab_filters", "mirrorlab_sesion", "mirrorlab_deployment_tag",
                                     "mirrorlab_keep_captures", "mirrorlab_filter", "mirrorlab_controller"])
    assert warnings == [
        "mirrorlab_filters is not a variable of the experiment model and is ignored; did you mean mirrorlab_filter?",
        "mirrorlab_sesion is not a variable of the experiment model and is ignored; did you mean mirrorlab_session?",
    ]


# ---- the messages themselves (issue 11): exact texts, every one naming its mirrorlab_* variable

MESSAGES = [
    ({"filter": {"rules": [R(destination_ports="70000")]}},
     "mirrorlab_filter.rules[0].destination_ports: ports must be 0-65535 (\"N\" or \"N-M\"), got '70000'"),
    ({"filter": {"rules": [R(source_ports=70000)]}},
     "mirrorlab_filter.rules[0].source_ports: ports must be 0-65535 (\"N\" or \"N-M\"), got 70000"),
    ({"filter": {"rules": [R(number=7), R(number=7)]}},
     "mirrorlab_filter.rules[1].number: rule number 7 is already used by mirrorlab_filter.rules[0] in direction "
     "ingress; numbers must be unique per direction"),
    ({"deployment": None},
     "mirrorlab_deployment: is null (in YAML: the variable with nothing after its colon); give it a value, "
     "or leave it out for the default 'mirrorlab'"),
    ({"https": None}, "mirrorlab_https: is null (in YAML: the variable with nothing after its colon); give it a "
                      "value, or leave it out for the default False"),
    ({"network": {"vpc_id": "vpc-0123456789abcdef0", "subnet_ids": ["subnet-0123456789abcdef0"]}},
     "mirrorlab_network.subnet_ids: must list at least 2 subnets (in different zones) when "
     "mirrorlab_network.vpc_id is given, got 1"),
    ({"network": {"subnet_ids": ["subnet-0123456789abcdef0"]}},
     "mirrorlab_network.subnet_ids: is only used with mirrorlab_network.vpc_id; give vpc_id too, or leave both "
     "empty to import them"),
]


@pytest.mark.parametrize("values,message", MESSAGES, ids=[m.split(":")[0] for dummy, m in MESSAGES])
def test_message_names_the_variable_and_echoes_the_value(values, message):
    dummy, errors = build_experiment(values)
    assert message in errors, errors


def test_too_many_sources_names_the_target_variable():
    dummy, errors = build_experiment({"sources": [
        {"type": "network_interface", "id": "eni-0123456%010x" % i} for i in range(11)]})
    assert errors == ["mirrorlab_sources: an ENI target (mirrorlab_target.count 1) accepts at most 10 sessions; "
                      "11 sources need at least 11; use mirrorlab_target.count > 1 (an NLB target)"]


@pytest.mark.parametrize("name,why", [
    ("", "it is empty"),
    ("a" * 24, "it has 24 characters"),
    ("9lab", "it starts with '9', not a lower-case letter"),
    ("Lab", "it starts with 'L', not a lower-case letter"),
    ("my_lab.x", "'.', '_' are not allowed"),
    ("myLab", "'L' is not allowed"),
    ("lab-", "it ends in '-'"),
])
def test_deployment_name_message_says_what_is_wrong(name, why):
    dummy, errors = build_experiment({"deployment": name})
    assert len(errors) == 1 and errors[0].startswith("mirrorlab_deployment: must be 1-23 characters")
    assert errors[0].endswith("got %r: %s" % (name, why)), errors


def test_null_mappings_and_lists_still_mean_the_default():
    experiment, errors = build_experiment({"network": None, "capture": None, "sources": None})
    assert errors == [] and experiment["sources"] == [{"type": "sample_service"}]


def test_every_message_of_the_battery_names_a_mirrorlab_variable():
    """Every message of BAD starts with the mirrorlab_* path, and none names a bare model key
    (`already used by filter.rules[0]`, `(target.count 1)`) or a Python class."""
    keys = "|".join(o.name for o in model.EXPERIMENT)
    bare = re.compile(r"(?<![\w.])(%s)(\.|\[)" % keys)
    for values, dummy_path, dummy_rule in BAD + [(v, None, None) for v, dummy in MESSAGES]:
        dummy, errors = build_experiment(values)
        for error in errors:
            assert error.startswith("mirrorlab_"), error
            assert "<class" not in error, error
            assert not bare.search(error.split(": ", 1)[1]), error
def test_extra_sessions_are_normalized_and_get_capture_links():
    experiment, errors = build_experiment({
        "backend": "aws", "network": {"vpc_cidr": "172.16.0.0/20"},
        "session": {"vni": 100, "extra": [
            {"session_number": 3, "vni": 300, "packet_length": 96, "filter": {"preset": "alb_target"}},
            {"session_number": 2, "filter": {"rules": [R(protocol="udp", destination_ports="53")]}},
        ]},
        "capture": {"extra_vnis": [400]},
    })
    assert errors == []
    third, second = experiment["session"]["extra"]
    assert (third["session_number"], third["vni"], third["packet_length"]) == (3, 300, 96)
    assert [r["source_cidr"] for r in third["filter"]["rules"]] == ["172.16.0.0/20", "0.0.0.0/0"]
    assert second["vni"] == 100 and second["packet_length"] is None
    assert second["filter"]["preset"] is None and second["filter"]["rules"][0]["destination_ports"] == {"from": 53, "to": 53}
    # one more capture link per VNI besides the first session's, merged with the user's
    assert experiment["capture_vars"]["capture_extra_vnis"] == [300, 400]


def test_gwlb_endpoint_target_on_aws():
    experiment, errors = build_experiment({"backend": "aws", "target": {
        "type": "gateway_load_balancer_endpoint", "gwlb_endpoint_id": "vpce-0123456789abcdef0"},
        "sources": [{"type": "network_interface", "id": "eni-0123456%010x" % i} for i in range(11)]})
    assert errors == []  # no 10-sources limit: a GWLB endpoint takes any number of sources
    assert experiment["target"]["type"] == "gateway_load_balancer_endpoint"


def test_ipv6_rules_are_accepted_on_aws():
    """The EC2 API takes IPv6 CIDRs in filter rules; the IPv4-only format is cfn-lint's patch of
    the registry schema, not CloudFormation's (docs/filters.md, "IPv6 rules on AWS")."""
    experiment, errors = build_experiment({"backend": "aws", **rules(R(source_cidr="::/0", destination_cidr="2001:db8::/32"))})
    assert errors == []
    assert experiment["filter"]["rules"][0]["destination_cidr"] == "2001:db8::/32"
