# -*- coding: utf-8 -*-

# Copyright: Contributors to the mirrorlab project
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Validation and normalization of the experiment model (docs/experiment.md).

``build_experiment(values)`` takes the mirrorlab_* values without their prefix (``deployment``,
``network``, ...; a missing key takes its documented default) and returns
``(experiment, errors)``: the normalized ``experiment`` dict, or None and the list of ALL
problems found, each ``"<variable path>: <rule>"`` such as
``mirrorlab_filter.rules[3].destination_ports: ports must be 0-65535, got 80-70000``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import ipaddress
import re

from ansible_collections.mirrorlab.vpc.plugins.module_utils.filter_rules import (
    PRESETS,
    as_int,
    normalize_rules,
    preset_rules,
)

PREFIX = "mirrorlab_"

DEFAULTS = {
    "backend": "lab",
    "deployment": "mirrorlab",
    "region": "eu-west-1",
    "network": {"vpc_cidr": "10.0.0.0/16", "vpc_id": "", "subnet_ids": [], "import_prefix": "infra-vpc"},
    "sources": [{"type": "sample_service"}],
    "filter": {"preset": "all_tcp", "rules": []},
    "session": {"vni": 12345, "session_number": 1, "packet_length": None},
    "target": {"count": 1, "instance_type": "t3.small", "spot": False},
    "capture": {},
    "https": False,
    "certificate_arn": "",
}

BACKENDS = ("lab", "aws")
SOURCE_TYPES = {
    # type: (required keys: any-of groups, optional keys)
    "sample_service": ((), ()),
    "load_balancer": ((("name", "arn"),), ()),
    "instance": ((("id", "tags"),), ()),
    "ecs_service": ((("cluster",), ("service",)), ()),
    "network_interface": ((("id",),), ()),
}
STACKS = ("sample_service", "target_instance", "mirroring")

DEPLOYMENT_RE = re.compile(r"^[a-z][a-z0-9-]{0,22}$")
REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$")
IMPORT_PREFIX_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9:-]{0,200}$")
ID_RES = {
    "eni": re.compile(r"^eni-[0-9a-f]{8}([0-9a-f]{9})?$"),
    "i": re.compile(r"^i-[0-9a-f]{8}([0-9a-f]{9})?$"),
    "vpc": re.compile(r"^vpc-[0-9a-f]{8}([0-9a-f]{9})?$"),
    "subnet": re.compile(r"^subnet-[0-9a-f]{8}([0-9a-f]{9})?$"),
}
INSTANCE_TYPE_RE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")
# Families built on the Xen hypervisor rather than the Nitro System: traffic mirroring needs Nitro.
XEN_FAMILIES = ("t1", "t2", "m1", "m2", "m3", "m4", "c1", "c3", "c4", "r3", "r4", "x1", "x1e", "d2", "i2", "i3",
                "g2", "g3", "p2", "p3", "h1", "f1")
LB_ARN_RE = re.compile(r"^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:loadbalancer/(app|net|gwy)/[^/]+/[0-9a-f]+$")
LB_NAME_RE = re.compile(r"^(?!internal-)[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?$")
CERT_ARN_RE = re.compile(r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]{36}$")

VNI_MAX = 16777215
SESSION_NUMBER_MIN, SESSION_NUMBER_MAX = 1, 32766
PACKET_LENGTH_MIN, PACKET_LENGTH_MAX = 1, 8500
TARGET_COUNT_MIN, TARGET_COUNT_MAX = 1, 10
SOURCES_PER_ENI_TARGET = 10
SESSIONS_PER_SOURCE_ENI = 3


class Errors(object):
    """Collects "<path>: <rule>" messages; paths get the mirrorlab_ prefix."""

    def __init__(self):
        self.messages = []

    def add(self, path, message):
        self.messages.append("%s%s: %s" % (PREFIX, path, message))

    def __len__(self):
        return len(self.messages)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _dict(errors, name, value, default):
    """The mapping ``value`` merged over its defaults, unknown keys reported; None if not a mapping."""
    if value is None:
        return copy.deepcopy(default)
    if not isinstance(value, dict):
        errors.add(name, "must be a mapping with keys %s" % ", ".join(sorted(default)))
        return None
    for key in sorted(set(value) - set(default), key=str):
        errors.add("%s.%s" % (name, key), "unknown key (known: %s)" % ", ".join(sorted(default)))
    merged = copy.deepcopy(default)
    merged.update(dict((k, v) for k, v in value.items() if k in default))
    return merged


def _int_in(errors, path, value, low, high, allow_none=False):
    if value is None and allow_none:
        return None
    number = as_int(value)
    if number is None or not low <= number <= high:
        suffix = " or null" if allow_none else ""
        errors.add(path, "must be an integer %d-%d%s, got %r" % (low, high, suffix, value))
        return None
    return number


def _bool(errors, path, value):
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "yes", "on", "1", "false", "no", "off", "0"):
        return value.lower() in ("true", "yes", "on", "1")
    errors.add(path, "must be a boolean (true or false), got %r" % (value,))
    return None


def check_deployment(errors, value):
    if not isinstance(value, str) or not DEPLOYMENT_RE.match(value) or value.endswith("-"):
        errors.add(
            "deployment",
            "must be 1-23 characters: a lower-case letter, then lower-case letters, digits or '-', "
            "not ending in '-' (it prefixes CloudFormation stack names), got %r" % (value,),
        )
        return None
    return value


def check_region(errors, value):
    if not isinstance(value, str) or not REGION_RE.match(value):
        errors.add("region", "must be an AWS region name such as eu-west-1, got %r" % (value,))
        return None
    return value


def check_aws_id(errors, path, value, kind):
    if not isinstance(value, str) or not ID_RES[kind].match(value):
        errors.add(path, "must be an id like %s-0123456789abcdef0, got %r" % (kind, value))
        return None
    return value


def check_network(errors, value):
    network = _dict(errors, "network", value, DEFAULTS["network"])
    if network is None:
        return None
    cidr = network["vpc_cidr"]
    try:
        net = ipaddress.ip_network(cidr, strict=True) if isinstance(cidr, str) else None
    except ValueError:
        net = None
    if net is None or net.version != 4 or not 16 <= net.prefixlen <= 28:
        errors.add("network.vpc_cidr", "must be an IPv4 CIDR from /16 to /28 with no host bits set (AWS VPC rule), got %r" % (cidr,))
        network["vpc_cidr"] = None
    else:
        network["vpc_cidr"] = net.with_prefixlen
    vpc_id = network["vpc_id"]
    if vpc_id not in ("", None):
        check_aws_id(errors, "network.vpc_id", vpc_id, "vpc")
    else:
        network["vpc_id"] = ""
    subnets = network["subnet_ids"]
    if subnets is None:
        subnets = network["subnet_ids"] = []
    if not isinstance(subnets, list):
        errors.add("network.subnet_ids", "must be a list of subnet ids")
    else:
        for index, subnet in enumerate(subnets):
            check_aws_id(errors, "network.subnet_ids[%d]" % index, subnet, "subnet")
        if len(set(map(str, subnets))) != len(subnets):
            errors.add("network.subnet_ids", "must not list a subnet twice")
        if network["vpc_id"] and len(subnets) < 2:
            errors.add("network.subnet_ids", "must list at least 2 subnets (in different zones) when vpc_id is given")
        if subnets and not network["vpc_id"]:
            errors.add("network.subnet_ids", "is only used with vpc_id; give vpc_id too, or leave both empty to import them")
    prefix = network["import_prefix"]
    if not isinstance(prefix, str) or not IMPORT_PREFIX_RE.match(prefix):
        errors.add("network.import_prefix", "must be a CloudFormation export name prefix (letters, digits, '-', ':'), got %r" % (prefix,))
    return network


def _a(kind):
    return ("an " if kind[0] in "aeiou" else "a ") + kind


def _source_key(source):
    return tuple(sorted((k, repr(v)) for k, v in source.items()))


def check_sources(errors, value):
    if value is None:
        return copy.deepcopy(DEFAULTS["sources"])
    if not isinstance(value, list) or not value:
        errors.add("sources", "must be a non-empty list of sources, e.g. [{type: sample_service}]")
        return None
    sources, seen = [], {}
    for index, source in enumerate(value):
        path = "sources[%d]" % index
        if not isinstance(source, dict):
            errors.add(path, "must be a mapping with a type (%s)" % ", ".join(sorted(SOURCE_TYPES)))
            continue
        kind = source.get("type")
        if kind not in SOURCE_TYPES:
            errors.add(path + ".type", "must be one of %s, got %r" % (", ".join(sorted(SOURCE_TYPES)), kind))
            continue
        groups, optional = SOURCE_TYPES[kind]
        allowed = set(["type"]) | set(k for group in groups for k in group) | set(optional)
        ok = True
        for key in sorted(set(source) - allowed, key=str):
            errors.add("%s.%s" % (path, key), "unknown key for %s source (known: %s)" % (_a(kind), ", ".join(sorted(allowed))))
            ok = False
        for group in groups:
            given = [k for k in group if source.get(k) not in (None, "", {}, [])]
            if not given:
                errors.add(path, "%s source needs %s" % (_a(kind), " or ".join(group)))
                ok = False
            elif len(given) > 1:
                errors.add(path, "%s source takes only one of %s" % (_a(kind), ", ".join(group)))
                ok = False
        ok = _check_source_values(errors, path, kind, source) and ok
        if not ok:
            continue
        normalized = dict((k, v) for k, v in source.items() if v not in (None, ""))
        key = _source_key(normalized)
        if key in seen:
            errors.add(
                path,
                "is the same source as %s%s: one session per source ENI is created, a source listed twice "
                "would need two sessions on the same ENI (AWS allows at most %d, and they would mirror the same packets)"
                % (PREFIX, seen[key], SESSIONS_PER_SOURCE_ENI),
            )
            continue
        seen[key] = path
        sources.append(normalized)
    return sources


def _check_source_values(errors, path, kind, source):
    before = len(errors)
    if kind == "network_interface" and source.get("id"):
        check_aws_id(errors, path + ".id", source["id"], "eni")
    if kind == "instance":
        if source.get("id"):
            check_aws_id(errors, path + ".id", source["id"], "i")
        tags = source.get("tags")
        if tags not in (None, "", {}) and (
            not isinstance(tags, dict) or not all(isinstance(k, str) and isinstance(v, (str, int)) for k, v in tags.items())
        ):
            errors.add(path + ".tags", "must be a mapping of tag names to values")
    if kind == "load_balancer":
        if source.get("arn") and not (isinstance(source["arn"], str) and LB_ARN_RE.match(source["arn"])):
            errors.add(path + ".arn", "must be an elasticloadbalancing load balancer ARN, got %r" % (source["arn"],))
        if source.get("name") and not (isinstance(source["name"], str) and LB_NAME_RE.match(source["name"])):
            errors.add(path + ".name", "must be a load balancer name (1-32 letters, digits, '-'), got %r" % (source["name"],))
    if kind == "ecs_service":
        for key in ("cluster", "service"):
            if source.get(key) not in (None, "") and not isinstance(source[key], str):
                errors.add("%s.%s" % (path, key), "must be a string (a name or an ARN)")
    return len(errors) == before


def check_filter(errors, value, vpc_cidr):
    flt = _dict(errors, "filter", value, DEFAULTS["filter"])
    if flt is None:
        return None
    raw_rules = flt["rules"] if flt["rules"] is not None else []
    preset = flt["preset"]
    if raw_rules:
        rules, rule_errors = normalize_rules(raw_rules, "filter.rules")
        for error in rule_errors:
            errors.add(error.path, error.message)
        return {"preset": None, "rules": rules}
    if not isinstance(raw_rules, list):
        errors.add("filter.rules", "must be a list of rules")
        return None
    if preset not in PRESETS:
        errors.add("filter.preset", "must be one of %s, got %r" % (", ".join(PRESETS), preset))
        return None
    if vpc_cidr is None:
        return None  # reported under network.vpc_cidr
    return {"preset": preset, "rules": preset_rules(preset, vpc_cidr)}


def check_aws_rule_families(errors, value):
    """CloudFormation's AWS::EC2::TrafficMirrorFilterRule takes IPv4 CIDRs only (its schema's
    pattern; cfn-lint E3002 on ::/0): refuse IPv6 rules on AWS before a stack fails on them."""
    for index, rule in enumerate((value or {}).get("rules") or []):
        for key in ("source_cidr", "destination_cidr"):
            if isinstance(rule, dict) and ":" in str(rule.get(key, "")):
                errors.add(
                    "filter.rules[%d].%s" % (index, key),
                    "IPv6 CIDRs are not accepted by CloudFormation's AWS::EC2::TrafficMirrorFilterRule "
                    "(IPv4 only); IPv6 rules run in the lab only",
                )


def check_session(errors, value):
    session = _dict(errors, "session", value, DEFAULTS["session"])
    if session is None:
        return None
    return {
        "vni": _int_in(errors, "session.vni", session["vni"], 0, VNI_MAX),
        "session_number": _int_in(errors, "session.session_number", session["session_number"], SESSION_NUMBER_MIN, SESSION_NUMBER_MAX),
        "packet_length": _int_in(errors, "session.packet_length", session["packet_length"], PACKET_LENGTH_MIN, PACKET_LENGTH_MAX, allow_none=True),
    }


def check_target(errors, value):
    target = _dict(errors, "target", value, DEFAULTS["target"])
    if target is None:
        return None
    count = _int_in(errors, "target.count", target["count"], TARGET_COUNT_MIN, TARGET_COUNT_MAX)
    instance_type = target["instance_type"]
    if not isinstance(instance_type, str) or not INSTANCE_TYPE_RE.match(instance_type):
        errors.add("target.instance_type", "must be an EC2 instance type such as t3.small, got %r" % (instance_type,))
    elif instance_type.split(".")[0] in XEN_FAMILIES and not instance_type.endswith(".metal"):
        errors.add("target.instance_type", "%s is not built on the AWS Nitro System; use a Nitro type such as t3.small" % instance_type)
    return {"count": count, "instance_type": instance_type, "spot": _bool(errors, "target.spot", target["spot"])}


def build_experiment(values):
    """Validate and normalize the whole model. Returns (experiment or None, [messages])."""
    values = dict(values or {})
    errors = Errors()
    for key in sorted(set(values) - set(DEFAULTS), key=str):
        errors.add(key, "unknown variable (known: %s)" % ", ".join(PREFIX + k for k in sorted(DEFAULTS)))

    def get(key):
        value = values.get(key)
        return copy.deepcopy(DEFAULTS[key]) if value is None else value

    backend = get("backend")
    if backend not in BACKENDS:
        errors.add("backend", "must be lab or aws, got %r" % (backend,))
    deployment = check_deployment(errors, get("deployment"))
    region = check_region(errors, get("region"))
    network = check_network(errors, values.get("network"))
    vpc_cidr = network["vpc_cidr"] if network else None
    sources = check_sources(errors, values.get("sources"))
    flt = check_filter(errors, values.get("filter"), vpc_cidr)
    if backend == "aws" and flt:
        check_aws_rule_families(errors, values.get("filter"))
    session = check_session(errors, values.get("session"))
    target = check_target(errors, values.get("target"))
    if sources and target and target["count"] == 1 and len(sources) > SOURCES_PER_ENI_TARGET:
        errors.add(
            "sources",
            "an ENI target (target.count 1) accepts at most %d sessions; %d sources need at least %d; "
            "use target.count > 1 (an NLB target)" % (SOURCES_PER_ENI_TARGET, len(sources), len(sources)),
        )
    capture = get("capture")
    if not isinstance(capture, dict):
        errors.add("capture", "must be a mapping (see the capture role's capture_* variables)")
    https = _bool(errors, "https", get("https"))
    certificate_arn = get("certificate_arn")
    if certificate_arn and not (isinstance(certificate_arn, str) and CERT_ARN_RE.match(certificate_arn)):
        errors.add("certificate_arn", "must be an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>) or empty, got %r" % (certificate_arn,))
    if certificate_arn and https is False:
        errors.add("certificate_arn", "is only used with mirrorlab_https: true")

    if len(errors):
        return None, errors.messages
    return {
        "backend": backend,
        "deployment": deployment,
        "region": region,
        "tags": {"mirrorlab:deployment": deployment},
        "stack_names": dict((stack, "%s-%s" % (deployment, stack.replace("_", "-"))) for stack in STACKS),
        "network": network,
        "sources": sources,
        "filter": flt,
        "session": session,
        "target": target,
        "capture": capture,
        "https": https,
        "certificate_arn": certificate_arn or "",
    }, []


def _edit_distance(a, b):
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def misspelled_variables(names):
    """Warnings for defined variable names that look like a misspelled model variable.

    Other mirrorlab_* variables exist (playbook options such as mirrorlab_keep_captures, host
    variables such as mirrorlab_deployment_tag), so only names within two typing mistakes of a
    model variable are reported, and only as warnings.
    """
    known = [PREFIX + key for key in DEFAULTS]
    warnings = []
    for name in sorted(set(names or [])):
        if name in known:
            continue
        close = sorted((_edit_distance(name, k), k) for k in known)
        if close and close[0][0] <= 2:
            warnings.append("%s is not a variable of the experiment model and is ignored; did you mean %s?" % (name, close[0][1]))
    return warnings
