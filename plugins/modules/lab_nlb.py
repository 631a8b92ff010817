#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: mirrorlab developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: lab_nlb
short_description: The lab's stand-in for a Network Load Balancer's UDP listener in front of capture machines
version_added: 0.9.0
description:
  - Makes a network namespace spread the VXLAN packets sent to its address over the lab's
    capture machines, as the UDP listener of the Network Load Balancer in front of several
    capture instances does on AWS (C(mirrorlab_target.count) > 1).
  - One C(table ip) in the namespace, created or replaced atomically with one C(nft -f) - a
    C(nat) C(prerouting) chain whose rule takes UDP packets to O(address) port O(port) and
    rewrites their destination to one target, chosen by a hash (C(jhash), seed O(seed)) of the
    outer packet's 5-tuple (source and destination address and port, UDP), the flow hash an NLB
    UDP listener uses; a C(forward) chain counts the packets sent to each target. The kernel's
    connection tracking keeps a flow on the target its first packet went to, and the same
    5-tuple always hashes to the same target, so one flow always reaches one target.
  - The source port of the outer packet is Linux VXLAN's flow hash of the inner packet, as on
    AWS, where the mirrored packets of one inner flow share the outer source port; different
    inner flows spread over the targets.
  - Not modelled - health checks (a stopped capture machine still gets its share), cross-zone
    load balancing settings, the NLB's idle timeout for UDP flows (120 seconds on AWS; the
    kernel's UDP conntrack timeouts here).
  - The table's comment holds a digest of the wanted table; an equal digest and rule count
    mean nothing to change. When an existing table loses machines, the tracked flows of those
    machines are deleted (C(conntrack -D --reply-src <machine>)), so that their next packets are
    hashed onto the machines there are now, as an NLB moves the flows of a deregistered target
    (else a flow in progress would keep going to a machine that is gone); the flows of the
    machines that stay stay where they are. Forwarding and the namespace's ICMP redirects are the business of
    M(mirrorlab.vpc.lab_netns) (sysctls of the namespace, as mirrorlab.vpc.lab_plan plans them).
author:
  - mirrorlab developers (@mirrorlab)
options:
  state:
    description: Whether the table is there.
    type: str
    choices: [present, absent]
    default: present
  netns:
    description: The NLB stand-in's network namespace (C(lab_plan.lab.nlb.netns)).
    type: str
    required: true
  table:
    description: The C(ip) table's name (C(lab_plan.lab.nlb.table)).
    type: str
    required: true
  address:
    description: The listener's IPv4 address, the one the mirror sessions send to; with O(state=present).
    type: str
  port:
    description: The listener's UDP port (VXLAN).
    type: int
    default: 4789
  targets:
    description: The capture machines' IPv4 addresses, in target order (at least one); with O(state=present).
    type: list
    elements: str
    default: []
  seed:
    description: The hash seed (32 bits); one per deployment keeps each flow on its target across runs.
    type: int
    default: 0
notes:
  - Needs C(nft) (nftables) with NAT in the kernel (C(nf_nat), C(nft_hash)), and C(conntrack)
    (Debian package conntrack) to change an existing table.
seealso:
  - module: mirrorlab.vpc.lab_plan
  - module: mirrorlab.vpc.lab_netns
  - module: mirrorlab.vpc.lab_mirror_session
"""

EXAMPLES = r"""
- name: Spread the mirrored VXLAN packets over the capture machines
  mirrorlab.vpc.lab_nlb:
    netns: "{{ lab_plan.lab.nlb.netns }}"
    table: "{{ lab_plan.lab.nlb.table }}"
    address: "{{ lab_plan.lab.nlb.address }}"
    targets: "{{ lab_plan.lab.nlb.targets }}"
    seed: "{{ lab_plan.lab.nlb.seed }}"
"""

RETURN = r"""
ruleset:
  description: The nft script that was (or would be) loaded.
  returned: state is present
  type: str
digest:
  description: The digest in the table's comment.
  returned: state is present
  type: str
  sample: 9f2c0c4e...
forwarded:
  description: Packets and bytes the table has sent to each target so far (before this run's change), by address.
  returned: state is present and the table existed
  type: dict
  sample: {10.0.0.12: {packets: 120, bytes: 15000}, 10.0.0.13: {packets: 98, bytes: 12000}}
spread:
  description: C(forwarded) in one line, in target order.
  returned: state is present and the table existed
  type: str
  sample: 10.0.0.12 120 packets, 10.0.0.13 98 packets
"""

import ipaddress
import re

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mirrorlab.vpc.plugins.module_utils.lab_host import missing_netns, netns_exists, run
from ansible_collections.mirrorlab.vpc.plugins.module_utils.model import VXLAN_PORT
from ansible_collections.mirrorlab.vpc.plugins.module_utils.nft_mirror import (
    delete_script,
    parse_listed_table,
    table_script,
)

NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
COUNTER_RE = re.compile(r"ip daddr (\S+) .*counter packets (\d+) bytes (\d+)")
SEED_MAX = 2 ** 32 - 1


def check_params(table, address, targets, port, seed):
    """Why the parameters cannot make a table (an error message), or None."""
    if not NAME_RE.match(table):
        return "table %r must be a letter followed by up to 63 letters, digits or _" % table
    if not targets:
        return "targets must name at least one capture machine address"
    for value in [address] + list(targets):
        try:
            if ipaddress.ip_address(value).version != 4:
                raise ValueError
        except ValueError:
            return "%r is not an IPv4 address" % (value,)
    if len(set(targets)) != len(targets):
        return "targets holds an address twice: %s" % ", ".join(targets)
    if not 1 <= port <= 65535:
        return "port must be 1 to 65535, got %d" % port
    if not 0 <= seed <= SEED_MAX:
        return "seed must be 0 to %d, got %d" % (SEED_MAX, seed)
    return None


def table_body(address, targets, port=VXLAN_PORT, seed=0):
    """The chains: the listener's hash-and-rewrite rule and one counter per target."""
    pick = ", ".join("%d : %s" % (index, target) for index, target in enumerate(targets))
    return [
        "\tchain prerouting {",
        "\t\ttype nat hook prerouting priority dstnat; policy accept;",
        "\t\tip daddr %s udp dport %d counter dnat to jhash ip saddr . ip daddr . udp sport . udp dport mod %d "
        "seed 0x%08x map { %s }" % (address, port, len(targets), seed, pick),
        "\t}",
        "\tchain forward {",
        "\t\ttype filter hook forward priority filter; policy accept;",
    ] + ["\t\tip daddr %s udp dport %d counter" % (target, port) for target in targets] + ["\t}"]


def ruleset(table, address, targets, port=VXLAN_PORT, seed=0):
    """(nft -f script creating or replacing table ip <table>, its digest)."""
    title = "NLB stand-in: UDP %s:%d -> %s by flow" % (address, port, ", ".join(targets))
    return table_script("ip", table, title, table_body(address, targets, port, seed))


def parse_table(text):
    """(digest, rule count, {target: {packets, bytes}}) of `nft list table ip` output."""
    digest, chains = parse_listed_table(text)
    forwarded = {}
    for line in chains.get("forward", []):
        match = COUNTER_RE.match(line)
        if match:
            forwarded[match.group(1)] = {"packets": int(match.group(2)), "bytes": int(match.group(3))}
    return digest, sum(len(rules) for rules in chains.values()), forwarded


def forget_flows(module, netns, gone):
    """Delete the tracked flows of the machines no longer in the table (their replies would
    come from them: conntrack -D --reply-src), so that their next packets are hashed onto the
    machines there are now; the flows of the machines that stay stay where they are. conntrack
    exits 1 when there was no such flow."""
    if not gone:
        return
    conntrack = module.get_bin_path("conntrack", required=True)
    for address in gone:
        rc, out, err = run(module, [conntrack, "-D", "--reply-src", address], netns=netns, check=False)
        if rc not in (0, 1):
            detail = (err or out).strip()
            module.fail_json(msg="conntrack -D --reply-src %s in %s failed (rc %d): %s" % (address, netns, rc, detail))


def spread(forwarded, targets):
    """The packets sent to each target, in one line (targets without a counter count 0)."""
    return ", ".join("%s %d packets" % (t, forwarded.get(t, {}).get("packets", 0)) for t in targets)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", choices=["present", "absent"], default="present"),
            netns=dict(type="str", required=True),
            table=dict(type="str", required=True),
            address=dict(type="str"),
            port=dict(type="int", default=VXLAN_PORT),
            targets=dict(type="list", elements="str", default=[]),
            seed=dict(type="int", default=0),
        ),
        required_if=[("state", "present", ("address", "targets"))],
        supports_check_mode=True,
    )
    p = module.params
    if not netns_exists(p["netns"]):
        if p["state"] == "absent":
            module.exit_json(changed=False, msg=missing_netns(p["netns"]))
        module.fail_json(msg=missing_netns(p["netns"]))
    nft = module.get_bin_path("nft", required=True)
    rc, out, dummy = run(module, [nft, "list", "table", "ip", p["table"]], netns=p["netns"], check=False)
    current = parse_table(out) if rc == 0 else None
    if p["state"] == "absent":
        if current is not None and not module.check_mode:
            run(module, [nft, "-f", "-"], netns=p["netns"], data=delete_script(p["table"], "ip"))
        module.exit_json(changed=current is not None)
    problem = check_params(p["table"], p["address"], p["targets"], p["port"], p["seed"])
    if problem:
        module.fail_json(msg=problem)
    script, value = ruleset(p["table"], p["address"], p["targets"], p["port"], p["seed"])
    wanted_rules = 1 + len(p["targets"])
    changed = current is None or current[:2] != (value, wanted_rules)
    if changed:
        # In check mode nft only checks the script (-c).
        run(module, [nft] + (["-c"] if module.check_mode else []) + ["-f", "-"], netns=p["netns"], data=script)
        if current is not None and not module.check_mode:
            forget_flows(module, p["netns"], sorted(set(current[2]) - set(p["targets"])))
    result = dict(changed=changed, ruleset=script, digest=value)
    if current is not None:
        result["forwarded"] = current[2]
        result["spread"] = spread(current[2], p["targets"])
    if module._diff:
        result["diff"] = {"before": {"digest": current[0] if current else None}, "after": {"digest": value}}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
