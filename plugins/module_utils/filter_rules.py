# -*- coding: utf-8 -*-

# Copyright: Contributors to the mirrorlab project
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The traffic mirror filter rule model, its presets, and a reference evaluator.

A rule (docs/experiment.md, "Filter rules") is parsed and normalized by
``normalize_rule``; the three presets of the original AWS experiment are functions of the
VPC CIDR (``preset_rules``); ``is_mirrored`` decides, with the semantics of Amazon VPC
Traffic Mirroring, whether a packet seen by the source ENI is mirrored.

The reference evaluator is deliberately written as a plain reading of the AWS rules and
shares no code with the nftables compiler (nft_mirror.py): the compiler is tested against it.

Normalized rule (a dict)::

    {direction: ingress|egress, number: 1-32766, action: accept|reject,
     protocol: ALL (-1, every protocol) | 0-255, source_cidr: str, destination_cidr: str,
     source_ports: None | {from: int, to: int}, destination_ports: None | {...},
     description: str}
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

from ansible_collections.mirrorlab.vpc.plugins.module_utils import model
from ansible_collections.mirrorlab.vpc.plugins.module_utils.validation import as_int, choices_text, is_int as _is_int

DIRECTIONS = model.DIRECTIONS
ACTIONS = model.ACTIONS
ALL = model.ALL_PROTOCOLS
# Protocol names accepted in rules (IANA numbers); "all" is stored as ALL (-1), like the AWS
# API's "no protocol" (every protocol).
PROTOCOLS = {"all": ALL, "icmp": 1, "tcp": 6, "udp": 17}
PROTOCOL_NAMES = dict((number, name) for name, number in PROTOCOLS.items())
PORT_PROTOCOLS = (6, 17)

RULE_KEYS = tuple(option.name for option in model.RULE_OPTIONS)
REQUIRED_RULE_KEYS = model.REQUIRED_RULE_KEYS

RULE_NUMBER_MIN, RULE_NUMBER_MAX = model.RULE_NUMBER_MIN, model.RULE_NUMBER_MAX
MAX_RULES = model.RULES_PER_FILTER
DESCRIPTION_MAX = model.RULE_DESCRIPTION_MAX
PRESETS = model.PRESETS

_PORT_RE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")
ANY_V4 = "0.0.0.0/0"


class RuleError(ValueError):
    """A problem with one field of a rule: ``path`` names it, ``str()`` states the rule."""

    def __init__(self, path, message):
        super(RuleError, self).__init__(message)
        self.path = path
        self.message = message

    def __str__(self):
        return "%s: %s" % (self.path, self.message)


def parse_cidr(value):
    """An ipaddress network from a CIDR string; raises ValueError with the rule."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be an IPv4 or IPv6 CIDR such as 10.0.0.0/16 or ::/0")
    text = value.strip()
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError:
        try:
            loose = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise ValueError("must be an IPv4 or IPv6 CIDR such as 10.0.0.0/16 or ::/0, got %r" % (value,))
        raise ValueError("%r has host bits set; the network is %s" % (value, loose.with_prefixlen))


def parse_port_range(value):
    """{from, to} from "N", "N-M", an int or a {from, to} dict; raises ValueError."""
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(("from", "to")))
        if unknown:
            raise ValueError("unknown key %s (a port range is \"N\", \"N-M\" or {from: N, to: M})" % unknown[0])
        low, high = as_int(value.get("from")), as_int(value.get("to"))
        if low is None or high is None:
            raise ValueError("must be \"N\" or \"N-M\" with ports 0-65535")
    elif _is_int(value):
        low = high = value
    elif isinstance(value, str) and _PORT_RE.match(value):
        match = _PORT_RE.match(value)
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) is not None else low
    else:
        raise ValueError("must be \"N\" or \"N-M\" with ports 0-65535, got %r" % (value,))
    if not (0 <= low <= 65535 and 0 <= high <= 65535):
        raise ValueError("ports must be 0-65535 (\"N\" or \"N-M\"), got %r" % (value,))
    if low > high:
        raise ValueError("the first port must not be above the second, got %s-%s" % (low, high))
    return {"from": low, "to": high}


def parse_protocol(value):
    """The protocol number (-1 = all) from a name, a number or a decimal string."""
    if isinstance(value, str) and value.strip().lower() in PROTOCOLS:
        return PROTOCOLS[value.strip().lower()]
    number = as_int(value)
    if number is not None and (number == ALL or 0 <= number <= 255):
        return number
    raise ValueError("must be one of tcp, udp, icmp, all or a protocol number 0-255, got %r" % (value,))


def normalize_rule(raw, path):
    """Validate and normalize one rule. Returns (rule or None, [RuleError, ...])."""
    errors = []
    if not isinstance(raw, dict):
        return None, [RuleError(path, "must be a mapping with direction, number, action, source_cidr, destination_cidr")]

    for key in sorted(set(raw) - set(RULE_KEYS), key=str):
        errors.append(RuleError("%s.%s" % (path, key), "unknown key (known: %s)" % ", ".join(RULE_KEYS)))
    for key in REQUIRED_RULE_KEYS:
        if raw.get(key) in (None, ""):
            errors.append(RuleError("%s.%s" % (path, key), "is required"))

    rule = {}
    direction = raw.get("direction")
    if direction not in (None, ""):
        if direction in DIRECTIONS:
            rule["direction"] = direction
        else:
            errors.append(RuleError(path + ".direction", "must be %s, got %r" % (choices_text(DIRECTIONS), direction)))

    number = raw.get("number")
    if number not in (None, ""):
        value = as_int(number)
        if value is not None and RULE_NUMBER_MIN <= value <= RULE_NUMBER_MAX:
            rule["number"] = value
        else:
            errors.append(RuleError(path + ".number", "must be an integer %d-%d, got %r"
                                    % (RULE_NUMBER_MIN, RULE_NUMBER_MAX, number)))

    action = raw.get("action")
    if action not in (None, ""):
        if action in ACTIONS:
            rule["action"] = action
        else:
            errors.append(RuleError(path + ".action", "must be %s, got %r" % (choices_text(ACTIONS), action)))

    protocol = raw.get("protocol", "all")
    try:
        rule["protocol"] = parse_protocol("all" if protocol is None else protocol)
    except ValueError as exc:
        errors.append(RuleError(path + ".protocol", str(exc)))

    networks = {}
    for key in ("source_cidr", "destination_cidr"):
        value = raw.get(key)
        if value in (None, ""):
            continue
        try:
            networks[key] = parse_cidr(value)
            rule[key] = networks[key].with_prefixlen
        except ValueError as exc:
            errors.append(RuleError("%s.%s" % (path, key), str(exc)))
    if len(networks) == 2 and networks["source_cidr"].version != networks["destination_cidr"].version:
        errors.append(
            RuleError(
                path + ".destination_cidr",
                "must be in the same IP family as source_cidr (IPv%d), got IPv%d"
                % (networks["source_cidr"].version, networks["destination_cidr"].version),
            )
        )

    for key in ("source_ports", "destination_ports"):
        value = raw.get(key)
        if value in (None, ""):
            rule[key] = None
            continue
        try:
            rule[key] = parse_port_range(value)
        except ValueError as exc:
            errors.append(RuleError("%s.%s" % (path, key), str(exc)))
            continue
        if rule.get("protocol") not in PORT_PROTOCOLS:
            errors.append(
                RuleError(
                    "%s.%s" % (path, key),
                    "port ranges are only allowed with protocol tcp or udp, not %s"
                    % protocol_name(rule.get("protocol", protocol)),
                )
            )

    description = raw.get("description", "")
    if description is None:
        description = ""
    if not isinstance(description, str):
        errors.append(RuleError(path + ".description", "must be a string"))
    elif len(description) > DESCRIPTION_MAX:
        errors.append(RuleError(path + ".description", "must be at most %d characters" % DESCRIPTION_MAX))
    else:
        rule["description"] = description

    if errors:
        return None, errors
    return rule, []


def protocol_name(number):
    if number in PROTOCOL_NAMES:
        return PROTOCOL_NAMES[number]
    return str(number)


def sort_rules(rules):
    """Rules sorted by direction (ingress first) then rule number: the normalized order."""
    return sorted(rules, key=lambda r: (DIRECTIONS.index(r["direction"]), r["number"]))


def normalize_rules(raw_rules, path):
    """Validate a rule list (quota, unique numbers per direction). Returns (rules, errors)."""
    if not isinstance(raw_rules, list):
        return [], [RuleError(path, "must be a list of rules")]
    errors = []
    if len(raw_rules) > MAX_RULES:
        errors.append(RuleError(path, "at most %d rules per filter (AWS quota), got %d" % (MAX_RULES, len(raw_rules))))
    rules, seen = [], {}
    for index, raw in enumerate(raw_rules):
        rule_path = "%s[%d]" % (path, index)
        rule, rule_errors = normalize_rule(raw, rule_path)
        errors.extend(rule_errors)
        if isinstance(raw, dict):
            key = (raw.get("direction"), as_int(raw.get("number")))
            if key[0] in DIRECTIONS and key[1] is not None:
                if key in seen:
                    errors.append(
                        RuleError(
                            rule_path + ".number",
                            "rule number %d is already used by %s in direction %s; numbers must be unique per direction"
                            % (key[1], seen[key], key[0]),
                        )
                    )
                else:
                    seen[key] = rule_path
        if rule is not None:
            rules.append(rule)
    return sort_rules(rules), errors


def check_normalized_rules(rules, path):
    """Errors (``RuleError``) unless ``rules`` are normalized rules in the normalized order, as
    ``normalize_rules`` (experiment_info's ``experiment.filter.rules``) returns them. The rules
    are checked, not changed: whoever takes them uses them as they are."""
    normalized, errors = normalize_rules(rules, path)
    if errors:
        return errors
    if normalized != rules:
        for index, (have, want) in enumerate(zip(rules, normalized)):
            if have != want:
                keys = sorted(k for k in set(have) | set(want) if have.get(k, "(missing)") != want.get(k, "(missing)"))
                return [RuleError("%s[%d]" % (path, index),
                                  "is not a normalized rule in the normalized order (as experiment_info returns "
                                  "experiment.filter.rules): %s should be %s"
                                  % (", ".join(keys), ", ".join(repr(want.get(k)) for k in keys)))]
    return []


def make_rule(direction, number, action, protocol, source_cidr, destination_cidr, source_ports=None,
              destination_ports=None, description=""):
    """A normalized rule from trusted values (presets, tests)."""
    rule, errors = normalize_rule(
        {
            "direction": direction,
            "number": number,
            "action": action,
            "protocol": protocol,
            "source_cidr": source_cidr,
            "destination_cidr": destination_cidr,
            "source_ports": source_ports,
            "destination_ports": destination_ports,
            "description": description,
        },
        "rule",
    )
    if errors:
        raise ValueError("; ".join(str(e) for e in errors))
    return rule


def preset_rules(preset, vpc_cidr):
    """The rules of a preset for the VPC CIDR ``vpc_cidr`` (docs/experiment.md, "Presets").

    The presets are those of the original AWS experiment (aws-vpc-mirroring: the default
    TCP filter, MirrorAlbClientTraffic and MirrorAlbTargetTraffic):
      all_tcp    every TCP packet in both directions;
      alb_client client <-> ALB only: packets from (ingress) or to (egress) the VPC, i.e. the
                 ALB's targets, are rejected, every other TCP packet accepted;
      alb_target ALB <-> targets only: TCP packets from (ingress) or to (egress) the VPC.
    """
    v = vpc_cidr
    if preset == "all_tcp":
        return sort_rules([
            make_rule("ingress", 100, "accept", "tcp", ANY_V4, ANY_V4, description="all TCP in"),
            make_rule("egress", 100, "accept", "tcp", ANY_V4, ANY_V4, description="all TCP out"),
        ])
    if preset == "alb_client":
        return sort_rules([
            make_rule("ingress", 100, "reject", "tcp", v, ANY_V4, description="not from the VPC (targets)"),
            make_rule("ingress", 200, "accept", "tcp", ANY_V4, ANY_V4, description="clients to the ALB"),
            make_rule("egress", 100, "reject", "tcp", ANY_V4, v, description="not to the VPC (targets)"),
            make_rule("egress", 200, "accept", "tcp", ANY_V4, ANY_V4, description="the ALB to clients"),
        ])
    if preset == "alb_target":
        return sort_rules([
            make_rule("ingress", 100, "accept", "tcp", v, ANY_V4, description="targets to the ALB"),
            make_rule("egress", 100, "accept", "tcp", ANY_V4, v, description="the ALB to targets"),
        ])
    raise ValueError("unknown preset %r (known: %s)" % (preset, ", ".join(PRESETS)))


# --- reference evaluator (AWS semantics) -------------------------------------------------


def packet(direction, src, dst, protocol, sport=None, dport=None):
    """A packet as the source ENI sees it; ports only meaningful for tcp (6) and udp (17)."""
    return {"direction": direction, "src": src, "dst": dst, "protocol": protocol, "sport": sport, "dport": dport}


def _in_range(port, port_range):
    return port_range is None or (port is not None and port_range["from"] <= port <= port_range["to"])


def rule_matches(rule, pkt):
    """Whether one normalized rule matches a packet (direction is checked by the caller)."""
    src = ipaddress.ip_address(pkt["src"])
    dst = ipaddress.ip_address(pkt["dst"])
    source = ipaddress.ip_network(rule["source_cidr"])
    destination = ipaddress.ip_network(rule["destination_cidr"])
    # A rule of one IP family never matches a packet of the other (0.0.0.0/0 is not ::/0).
    if source.version != src.version or destination.version != dst.version:
        return False
    if src not in source or dst not in destination:
        return False
    if rule["protocol"] != ALL and rule["protocol"] != pkt["protocol"]:
        return False
    if pkt["protocol"] in PORT_PROTOCOLS:
        if not _in_range(pkt["sport"], rule.get("source_ports")):
            return False
        if not _in_range(pkt["dport"], rule.get("destination_ports")):
            return False
    elif rule.get("source_ports") or rule.get("destination_ports"):
        # Port ranges exist only on tcp/udp rules, which a non-tcp/udp packet cannot match.
        return False
    return True


def matching_rule(rules, pkt):
    """The rule that decides the packet (lowest number of its direction that matches), or None."""
    candidates = sorted((r for r in rules if r["direction"] == pkt["direction"]), key=lambda r: r["number"])
    for rule in candidates:
        if rule_matches(rule, pkt):
            return rule
    return None


def is_mirrored(rules, pkt):
    """AWS semantics: first matching rule of the packet's direction decides; none = not mirrored."""
    rule = matching_rule(rules, pkt)
    return rule is not None and rule["action"] == "accept"


def mirroring_session(sessions, pkt):
    """AWS semantics of several sessions on one source ENI: they are tried in ascending
    session number; the first whose filter accepts the packet mirrors it (once); None when no
    session's filter accepts it. ``sessions``: [{"session_number": N, "rules": [...], ...}]."""
    for session in sorted(sessions, key=lambda s: s["session_number"]):
        if is_mirrored(session["rules"], pkt):
            return session
    return None
