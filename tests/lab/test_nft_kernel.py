"""The compiled mirror filters in the real kernel (root, network namespaces; marked lab).

1. Every compiled ruleset of a sample of random rule sets is accepted by the kernel
   (``nft -c -f``, check mode, in a namespace holding the devices it names).
2. End to end: lab_mirror_session sets up a session on a source veth in one namespace,
   towards a receiver namespace with its own VXLAN device (same VNI). Real TCP, UDP and
   ICMP traffic over IPv4 and IPv6 is sent; the source device is captured (every packet it
   sees, with its direction) and the receiver's VXLAN device is captured (every decapsulated
   packet). The packets the receiver gets must be exactly those the reference evaluator
   (filter_rules.is_mirrored) says are mirrored: same packets, same count (a mirror loop or
   a missed packet fails the test), for each of several rule sets.
"""

import collections
import ipaddress
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from conftest import module_main
from hypothesis import HealthCheck, given, settings

from ansible_collections.mirrorlab.vpc.plugins.module_utils import filter_rules as fr
from ansible_collections.mirrorlab.vpc.plugins.module_utils import nft_mirror as nm
from ansible_collections.mirrorlab.vpc.plugins.modules import lab_mirror_session

from filter_strategies import raw_rule_sets  # shared hypothesis strategies (tests/unit/support)

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)"),
    pytest.mark.skipif(not (shutil.which("nft") and shutil.which("tcpdump")), reason="needs nft and tcpdump"),
]

# Addresses from the hypothesis pools (filter_strategies.py), so random rules often match them.
SRC4, PEER4 = "10.0.1.7", "10.0.0.1"
SRC6, PEER6 = "fd00::1:7", "fd00::1"
SRC_DEV, PEER_DEV, VX_DEV, RX_DEV, RX6_DEV = "mlfks0", "mlfkr0", "mlfkvx0", "mlfkrx0", "mlfkrx6"
VNI = 6789
TABLE = "mlf_kernel"
SERVER_PORT, CLOSED_PORT = 8080, 81


def sh(*argv, check=True, **kw):
    return subprocess.run(argv, capture_output=True, text=True, check=check, **kw)


def in_ns(ns, *argv, **kw):
    return sh("ip", "netns", "exec", ns, *argv, **kw)


SERVER = r"""
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::", int(sys.argv[1])))
s.listen(16)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    c.recv(100)
    c.sendall(b"HTTP/1.0 200 OK\r\n\r\nok")
    c.close()
"""

TRAFFIC = r"""
import socket, struct, sys, time
peer4, peer6, open_port, closed_port = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF

for family, peer in ((socket.AF_INET, peer4), (socket.AF_INET6, peer6)):
    c = socket.create_connection((peer, open_port), timeout=3)
    c.sendall(b"GET / HTTP/1.0\r\n\r\n")
    while c.recv(100):
        pass
    c.close()
    try:
        socket.create_connection((peer, closed_port), timeout=3)
    except ConnectionRefusedError:
        pass
    for sport, dport in ((40000, 53), (1024, 5353)):
        u = socket.socket(family, socket.SOCK_DGRAM)
        u.bind(("", sport))
        u.sendto(b"mirrorlab", (peer, dport))
        u.close()
        time.sleep(0.05)
    if family == socket.AF_INET:
        r = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        body = struct.pack("!BBHHH", 8, 0, 0, 7, 1) + b"ping"
        body = body[:2] + struct.pack("!H", csum(body)) + body[4:]
    else:
        r = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        body = struct.pack("!BBHHH", 128, 0, 0, 7, 1) + b"ping"  # the kernel fills the checksum
    r.sendto(body, (peer, 0))
    r.close()
    time.sleep(0.1)
time.sleep(0.3)
"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    tag = uuid.uuid4().hex[:6]
    src, peer = "mlf-k%s-s" % tag, "mlf-k%s-r" % tag
    work = tmp_path_factory.mktemp("mlf-kernel")
    server = None
    sh("ip", "netns", "add", src)
    sh("ip", "netns", "add", peer)
    try:
        for ns in (src, peer):
            # Quiet IPv6: no router solicitations, no duplicate address detection.
            for key in ("router_solicitations=0", "accept_dad=0", "accept_ra=0"):
                in_ns(ns, "sysctl", "-qw", "net.ipv6.conf.default." + key)
                in_ns(ns, "sysctl", "-qw", "net.ipv6.conf.all." + key)
        sh("ip", "link", "add", SRC_DEV, "netns", src, "type", "veth", "peer", "name", PEER_DEV, "netns", peer)
        for ns, dev, a4, a6 in ((src, SRC_DEV, SRC4, SRC6), (peer, PEER_DEV, PEER4, PEER6)):
            sh("ip", "-n", ns, "addr", "add", a4 + "/16", "dev", dev)
            sh("ip", "-n", ns, "addr", "add", a6 + "/64", "dev", dev, "nodad")
            sh("ip", "-n", ns, "link", "set", dev, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        macs = {dev: json.loads(sh("ip", "-n", ns, "-j", "link", "show", dev).stdout)[0]["address"]
                for ns, dev in ((src, SRC_DEV), (peer, PEER_DEV))}
        # Static neighbours: no ARP or neighbour discovery during the measurements.
        for ns, dev, other, a4, a6 in ((src, SRC_DEV, PEER_DEV, PEER4, PEER6), (peer, PEER_DEV, SRC_DEV, SRC4, SRC6)):
            sh("ip", "-n", ns, "neigh", "replace", a4, "lladdr", macs[other], "dev", dev, "nud", "permanent")
            sh("ip", "-n", ns, "neigh", "replace", a6, "lladdr", macs[other], "dev", dev, "nud", "permanent")
        # The receiver: a VXLAN device with the session's VNI and no remote, like capture0.
        sh("ip", "-n", peer, "link", "add", RX_DEV, "type", "vxlan", "id", str(VNI), "dstport", "4789", "nolearning")
        in_ns(peer, "sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % RX_DEV)
        sh("ip", "-n", peer, "link", "set", RX_DEV, "arp", "off", "up")
        # And one listening on IPv6 (a VXLAN device opens an IPv6 socket only with a v6 address).
        sh("ip", "-n", peer, "link", "add", RX6_DEV, "type", "vxlan", "id", str(VNI), "local", PEER6, "dstport", "4789",
           "nolearning")
        in_ns(peer, "sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % RX6_DEV)
        sh("ip", "-n", peer, "link", "set", RX6_DEV, "arp", "off", "up")
        server = subprocess.Popen(["ip", "netns", "exec", peer, sys.executable, "-c", SERVER, str(SERVER_PORT)],
                                  stdout=subprocess.PIPE, text=True)
        assert server.stdout.readline().strip() == "ready"
        time.sleep(1.0)  # let the MLD reports of the new addresses pass
        yield {"src": src, "peer": peer, "work": work, "src_mac": macs[SRC_DEV]}
    finally:
        if server is not None:
            server.kill()
            server.wait()
        sh("ip", "netns", "del", src, check=False)
        sh("ip", "netns", "del", peer, check=False)


# --- nft -c on a sample of compiled rulesets -------------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=raw_rule_sets())
def test_kernel_accepts_every_compiled_ruleset(lab, raw):
    rules, errors = fr.normalize_rules(raw, "rules")
    assert not errors
    ensure_session_devices(lab)
    script, dummy = nm.compile_ruleset(rules, TABLE + "_c", SRC_DEV, VX_DEV, SRC4, PEER4)
    proc = in_ns(lab["src"], "nft", "-c", "-f", "-", input=script, check=False)
    assert proc.returncode == 0, proc.stderr + "\n" + script


def ensure_session_devices(lab):
    if sh("ip", "-n", lab["src"], "link", "show", VX_DEV, check=False).returncode != 0:
        run_session(lab, [])


# --- end to end ------------------------------------------------------------------------


def run_session(lab, rules, state="present", local=SRC4, target=PEER4):
    args = {"state": state, "netns": lab["src"], "source_device": SRC_DEV, "local_ip": local, "target_ip": target,
            "vni": VNI, "vxlan_device": VX_DEV, "table": TABLE, "rules": rules}
    code, _ = module_main(lab_mirror_session.main, args)
    assert code == 0


class Capture:
    """tcpdump on one device of a namespace, writing a pcap; started and stopped by PID."""

    def __init__(self, ns, dev, path):
        self.path = path
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, "tcpdump", "-i", dev, "-n", "-U", "--immediate-mode", "-w", str(path)],
            stderr=subprocess.PIPE, text=True)
        line = self.proc.stderr.readline()
        assert "listening on" in line, line

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=10)


def read_pcap(path):
    data = Path(path).read_bytes()
    magic = data[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    assert linktype == 1, "expected Ethernet captures, got link type %d" % linktype
    frames, offset = [], 24
    while offset + 16 <= len(data):
        incl = struct.unpack(endian + "IIII", data[offset:offset + 16])[2]
        frames.append(data[offset + 16:offset + 16 + incl])
        offset += 16 + incl
    return frames


def parse_frame(frame):
    """(src MAC, packet dict, key) for an IPv4/IPv6 frame, None for anything else (ARP...)."""
    ethertype = struct.unpack("!H", frame[12:14])[0]
    src_mac = ":".join("%02x" % b for b in frame[6:12])
    ip = frame[14:]
    if ethertype == 0x0800:
        ihl = (ip[0] & 0x0F) * 4
        total = struct.unpack("!H", ip[2:4])[0]
        frag = struct.unpack("!H", ip[6:8])[0]
        assert frag & 0x3FFF == 0, "unexpected IPv4 fragment (traffic is kept small)"
        proto = ip[9]
        src, dst = str(ipaddress.IPv4Address(ip[12:16])), str(ipaddress.IPv4Address(ip[16:20]))
        l4 = bytearray(ip[ihl:total])
    elif ethertype == 0x86DD:
        proto = ip[6]
        assert proto in (6, 17, 58), "unexpected IPv6 next header %d" % proto
        src, dst = str(ipaddress.IPv6Address(ip[8:24])), str(ipaddress.IPv6Address(ip[24:40]))
        total = 40 + struct.unpack("!H", ip[4:6])[0]
        l4 = bytearray(ip[40:total])
    else:
        return None
    sport = dport = None
    if proto in (6, 17):
        sport, dport = struct.unpack("!HH", bytes(l4[:4]))
    # Checksums may still be partial on the sending side (offload): leave them out of the key.
    csum_at = {6: 16, 17: 6, 1: 2, 58: 2}.get(proto)
    if csum_at is not None and len(l4) >= csum_at + 2:
        l4[csum_at:csum_at + 2] = b"\0\0"
    pkt = fr.packet(None, src, dst, proto, sport, dport)
    return src_mac, pkt, (src, dst, proto, sport, dport, bytes(l4))


def source_packets(lab, path, local, target):
    """The IP packets captured on the source device, with their direction, without the
    mirror's own VXLAN packets: [(packet, key)]."""
    found = []
    for frame in read_pcap(path):
        parsed = parse_frame(frame)
        if parsed is None:
            continue
        mac, pkt, key = parsed
        pkt["direction"] = "egress" if mac == lab["src_mac"] else "ingress"
        if pkt["direction"] == "egress" and (pkt["src"], pkt["dst"], pkt["protocol"], pkt["dport"]) == (local, target, 17, 4789):
            continue  # the mirror's own VXLAN packets
        found.append((pkt, key))
    return found


def observe(lab, rules, name, underlay=4):
    """Run the traffic with ``rules`` loaded; return (expected keys, received keys, source count).

    ``underlay``: the IP family of the VXLAN packets (4 as on AWS, or 6).
    """
    local, target = (SRC4, PEER4) if underlay == 4 else (SRC6, PEER6)
    run_session(lab, rules, local=local, target=target)
    time.sleep(0.2)
    work = lab["work"]
    rx = Capture(lab["peer"], RX_DEV if underlay == 4 else RX6_DEV, work / ("%s-rx.pcap" % name))
    src = Capture(lab["src"], SRC_DEV, work / ("%s-src.pcap" % name))
    in_ns(lab["src"], sys.executable, "-c", TRAFFIC, PEER4, PEER6, str(SERVER_PORT), str(CLOSED_PORT), timeout=60)
    time.sleep(0.3)
    src.stop()
    time.sleep(0.5)
    rx.stop()

    expected, seen = collections.Counter(), 0
    for pkt, key in source_packets(lab, src.path, local, target):
        seen += 1
        if fr.is_mirrored(rules, pkt):
            expected[key] += 1
    received = collections.Counter()
    for frame in read_pcap(rx.path):
        parsed = parse_frame(frame)
        assert parsed is not None, "the receiver got a non-IP frame: %r" % frame[:20]
        received[parsed[2]] += 1
    return expected, received, seen


def R(direction, number, action, protocol, src="0.0.0.0/0", dst="0.0.0.0/0", sports=None, dports=None):
    return {"direction": direction, "number": number, "action": action, "protocol": protocol,
            "source_cidr": src, "destination_cidr": dst, "source_ports": sports, "destination_ports": dports}


RULE_SETS = {
    "nothing": [],
    "all_tcp": fr.preset_rules("all_tcp", "10.0.0.0/16"),
    # The source plays the ALB: with V = its subnet the peer is a client on the internet.
    "alb_client": fr.preset_rules("alb_client", "10.0.1.0/24"),
    # With V = the peer's subnet the peer is a target inside the VPC.
    "alb_target": fr.preset_rules("alb_target", "10.0.0.0/24"),
    "everything_v4_v6": [R("ingress", 1, "accept", "all"), R("egress", 1, "accept", "all"),
                         R("ingress", 2, "accept", "all", "::/0", "::/0"), R("egress", 2, "accept", "all", "::/0", "::/0")],
    "reject_before_accept": [R("ingress", 10, "reject", "tcp", sports=str(SERVER_PORT)), R("ingress", 20, "accept", "all"),
                             R("egress", 5, "accept", "udp", dports="53-60"), R("egress", 6, "reject", "udp"),
                             R("egress", 7, "accept", "all", "::/0", "fd00::1/128")],
    "icmp_and_udp_ports": [R("ingress", 100, "accept", "icmp"), R("egress", 100, "accept", 58, "::/0", "::/0"),
                           R("egress", 200, "accept", "udp", "10.0.1.7/32", "10.0.0.0/30", sports="1024")],
}


@pytest.mark.parametrize("name", sorted(RULE_SETS))
def test_kernel_mirrors_what_the_reference_says(lab, name):
    rules, errors = fr.normalize_rules(RULE_SETS[name], "rules")
    assert not errors
    expected, received, seen = observe(lab, rules, name)
    print("%s: %d IP packets on the source, %d mirrored, %d received" % (
        name, seen, sum(expected.values()), sum(received.values())))
    assert seen >= 30, "the traffic did not happen (%d packets on the source)" % seen
    missing, extra = expected - received, received - expected
    assert not missing and not extra, "missing %d: %r\nextra %d: %r" % (
        sum(missing.values()), list(missing)[:5], sum(extra.values()), list(extra)[:5])
    # No loop: the receiver got exactly as many packets as were mirrored.
    assert sum(received.values()) == sum(expected.values())
    if name in ("nothing",):
        assert not received
    if name in ("all_tcp", "everything_v4_v6", "alb_target", "alb_client"):
        assert received, "this rule set must mirror something"


@settings(max_examples=4, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(raw=raw_rule_sets(max_rules=6))
def test_kernel_agrees_on_random_rule_sets(lab, raw):
    rules, errors = fr.normalize_rules(raw, "rules")
    assert not errors
    expected, received, dummy = observe(lab, rules, "random")
    assert expected == received, (rules, expected - received, received - expected)


def test_ipv6_underlay(lab):
    """A session whose VXLAN packets travel over IPv6 (the lab's option; AWS uses IPv4)."""
    rules, errors = fr.normalize_rules(RULE_SETS["everything_v4_v6"], "rules")
    assert not errors
    try:
        expected, received, seen = observe(lab, rules, "underlay6", underlay=6)
    finally:
        run_session(lab, [], state="absent")
    assert sum(expected.values()) == seen >= 30
    assert received == expected


def test_session_removed_cleanly(lab):
    rules, errors = fr.normalize_rules(RULE_SETS["everything_v4_v6"], "rules")
    assert not errors
    run_session(lab, rules)
    run_session(lab, [], state="absent")
    assert sh("ip", "-n", lab["src"], "link", "show", VX_DEV, check=False).returncode != 0
    assert in_ns(lab["src"], "nft", "list", "table", "netdev", TABLE, check=False).returncode != 0
    rx_before = json.loads(sh("ip", "-n", lab["peer"], "-s", "-j", "link", "show", RX_DEV).stdout)[0]["stats64"]["rx"]["packets"]
    in_ns(lab["src"], sys.executable, "-c", TRAFFIC, PEER4, PEER6, str(SERVER_PORT), str(CLOSED_PORT), timeout=60)
    rx_after = json.loads(sh("ip", "-n", lab["peer"], "-s", "-j", "link", "show", RX_DEV).stdout)[0]["stats64"]["rx"]["packets"]
    assert rx_after == rx_before


# --- several sessions on one source device (AWS's session-number priority) ----------------

SESSION_RX = {6790: "mlfkrx1", 6791: "mlfkrx2"}


def test_kernel_sessions_in_session_number_order(lab):
    """Three sessions on the source veth, each into its own VNI: every packet arrives at the
    receiver of the lowest-numbered session whose filter accepts it, once, and nowhere else."""
    def rules(raw):
        normalized, errors = fr.normalize_rules(raw, "rules")
        assert not errors
        return normalized

    # 10: the HTTP exchange only; 20: all other IPv4 except ICMP; 30 (the module's own
    # session, listed first, numbered last): everything, IPv6 included.
    sessions = [
        {"session_number": 30, "vni": VNI, "vxlan_device": VX_DEV,
         "rules": rules(RULE_SETS["everything_v4_v6"])},
        {"session_number": 10, "vni": 6790, "vxlan_device": "mlfkvx1",
         "rules": rules([R("egress", 1, "accept", "tcp", dports=str(SERVER_PORT)),
                         R("ingress", 1, "accept", "tcp", sports=str(SERVER_PORT))])},
        {"session_number": 20, "vni": 6791, "vxlan_device": "mlfkvx2",
         "rules": rules([R("ingress", 1, "reject", "icmp"), R("ingress", 2, "accept", "all"),
                         R("egress", 1, "reject", "icmp"), R("egress", 2, "accept", "all")])},
    ]
    for vni, dev in SESSION_RX.items():
        sh("ip", "-n", lab["peer"], "link", "add", dev, "type", "vxlan", "id", str(vni), "dstport", "4789", "nolearning")
        in_ns(lab["peer"], "sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % dev)
        sh("ip", "-n", lab["peer"], "link", "set", dev, "arp", "off", "up")
    args = {"netns": lab["src"], "source_device": SRC_DEV, "local_ip": SRC4, "target_ip": PEER4, "table": TABLE,
            "session_number": 30, "vni": VNI, "vxlan_device": VX_DEV, "rules": sessions[0]["rules"],
            "extra_sessions": [{k: s[k] for k in ("session_number", "vni", "vxlan_device", "rules")} for s in sessions[1:]]}
    work = lab["work"]
    try:
        assert module_main(lab_mirror_session.main, args)[0] == 0
        time.sleep(0.2)
        receivers = {VNI: RX_DEV, **SESSION_RX}
        rx = {vni: Capture(lab["peer"], dev, work / ("sessions-rx-%d.pcap" % vni)) for vni, dev in receivers.items()}
        src = Capture(lab["src"], SRC_DEV, work / "sessions-src.pcap")
        in_ns(lab["src"], sys.executable, "-c", TRAFFIC, PEER4, PEER6, str(SERVER_PORT), str(CLOSED_PORT), timeout=60)
        time.sleep(0.3)
        src.stop()
        time.sleep(0.5)
        for capture in rx.values():
            capture.stop()

        expected = {vni: collections.Counter() for vni in receivers}
        seen = 0
        for pkt, key in source_packets(lab, src.path, SRC4, PEER4):
            seen += 1
            session = fr.mirroring_session(sessions, pkt)
            if session is not None:
                expected[session["vni"]][key] += 1
        received = {vni: collections.Counter(parse_frame(f)[2] for f in read_pcap(capture.path))
                    for vni, capture in rx.items()}
        print("sessions: %d IP packets on the source; mirrored by 10/20/30: %s; received: %s" % (
            seen, [sum(expected[v].values()) for v in (6790, 6791, VNI)], [sum(received[v].values()) for v in (6790, 6791, VNI)]))
        assert seen >= 30
        for vni in receivers:
            assert received[vni] == expected[vni], (vni, expected[vni] - received[vni], received[vni] - expected[vni])
        # each session got something: the priority was exercised, not just one session
        assert all(sum(expected[vni].values()) > 0 for vni in receivers)
    finally:
        assert module_main(lab_mirror_session.main, dict(args, state="absent"))[0] == 0
        for dev in SESSION_RX.values():
            sh("ip", "-n", lab["peer"], "link", "del", dev, check=False)
    for dev in (VX_DEV, "mlfkvx1", "mlfkvx2"):
        assert sh("ip", "-n", lab["src"], "link", "show", dev, check=False).returncode != 0
