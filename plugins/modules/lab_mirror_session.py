#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the mirrorlab project
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: lab_mirror_session
short_description: A traffic mirror session in the local lab (nftables dup into VXLAN)
version_added: 0.1.0
description:
  - Reproduces one Amazon VPC traffic mirror session on a Linux interface. In the network
    namespace of the source it creates a VXLAN device (VNI, UDP 4789, towards the target, no
    learning, no ARP, no IPv6 so it sends nothing of its own) and an nftables C(netdev) table
    with an ingress and an egress chain on the source device, into which the filter rules are
    compiled in rule-number order; accepted packets are duplicated (C(dup to)) into the VXLAN
    device. The mirror's own VXLAN packets leave through the source device too and are never
    mirrored.
  - The table is created or replaced atomically in one C(nft -f) transaction. Its comment holds
    a digest of the compiled ruleset and of the two devices, so a run with nothing to change
    reports no change.
  - Runs where the namespaces are (the lab host), as root.
author:
  - mirrorlab developers (@mirrorlab)
options:
  state:
    description: C(present) creates or updates the session, C(absent) removes the table and the VXLAN device.
    type: str
    choices: [present, absent]
    default: present
  netns:
    description: The network namespace of the source (a name under C(/run/netns)); empty = the current one.
    type: str
    default: ""
  source_device:
    description: The mirrored interface (the source "ENI") inside O(netns). Required when O(state=present).
    type: str
  local_ip:
    description: The source's address, the outer source address of the VXLAN packets. Required when O(state=present).
    type: str
  target_ip:
    description: The mirror target's address (where the VXLAN packets go). Required when O(state=present).
    type: str
  vni:
    description: The session's VXLAN network identifier, 0-16777215.
    type: int
    default: 12345
  dstport:
    description: The VXLAN UDP destination port (AWS uses 4789).
    type: int
    default: 4789
  vxlan_device:
    description: Name of the VXLAN sender device in O(netns), at most 15 characters.
    type: str
    required: true
  table:
    description: Name of the nftables C(netdev) table of the session.
    type: str
    required: true
  rules:
    description:
      - The filter rules, normalized and in the normalized order, as M(mirrorlab.vpc.experiment_info)
        returns them (C(experiment.filter.rules)); they are used as they are.
      - Rules written as in C(mirrorlab_filter.rules) (a protocol name, ports as text) are refused;
        pass them through M(mirrorlab.vpc.experiment_info) first. No rules = nothing mirrored.
    type: list
    elements: dict
    default: []
  session_number:
    description: The session's number; with O(extra_sessions) the sessions are tried lowest number first.
    type: int
    default: 1
  extra_sessions:
    description:
      - Further sessions on the same O(source_device) (AWS allows 3 per source ENI), each a
        dict with C(session_number) (required, distinct), C(vxlan_device) (default the device of
        an earlier session with the same VNI and target, else O(vxlan_device) +
        C(s<session_number>), for example C(mirror0s2)), C(vni) (default O(vni)),
        C(target_ip) (default O(target_ip)), C(rules) (normalized, as O(rules)) and
        C(packet_length) (accepted as M(mirrorlab.vpc.vni_map) returns it, and not applied; the
        lab mirrors whole packets, docs/lab.md).
      - All sessions share the one table; per packet they are tried in ascending session
        number and the first whose filter accepts the packet mirrors it into its own VXLAN
        device, once (AWS's priority); a reject, or no matching rule, passes it to the next.
      - With O(state=absent), their VXLAN devices are removed too.
    type: list
    elements: dict
    default: []
notes:
  - Supports check mode and diff mode.
  - Needs C(ip) (iproute2) and C(nft) (nftables) on the host and a kernel with the netdev egress hook (5.16 or later).
seealso:
  - module: mirrorlab.vpc.experiment_info
"""

EXAMPLES = r"""
- name: Mirror the ALB's interface to the capture target
  mirrorlab.vpc.lab_mirror_session:
    netns: mlab-alb
    source_device: eth0
    local_ip: 10.0.1.10
    target_ip: 10.0.2.20
    vni: "{{ experiment.session.vni }}"
    vxlan_device: mirror1
    table: mirrorlab_session1
    rules: "{{ experiment.filter.rules }}"  # normalized by mirrorlab.vpc.experiment_info

- name: Three sessions on one interface, tried lowest session number first
  mirrorlab.vpc.lab_mirror_session:
    netns: mlab-alb
    source_device: eth0
    local_ip: 10.0.1.10
    target_ip: 10.0.2.20
    session_number: 3
    vni: 12345
    vxlan_device: mirror1
    table: mirrorlab_session1
    rules: "{{ experiment.filter.rules }}"
    extra_sessions:
      - {session_number: 1, vni: 101, vxlan_device: mirror1s1, rules: "{{ http_rules }}"}
      - {session_number: 2, vni: 102, vxlan_device: mirror1s2, target_ip: 10.0.2.21, rules: "{{ tcp_rules }}"}

- name: Remove it
  mirrorlab.vpc.lab_mirror_session:
    state: absent
    netns: mlab-alb
    vxlan_device: mirror1
    table: mirrorlab_session1
"""

RETURN = r"""
digest:
  description: The digest stored in the table's comment (the compiled ruleset and its devices).
  returned: state is present
  type: str
  sample: 9f2c...
ruleset:
  description: The nft script that was (or would be) loaded.
  returned: state is present
  type: str
vxlan:
  description: The VXLAN device as wanted.
  returned: state is present
  type: dict
  sample: {name: mirror1, vni: 12345, local: 10.0.1.10, remote: 10.0.2.20, dstport: 4789}
extra_vxlan:
  description: The VXLAN devices of O(extra_sessions) as wanted, in their order.
  returned: state is present and O(extra_sessions) is given
  type: list
  elements: dict
"""

import ipaddress
import json

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mirrorlab.vpc.plugins.module_utils.filter_rules import check_normalized_rules
from ansible_collections.mirrorlab.vpc.plugins.module_utils.lab_host import missing_netns, netns_exists, run
from ansible_collections.mirrorlab.vpc.plugins.module_utils.model import (
    SESSION_NUMBER_MAX,
    SESSION_NUMBER_MIN,
    SESSIONS_PER_SOURCE_ENI,
    VNI_DEFAULT,
    VNI_MAX,
    VNI_MIN,
    VXLAN_PORT,
)
from ansible_collections.mirrorlab.vpc.plugins.module_utils.nft_mirror import (
    check_names,
    compile_sessions,
    delete_script,
    expected_session_rule_counts,
    parse_listed_table,
)


class Host(object):
    """Runs ip and nft in the source's network namespace."""

    def __init__(self, module, netns):
        self.module = module
        self.netns = netns
        self.ip_bin = module.get_bin_path("ip", required=True)
        self.nft_bin = module.get_bin_path("nft", required=True)

    def run(self, argv, data=None, check=True):
        return run(self.module, argv, netns=self.netns, check=check, data=data)

    def ip(self, *args, **kwargs):
        return self.run([self.ip_bin] + list(args), **kwargs)

    def nft(self, *args, **kwargs):
        return self.run([self.nft_bin] + list(args), **kwargs)

    def link(self, name):
        rc, out, dummy = self.ip("-d", "-j", "link", "show", "dev", name, check=False)
        if rc != 0 or not out.strip():
            return None
        return json.loads(out)[0]

    def table_state(self, table):
        """(digest in the table's comment or "", {chain: rule count}), or None when absent."""
        rc, out, dummy = self.nft("list", "table", "netdev", table, check=False)
        if rc != 0:
            return None
        digest, chains = parse_listed_table(out)
        return digest, dict((chain, len(rules)) for chain, rules in chains.items())


def vxlan_state(link):
    """The fields of an existing link that matter, in the shape of the wanted state."""
    if link is None:
        return None
    info = link.get("linkinfo", {})
    data = info.get("info_data", {})
    return {
        "name": link.get("ifname"),
        "kind": info.get("info_kind"),
        "vni": data.get("id"),
        "local": data.get("local") or data.get("local6"),
        "remote": data.get("remote") or data.get("remote6"),
        "dstport": data.get("port"),
        "learning": data.get("learning"),
        "up": "UP" in link.get("flags", []),
        "noarp": "NOARP" in link.get("flags", []),
    }


def wanted_vxlan(params, session):
    return {
        "name": session["vxlan_device"],
        "kind": "vxlan",
        "vni": session["vni"],
        "local": params["local_ip"],
        "remote": session["target_ip"],
        "dstport": params["dstport"],
        "learning": False,
        "up": True,
        "noarp": True,
    }


def extra_device(params, extra, earlier=()):
    """An extra session's VXLAN device: its own; else the device of an earlier session with
    the same VNI and target (the kernel allows one sender per VNI and port, and a copy into
    either is the same packet); else <vxlan_device>s<session_number>."""
    if extra.get("vxlan_device"):
        return extra["vxlan_device"]
    vni, target = extra.get("vni", params["vni"]), extra.get("target_ip") or params["target_ip"]
    for session in earlier:
        if (session["vni"], session["target_ip"]) == (vni, target):
            return session["vxlan_device"]
    return "%ss%s" % (params["vxlan_device"], extra.get("session_number"))


def sessions_of(params):
    """The module's session and its extra_sessions, with their defaults filled in."""
    sessions = [{"session_number": params["session_number"], "vni": params["vni"], "vxlan_device": params["vxlan_device"],
                 "target_ip": params["target_ip"], "rules": params["rules"]}]
    for extra in params["extra_sessions"]:
        sessions.append({"session_number": extra.get("session_number"), "vni": extra.get("vni", params["vni"]),
                         "vxlan_device": extra_device(params, extra, sessions),
                         "target_ip": extra.get("target_ip") or params["target_ip"], "rules": extra.get("rules") or []})
    return sessions


def check_sessions(module, params, local):
    """Every session's number, VNI, device, target and rules; returns the sessions."""
    sessions = sessions_of(params)
    unknown = sorted(set(k for extra in params["extra_sessions"] for k in extra)
                     - set(["session_number", "vni", "vxlan_device", "target_ip", "rules", "packet_length"]))
    if unknown:
        module.fail_json(msg="extra_sessions: unknown key(s) %s" % ", ".join(unknown))
    if len(sessions) > SESSIONS_PER_SOURCE_ENI:
        module.fail_json(msg="at most %d sessions per source device (AWS: per source ENI), got %d"
                         % (SESSIONS_PER_SOURCE_ENI, len(sessions)))
    numbers, devices = [], []
    for index, session in enumerate(sessions):
        where = "session" if index == 0 else "extra_sessions[%d]" % (index - 1)
        number = session["session_number"]
        if not isinstance(number, int) or isinstance(number, bool) or not SESSION_NUMBER_MIN <= number <= SESSION_NUMBER_MAX:
            module.fail_json(msg="%s: session_number must be %d-%d, got %r" % (where, SESSION_NUMBER_MIN, SESSION_NUMBER_MAX, number))
        if not isinstance(session["vni"], int) or isinstance(session["vni"], bool) or not VNI_MIN <= session["vni"] <= VNI_MAX:
            module.fail_json(msg="%s: vni must be %d-%d, got %r" % (where, VNI_MIN, VNI_MAX, session["vni"]))
        try:
            check_names(params["table"], params["source_device"], session["vxlan_device"])
            target = ipaddress.ip_address(session["target_ip"])
        except ValueError as exc:
            module.fail_json(msg="%s: %s" % (where, exc))
        if target.version != local.version:
            module.fail_json(msg="%s: local_ip and target_ip must be of the same IP family" % where)
        errors = check_normalized_rules(session["rules"], "rules" if index == 0 else where + ".rules")
        if errors:
            module.fail_json(msg="invalid rules:\n" + "\n".join(str(e) for e in errors), errors=[str(e) for e in errors])
        numbers.append(number)
        devices.append((session["vxlan_device"], session["vni"], session["target_ip"]))
    shared = set(name for name, vni, target in devices)
    if len(set(numbers)) != len(numbers) or len(shared) != len(set(devices)):
        module.fail_json(msg="the sessions need distinct session numbers, and sessions that share a VXLAN device the "
                             "same VNI and target; got %r and %r" % (numbers, devices))
    return sessions


def create_vxlan(host, want):
    family = "-6" if ipaddress.ip_address(want["local"]).version == 6 else "-4"
    host.ip(family, "link", "add", want["name"], "type", "vxlan", "id", str(want["vni"]), "local", want["local"],
            "remote", want["remote"], "dstport", str(want["dstport"]), "nolearning")
    # The sender must send nothing of its own: no IPv6 (MLD, router solicitations), no ARP.
    host.run(["sysctl", "-q", "-w", "net.ipv6.conf.%s.disable_ipv6=1" % want["name"]], check=False)
    host.ip("link", "set", "dev", want["name"], "arp", "off", "up")


def check_params(module):
    params = module.params
    if params["state"] == "absent":
        try:
            check_names(params["table"], "unused", params["vxlan_device"])
        except ValueError as exc:
            module.fail_json(msg=str(exc))
        return None
    missing = [k for k in ("source_device", "local_ip", "target_ip") if not params[k]]
    if missing:
        module.fail_json(msg="state is present but missing: %s" % ", ".join(missing))
    try:
        local = ipaddress.ip_address(params["local_ip"])
        target = ipaddress.ip_address(params["target_ip"])
    except ValueError as exc:
        module.fail_json(msg="local_ip and target_ip must be IP addresses: %s" % exc)
    if local.version != target.version:
        module.fail_json(msg="local_ip and target_ip must be of the same IP family")
    if not 1 <= params["dstport"] <= 65535:
        module.fail_json(msg="dstport must be 1-65535, got %d" % params["dstport"])
    return check_sessions(module, params, local)


def present(module, host, sessions):
    params = module.params
    result = {"changed": False}
    if host.link(params["source_device"]) is None:
        module.fail_json(msg="source_device %s does not exist in netns %r" % (params["source_device"], params["netns"]))
    wants = []
    for session in sessions:  # one device per name (sessions of one VNI and target share it)
        if session["vxlan_device"] not in [want["name"] for want in wants]:
            wants.append(wanted_vxlan(params, session))
    haves = [vxlan_state(host.link(want["name"])) for want in wants]
    diff = {"before": {"vxlan": haves[0]}, "after": {"vxlan": wants[0]}}
    if len(wants) > 1:
        diff["before"]["extra_vxlan"], diff["after"]["extra_vxlan"] = haves[1:], wants[1:]
    for want, have in zip(wants, haves):
        if have != want:
            result["changed"] = True
            if not module.check_mode:
                if have is not None:
                    host.ip("link", "del", "dev", want["name"])
                create_vxlan(host, want)

    # The digest covers the devices' interface indexes: a re-created device (new index) means
    # the loaded table points at a device that no longer exists, and must be reloaded.
    source_link = host.link(params["source_device"])
    vxlan_links = [host.link(want["name"]) for want in wants]
    identity = "source %s#%s vxlan %s" % (params["source_device"], source_link["ifindex"], " ".join(
        "%s#%s" % (want["name"], link["ifindex"] if link else "new") for want, link in zip(wants, vxlan_links)))
    try:
        script, digest = compile_sessions(sessions, params["table"], params["source_device"], params["local_ip"],
                                          params["dstport"], identity=identity)
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    vxlan_link = all(vxlan_links)
    want = wants[0]
    current = host.table_state(params["table"])
    wanted = (digest, expected_session_rule_counts(sessions))
    diff["before"]["table_digest"] = current[0] if current else None
    diff["after"]["table_digest"] = digest
    # The digest proves what was loaded; the rule counts catch a table edited by hand since.
    if current != wanted:
        result["changed"] = True
        if module.check_mode:
            check_script(module, host, script, vxlan_link)
        else:
            host.nft("-f", "-", data=script)
    result.update(digest=digest, ruleset=script, vxlan=want)
    if len(wants) > 1:
        result["extra_vxlan"] = wants[1:]
    if module._diff:
        diff["after"]["ruleset"] = script
        result["diff"] = diff
    return result


def check_script(module, host, script, devices_exist):
    """In check mode, let nft check the script when it can (the devices must exist)."""
    if devices_exist:
        host.nft("-c", "-f", "-", data=script)


def absent(module, host):
    params = module.params
    result = {"changed": False}
    if host.table_state(params["table"]) is not None:
        result["changed"] = True
        if not module.check_mode:
            host.nft("-f", "-", data=delete_script(params["table"]))
    names = [params["vxlan_device"]] + [extra_device(params, extra) for extra in params["extra_sessions"]]
    for name in sorted(set(names), key=names.index):
        link = vxlan_state(host.link(name)) if name else None
        if link is None:
            continue
        if link["kind"] != "vxlan":
            module.fail_json(msg="%s is a %s device, not a VXLAN device; not removing it" % (name, link["kind"]))
        result["changed"] = True
        if not module.check_mode:
            host.ip("link", "del", "dev", name)
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", choices=["present", "absent"], default="present"),
            netns=dict(type="str", default=""),
            source_device=dict(type="str"),
            local_ip=dict(type="str"),
            target_ip=dict(type="str"),
            vni=dict(type="int", default=VNI_DEFAULT),
            dstport=dict(type="int", default=VXLAN_PORT),
            vxlan_device=dict(type="str", required=True),
            table=dict(type="str", required=True),
            rules=dict(type="list", elements="dict", default=[]),
            session_number=dict(type="int", default=1),
            extra_sessions=dict(type="list", elements="dict", default=[]),
        ),
        supports_check_mode=True,
    )
    netns = module.params["netns"]
    if netns and not netns_exists(netns):
        if module.params["state"] == "absent":
            module.exit_json(changed=False, msg=missing_netns(netns))
        module.fail_json(msg=missing_netns(netns))
    sessions = check_params(module)
    host = Host(module, netns)
    if module.params["state"] == "present":
        result = present(module, host, sessions)
    else:
        result = absent(module, host)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
