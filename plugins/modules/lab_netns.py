#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: mirrorlab developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: lab_netns
short_description: Network namespaces, bridges, veth pairs, addresses and routes of the local lab
version_added: 0.1.0
description:
  - Declares a small topology of Linux network namespaces and brings the host to it in one
    pass, idempotently; reports C(changed) only when something had to be created, changed
    or removed, and lists the C(ip) commands it ran (or would run in check mode).
  - Every link is created directly inside its namespace (C(ip -n NS link add ... peer ... netns
    PEER_NS)), so nothing is ever added to the host's root namespace.
  - With O(state=absent) it ends the processes still running in each namespace (by PID and
    start time, from C(ip netns pids); SIGTERM, then SIGKILL after O(stop_timeout)), deletes the
    namespaces, and deletes any bridge or veth peer of the given names left in the root
    namespace. It works from any partial state and is a no-op when nothing is left.
  - "Names: a veth's first end (O(veths[].name)) lives in a namespace of its own and may have a
    plain name such as C(eth0) or C(vpc0); it is never looked for in the root namespace. Bridges
    and veth peers share a namespace with others and should carry a prefix that is unique on the
    host, as the root-namespace sweep of O(state=absent) removes links of their names."
  - Needs root, C(ip) from iproute2, and C(ethtool) when O(veths[].offloads=false).
author:
  - mirrorlab developers (@mirrorlab)
options:
  state:
    description: Whether the topology should exist.
    type: str
    choices: [present, absent]
    default: present
  namespaces:
    description: The network namespaces. C(lo) is brought up in each.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The namespace's name (C(/run/netns/NAME)).
        type: str
        required: true
      sysctls:
        description:
          - Sysctls set inside the namespace before any link is created in it, for example
            C(net.ipv4.ip_forward) or C(net.ipv6.conf.default.disable_ipv6).
        type: dict
        default: {}
      routes:
        description: IPv4 routes in the namespace's main table (replaced when different).
        type: list
        elements: dict
        default: []
        suboptions:
          dest:
            description: Destination CIDR or C(default).
            type: str
            required: true
          via:
            description: Gateway address.
            type: str
            required: true
  bridges:
    description: Bridges, each inside one namespace, up.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Interface name (at most 15 characters).
        type: str
        required: true
      netns:
        description: The namespace the bridge lives in.
        type: str
        required: true
      addresses:
        description: IPv4 addresses in CIDR form (C(10.0.0.1/16)); others are removed.
        type: list
        elements: str
        default: []
  veths:
    description: veth pairs, both ends up; one end may be a port of a bridge.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description:
          - The first end's interface name, local to its namespace (never swept from the root
            namespace, so a plain name such as C(eth0) is fine).
        type: str
        required: true
      netns:
        description: The first end's namespace.
        type: str
        required: true
      addresses:
        description: IPv4 addresses of the first end, in CIDR form; others are removed.
        type: list
        elements: str
        default: []
      peer:
        description: The other end's interface name (unique on the host; see the notes on names).
        type: str
        required: true
      peer_netns:
        description: The other end's namespace.
        type: str
        required: true
      peer_addresses:
        description: IPv4 addresses of the other end, in CIDR form; others are removed.
        type: list
        elements: str
        default: []
      peer_master:
        description: A bridge in O(veths[].peer_netns) the other end is a port of.
        type: str
      offloads:
        description:
          - With V(false), TCP segmentation, generic segmentation and generic receive offload
            are turned off on both ends (C(ethtool -K)), so that the packets on the link are
            wire-sized (at most the MTU), as on a real network, instead of 64 KB GSO packets.
        type: bool
        default: true
  stop_timeout:
    description: With O(state=absent), seconds to wait after SIGTERM before SIGKILL.
    type: float
    default: 5
notes:
  - Supports check mode.
seealso:
  - module: mirrorlab.vpc.lab_plan
"""

EXAMPLES = r"""
- name: A router with a bridge and one host on it
  mirrorlab.vpc.lab_netns:
    namespaces:
      - name: ml-demo-router
        sysctls: {net.ipv4.ip_forward: 1}
      - name: ml-demo-host
        routes: [{dest: default, via: 10.0.0.1}]
    bridges:
      - {name: mldemovpc, netns: ml-demo-router, addresses: [10.0.0.1/16]}
    veths:
      - {name: vpc0, netns: ml-demo-host, addresses: [10.0.0.10/16],
         peer: mldemohost, peer_netns: ml-demo-router, peer_master: mldemovpc}

- name: Remove it again (any partial state)
  mirrorlab.vpc.lab_netns:
    state: absent
    namespaces: [{name: ml-demo-router}, {name: ml-demo-host}]
    bridges: [{name: mldemovpc, netns: ml-demo-router}]
"""

RETURN = r"""
commands:
  description: The commands run to reach the state (in check mode, the ones that would run).
  returned: always
  type: list
  elements: str
  sample: ["ip netns add ml-demo-router", "ip -n ml-demo-router link add mldemovpc type bridge"]
killed:
  description: With O(state=absent), the PIDs that were ended, per namespace.
  returned: always
  type: dict
  sample: {ml-demo-host: [4242]}
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mirrorlab.vpc.plugins.module_utils.lab_host import (
    in_netns,
    netns_exists,
    netns_listed,
    process,
    run,
    stop_processes,
)

# ethtool -k name -> ethtool -K keyword
OFFLOADS = {"tcp-segmentation-offload": "tso", "generic-segmentation-offload": "gso",
            "generic-receive-offload": "gro"}


class Netns:
    """Reads and changes the host's network namespaces through `ip`."""

    def __init__(self, module):
        self.module = module
        self.commands = []

    def run(self, args, netns=None, check=True):
        rc, out, dummy = run(self.module, args, netns=netns, check=check, commands=self.commands)
        return rc, out

    def change(self, args):
        """Record a changing command and run it unless in check mode."""
        self.commands.append(" ".join(str(a) for a in args))
        if not self.module.check_mode:
            self.run([str(a) for a in args])

    def links(self, ns):
        """{ifname: link json} in namespace ns (None = root namespace)."""
        if ns is not None and not netns_exists(ns):
            return {}
        args = ["ip", "-j", "-d", "addr", "show"] if ns is None else ["ip", "-n", ns, "-j", "-d", "addr", "show"]
        rc, out = self.run(args, check=ns is None)
        if rc != 0:
            return {}
        return {link["ifname"]: link for link in json.loads(out or "[]")}

    def sysctl(self, ns, key):
        rc, out = self.run(["sysctl", "-n", key], netns=ns, check=False)
        return out.strip() if rc == 0 else None

    def offloads_on(self, ns, dev):
        """The names of the offloads OFFLOADS that are on for dev in ns."""
        rc, out = self.run(["ethtool", "-k", dev], netns=ns, check=False)
        if rc != 0:
            return set(OFFLOADS)
        on = set()
        for line in out.splitlines():
            name, dummy, value = line.partition(":")
            if name.strip() in OFFLOADS and value.split() and value.split()[0] == "on":
                on.add(name.strip())
        return on

    def routes(self, ns):
        rc, out = self.run(["ip", "-n", ns, "-j", "-4", "route", "show", "table", "main"], check=False)
        return json.loads(out or "[]") if rc == 0 else []

    def processes(self, ns):
        """Records (PID and start time) of the processes running in namespace ns."""
        rc, out = self.run(["ip", "netns", "pids", ns], check=False)
        records = [process(int(p)) for p in out.split()] if rc == 0 else []
        return [record for record in records if record]


def inet_addresses(link):
    return {f"{a['local']}/{a['prefixlen']}" for a in link.get("addr_info", []) if a.get("family") == "inet"}


def veth_paired(link, plink):
    """Both ends exist, are veths, and point at each other (across namespaces)."""
    if link is None or plink is None:
        return False
    kinds = {link.get("linkinfo", {}).get("info_kind"), plink.get("linkinfo", {}).get("info_kind")}
    return kinds == {"veth"} and link.get("link_index") == plink.get("ifindex") and plink.get(
        "link_index") == link.get("ifindex")


def ensure_link_up(net, ns, name, link):
    if link is None or "UP" not in link.get("flags", []):
        net.change(["ip", "-n", ns, "link", "set", name, "up"])


def ensure_offloads_off(net, ns, name, link):
    on = set(OFFLOADS) if link is None else net.offloads_on(ns, name)
    if on:
        args = ["ethtool", "-K", name]
        for offload in sorted(on):
            args += [OFFLOADS[offload], "off"]
        net.change(in_netns(args, ns))


def ensure_addresses(net, ns, name, link, wanted):
    have = inet_addresses(link) if link else set()
    for addr in sorted(set(wanted) - have):
        net.change(["ip", "-n", ns, "addr", "add", addr, "dev", name])
    for addr in sorted(have - set(wanted)):
        net.change(["ip", "-n", ns, "addr", "del", addr, "dev", name])


def ensure_routes(net, ns, routes, exists):
    have = net.routes(ns) if exists else []
    for route in routes:
        dest = route["dest"]
        match = [r for r in have if r.get("dst") == dest and r.get("gateway") == route["via"]]
        if not match:
            net.change(["ip", "-n", ns, "route", "replace", dest, "via", route["via"]])


def ensure_sysctls(net, ns, sysctls, exists):
    for key, value in sysctls.items():
        value = str(int(value)) if isinstance(value, bool) else str(value)
        if not exists or net.sysctl(ns, key) != value:
            net.change(in_netns(["sysctl", "-q", "-w", f"{key}={value}"], ns))


def present(net, params):
    namespaces = params["namespaces"]
    existed = {ns["name"]: netns_exists(ns["name"]) for ns in namespaces}
    for ns in namespaces:
        if not existed[ns["name"]]:
            net.change(["ip", "netns", "add", ns["name"]])
    links = {ns["name"]: net.links(ns["name"]) for ns in namespaces}
    for ns in namespaces:
        ensure_sysctls(net, ns["name"], ns["sysctls"], existed[ns["name"]])
        ensure_link_up(net, ns["name"], "lo", links[ns["name"]].get("lo"))
    for bridge in params["bridges"]:
        ns, name = bridge["netns"], bridge["name"]
        link = links.get(ns, {}).get(name)
        if link is not None and link.get("linkinfo", {}).get("info_kind") != "bridge":
            net.change(["ip", "-n", ns, "link", "del", name])
            link = None
        if link is None:
            net.change(["ip", "-n", ns, "link", "add", name, "type", "bridge"])
        ensure_addresses(net, ns, name, link, bridge["addresses"])
        ensure_link_up(net, ns, name, link)
    for veth in params["veths"]:
        ns, name, pns, peer = veth["netns"], veth["name"], veth["peer_netns"], veth["peer"]
        link = links.get(ns, {}).get(name)
        plink = links.get(pns, {}).get(peer)
        if not veth_paired(link, plink):
            for end_ns, end, end_link in ((ns, name, link), (pns, peer, plink)):
                if end_link is not None:
                    net.change(["ip", "-n", end_ns, "link", "del", end])
            net.change(["ip", "-n", ns, "link", "add", name, "type", "veth", "peer", "name", peer, "netns", pns])
            link = plink = None
        if veth.get("peer_master") and (plink is None or plink.get("master") != veth["peer_master"]):
            net.change(["ip", "-n", pns, "link", "set", peer, "master", veth["peer_master"]])
        ensure_addresses(net, ns, name, link, veth["addresses"])
        ensure_addresses(net, pns, peer, plink, veth["peer_addresses"])
        if not veth["offloads"]:
            ensure_offloads_off(net, ns, name, link)
            ensure_offloads_off(net, pns, peer, plink)
        ensure_link_up(net, pns, peer, plink)
        ensure_link_up(net, ns, name, link)
    for ns in namespaces:
        ensure_routes(net, ns["name"], ns["routes"], existed[ns["name"]])
    return {}


def root_sweep_names(params):
    """The names looked for in the root namespace by a teardown: the bridges and the veth
    peers (unique on the host); never a veth's first end, which is named for its own namespace
    and may share its name with one of the host's (eth0)."""
    return {b["name"] for b in params["bridges"]} | {v["peer"] for v in params["veths"]}


def absent(net, params):
    killed = {}
    names = [ns["name"] for ns in params["namespaces"]]
    for name in names:
        if not netns_listed(name):
            continue
        records = net.processes(name) if netns_exists(name) else []
        if records:
            killed[name] = [record["pid"] for record in records]
            net.commands.append(f"kill {' '.join(str(pid) for pid in killed[name])}")
            if not net.module.check_mode:
                stop_processes(records, params["stop_timeout"])
        net.change(["ip", "netns", "del", name])
    # Anything of ours that ended up in the root namespace (never created there, but a
    # partial state from elsewhere must not survive a teardown).
    for name in sorted(root_sweep_names(params) & set(net.links(None))):
        net.change(["ip", "link", "del", name])
    return killed


def main():
    route = dict(dest=dict(type="str", required=True), via=dict(type="str", required=True))
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", choices=["present", "absent"], default="present"),
            namespaces=dict(type="list", elements="dict", required=True, options=dict(
                name=dict(type="str", required=True),
                sysctls=dict(type="dict", default={}),
                routes=dict(type="list", elements="dict", default=[], options=route),
            )),
            bridges=dict(type="list", elements="dict", default=[], options=dict(
                name=dict(type="str", required=True),
                netns=dict(type="str", required=True),
                addresses=dict(type="list", elements="str", default=[]),
            )),
            veths=dict(type="list", elements="dict", default=[], options=dict(
                name=dict(type="str", required=True),
                netns=dict(type="str", required=True),
                addresses=dict(type="list", elements="str", default=[]),
                peer=dict(type="str", required=True),
                peer_netns=dict(type="str", required=True),
                peer_addresses=dict(type="list", elements="str", default=[]),
                peer_master=dict(type="str"),
                offloads=dict(type="bool", default=True),
            )),
            stop_timeout=dict(type="float", default=5),
        ),
        supports_check_mode=True,
    )
    for item in module.params["bridges"] + module.params["veths"]:
        for key in ("name", "peer"):
            if key in item and len(item[key]) > 15:
                module.fail_json(msg=f"{key} {item[key]!r}: interface names are at most 15 characters")
    if os.geteuid() != 0:
        module.fail_json(msg="lab_netns needs root (network namespaces)")
    net = Netns(module)
    if module.params["state"] == "present":
        killed = present(net, module.params)
    else:
        killed = absent(net, module.params)
    module.exit_json(changed=bool(net.commands), commands=net.commands, killed=killed)


if __name__ == "__main__":
    main()
