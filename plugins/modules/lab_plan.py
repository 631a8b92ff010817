#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: mirrorlab developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: lab_plan
short_description: Compute the local lab's names, addresses and mirror sources
version_added: 0.1.0
description:
  - Derives every name and address of the local lab from the deployment name and the lab VPC
    CIDR, and maps the experiment's mirror sources onto the lab's interfaces.
  - Pure computation; changes nothing, so it always reports C(changed=false) and supports
    check mode. The lab's playbooks and its teardown use the same plan, so a teardown finds
    exactly what a deploy created.
  - "Names: namespaces and the capture machine are C(ml-<deployment>-<node>). An interface in a
    namespace of its own has a plain name that says what it is: C(vpc0), the link of the ALB,
    the backend and the target to the lab VPC; C(inet0), the client's link to the internet side;
    C(mirror0), a source's VXLAN sender. The interfaces of the router namespace (the VPC bridge,
    the internet side, the bridge ports leading to each node) are C(ml<id><what>), where C(<id>)
    is the first 5 hex digits of the SHA-1 of the deployment name: unique on the host, within
    the kernel's 15 characters, and what the teardown looks for in the host's root namespace."
  - "Zones: the lab VPC has two zones, its two halves (zone a and zone b), each a bridge in the
    router namespace with the router's address on it; the ALB has one interface in each (node
    C(alb) in zone a, C(alb_b) in zone b, each its own namespace and reverse proxy), as an AWS
    ALB has one ENI per zone. The backend and the target are in zone a. A /28 VPC has room for
    zone a only (one ALB interface)."
  - "Addresses: in each zone subnet the router (gateway) is the first host address and the
    ALB's interface the 10th; in zone a the backend is the 11th and the capture target the 12th;
    the client and the router's internet side are the 10th and 1st host of O(internet_cidr)."
  - "Several capture machines (O(target_count) > 1, C(mirrorlab_target.count)): machine k is node
    C(target_<k>) (namespace and machine C(ml-<deployment>-target-<k>), directory
    C(machine-<k>), host 11 + k of zone a; the first keeps the names of one machine), and the
    NLB stand-in, node C(nlb) (C(ml-<deployment>-nlb), host 9 of zone a, forwarding on, no ICMP
    redirects), takes the sessions' VXLAN packets and spreads them by flow (M(mirrorlab.vpc.lab_nlb)).
    Zone a must hold the last machine's address: a /27 or /28 VPC has room for 3."
  - "Sources: V(sample_service) and V(load_balancer) map to the ALB's interfaces, one session
    each (the lab has one ALB, whatever its name); V(ecs_service) maps to the backend's
    interface (the lab's stand-in for the Fargate task); V(network_interface) with C(id) the lab
    ENI id of one interface (C(eni-) + 8 hex digits of the SHA-1 of C(<deployment>/<node>),
    returned as C(nodes.<node>.eni_id)), or the node's name (V(alb), V(alb_b), V(backend)), the
    interface as C(<namespace>/<name>) (C(nodes.alb.qualified_interface)) or the name of its
    bridge port (C(nodes.alb.peer)), maps to that interface. V(instance) and any other id fail:
    the lab has no such source. Several sources on one interface give one session."
author:
  - mirrorlab developers (@mirrorlab)
options:
  deployment:
    description:
      - The deployment name (C(experiment.deployment)), checked with the experiment model's rule
        for C(mirrorlab_deployment); a bad name fails with the model's message.
    type: str
    required: true
  vpc_cidr:
    description: The lab VPC's IPv4 CIDR (C(experiment.network.vpc_cidr)), /16 to /28.
    type: str
    default: 10.0.0.0/16
  internet_cidr:
    description:
      - The client's "internet" side, an IPv4 /24 to /28 outside O(vpc_cidr) (the client is its
        10th host). The default is a documentation range (RFC 5737) that never leaves this host.
    type: str
    default: 198.51.100.0/24
  sources:
    description: The experiment's sources (C(experiment.sources)).
    type: list
    elements: dict
    default: [{type: sample_service}]
  state_root:
    description: Directory under which the deployment's state directory C(ml-<deployment>) lives.
    type: path
    default: /run
  machine_root:
    description:
      - Directory under which the capture machine's directory C(ml-<deployment>/machine) lives
        (its overlay, with the pcap files). On disk by default, as the pcaps can be large.
    type: path
    default: /var/lib/mirrorlab
  target_count:
    description:
      - The capture machines (C(experiment.capture_instances), from C(mirrorlab_target.count));
        above 1 they sit behind the NLB stand-in. A count zone a cannot hold fails, naming
        C(mirrorlab_target.count).
    type: int
    default: 1
  discover:
    description:
      - Look on the host for what an earlier run made beyond O(target_count) (the namespaces
        C(ml-<deployment>-target-<k>) and C(ml-<deployment>-nlb), the directories C(machine-<k>)),
        returned as C(unused_targets) and C(unused_topology) (to remove, their pcaps kept first).
        Reads C(/run/netns) and the deployment's machine directory; changes nothing.
    type: bool
    default: false
seealso:
  - module: mirrorlab.vpc.lab_netns
  - module: mirrorlab.vpc.lab_daemon
  - module: mirrorlab.vpc.lab_nlb
"""

EXAMPLES = r"""
- name: Plan the lab of the experiment
  mirrorlab.vpc.lab_plan:
    deployment: "{{ experiment.deployment }}"
    vpc_cidr: "{{ experiment.network.vpc_cidr }}"
    sources: "{{ experiment.sources }}"
  register: lab_plan

- name: Show the ALB's address
  ansible.builtin.debug:
    msg: "{{ lab_plan.lab.nodes.alb.address }}"
"""

RETURN = r"""
lab:
  description: The lab plan.
  returned: always
  type: dict
  contains:
    deployment:
      description: The deployment name.
      type: str
      sample: mirrorlab
    id:
      description: The short id in the names of the router namespace's interfaces.
      type: str
      sample: dcdf7
    prefix:
      description:
        - The prefix (C(ml<id>)) of the interfaces in the router namespace (bridge, internet side,
          bridge ports), the only lab interfaces whose names must be unique on the host.
      type: str
      sample: mldcdf7
    state_dir:
      description: The deployment's state directory (configuration, pid files, logs).
      type: str
      sample: /run/ml-mirrorlab
    machine:
      description: The capture machine's name.
      type: str
      sample: ml-mirrorlab-target
    machine_base:
      description: The deployment's directory under O(machine_root) (removed by the teardown).
      type: str
      sample: /var/lib/mirrorlab/ml-mirrorlab
    machine_dir:
      description: The capture machine's state directory (overlay, console log).
      type: str
      sample: /var/lib/mirrorlab/ml-mirrorlab/machine
    vpc_cidr:
      description: The lab VPC CIDR.
      type: str
      sample: 10.0.0.0/16
    internet_cidr:
      description: The internet side's CIDR.
      type: str
      sample: 198.51.100.0/24
    namespaces:
      description: Every network namespace of the lab, by node.
      type: dict
      sample: {router: ml-mirrorlab-router, client: ml-mirrorlab-client}
    nodes:
      description:
        - Per node (router, client, alb, alb_b, backend, target, target_<k> and nlb with several
          machines) its namespace, interface (its name in
          the node's namespace, C(inet0) for the client, C(vpc0) for the others),
          C(qualified_interface) (C(<namespace>/<interface>)), address, prefix length and
          gateway; the ALB, the backend and the target also C(peer), their port on the VPC
          bridge in the router namespace (C(<prefix>alb), C(<prefix>backend),
          C(<prefix>target)), and the ALB and the backend their C(eni_id). The router has
          C(bridge) (C(<prefix>vpc)), C(bridge_address), C(inet_interface) (C(<prefix>inet),
          the client's peer) and C(inet_address).
      type: dict
      sample:
        alb: {eni_id: eni-2f5260ef, netns: ml-mirrorlab-alb, interface: vpc0,
              qualified_interface: ml-mirrorlab-alb/vpc0, peer: mldcdf7alb, address: 10.0.0.10,
              prefixlen: 16, gateway: 10.0.0.1}
    targets:
      description:
        - The capture machines, in order (index, node, machine, netns, interface, address,
          machine_dir, label); the first is C(machine) and C(machine_dir).
      type: list
      elements: dict
      sample:
        - {index: 1, node: target, machine: ml-mirrorlab-target, netns: ml-mirrorlab-target, interface: vpc0,
           address: 10.0.0.12, machine_dir: /var/lib/mirrorlab/ml-mirrorlab/machine, label: ml-mirrorlab-target 10.0.0.12}
    target_address:
      description: Where the mirror sessions send their VXLAN packets - the only machine's address, or the NLB stand-in's.
      type: str
      sample: 10.0.0.12
    nlb:
      description:
        - The NLB stand-in (netns, address, table, targets, seed) for M(mirrorlab.vpc.lab_nlb), or
          None with one machine.
      type: dict
      sample: {netns: ml-mirrorlab-nlb, address: 10.0.0.9, table: ml_mirrorlab_nlb, targets: [10.0.0.12, 10.0.0.13],
               seed: 176247250}
    unused_targets:
      description:
        - With O(discover), the machines found beyond O(target_count) (index, node, machine, netns,
          machine_dir, peer), else empty.
      type: list
      elements: dict
    all_targets:
      description:
        - C(targets) and C(unused_targets) - every capture machine this lab has or, with
          O(discover), an earlier run left on the host (what teardown, status, fetch and report take).
      type: list
      elements: dict
    unused_topology:
      description:
        - With O(discover), the namespaces and router-side links of the unused machines, and the NLB
          stand-in's when one machine is left, as M(mirrorlab.vpc.lab_netns) options (state absent).
      type: dict
    unused_sessions:
      description: The session slots of the lab's other source interfaces (to remove on a re-run).
      type: list
      elements: dict
    zones:
      description: Per zone (C(a), C(b)) its subnet, its bridge in the router namespace, the router's address there and a label.
      type: dict
      sample: {a: {subnet: 10.0.0.0/17, bridge: mldcdf7vpc, router: 10.0.0.1, label: a 10.0.0.0/17}}
    albs:
      description: The ALB's interfaces, one per zone (node, zone, address, ENI id, namespace, interface, label).
      type: list
      elements: dict
    services:
      description: The sample service's daemons (name, role C(alb) or C(backend), namespace, address), for M(mirrorlab.vpc.lab_daemon).
      type: list
      elements: dict
    topology:
      description:
        - The lab network as the options C(namespaces), C(bridges) and C(veths) of
          M(mirrorlab.vpc.lab_netns) (IPv6 off in every namespace, forwarding on in the router,
          segmentation and receive offloads off on every link so packets are wire-sized).
      type: dict
    sessions:
      description: One mirror session per distinct source interface.
      type: list
      elements: dict
      sample:
        - {node: alb, netns: ml-mirrorlab-alb, interface: vpc0, qualified_interface: ml-mirrorlab-alb/vpc0,
           eni_id: eni-2f5260ef, address: 10.0.0.10, vxlan: mirror0, table: ml_mirrorlab_alb,
           sources: [{type: sample_service}]}
    enis:
      description:
        - The mirrored lab interfaces as source ENIs, in the shape M(mirrorlab.vpc.vni_map) takes
          (C(id), C(description), C(source)), one per session.
      type: list
      elements: dict
      sample: [{id: eni-2f5260ef, description: "lab alb interface ml-mirrorlab-alb/vpc0", source: alb}]
"""

import hashlib
import ipaddress
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mirrorlab.vpc.plugins.module_utils import model
from ansible_collections.mirrorlab.vpc.plugins.module_utils.lab_host import NETNS_DIR
from ansible_collections.mirrorlab.vpc.plugins.module_utils.validation import Errors, check

# Interfaces in a namespace of their own: plain names that say what they are.
VPC_INTERFACE = "vpc0"  # the ALB's, the backend's and the target's link to the lab VPC
INTERNET_INTERFACE = "inet0"  # the client's link to the internet side
MIRROR_INTERFACE = "mirror0"  # a source's VXLAN sender (in the source's namespace)
# Interfaces in the router namespace (shared by the VPC bridge and its ports): ml<id> + these.
ROUTER_NAMES = {"bridge": "vpc", "bridge_b": "vpcb", "inet": "inet", "alb": "alb", "alb_b": "albb", "backend": "backend",
                "target": "target", "nlb": "nlb"}
# Host numbers in the node's zone subnet: zone a holds the router, the NLB stand-in (with
# several targets), the ALB's first interface, the backend and the targets (the first at 12,
# target k at 11 + k); zone b the router's second leg and the ALB's second interface.
VPC_HOST = {"router": 1, "nlb": 9, "alb": 10, "alb_b": 10, "backend": 11, "target": 12}
FIRST_TARGET_HOST = VPC_HOST["target"]
INTERNET_HOST = {"router": 1, "client": 10}
# The ALB's interfaces, one per zone (zone a's first), and every node that can be a source.
ALB_NODES = ("alb", "alb_b")
SOURCE_NODES = ("alb", "alb_b", "backend")
ZONES = ("a", "b")
# Two zones need halves of the VPC that hold host 12: a VPC of /27 or larger. A /28 VPC has
# one zone (an AWS ALB needs two subnets of at least /28, which a /28 VPC cannot hold).
TWO_ZONES_MAX_PREFIX = 27
# Prefix lengths: the VPC as the experiment model allows it; the internet side must hold its
# 10th host (the client), so at most a /28.
VPC_PREFIXES = (model.VPC_PREFIX_MIN, model.VPC_PREFIX_MAX)
INTERNET_PREFIXES = (24, 28)


class PlanError(ValueError):
    pass


def node_netns(deployment, node):
    """A node's namespace (and a capture machine's name): ml-<deployment>-<node, _ as ->."""
    return f"ml-{deployment}-{node.replace('_', '-')}"


def router_port(node):
    """A node's port on its zone's bridge, without the deployment's prefix: ROUTER_NAMES, and
    target<k> for capture machine k > 1."""
    return ROUTER_NAMES.get(node) or node.replace("_", "")


def target_node(index):
    """The node of capture machine <index> (1-based): target, target_2, target_3, ..."""
    return "target" if index == 1 else f"target_{index}"


def _index(name, base):
    """1 for <base>, k for <base>-<k> (k > 1), else None."""
    if name == base:
        return 1
    rest = name[len(base) + 1:] if name.startswith(base + "-") else ""
    return int(rest) if rest.isdigit() and int(rest) > 1 else None


def target_index(deployment, name):
    """The index of the capture machine whose namespace is <name> (1 for ml-<deployment>-target,
    k for ml-<deployment>-target-<k>), else None."""
    return _index(name, node_netns(deployment, "target"))


def machine_dir_name(index):
    """The capture machine's directory under the deployment's machine_base: machine, machine-<k>."""
    return "machine" if index == 1 else f"machine-{index}"


def short_id(deployment):
    return hashlib.sha1(deployment.encode()).hexdigest()[:5]


def check_deployment_name(deployment):
    """The experiment model's rule for mirrorlab_deployment, with its message."""
    errors = Errors(model.PREFIX)
    check(model.by_name(model.EXPERIMENT)["deployment"], deployment, "deployment", errors)
    if errors:
        raise PlanError("; ".join(errors.messages))


def _network(value, name, min_prefix, max_prefix):
    try:
        net = ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        raise PlanError(f"{name}: {value!r} is not an IPv4 network in CIDR form ({exc})") from None
    if net.version != 4 or not min_prefix <= net.prefixlen <= max_prefix:
        raise PlanError(f"{name}: {value!r} must be an IPv4 CIDR from /{min_prefix} to /{max_prefix}")
    return net


def _host(net, index):
    return str(net.network_address + index)


def eni_id(deployment, node):
    """The lab interface's ENI id: stable per deployment and node, in the AWS id format."""
    return "eni-" + hashlib.sha1(f"{deployment}/{node}".encode()).hexdigest()[:8]


def source_nodes(source, nodes):
    """Map one experiment source onto lab nodes: the ALB's interfaces (one per zone) or the
    backend's, or the one interface a network_interface id names."""
    kind = source.get("type")
    if kind in ("sample_service", "load_balancer"):
        return [n for n in ALB_NODES if n in nodes]
    if kind == "ecs_service":
        return ["backend"]
    if kind == "network_interface":
        ident = str(source.get("id", ""))
        for node in SOURCE_NODES:
            info = nodes.get(node)
            if info and ident in (node, info["eni_id"], info["qualified_interface"], info["peer"]):
                return [node]
        choices = ", ".join(f"{nodes[n]['eni_id']} ({n}: {nodes[n]['qualified_interface']})"
                            for n in SOURCE_NODES if n in nodes)
        raise PlanError(f"mirrorlab_sources: network_interface id {ident!r} is not a lab interface; in this lab use "
                        f"one of {choices}")
    raise PlanError(
        f"mirrorlab_sources: source type {kind!r} has no counterpart in the lab; the lab mirrors "
        "sample_service/load_balancer (the ALB), ecs_service (the backend) and network_interface "
        "with id alb or backend"
    )


def topology(nodes):
    """The lab network as mirrorlab.vpc.lab_netns options (namespaces, bridges, veths)."""
    no_ipv6 = {"net.ipv6.conf.all.disable_ipv6": 1, "net.ipv6.conf.default.disable_ipv6": 1}
    router = nodes["router"]
    namespaces = [{"name": router["netns"], "sysctls": dict(no_ipv6, **{"net.ipv4.ip_forward": 1}), "routes": []}]
    veths = []
    for node in [n for n in nodes if n != "router"]:
        info = nodes[node]
        sysctls = dict(no_ipv6)
        if node == "nlb":
            # The NLB stand-in forwards what it takes back out of the interface it came in on:
            # no ICMP redirects to the sources (they would be mirrored traffic of their own).
            sysctls.update({"net.ipv4.ip_forward": 1, "net.ipv4.conf.all.send_redirects": 0,
                            "net.ipv4.conf.default.send_redirects": 0})
        namespaces.append({"name": info["netns"], "sysctls": sysctls,
                           "routes": [{"dest": "default", "via": info["gateway"]}]})
        veth = {"name": info["interface"], "netns": info["netns"],
                "addresses": [f"{info['address']}/{info['prefixlen']}"], "peer_netns": router["netns"],
                "offloads": False}
        if node == "client":
            veth.update(peer=router["inet_interface"], peer_master=None,
                        peer_addresses=[f"{router['inet_address']}/{info['prefixlen']}"])
        else:
            bridge = router["zones"][info["zone"]]["bridge"]
            veth.update(peer=info["peer"], peer_master=bridge, peer_addresses=[])
        veths.append(veth)
    # One bridge per zone (subnet), the router's address on each.
    bridges = [{"name": zone["bridge"], "netns": router["netns"], "addresses": [f"{zone['address']}/{zone['prefixlen']}"]}
               for dummy, zone in sorted(router["zones"].items())]
    return {"namespaces": namespaces, "bridges": bridges, "veths": veths}


def zone_subnets(vpc):
    """{zone: subnet}: the VPC's two halves (zone a, zone b), or, for a /28 VPC, the whole VPC as
    zone a alone."""
    if vpc.prefixlen > TWO_ZONES_MAX_PREFIX:
        return {"a": vpc}
    first, second = vpc.subnets(prefixlen_diff=1)
    return {"a": first, "b": second}


def check_target_count(count, zone_a):
    """Capture machine k has host 11 + k of zone a: the zone must hold them all."""
    last_host = zone_a.num_addresses - 2
    most = last_host - FIRST_TARGET_HOST + 1
    if not 1 <= count:
        raise PlanError(f"{model.PREFIX}target.count: must be at least 1, got {count}")
    if count > most:
        raise PlanError(
            f"{model.PREFIX}target.count: {count} capture machines need host addresses {FIRST_TARGET_HOST} to "
            f"{FIRST_TARGET_HOST + count - 1} of the lab's zone a ({zone_a}), which ends at host {last_host}; use at "
            f"most {most} with this {model.PREFIX}network.vpc_cidr, or a larger VPC (a /26 holds 10)")


def plan_nodes(deployment, vpc, inet, target_count=1):
    """Every node's namespace, interfaces and addresses."""
    prefix = "ml" + short_id(deployment)
    router_ns = node_netns(deployment, "router")
    subnets = zone_subnets(vpc)
    zones = {
        zone: {"subnet": str(net), "bridge": prefix + ROUTER_NAMES["bridge" if zone == "a" else "bridge_b"],
               "address": _host(net, VPC_HOST["router"]), "prefixlen": net.prefixlen}
        for zone, net in subnets.items()
    }
    nodes = {
        "router": {
            "netns": router_ns,
            "bridge": zones["a"]["bridge"],
            "bridge_address": zones["a"]["address"],
            "inet_interface": prefix + ROUTER_NAMES["inet"],
            "inet_address": _host(inet, INTERNET_HOST["router"]),
            "address": zones["a"]["address"],
            "prefixlen": subnets["a"].prefixlen,
            "zones": zones,
        },
        "client": {
            "netns": node_netns(deployment, "client"),
            "interface": INTERNET_INTERFACE,
            "address": _host(inet, INTERNET_HOST["client"]),
            "prefixlen": inet.prefixlen,
            "gateway": _host(inet, INTERNET_HOST["router"]),
        },
    }
    check_target_count(target_count, subnets["a"])
    hosts = dict(VPC_HOST, **{target_node(k): FIRST_TARGET_HOST + k - 1 for k in range(1, target_count + 1)})
    targets = [target_node(k) for k in range(1, target_count + 1)]
    for node in ["alb", "alb_b", "backend"] + targets + (["nlb"] if target_count > 1 else []):
        zone = "b" if node == "alb_b" else "a"
        if zone not in subnets:
            continue
        net = subnets[zone]
        nodes[node] = {
            "eni_id": eni_id(deployment, node) if node in SOURCE_NODES else None,
            "netns": node_netns(deployment, node),
            "interface": VPC_INTERFACE,
            "peer": prefix + router_port(node),
            "address": _host(net, hosts[node]),
            "prefixlen": net.prefixlen,
            "gateway": _host(net, VPC_HOST["router"]),
            "zone": zone,
        }
    for info in nodes.values():
        if "interface" in info:
            info["qualified_interface"] = f"{info['netns']}/{info['interface']}"
    return nodes


def plan_targets(deployment, nodes, target_count, machine_base):
    """The capture machines (their nodes, machine names and directories), the address the
    sessions send to (the only machine's, or the NLB stand-in's) and the stand-in's plan."""
    targets = []
    for index in range(1, target_count + 1):
        info = nodes[target_node(index)]
        targets.append({"index": index, "node": target_node(index), "machine": info["netns"], "netns": info["netns"],
                        "interface": info["interface"], "address": info["address"],
                        "machine_dir": f"{machine_base}/{machine_dir_name(index)}",
                        "label": f"{info['netns']} {info['address']}"})
    nlb = None
    if target_count > 1:
        info = nodes["nlb"]
        nlb = {"netns": info["netns"], "address": info["address"], "table": f"ml_{deployment.replace('-', '_')}_nlb",
               "targets": [t["address"] for t in targets],
               # One hash seed per deployment: the same flow goes to the same target on every run.
               "seed": int(hashlib.sha1(f"{deployment}/nlb".encode()).hexdigest()[:8], 16)}
    return targets, nlb


def plan_unused(deployment, prefix, machine_base, target_count, found_targets, found_nlb):
    """What an earlier run with more capture machines left (found on the host): the machines
    beyond target_count, and the NLB stand-in when one machine is left; with the namespaces and
    router-side links to remove (M(mirrorlab.vpc.lab_netns) state absent)."""
    unused = []
    for index in range(target_count + 1, found_targets + 1):
        node = target_node(index)
        unused.append({"index": index, "node": node, "machine": node_netns(deployment, node),
                       "netns": node_netns(deployment, node), "machine_dir": f"{machine_base}/{machine_dir_name(index)}",
                       "peer": prefix + router_port(node)})
    gone = [t["node"] for t in unused] + (["nlb"] if found_nlb and target_count == 1 else [])
    namespaces = [{"name": node_netns(deployment, node)} for node in gone]
    veths = [{"name": VPC_INTERFACE, "netns": node_netns(deployment, node), "peer": prefix + router_port(node),
              "peer_netns": node_netns(deployment, "router")} for node in gone]
    return unused, {"namespaces": namespaces, "bridges": [], "veths": veths}


def plan(deployment, vpc_cidr="10.0.0.0/16", internet_cidr="198.51.100.0/24", sources=None, state_root="/run",
         machine_root="/var/lib/mirrorlab", target_count=1, found_targets=0, found_nlb=False):
    check_deployment_name(deployment)
    vpc = _network(vpc_cidr, "vpc_cidr", *VPC_PREFIXES)
    inet = _network(internet_cidr, "internet_cidr", *INTERNET_PREFIXES)
    if vpc.overlaps(inet):
        raise PlanError(f"internet_cidr: {internet_cidr} overlaps the lab VPC {vpc_cidr}")
    ident = short_id(deployment)
    nodes = plan_nodes(deployment, vpc, inet, target_count)
    machine_base = f"{machine_root.rstrip('/')}/ml-{deployment}"
    targets, nlb = plan_targets(deployment, nodes, target_count, machine_base)
    unused_targets, unused_topology = plan_unused(deployment, "ml" + ident, machine_base, target_count, found_targets,
                                                  found_nlb)
    ns = {node: info["netns"] for node, info in nodes.items()}
    planned = [n for n in SOURCE_NODES if n in nodes]
    slots = {
        node: {
            "node": node,
            "netns": ns[node],
            "interface": nodes[node]["interface"],
            "qualified_interface": nodes[node]["qualified_interface"],
            "eni_id": nodes[node]["eni_id"],
            "address": nodes[node]["address"],
            "zone": nodes[node]["zone"],
            "vxlan": MIRROR_INTERFACE,
            "table": f"ml_{deployment.replace('-', '_')}_{node}",
        }
        for node in planned
    }
    sessions = {}
    for source in sources if sources is not None else [{"type": "sample_service"}]:
        if not isinstance(source, dict):
            raise PlanError(f"mirrorlab_sources: each source must be a mapping, got {source!r}")
        for node in source_nodes(source, nodes):
            sessions.setdefault(node, dict(slots[node], sources=[]))["sources"].append(source)
    albs = [n for n in ALB_NODES if n in nodes]
    return {
        "deployment": deployment,
        "id": ident,
        "prefix": "ml" + ident,
        "state_dir": f"{state_root.rstrip('/')}/ml-{deployment}",
        "machine": ns["target"],
        "machine_base": machine_base,
        "machine_dir": targets[0]["machine_dir"],
        "targets": targets,
        "nlb": nlb,
        "unused_targets": unused_targets,
        "all_targets": targets + unused_targets,
        "unused_topology": unused_topology,
        "target_address": nlb["address"] if nlb else targets[0]["address"],
        "vpc_cidr": str(vpc),
        "internet_cidr": str(inet),
        "namespaces": ns,
        "nodes": nodes,
        "topology": topology(nodes),
        "zones": {zone: {"subnet": info["subnet"], "bridge": info["bridge"], "router": info["address"],
                         "label": f"{zone} {info['subnet']}"}
                  for zone, info in nodes["router"]["zones"].items()},
        "albs": [{"node": n, "address": nodes[n]["address"], "zone": nodes[n]["zone"], "eni_id": nodes[n]["eni_id"],
                  "netns": nodes[n]["netns"], "qualified_interface": nodes[n]["qualified_interface"],
                  "label": f"ALB zone {nodes[n]['zone']} {nodes[n]['qualified_interface']} = {nodes[n]['eni_id']}"}
                 for n in albs],
        # The sample service's daemons: the backend, then one ALB node per zone (lab_daemon names).
        "services": [{"name": n, "role": "backend" if n == "backend" else "alb", "netns": nodes[n]["netns"],
                      "address": nodes[n]["address"]} for n in ["backend"] + albs],
        "sessions": [sessions[n] for n in planned if n in sessions],
        "enis": [{"id": sessions[n]["eni_id"], "description": f"lab {n} interface {sessions[n]['qualified_interface']}",
                  "source": n, "zone": "lab-" + sessions[n]["zone"]} for n in planned if n in sessions],
        "unused_sessions": [slots[n] for n in planned if n not in sessions],
    }


def found_target_count(deployment, netns_names, machine_dir_names):
    """The most capture machines a lab of <deployment> has on this host: the highest index among
    its target namespaces and its machine directories (machine, machine-<k>), 0 for none."""
    indexes = [target_index(deployment, name) for name in netns_names]
    indexes += [_index(name, machine_dir_name(1)) for name in machine_dir_names]
    return max([i for i in indexes if i] or [0])


def listing(path):
    try:
        return os.listdir(path)
    except OSError:
        return []


def main():
    module = AnsibleModule(
        argument_spec=dict(
            deployment=dict(type="str", required=True),
            vpc_cidr=dict(type="str", default="10.0.0.0/16"),
            internet_cidr=dict(type="str", default="198.51.100.0/24"),
            sources=dict(type="list", elements="dict", default=[{"type": "sample_service"}]),
            state_root=dict(type="path", default="/run"),
            machine_root=dict(type="path", default="/var/lib/mirrorlab"),
            target_count=dict(type="int", default=1),
            discover=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    params = dict(module.params)
    if params.pop("discover"):
        machine_base = os.path.join(params["machine_root"], "ml-" + params["deployment"])
        namespaces = listing(NETNS_DIR)
        params["found_targets"] = found_target_count(params["deployment"], namespaces, listing(machine_base))
        params["found_nlb"] = node_netns(params["deployment"], "nlb") in namespaces
    try:
        result = plan(**params)
    except PlanError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, lab=result)


if __name__ == "__main__":
    main()
