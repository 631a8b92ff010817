"""cfn-lint on the stacks role's CloudFormation templates, and what the templates must say.

The static sample-service template is linted as it is and with the parameter values that
switch its conditional parts on (HTTPS listener). The two Jinja2 templates are rendered the
way the role renders them (the ansible.builtin.template lookup, with its trim_blocks default):
mirroring.yml.j2 for representative experiment models, normalized by the project's own
experiment model code, target-instance.yml.j2 for 1, 2 and 10 capture instances; each
rendering is linted. Zero errors and zero warnings.
"""

import json
import subprocess
import sys
from pathlib import Path

import jinja2
import pytest
from cfnlint.decode import cfn_yaml

from conftest import ROOT, ansible_env

from ansible_collections.mirrorlab.vpc.plugins.module_utils.model import VNI_MAX, template_constants

FILES = ROOT / "roles" / "stacks" / "files"
TEMPLATES = ROOT / "roles" / "stacks" / "templates"
MIRRORING = TEMPLATES / "mirroring.yml.j2"
TARGET_INSTANCE = TEMPLATES / "target-instance.yml.j2"
CFN_LINT = Path(sys.executable).parent / "cfn-lint"

VPC_CIDR = "10.0.0.0/16"
ENI_TARGET = {"type": "network-interface", "id": "eni-0aaaabbbbccccdddd"}
NLB_TARGET = {
    "type": "network-load-balancer",
    "id": "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/net/mirrorlab-capture/0123456789abcdef",
}
GWLB_TARGET = {"type": "gateway-load-balancer-endpoint", "id": "vpce-0123456789abcdef0"}
ONE_ENI = ["eni-0123456789abcdef0"]
THREE_ENIS = ["eni-0123456789abcdef0", "eni-0fedcba9876543210", "eni-11112222"]

USER_RULES = [
    {"direction": "ingress", "number": 10, "action": "reject", "protocol": "icmp",
     "source_cidr": "0.0.0.0/0", "destination_cidr": "0.0.0.0/0", "description": "no pings <&>"},
    {"direction": "ingress", "number": 20, "action": "reject", "protocol": "tcp",
     "source_cidr": VPC_CIDR, "destination_cidr": "0.0.0.0/0", "destination_ports": "22"},
    {"direction": "ingress", "number": 30, "action": "accept", "protocol": "tcp",
     "source_cidr": "0.0.0.0/0", "destination_cidr": "0.0.0.0/0",
     "source_ports": "1024-65535", "destination_ports": "80-443"},
    {"direction": "ingress", "number": 40, "action": "accept", "protocol": "all",
     "source_cidr": "0.0.0.0/0", "destination_cidr": "0.0.0.0/0"},
    {"direction": "egress", "number": 10, "action": "accept", "protocol": "udp",
     "source_cidr": "0.0.0.0/0", "destination_cidr": VPC_CIDR, "source_ports": "53"},
    {"direction": "egress", "number": 20, "action": "accept", "protocol": 47,
     "source_cidr": "0.0.0.0/0", "destination_cidr": "0.0.0.0/0"},
]


IPV6_RULES = [
    {"direction": "ingress", "number": 10, "action": "accept", "protocol": "tcp",
     "source_cidr": "::/0", "destination_cidr": "2001:db8::/32", "destination_ports": "443"},
    {"direction": "egress", "number": 10, "action": "accept", "protocol": "all",
     "source_cidr": "0.0.0.0/0", "destination_cidr": "0.0.0.0/0"},
]
# more sessions on every source ENI (mirrorlab_session.extra), as the model gives them
EXTRA_SESSIONS = [
    {"session_number": 3, "vni": 300, "packet_length": 96, "filter": {"preset": "alb_target"}},
    {"session_number": 2, "filter": {"rules": IPV6_RULES}},
]


def experiment_of(filter_value, extra=()):
    """The normalized experiment (AWS backend), by the project's model code."""
    from ansible_collections.mirrorlab.vpc.plugins.module_utils.experiment import build_experiment

    experiment, errors = build_experiment(
        {"backend": "aws", "network": {"vpc_cidr": VPC_CIDR}, "filter": filter_value,
         "session": {"extra": list(extra)}}
    )
    assert not errors, errors
    return experiment


def experiment_rules(filter_value):
    """The normalized rule list of experiment.filter, by the project's model code."""
    return experiment_of(filter_value)["filter"]["rules"]


def extra_sessions_vars(extra):
    """mirroring_extra_sessions as roles/stacks/tasks/mirroring.yml passes it."""
    return [{"session_number": x["session_number"], "vni": x["vni"], "packet_length": x["packet_length"],
             "rules": x["filter"]["rules"]} for x in experiment_of(None, extra)["session"]["extra"]]


# name: (filter, source ENIs, target, cfn-lint parameters)
MIRRORING_CASES = {
    "all_tcp-1eni-eni": ({"preset": "all_tcp"}, ONE_ENI, ENI_TARGET, {}),
    "alb_client-3eni-eni": ({"preset": "alb_client"}, THREE_ENIS, ENI_TARGET, {}),
    "alb_target-3eni-nlb": ({"preset": "alb_target"}, THREE_ENIS, NLB_TARGET, {}),
    "user-3eni-eni-packetlength": ({"rules": USER_RULES}, THREE_ENIS, ENI_TARGET,
                                   {"PacketLength": "128", "Vni": "42", "SessionNumber": "2"}),
    "user-1eni-nlb": ({"rules": USER_RULES}, ONE_ENI, NLB_TARGET, {}),
    "all_tcp-0eni-eni": ({"preset": "all_tcp"}, [], ENI_TARGET, {}),
    "norules-1eni-eni": (None, ONE_ENI, ENI_TARGET, {}),
    "ipv6-1eni-gwlb": ({"rules": IPV6_RULES}, ONE_ENI, GWLB_TARGET, {}),
    "3sessions-3eni-eni": ({"preset": "alb_client"}, THREE_ENIS, ENI_TARGET, {}),
    "vni_per_eni-3eni-nlb": ({"preset": "all_tcp"}, THREE_ENIS, NLB_TARGET, {}),
}
# cases with more inputs: {case: {variable: value}}
MIRRORING_EXTRA = {
    "3sessions-3eni-eni": {"mirroring_extra_sessions": EXTRA_SESSIONS},
    "vni_per_eni-3eni-nlb": {"mirroring_eni_vnis": {eni: 12345 + n for n, eni in enumerate(THREE_ENIS)}},
}

# cfn-lint evaluates every scenario of a template's Conditions (given or imported network,
# HTTPS or not, spot, public or private subnets), so the templates need no parameters to be
# linted in full; the HTTPS case is also linted with a certificate.
# (cfn-lint 1.58 cannot take CommaDelimitedList values on its command line.)
STATIC_CASES = {
    "sample-service": ("sample-service.yml", {}),
    "sample-service-https": ("sample-service.yml", {
        "CertificateArn": "arn:aws:acm:eu-west-1:123456789012:certificate/12345678-1234-1234-1234-123456789012",
    }),
}

# target-instance.yml.j2 for these numbers of capture instances (1 = ENI target, more = NLB).
TARGET_COUNTS = (1, 2, 10)
# 0: a Gateway Load Balancer endpoint target (no capture instance).
TARGET_RENDERINGS = TARGET_COUNTS + (0,)


RENDER_WITH_ANSIBLE = """
import json, sys
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader, lookup_loader
from ansible.template import Templar

init_plugin_loader()
loader = DataLoader()
lookup = lookup_loader.get("ansible.builtin.template", loader=loader, templar=Templar(loader=loader))
cases = json.load(sys.stdin)
json.dump({name: str(lookup.run([path], variables=v)[0]) for name, (path, v) in cases.items()}, sys.stdout)
"""


def render_with_ansible(cases):
    """Render templates through ansible.builtin.template, as the role does; cases:
    {name: (template path, variables)}.

    In a child process, so that Ansible's plugin loader state stays out of the test session.
    """
    proc = subprocess.run(
        [sys.executable, "-c", RENDER_WITH_ANSIBLE], input=json.dumps({k: (str(p), v) for k, (p, v) in cases.items()}),
        env=ansible_env(), capture_output=True, text=True, check=False, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def render_with_jinja2(variables, template=MIRRORING):
    """Plain Jinja2 without trim_blocks: the template must mean the same thing."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)), undefined=jinja2.StrictUndefined
    )
    return env.get_template(template.name).render(**variables)


def mirroring_vars(case):
    filter_value, enis, target, _ = MIRRORING_CASES[case]
    variables = {
        "mirroring_rules": experiment_rules(filter_value) if filter_value else [],
        "mirroring_source_enis": enis,
        "mirroring_target": target,
        "mirroring_constants": template_constants(),
    }
    extra = dict(MIRRORING_EXTRA.get(case, {}))
    if "mirroring_extra_sessions" in extra:
        extra["mirroring_extra_sessions"] = extra_sessions_vars(extra["mirroring_extra_sessions"])
    variables.update(extra)
    return variables


def start_cfn_lint(paths, parameters):
    cmd = [str(CFN_LINT), "--format", "json"]
    if parameters:
        cmd += ["--parameters", *[f"{k}={v}" for k, v in parameters.items()]]
    return subprocess.Popen(cmd + ["--", *map(str, paths)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def cfn_lint_result(proc):
    stdout, stderr = proc.communicate(timeout=600)
    assert stdout.strip().startswith("["), stdout + stderr
    return json.loads(stdout)


def target_vars(count):
    return {"target_instance_count": count}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """{mirroring case or target-instance count: path of the rendering}."""
    out = tmp_path_factory.mktemp("stacks-rendered")
    cases = {case: (MIRRORING, mirroring_vars(case)) for case in MIRRORING_CASES}
    cases.update({f"target-instance-{n}": (TARGET_INSTANCE, target_vars(n)) for n in TARGET_RENDERINGS})
    paths = {}
    for case, text in render_with_ansible(cases).items():
        paths[case] = out / (f"mirroring-{case}.yml" if case in MIRRORING_CASES else f"{case}.yml")
        paths[case].write_text(text)
    return paths


@pytest.fixture(scope="module")
def lint_findings(rendered):
    """cfn-lint findings per case: one cfn-lint run per template group, all runs in parallel."""
    runs = []  # (process, [(kind, case, path)])
    groups = {}
    for case, (_, _, _, params) in MIRRORING_CASES.items():
        groups.setdefault(json.dumps(params, sort_keys=True), []).append(("mirroring", case, rendered[case]))
    for members in groups.values():
        runs.append((start_cfn_lint([m[2] for m in members], MIRRORING_CASES[members[0][1]][3]), members))
    for case, (name, params) in STATIC_CASES.items():
        runs.append((start_cfn_lint([FILES / name], params), [("static", case, FILES / name)]))
    targets = [("target-instance", n, rendered[f"target-instance-{n}"]) for n in TARGET_RENDERINGS]
    runs.append((start_cfn_lint([m[2] for m in targets], {}), targets))
    findings = {}
    for proc, members in runs:
        by_path = {}
        for finding in cfn_lint_result(proc):
            by_path.setdefault(finding["Filename"], []).append(finding)
        for kind, case, path in members:
            findings[(kind, case)] = by_path.get(str(path), [])
    return findings


def _summary(findings):
    return "\n".join(
        f"{f['Rule']['Id']} {f['Message']} (line {f['Location']['Start']['LineNumber']})" for f in findings
    )


@pytest.mark.parametrize("case", sorted(STATIC_CASES))
def test_static_templates_lint_clean(lint_findings, case):
    findings = lint_findings[("static", case)]
    assert findings == [], _summary(findings)


@pytest.mark.parametrize("case", sorted(MIRRORING_CASES))
def test_rendered_mirroring_lint_clean(lint_findings, case):
    findings = lint_findings[("mirroring", case)]
    assert findings == [], _summary(findings)


@pytest.mark.parametrize("count", TARGET_RENDERINGS)
def test_rendered_target_instance_lint_clean(lint_findings, count):
    findings = lint_findings[("target-instance", count)]
    assert findings == [], _summary(findings)


def load(path_or_text):
    text = path_or_text.read_text() if isinstance(path_or_text, Path) else path_or_text
    return cfn_yaml.loads(text)


def of_type(template, resource_type):
    return {k: v for k, v in template["Resources"].items() if v["Type"] == resource_type}


def assert_tagged(template, exempt=()):
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] in exempt:
            continue
        tags = resource["Properties"].get("Tags")
        if tags is None:  # launch templates tag through TagSpecifications
            tags = [t for spec in resource["Properties"].get("TagSpecifications", []) for t in spec["Tags"]]
        keys = {t["Key"]: t["Value"] for t in tags}
        assert keys.get("mirrorlab:deployment") == {"Ref": "Deployment"}, logical_id
        assert "Name" in keys, logical_id


@pytest.mark.parametrize("case", sorted(MIRRORING_CASES))
def test_rendered_mirroring_structure(rendered, case):
    variables = mirroring_vars(case)
    template = load(rendered[case])
    rules = variables["mirroring_rules"]
    enis = variables["mirroring_source_enis"]

    # plain Jinja2 (no trim_blocks) renders the same template
    assert load(render_with_jinja2(variables)) == template

    assert template["Parameters"]["Vni"]["Default"] == 12345
    assert template["Parameters"]["Vni"]["MaxValue"] == VNI_MAX == 16777215
    assert template["Parameters"]["SessionNumber"]["Default"] == 1

    (target,) = of_type(template, "AWS::EC2::TrafficMirrorTarget").values()
    key = {"network-load-balancer": "NetworkLoadBalancerArn", "network-interface": "NetworkInterfaceId",
           "gateway-load-balancer-endpoint": "GatewayLoadBalancerEndpointId"}[variables["mirroring_target"]["type"]]
    assert {k: v for k, v in target["Properties"].items() if k not in ("Description", "Tags")} == {
        key: variables["mirroring_target"]["id"]}
    extra = variables.get("mirroring_extra_sessions", [])
    assert sorted(of_type(template, "AWS::EC2::TrafficMirrorFilter")) == sorted(
        ["Filter"] + [f"Filter{x['session_number']}" for x in extra])

    rendered_rules = of_type(template, "AWS::EC2::TrafficMirrorFilterRule")
    assert len(rendered_rules) == len(rules) + sum(len(x["rules"]) for x in extra)
    for prefix, filter_id, filter_rules in [("", "Filter", rules)] + [
            (f"S{x['session_number']}", f"Filter{x['session_number']}", x["rules"]) for x in extra]:
        assert_rules(rendered_rules, prefix, filter_id, filter_rules)

    sessions = of_type(template, "AWS::EC2::TrafficMirrorSession")
    assert len(sessions) == len(enis) * (1 + len(extra))
    eni_vnis = variables.get("mirroring_eni_vnis", {})
    for eni in enis:
        props = sessions["Session" + eni.replace("eni-", "")]["Properties"]
        assert props["NetworkInterfaceId"] == eni
        assert props["TrafficMirrorTargetId"] == {"Ref": "Target"}
        assert props["TrafficMirrorFilterId"] == {"Ref": "Filter"}
        assert props["VirtualNetworkId"] == eni_vnis.get(eni, {"Ref": "Vni"})
        assert props["SessionNumber"] == {"Ref": "SessionNumber"}
        assert props["PacketLength"] == {"Fn::If": ["HasPacketLength", {"Ref": "PacketLength"}, {"Ref": "AWS::NoValue"}]}
        for x in extra:
            props = sessions[f"S{x['session_number']}Session" + eni.replace("eni-", "")]["Properties"]
            assert props["NetworkInterfaceId"] == eni
            assert props["TrafficMirrorFilterId"] == {"Ref": f"Filter{x['session_number']}"}
            assert (props["SessionNumber"], props["VirtualNetworkId"]) == (x["session_number"], x["vni"])
            assert props.get("PacketLength") == x["packet_length"]

    outputs = template["Outputs"]
    assert outputs["Vni"]["Value"] == {"Ref": "Vni"}
    assert outputs["RuleCount"]["Value"] == str(len(rules))
    assert outputs["SessionCount"]["Value"] == str(len(enis))
    assert outputs["ExtraSessionNumbers"]["Value"] == ",".join(str(x["session_number"]) for x in extra)
    if enis:
        assert outputs["SourceEnis"]["Value"] == ",".join(enis)
        pairs = outputs["SessionMap"]["Value"]["Fn::Join"][1]
        assert [p["Fn::Sub"].split("=")[0] for p in pairs] == enis
    assert_tagged(template, exempt=())


def assert_rules(rendered_rules, prefix, filter_id, rules):
    for rule in rules:
        resource = rendered_rules[f"{prefix}Rule{rule['direction'].capitalize()}{rule['number']}"]
        props = resource["Properties"]
        # cfn-lint's ipv4-network format is switched off on exactly the IPv6 rules
        ipv6 = ":" in rule["source_cidr"]
        assert (resource.get("Metadata") == {"cfn-lint": {"config": {"ignore_checks": ["E3002"]}}}) is ipv6
        assert props["TrafficMirrorFilterId"] == {"Ref": filter_id}
        assert props["TrafficDirection"] == rule["direction"]
        assert props["RuleNumber"] == rule["number"]
        assert props["RuleAction"] == rule["action"]
        assert props.get("Protocol") == (None if rule["protocol"] == -1 else rule["protocol"])
        assert props["SourceCidrBlock"] == rule["source_cidr"]
        assert props["DestinationCidrBlock"] == rule["destination_cidr"]
        for key, model_key in (("SourcePortRange", "source_ports"), ("DestinationPortRange", "destination_ports")):
            ports = rule[model_key]
            expected = {"FromPort": ports["from"], "ToPort": ports["to"]} if ports else None
            assert props.get(key) == expected
            if ports:
                assert rule["protocol"] in (6, 17)
        assert props.get("Description", "") == rule["description"]


def test_session_logical_ids_do_not_depend_on_list_position():
    """Reconciling adds and removes sessions; the others must keep their logical ids."""
    base = {"mirroring_rules": experiment_rules({"preset": "all_tcp"}), "mirroring_target": ENI_TARGET,
            "mirroring_constants": template_constants()}
    before = of_type(load(render_with_jinja2({**base, "mirroring_source_enis": THREE_ENIS})), "AWS::EC2::TrafficMirrorSession")
    after = of_type(load(render_with_jinja2({**base, "mirroring_source_enis": THREE_ENIS[2:0:-1]})), "AWS::EC2::TrafficMirrorSession")
    assert set(after) < set(before)
    for logical_id, session in after.items():
        assert before[logical_id] == session


# ---- the static templates: the properties the design requires ---------------------------------

@pytest.mark.parametrize("count", TARGET_COUNTS)
def test_target_instance_security_and_access(rendered, count):
    template = load(rendered[f"target-instance-{count}"])
    # plain Jinja2 (no trim_blocks) renders the same template
    assert load(render_with_jinja2(target_vars(count), TARGET_INSTANCE)) == template
    resources = template["Resources"]
    # (bucket policies, instance profiles and schedules cannot carry tags)
    assert_tagged(template, exempt=("AWS::S3::BucketPolicy", "AWS::IAM::InstanceProfile", "AWS::Scheduler::Schedule"))
    assert "KeyName" not in json.dumps(template)

    (sg,) = of_type(template, "AWS::EC2::SecurityGroup").values()
    (ingress,) = sg["Properties"]["SecurityGroupIngress"]
    assert [(e["IpProtocol"], e["FromPort"], e["ToPort"], e["CidrIp"]) for e in sg["Properties"]["SecurityGroupEgress"]] == [
        ("tcp", 443, 443, "0.0.0.0/0")
    ]
    assert (ingress["IpProtocol"], ingress["FromPort"], ingress["ToPort"]) == ("udp", 4789, 4789)
    assert ingress["CidrIp"]["Fn::If"][1] == {"Fn::ImportValue": {"Fn::Sub": "${ImportPrefix}-VpcCidr"}}
    assert ingress["CidrIp"]["Fn::If"][2] == {"Ref": "VpcCidr"}

    data = resources["CaptureLaunchTemplate"]["Properties"]["LaunchTemplateData"]
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    assert template["Parameters"]["LatestAmiId"]["Default"] == (
        "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
    )
    # The count is the renderer's input, not a parameter; no per-instance conditions.
    assert "TargetCount" not in template["Parameters"]
    assert not [name for name in template["Conditions"] if name.startswith(("Has", "PublicIp"))]
    enis = of_type(template, "AWS::EC2::NetworkInterface")
    assert sorted(enis) == sorted(f"CaptureEni{n}" for n in range(1, count + 1))
    assert all(e["Properties"]["GroupSet"] == [{"Fn::GetAtt": ["CaptureSecurityGroup", "GroupId"]}] for e in enis.values())
    instances = of_type(template, "AWS::EC2::Instance")
    assert sorted(instances) == sorted(f"CaptureInstance{n}" for n in range(1, count + 1))
    for n in range(1, count + 1):
        props = instances[f"CaptureInstance{n}"]["Properties"]
        assert "Condition" not in instances[f"CaptureInstance{n}"]
        assert props["LaunchTemplate"]["LaunchTemplateId"] == {"Ref": "CaptureLaunchTemplate"}
        (bdm,) = props["BlockDeviceMappings"]
        assert bdm["Ebs"]["Encrypted"] is True
        assert props["ImageId"] == {"Ref": "LatestAmiId"}
        assert props["NetworkInterfaces"] == [{"DeviceIndex": "0", "NetworkInterfaceId": {"Ref": f"CaptureEni{n}"}}]
        # instance N goes to subnet (N-1) mod 2: the instances spread over both zones
        assert enis[f"CaptureEni{n}"]["Properties"]["SubnetId"]["Fn::Select"][0] == (n - 1) % 2
        assert resources[f"CapturePublicIp{n}"]["Condition"] == "NeedPublicIp"
        assert resources[f"CapturePublicIp{n}"]["Properties"]["InstanceId"] == {"Ref": f"CaptureInstance{n}"}

    outputs = template["Outputs"]
    assert outputs["TargetCount"]["Value"] == str(count)
    for key, ref in (("InstanceIds", "CaptureInstance{}"), ("EniIds", "CaptureEni{}")):
        assert outputs[key]["Value"] == {"Fn::Join": [",", [{"Ref": ref.format(n)} for n in range(1, count + 1)]]}
    assert outputs["PrivateIps"]["Value"] == {"Fn::Join": [",", [
        {"Fn::GetAtt": [f"CaptureEni{n}", "PrimaryPrivateIpAddress"]} for n in range(1, count + 1)]]}
    assert outputs["InstanceId"]["Value"] == {"Ref": "CaptureInstance1"}
    assert not [key for key in outputs if key.startswith("Instance") and key[8:9].isdigit()]
    if count == 1:
        assert (outputs["MirrorTargetType"]["Value"], outputs["MirrorTarget"]["Value"]) == (
            "network-interface", {"Ref": "CaptureEni1"})
        assert not of_type(template, "AWS::ElasticLoadBalancingV2::LoadBalancer") and "NlbArn" not in outputs
    else:
        assert (outputs["MirrorTargetType"]["Value"], outputs["MirrorTarget"]["Value"]) == (
            "network-load-balancer", {"Ref": "CaptureNlb"})
        assert outputs["NlbArn"]["Value"] == {"Ref": "CaptureNlb"}
        targets = resources["CaptureTargetGroup"]["Properties"]["Targets"]
        assert targets == [{"Id": {"Ref": f"CaptureInstance{n}"}, "Port": 4789} for n in range(1, count + 1)]

    bucket = resources["CaptureBucket"]["Properties"]
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert all(bucket["PublicAccessBlockConfiguration"][k] is True for k in
               ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"))
    rules = bucket["LifecycleConfiguration"]["Rules"]
    transfer = next(r for r in rules if isinstance(r, dict) and r.get("Id") == "expire-ssm-transfers")
    assert transfer["Prefix"] == "i-"  # amazon.aws.aws_ssm puts transfers under <instance id>/
    (statement,) = resources["CaptureBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny" and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}

    role = resources["CaptureInstanceRole"]["Properties"]
    # Least privilege: no managed policy (AmazonSSMManagedInstanceCore reads every SSM parameter),
    # the Session Manager agent's actions only, and the archive prefix.
    assert "ManagedPolicyArns" not in role
    session, policy = role["Policies"]
    assert session["PolicyName"] == "session-manager"
    (agent,) = session["PolicyDocument"]["Statement"]
    assert (agent["Effect"], agent["Resource"]) == ("Allow", "*")
    assert sorted(agent["Action"]) == ["ssm:UpdateInstanceInformation", "ssmmessages:CreateControlChannel",
                                       "ssmmessages:CreateDataChannel", "ssmmessages:OpenControlChannel",
                                       "ssmmessages:OpenDataChannel"]
    assert not any(k.endswith("Name") and k.startswith(("Role", "InstanceProfile")) for k in role)
    assert template["Resources"]["CaptureBucket"]["DeletionPolicy"] == "RetainExceptOnCreate"
    assert template["Resources"]["CaptureBucket"]["UpdateReplacePolicy"] == "Retain"
    for stmt in policy["PolicyDocument"]["Statement"]:
        assert "*" not in json.dumps(stmt["Action"])
        assert stmt["Resource"] in (
            {"Fn::Sub": "${CaptureBucket.Arn}/${ArchivePrefix}*"}, {"Fn::GetAtt": ["CaptureBucket", "Arn"]},
        )

    if count > 1:
        nlb = resources["CaptureNlb"]
        assert nlb["Properties"]["Scheme"] == "internal" and nlb["Properties"]["Type"] == "network"
        assert {"Key": "load_balancing.cross_zone.enabled", "Value": "true"} in nlb["Properties"]["LoadBalancerAttributes"]
        listener = resources["CaptureListener"]["Properties"]
        assert (listener["Protocol"], listener["Port"]) == ("UDP", 4789)


def test_sample_service_exposure():
    template = load(FILES / "sample-service.yml")
    resources = template["Resources"]
    assert_tagged(template, exempt=("AWS::EC2::SecurityGroupIngress",))  # cannot carry tags
    alb_sg = resources["AlbSecurityGroup"]["Properties"]
    assert sorted(r["FromPort"] for r in alb_sg["SecurityGroupIngress"]) == [80, 443]
    assert all(r["CidrIp"] == "0.0.0.0/0" for r in alb_sg["SecurityGroupIngress"])
    assert "SecurityGroupIngress" not in resources["TaskSecurityGroup"]["Properties"]
    (alb_out,) = alb_sg["SecurityGroupEgress"]
    assert (alb_out["IpProtocol"], alb_out["FromPort"], alb_out["ToPort"]) == ("tcp", 80, 80)
    assert alb_out["DestinationSecurityGroupId"] == {"Fn::GetAtt": ["TaskSecurityGroup", "GroupId"]}
    (task_out,) = resources["TaskSecurityGroup"]["Properties"]["SecurityGroupEgress"]
    assert (task_out["IpProtocol"], task_out["FromPort"], task_out["CidrIp"]) == ("tcp", 443, "0.0.0.0/0")
    task_in = resources["TaskIngressFromAlb"]["Properties"]
    assert task_in["SourceSecurityGroupId"] == {"Fn::GetAtt": ["AlbSecurityGroup", "GroupId"]}
    assert resources["HttpsListener"]["Condition"] == "HasCertificate"
    assert resources["LoadBalancer"]["Properties"]["Scheme"] == "internet-facing"
    assert resources["TargetGroup"]["Properties"]["TargetType"] == "ip"
    assert resources["LogGroup"]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert template["Outputs"]["HttpsUrl"]["Condition"] == "HasCertificate"


def test_a_gwlb_endpoint_target_stack_holds_no_capture_resource(rendered):
    """Rendered for 0 instances: the endpoint (a parameter only this rendering declares) is the
    mirror target; no instance, ENI, bucket, role or NLB; the expiry as with instances."""
    template = load(rendered["target-instance-0"])
    types = sorted(v["Type"] for v in template["Resources"].values())
    assert types == ["AWS::CloudFormation::WaitConditionHandle", "AWS::IAM::Role", "AWS::Scheduler::Schedule"], types
    assert template["Resources"]["ExpiryRole"]["Condition"] == "Expires"
    assert template["Parameters"]["GatewayLoadBalancerEndpointId"]["AllowedPattern"] == "^vpce-[0-9a-f]{8,17}$"
    outputs = template["Outputs"]
    assert outputs["MirrorTargetType"]["Value"] == "gateway-load-balancer-endpoint"
    assert outputs["MirrorTarget"]["Value"] == {"Ref": "GatewayLoadBalancerEndpointId"}
    assert outputs["TargetCount"]["Value"] == "0"
    assert not {"InstanceIds", "BucketName", "EniId"} & set(outputs)
    # The renderings with instances do not declare it (site.yml passes it only to this one).
    assert "GatewayLoadBalancerEndpointId" not in load(rendered["target-instance-1"])["Parameters"]
