# -*- coding: utf-8 -*-

# Copyright: Contributors to the mirrorlab project
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Validation and normalization of the experiment model (docs/experiment.md).

The model is declared in model.py (types, defaults, ranges, patterns); this module runs the
declarations (validation.check) and adds the rules between keys: a preset's rules follow the
VPC CIDR, subnets need a VPC, a source is listed once, an ENI target takes at most 10 sources,
a certificate only with HTTPS, the capture settings with the session's VNI.

``build_experiment(values)`` takes the mirrorlab_* values without their prefix (``deployment``,
``network``, ...; a missing key takes its documented default) and returns
``(experiment, errors)``: the normalized ``experiment`` dict, or None and the list of ALL
problems found, each ``"<variable path>: <rule>"`` such as
``mirrorlab_filter.rules[3].destination_ports: ports must be 0-65535 ("N" or "N-M"), got '80-70000'``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

from ansible_collections.mirrorlab.vpc.plugins.module_utils import model
from ansible_collections.mirrorlab.vpc.plugins.module_utils.capture_vars import check_mirrorlab_capture
from ansible_collections.mirrorlab.vpc.plugins.module_utils.filter_rules import normalize_rules, preset_rules
from ansible_collections.mirrorlab.vpc.plugins.module_utils.mirror_support import SOURCE_INSTANCE_SUPPORT
from ansible_collections.mirrorlab.vpc.plugins.module_utils.validation import (
    Errors,
    check,
    check_variant_items,
    edit_distance,
)

PREFIX = model.PREFIX
DEFAULTS = model.default_of(model.EXPERIMENT)
BACKENDS = model.BACKENDS
STACKS = ("sample_service", "target_instance", "mirroring")
XEN_FAMILIES = SOURCE_INSTANCE_SUPPORT["xen_families"]
SCALARS = ("str", "path", "int", "bool")  # a top-level null of these is a mistake, not "the default"


def deployment_problem(name):
    """What is wrong with a deployment name (model.DEPLOYMENT_PATTERN), in words; None if nothing."""
    if re.match(model.DEPLOYMENT_PATTERN, name):
        return None
    if not name:
        return "it is empty"
    if len(name) > 23:
        return "it has %d characters" % len(name)
    if not "a" <= name[0] <= "z":
        return "it starts with %r, not a lower-case letter" % name[0]
    bad = sorted(set(c for c in name if not ("a" <= c <= "z" or "0" <= c <= "9" or c == "-")))
    if bad:
        return "%s %s not allowed" % (", ".join(repr(c) for c in bad), "is" if len(bad) == 1 else "are")
    return "it ends in '-'"


def check_deployment_name(option, name, path, errors):
    problem = deployment_problem(name)
    if problem:
        errors.add(path, "%s: %s" % (option.rule % (name,), problem))
        return None
    return name


check_deployment_name.checks_pattern = True  # validation.check leaves DEPLOYMENT_PATTERN to it


def check_vpc_cidr(option, cidr, path, errors):
    try:
        net = ipaddress.ip_network(cidr, strict=True)
    except ValueError:
        net = None
    if net is None or net.version != 4 or not model.VPC_PREFIX_MIN <= net.prefixlen <= model.VPC_PREFIX_MAX:
        errors.add(path, option.rule % (cidr,))
        return None
    return net.with_prefixlen


def check_network_ids(errors, network):
    """The rules between the network's keys (each key's own rule is in model.py)."""
    subnets = network["subnet_ids"]
    if not isinstance(subnets, list):
        return
    if network["vpc_id"] and len(subnets) < 2:
        errors.add("network.subnet_ids", "must list at least 2 subnets (in different zones) when %snetwork.vpc_id "
                                         "is given, got %d" % (PREFIX, len(subnets)))
    if subnets and not network["vpc_id"]:
        errors.add("network.subnet_ids", "is only used with %snetwork.vpc_id; give vpc_id too, or leave both empty "
                                         "to import them" % PREFIX)


def check_tag_map(option, tags, path, errors):
    if tags and not all(isinstance(k, str) and isinstance(v, (str, int)) for k, v in tags.items()):
        errors.add(path, option.rule)
        return None
    return tags


def _source_key(source):
    return tuple(sorted((k, repr(v)) for k, v in source.items()))


def check_sources(option, value, path, errors):
    """Every source valid (model.SOURCE_VARIANTS) and none listed twice."""
    sources, seen = [], {}
    for index, source in check_variant_items(option, value, path, errors, HOOKS):
        key = _source_key(source)
        if key in seen:
            errors.add(
                "%s[%d]" % (path, index),
                "is the same source as %s%s: one session per source ENI is created, a source listed twice "
                "would need two sessions on the same ENI (AWS allows at most %d, and they would mirror the same packets)"
                % (PREFIX, seen[key], model.SESSIONS_PER_SOURCE_ENI),
            )
            continue
        seen[key] = "%s[%d]" % (path, index)
        sources.append(source)
    return sources


def check_filter(option, flt, path, errors):
    """User rules replace the preset; the preset's rules follow the VPC CIDR (filled in later)."""
    raw_rules = flt["rules"] if flt["rules"] is not None else []
    if raw_rules:
        # The rules' own paths carry the prefix, so that a message naming another rule names it in full.
        rules, rule_errors = normalize_rules(raw_rules, errors.prefix + path + ".rules")
        errors.messages.extend(str(error) for error in rule_errors)
        return {"preset": None, "rules": rules}
    rules_option = option.option("rules")
    if not isinstance(raw_rules, list):
        errors.add(path + ".rules", rules_option.rule)
        return None
    preset = check(option.option("preset"), flt["preset"], path + ".preset", errors)
    return None if preset is None else {"preset": preset, "rules": None}


def check_extra_sessions(option, value, path, errors):
    """mirrorlab_session.extra: each item a session (model.EXTRA_SESSION_OPTIONS) with a number;
    with the main session at most model.SESSIONS_PER_SOURCE_ENI per ENI (the numbers are checked
    against the main session's in check_sessions)."""
    item_option = model.Option(option.name, "dict", options=option.options)
    before, extra = len(errors), []
    for index, item in enumerate(value):
        extra.append(check(item_option, item, "%s[%d]" % (path, index), errors, HOOKS))
    if len(value) > model.SESSIONS_PER_SOURCE_ENI - 1:
        errors.add(path, "lists %d sessions: with mirrorlab_session itself that is %d per source ENI, AWS allows at "
                         "most %d (a quota that cannot be raised)"
                   % (len(value), len(value) + 1, model.SESSIONS_PER_SOURCE_ENI))
        return None
    return extra if len(errors) == before else None


def check_sessions(errors, backend, session):
    """The rules between the sessions on one ENI: distinct session numbers; one VNI per ENI
    only for a single session (the per-ENI VNIs would collide with the others'). Both
    backends: the lab tries a source's sessions in session-number order as AWS does."""
    if not session or session["extra"] is None:
        return
    numbers = {session["session_number"]: "%ssession.session_number" % PREFIX}
    for index, extra in enumerate(session["extra"]):
        number = extra["session_number"]
        if number in numbers:
            errors.add("session.extra[%d].session_number" % index,
                       "%d is already the number of %s; the sessions of one ENI need distinct numbers "
                       "(AWS evaluates them lowest first)" % (number, numbers[number]))
        numbers.setdefault(number, "%ssession.extra[%d]" % (PREFIX, index))
    if session["vni_per_eni"] and session["extra"]:
        errors.add("session.vni_per_eni", "works with one session per ENI only (the VNIs of the first session's ENIs "
                                          "would collide with the other sessions'); remove mirrorlab_session.extra or "
                                          "set vni_per_eni: false")


def fill_presets(flt, vpc_cidr):
    """A filter whose preset's rules follow the VPC CIDR (user rules stay as they are)."""
    if flt is None or flt["rules"] is not None:
        return flt
    # without a VPC CIDR (reported under network.vpc_cidr) a preset has no rules
    return {"preset": flt["preset"], "rules": preset_rules(flt["preset"], vpc_cidr)} if vpc_cidr else None


GWLB_ENDPOINT = "gateway_load_balancer_endpoint"


def capture_instances(target):
    """The capture instances mirrorlab creates: none for a Gateway Load Balancer endpoint target
    (the appliances behind the endpoint are the user's), else mirrorlab_target.count."""
    return 0 if target.get("type") == GWLB_ENDPOINT else int(target["count"])


def check_target(errors, backend, target, sources):
    """The rules between the target's keys, the backend and the sources."""
    if target is None:
        return
    gwlb = target["type"] == GWLB_ENDPOINT
    if gwlb and backend == "lab":
        errors.add("target.type", "gateway_load_balancer_endpoint is an AWS resource the lab cannot reproduce "
                                  "(there is no GWLB or GENEVE in the lab); use type: instance on the lab")
    elif gwlb and not target["gwlb_endpoint_id"]:
        errors.add("target.gwlb_endpoint_id", "is required with type: gateway_load_balancer_endpoint (an existing "
                                              "endpoint id such as vpce-0123456789abcdef0)")
    if target["gwlb_endpoint_id"] and not gwlb:
        errors.add("target.gwlb_endpoint_id", "is only used with type: gateway_load_balancer_endpoint")
    if gwlb and target["count"] != 1:
        errors.add("target.count", "is not used with a Gateway Load Balancer endpoint target (mirrorlab creates no "
                                   "capture instance then); leave it at 1")
    if sources and not gwlb and target["count"] == 1 and len(sources) > model.SOURCES_PER_ENI_TARGET:
        errors.add(
            "sources",
            "an ENI target (%starget.count 1) accepts at most %d sessions; %d sources need at least %d; "
            "use %starget.count > 1 (an NLB target)"
            % (PREFIX, model.SOURCES_PER_ENI_TARGET, len(sources), len(sources), PREFIX),
        )


def session_vnis(session):
    """The VNIs of the sessions besides mirrorlab_session.vni (each one more capture link)."""
    if not session or not session["extra"]:
        return []
    return sorted(set(extra["vni"] for extra in session["extra"]) - set([session["vni"]]))


def check_nitro(option, instance_type, path, errors):
    if instance_type.split(".")[0] in XEN_FAMILIES and not instance_type.endswith(".metal"):
        errors.add(path, "%s is not built on the AWS Nitro System; use a Nitro type such as t3.small" % instance_type)
        return None
    return instance_type


def check_capture(option, value, path, errors):
    return value  # checked with the session's VNI in build_experiment (check_mirrorlab_capture)


HOOKS = {
    "deployment_name": check_deployment_name,
    "vpc_cidr": check_vpc_cidr,
    "tag_map": check_tag_map,
    "sources": check_sources,
    "filter": check_filter,
    "nitro_instance_type": check_nitro,
    "capture": check_capture,
    "extra_sessions": check_extra_sessions,
}


def build_experiment(values):
    """Validate and normalize the whole model. Returns (experiment or None, [messages])."""
    values = dict(values or {})
    errors = Errors(PREFIX)
    known = [option.name for option in model.EXPERIMENT]
    for key in sorted(set(values) - set(known), key=str):
        errors.add(key, "unknown variable (known: %s)" % ", ".join(PREFIX + k for k in sorted(known)))

    model_values = {}
    for option in model.EXPERIMENT:
        if option.name in values and values[option.name] is None and option.type in SCALARS and not option.nullable:
            errors.add(option.name, "is null (in YAML: the variable with nothing after its colon); give it a value, "
                                    "or leave it out for the default %r" % (option.default,))
            model_values[option.name] = None
            continue
        model_values[option.name] = check(option, values.get(option.name), option.name, errors, HOOKS, top=True)
    backend, network, flt = model_values["backend"], model_values["network"], model_values["filter"]
    if network is not None:
        check_network_ids(errors, network)
    vpc_cidr = network["vpc_cidr"] if network else None
    flt = model_values["filter"] = fill_presets(flt, vpc_cidr)
    sources, target, session = model_values["sources"], model_values["target"], model_values["session"]
    check_target(errors, backend, target, sources)
    check_sessions(errors, backend, session)
    for extra in (session or {}).get("extra") or []:
        extra["filter"] = fill_presets(extra["filter"], vpc_cidr)
        if extra["vni"] is None:
            extra["vni"] = session["vni"]
    capture, capture_vars = None, None
    if model_values["capture"] is not None:
        capture, capture_vars = check_mirrorlab_capture(model_values["capture"], errors, session["vni"] if session else None)
    if capture_vars is not None and session_vnis(session):
        given = capture_vars.get(model.CAPTURE_PREFIX + "extra_vnis") or []
        capture_vars[model.CAPTURE_PREFIX + "extra_vnis"] = sorted(set(given) | set(session_vnis(session)))
    https, certificate_arn = model_values["https"], model_values["certificate_arn"]
    if certificate_arn and https is False:
        errors.add("certificate_arn", "is only used with mirrorlab_https: true")
    if certificate_arn and model_values["backend"] == "lab":
        errors.add("certificate_arn", "is an ACM certificate, AWS only; the lab makes its own self-signed certificate")

    if len(errors):
        return None, errors.messages
    deployment = model_values["deployment"]
    experiment = dict(model_values)
    experiment.update({
        "tags": {model.DEPLOYMENT_TAG: deployment},
        "stack_names": dict((stack, "%s-%s" % (deployment, stack.replace("_", "-"))) for stack in STACKS),
        "capture": capture,
        "capture_vars": capture_vars,
        "capture_instances": capture_instances(target),
        "constants": model.template_constants(),
    })
    return experiment, []


def misspelled_variables(names):
    """Warnings for defined variable names that look like a misspelled model variable.

    Other mirrorlab_* variables exist (playbook options such as mirrorlab_keep_captures, host
    variables such as mirrorlab_deployment_tag), so only names within two typing mistakes of a
    model variable are reported, and only as warnings.
    """
    known = [PREFIX + option.name for option in model.EXPERIMENT]
    warnings = []
    for name in sorted(set(names or [])):
        if name in known:
            continue
        close = sorted((edit_distance(name, k), k) for k in known)
        if close and close[0][0] <= 2:
            warnings.append("%s is not a variable of the experiment model and is ignored; did you mean %s?" % (name, close[0][1]))
    return warnings
