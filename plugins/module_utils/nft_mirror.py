# -*- coding: utf-8 -*-

# Copyright: Contributors to the mirrorlab project
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Compile a traffic mirror filter (normalized rules) into an nftables netdev table.

One session of the lab = one ``table netdev <name>`` on the source device with two base
chains, ``ingress`` (hook ingress) and ``egress`` (hook egress). Each chain holds the rules
of its direction in rule-number order; a rule that matches ends the evaluation of the chain:

* accept: ``<match> dup to "<vxlan device>" accept``: a copy goes to the VXLAN device, which
  encapsulates it (VNI, UDP 4789) towards the target;
* reject: ``<match> accept``: no copy.

A packet that matches no rule runs off the end of the chain (policy accept): not mirrored.
``accept`` in a netdev chain only ends this table's chain; the packet itself is never dropped.

The mirror's own VXLAN packets leave through the same source device (the route to the target
goes through it), so the egress chain first lets them pass without evaluating the rules:
otherwise an ``all`` rule would mirror the mirror, forever.

The script is one ``nft -f`` transaction that creates or replaces the table atomically
(``table`` + ``delete table`` + the new table), and the table's comment carries a digest of
its contents, so that a module can tell whether the loaded ruleset is the wanted one.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import ipaddress
import re

from ansible_collections.mirrorlab.vpc.plugins.module_utils.model import ALL_PROTOCOLS, VXLAN_PORT

DIGEST_PREFIX = "mirrorlab sha256:"
_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
_DEV_RE = re.compile(r"^[A-Za-z0-9_.:@-]{1,15}$")
_L4_NAMES = {6: "tcp", 17: "udp"}


def _family(network_or_address):
    return "ip" if network_or_address.version == 4 else "ip6"


def _ports(port_range):
    if port_range["from"] == port_range["to"]:
        return str(port_range["from"])
    return "%d-%d" % (port_range["from"], port_range["to"])


def compile_match(rule):
    """The nft match expression of one normalized rule (AWS semantics, see filter_rules)."""
    source = ipaddress.ip_network(rule["source_cidr"])
    destination = ipaddress.ip_network(rule["destination_cidr"])
    family = _family(source)
    # Explicit family: a rule of one IP family never matches a packet of the other.
    parts = ["meta protocol %s" % family]
    if source.prefixlen:
        parts.append("%s saddr %s" % (family, source.with_prefixlen))
    if destination.prefixlen:
        parts.append("%s daddr %s" % (family, destination.with_prefixlen))
    protocol = rule["protocol"]
    if protocol in _L4_NAMES:
        name = _L4_NAMES[protocol]
        parts.append("meta l4proto %s" % name)
        if rule.get("source_ports"):
            parts.append("%s sport %s" % (name, _ports(rule["source_ports"])))
        if rule.get("destination_ports"):
            parts.append("%s dport %s" % (name, _ports(rule["destination_ports"])))
    elif protocol != ALL_PROTOCOLS:
        parts.append("meta l4proto %d" % protocol)
    return " ".join(parts)


def compile_rule(rule, vxlan_device, reject="accept"):
    """``reject`` is the verdict of a reject rule: ``accept`` ends the table's evaluation (one
    session), ``return`` hands the packet to the next session (several sessions)."""
    comment = 'comment "%s %d %s"' % (rule["direction"], rule["number"], rule["action"])
    if rule["action"] == "accept":
        return '%s dup to "%s" accept %s' % (compile_match(rule), vxlan_device, comment)
    return "%s %s %s" % (compile_match(rule), reject, comment)


def vxlan_exclusion(local_ip, target_ip, dstport=VXLAN_PORT):
    """The egress rule that keeps the mirror's own VXLAN packets out of the rules."""
    local = ipaddress.ip_address(local_ip)
    target = ipaddress.ip_address(target_ip)
    if local.version != target.version:
        raise ValueError("local_ip and target_ip must be of one IP family")
    family = _family(local)
    return (
        'meta protocol %s %s saddr %s %s daddr %s meta l4proto udp udp dport %d accept comment "the mirror\'s own VXLAN packets"'
        % (family, family, local, family, target, dstport)
    )


def check_names(table, source_device, vxlan_device):
    if not _NAME_RE.match(table or ""):
        raise ValueError("table must be a letter then letters, digits, '_' or '-' (at most 64), got %r" % (table,))
    for label, device in (("source_device", source_device), ("vxlan_device", vxlan_device)):
        if not _DEV_RE.match(device or ""):
            raise ValueError("%s must be an interface name of 1-15 characters, got %r" % (label, device))


def compile_body(rules, source_device, vxlan_device, local_ip, target_ip, dstport=VXLAN_PORT, priority=0):
    """The chains of the table (the part the digest covers), as a list of lines."""
    lines = []
    for direction in ("ingress", "egress"):
        lines.append("\tchain %s {" % direction)
        lines.append('\t\ttype filter hook %s device "%s" priority %d; policy accept;' % (direction, source_device, priority))
        if direction == "egress":
            lines.append("\t\t" + vxlan_exclusion(local_ip, target_ip, dstport))
        # The rules come normalized, in rule-number order (filter_rules.normalize_rules).
        for rule in (r for r in rules if r["direction"] == direction):
            lines.append("\t\t" + compile_rule(rule, vxlan_device))
        lines.append("\t}")
    return lines


def session_chain(session, direction):
    return "s%d_%s" % (session["session_number"], direction)


def compile_sessions_body(sessions, source_device, local_ip, dstport=VXLAN_PORT, priority=0):
    """The chains of a table that holds several sessions of one source device, with AWS's
    priority: each base chain jumps to the sessions' chains in ascending session number; in a
    session's chain an accept rule copies the packet into that session's VXLAN device and
    ends the whole evaluation (``accept``: mirrored once), a reject rule or no matching rule
    returns to the base chain, which tries the next session. ``sessions``: [{session_number,
    rules, vxlan_device, target_ip}]."""
    ordered = sorted(sessions, key=lambda s: s["session_number"])
    numbers = [s["session_number"] for s in ordered]
    if len(set(numbers)) != len(numbers):
        raise ValueError("the sessions of one source device need distinct session numbers, got %r" % numbers)
    lines = []
    for direction in ("ingress", "egress"):
        lines.append("\tchain %s {" % direction)
        lines.append('\t\ttype filter hook %s device "%s" priority %d; policy accept;' % (direction, source_device, priority))
        if direction == "egress":
            targets = []
            for session in ordered:
                if session["target_ip"] not in targets:
                    targets.append(session["target_ip"])
            lines.extend("\t\t" + vxlan_exclusion(local_ip, target, dstport) for target in targets)
        lines.extend("\t\tjump %s" % session_chain(session, direction) for session in ordered)
        lines.append("\t}")
    for session in ordered:
        for direction in ("ingress", "egress"):
            lines.append("\tchain %s {" % session_chain(session, direction))
            lines.extend("\t\t" + compile_rule(rule, session["vxlan_device"], reject="return")
                         for rule in session["rules"] if rule["direction"] == direction)
            lines.append("\t}")
    return lines


def digest(body_lines, identity=""):
    text = "\n".join([identity] + list(body_lines))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def table_script(family, table, title, body, identity=""):
    """The ``nft -f`` script that creates or replaces ``table <family> <table>`` atomically
    (declare, delete, define), its comment the digest of ``body`` and ``identity``; returns
    (script, digest). Shared by the mirror sessions and the lab's NLB stand-in."""
    value = digest(body, identity)
    script = [
        "# mirrorlab %s" % title,
        "table %s %s" % (family, table),
        "delete table %s %s" % (family, table),
        "table %s %s {" % (family, table),
        '\tcomment "%s%s"' % (DIGEST_PREFIX, value),
    ] + body + ["}", ""]
    return "\n".join(script), value


def parse_listed_table(text):
    """(the digest in the table's comment or "", {chain: [rule lines]}) of ``nft list table``
    output: what a module compares with the table it wants."""
    value, chains, chain = "", {}, None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith('comment "%s' % DIGEST_PREFIX):
            value = line[len('comment "%s' % DIGEST_PREFIX):].rstrip('"')
        elif line.startswith("chain ") and line.endswith("{"):
            chain = line.split()[1]
            chains[chain] = []
        elif line == "}":
            chain = None
        elif chain and line and not line.startswith("type "):
            chains[chain].append(line)
    return value, chains


def _script(table, title, body, identity):
    return table_script("netdev", table, "traffic mirror " + title, body, identity)


def compile_ruleset(rules, table, source_device, vxlan_device, local_ip, target_ip, dstport=VXLAN_PORT, priority=0,
                    identity=""):
    """The whole ``nft -f`` script: create or replace ``table netdev <table>`` atomically.

    Returns (script, digest). ``rules`` are normalized rules in the normalized order
    (filter_rules.normalize_rules, or experiment.filter.rules).
    ``identity`` is extra text the digest covers (the module puts the devices' indexes there).
    """
    check_names(table, source_device, vxlan_device)
    body = compile_body(rules, source_device, vxlan_device, local_ip, target_ip, dstport, priority)
    return _script(table, "session: %s -> %s (%s)" % (source_device, target_ip, vxlan_device), body, identity)


def compile_sessions(sessions, table, source_device, local_ip, dstport=VXLAN_PORT, priority=0, identity=""):
    """Like compile_ruleset for the sessions of one source device ([{session_number, rules,
    vxlan_device, target_ip}]); one session compiles exactly as compile_ruleset."""
    if len(sessions) == 1:
        (one,) = sessions
        return compile_ruleset(one["rules"], table, source_device, one["vxlan_device"], local_ip, one["target_ip"],
                               dstport, priority, identity)
    for session in sessions:
        check_names(table, source_device, session["vxlan_device"])
    body = compile_sessions_body(sessions, source_device, local_ip, dstport, priority)
    title = "sessions %s: %s" % (source_device, ", ".join(
        "%d -> %s (%s)" % (s["session_number"], s["target_ip"], s["vxlan_device"])
        for s in sorted(sessions, key=lambda s: s["session_number"])))
    return _script(table, title, body, identity)


def delete_script(table, family="netdev"):
    """An ``nft -f`` script that removes the table if it exists (a no-op otherwise)."""
    return "table %s %s\ndelete table %s %s\n" % (family, table, family, table)


def expected_rule_counts(rules):
    """How many rules each chain of the compiled table holds (the egress exclusion included)."""
    counts = {"ingress": 0, "egress": 1}
    for rule in rules:
        counts[rule["direction"]] += 1
    return counts


def expected_session_rule_counts(sessions):
    """expected_rule_counts of compile_sessions' table."""
    if len(sessions) == 1:
        return expected_rule_counts(sessions[0]["rules"])
    targets = set(s["target_ip"] for s in sessions)
    counts = {"ingress": len(sessions), "egress": len(targets) + len(sessions)}
    for session in sessions:
        for direction in ("ingress", "egress"):
            counts[session_chain(session, direction)] = len(
                [r for r in session["rules"] if r["direction"] == direction])
    return counts
