"""Hypothesis strategies for filter rules and packets, shared by the unit and lab tests.

Addresses and ports come from small pools with boundaries, so random packets hit random
rules often (a pool too wide would test mostly "no rule matches").
"""

import ipaddress

from hypothesis import strategies as st

V4_POOL = ["10.0.0.1", "10.0.1.7", "10.0.255.254", "10.1.0.1", "192.168.1.10", "192.168.1.200", "203.0.113.5", "0.0.0.1"]
V6_POOL = ["fd00::1", "fd00::1:7", "fd00:0:0:1::1", "2001:db8::5", "2001:db8::ffff", "::1"]
PORT_POOL = [0, 1, 22, 53, 79, 80, 81, 443, 1023, 1024, 1025, 4789, 8080, 32768, 65534, 65535]
PROTO_NAMES = ["tcp", "udp", "icmp", "all", 6, 17, 1, 47, 58, 0, 255, "6"]
PACKET_PROTOCOLS = [6, 17, 1, 58, 47, 0, 255]


@st.composite
def cidrs(draw, version):
    pool = V4_POOL if version == 4 else V6_POOL
    bits = 32 if version == 4 else 128
    address = draw(st.sampled_from(pool))
    prefix = draw(st.sampled_from([0, 1, bits // 4, bits // 2, bits - 16, bits - 8, bits - 1, bits]) | st.integers(0, bits))
    return ipaddress.ip_network("%s/%d" % (address, prefix), strict=False).with_prefixlen


@st.composite
def port_ranges(draw):
    a = draw(st.sampled_from(PORT_POOL) | st.integers(0, 65535))
    b = draw(st.sampled_from(PORT_POOL) | st.integers(0, 65535))
    low, high = min(a, b), max(a, b)
    return str(low) if low == high else "%d-%d" % (low, high)


@st.composite
def raw_rule(draw, direction, number):
    version = draw(st.sampled_from([4, 4, 6]))
    protocol = draw(st.sampled_from(PROTO_NAMES))
    rule = {
        "direction": direction,
        "number": number,
        "action": draw(st.sampled_from(["accept", "reject"])),
        "protocol": protocol,
        "source_cidr": draw(cidrs(version)),
        "destination_cidr": draw(cidrs(version)),
    }
    if protocol in ("tcp", "udp", 6, 17, "6"):
        if draw(st.booleans()):
            rule["source_ports"] = draw(port_ranges())
        if draw(st.booleans()):
            rule["destination_ports"] = draw(port_ranges())
    return rule


@st.composite
def raw_rule_sets(draw, max_rules=10):
    """0-10 raw rules (as a user writes them), numbers unique per direction."""
    count = draw(st.integers(0, max_rules))
    rules = []
    used = {"ingress": set(), "egress": set()}
    for dummy in range(count):
        direction = draw(st.sampled_from(["ingress", "egress"]))
        number = draw(st.integers(1, 32766).filter(lambda n, d=direction: n not in used[d]))
        used[direction].add(number)
        rules.append(draw(raw_rule(direction, number)))
    return rules


@st.composite
def packets(draw, direction=None):
    version = draw(st.sampled_from([4, 4, 6]))
    pool = V4_POOL if version == 4 else V6_POOL
    protocol = draw(st.sampled_from(PACKET_PROTOCOLS))
    ports = protocol in (6, 17)
    return {
        "direction": direction or draw(st.sampled_from(["ingress", "egress"])),
        "src": draw(st.sampled_from(pool)),
        "dst": draw(st.sampled_from(pool)),
        "protocol": protocol,
        "sport": draw(st.sampled_from(PORT_POOL) | st.integers(0, 65535)) if ports else None,
        "dport": draw(st.sampled_from(PORT_POOL) | st.integers(0, 65535)) if ports else None,
    }


def _edge_addresses(cidr):
    """Addresses on and just outside the edges of a CIDR (same family)."""
    net = ipaddress.ip_network(cidr)
    top = 2 ** net.max_prefixlen - 1
    first, last = int(net.network_address), int(net.broadcast_address)
    values = {first, last, max(first - 1, 0), min(last + 1, top), (first + last) // 2}
    cls = ipaddress.IPv4Address if net.version == 4 else ipaddress.IPv6Address
    return sorted(str(cls(v)) for v in values)


def _edge_ports(port_range):
    if not port_range:
        return PORT_POOL
    low, high = port_range["from"], port_range["to"]
    return sorted({low, high, max(low - 1, 0), min(high + 1, 65535)})


@st.composite
def packets_near(draw, rules):
    """A packet aimed at the edges of one of ``rules`` (normalized): CIDR bounds, port bounds."""
    if not rules:
        return draw(packets())
    rule = draw(st.sampled_from(rules))
    if rule["protocol"] == -1:
        protocol = draw(st.sampled_from(PACKET_PROTOCOLS))
    else:
        protocol = draw(st.sampled_from([rule["protocol"], rule["protocol"], 6, 17, 1]))
    ports = protocol in (6, 17)
    return {
        "direction": draw(st.sampled_from([rule["direction"]] * 3 + ["ingress", "egress"])),
        "src": draw(st.sampled_from(_edge_addresses(rule["source_cidr"]))),
        "dst": draw(st.sampled_from(_edge_addresses(rule["destination_cidr"]))),
        "protocol": protocol,
        "sport": draw(st.sampled_from(_edge_ports(rule.get("source_ports")))) if ports else None,
        "dport": draw(st.sampled_from(_edge_ports(rule.get("destination_ports")))) if ports else None,
    }
