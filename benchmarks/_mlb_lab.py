"""The throughput benchmark's lab: namespaces, links, counters, the tools' statistics.

Everything created here is named with the prefix ``mlb`` and removed again by ``Lab.close()``.
The target machine (mirrorlab.vpc.lab_rootfs / lab_machine), the mirror session
(mirrorlab.vpc.lab_mirror_session: VXLAN sender + nftables ``dup``) and the capture role are
applied with Ansible by capture_throughput.py, the lab's own way.
"""

import json
import re
import subprocess
import time

PREFIX = "mlb"
NS_GEN = f"{PREFIX}-gen"   # the client: trafgen sends from here
NS_SRC = f"{PREFIX}-src"   # the mirror source (the "ENI" with the nftables netdev table)
NS_TGT = f"{PREFIX}-tgt"   # the capture target's namespace (the nspawn machine runs in it)
GEN_DEV = f"{PREFIX}-g0"   # generator side of the client link
SRC_DEV = f"{PREFIX}-s0"   # the mirrored interface (source device)
SRC_UNDERLAY = f"{PREFIX}-s1"
TGT_UNDERLAY = f"{PREFIX}-t0"  # the target's primary (underlay) interface
VXLAN_DEV = f"{PREFIX}-vx"
NFT_TABLE = f"{PREFIX}_mirror"
MACHINE = f"{PREFIX}-target"
SRC_IP = "10.251.1.1"
TGT_IP = "10.251.1.2"
UNDERLAY_MTU = 9001        # as on AWS Nitro: a 1514-byte frame + 50 bytes of VXLAN fits


class CommandError(RuntimeError):
    pass


def sh(argv, *, check=True, input=None, timeout=120, quiet=False):
    """Run argv, return stdout (text). Raise CommandError with stderr on failure."""
    proc = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise CommandError(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout


def in_ns(netns, *argv):
    return ["ip", "netns", "exec", netns, *argv]


def link_counters(netns, dev):
    """rx/tx packets and drops of a link (the kernel's link counters, `ip -s link`)."""
    data = json.loads(sh(["ip", "-n", netns, "-s", "-j", "link", "show", "dev", dev]))[0]["stats64"]
    return {
        "rx_packets": data["rx"]["packets"], "rx_dropped": data["rx"]["dropped"],
        "tx_packets": data["tx"]["packets"], "tx_dropped": data["tx"]["dropped"],
    }


def ifindex(netns, dev):
    return json.loads(sh(["ip", "-n", netns, "-j", "link", "show", "dev", dev]))[0]["ifindex"]


def packet_sockets(netns):
    """Inodes and interface indexes of the AF_PACKET sockets in a namespace (/proc/net/packet)."""
    out = sh(in_ns(netns, "cat", "/proc/net/packet"))
    sockets = {}
    for line in out.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 9:
            sockets[fields[8]] = int(fields[4])
    return sockets


def wait_for_capture(netns, dev_index, before, timeout=15.0, proc=None):
    """Wait until a new packet socket is bound to dev_index (the capture has started)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = packet_sockets(netns)
        if any(idx == dev_index and inode not in before for inode, idx in now.items()):
            time.sleep(0.3)  # let the tool finish opening its output file
            return
        if proc is not None and proc.poll() is not None:
            err = proc.stderr.read() if proc.stderr else ""
            raise CommandError(f"capture exited early with {proc.returncode}: {err.strip()[-800:]}")
        time.sleep(0.05)
    raise CommandError(f"no capture socket appeared on ifindex {dev_index} in {netns} within {timeout}s")


def parse_tool_stats(text):
    """The capture tool's own statistics from its exit output (tcpdump or dumpcap).

    Returns dict(captured, received, dropped) or None when no statistics were printed.
    """
    stats = {}
    m = re.search(r"(\d+) packets? captured", text)
    if m:
        stats["captured"] = int(m.group(1))
        m = re.search(r"(\d+) packets? received by filter", text)
        stats["received"] = int(m.group(1)) if m else None
        m = re.search(r"(\d+) packets? dropped by kernel", text)
        stats["dropped"] = int(m.group(1)) if m else None
        return stats
    found = re.findall(r"Packets received/dropped on interface '[^']*': (\d+)/(\d+)", text)
    if found:
        stats["received"] = sum(int(r) for r, _ in found)
        stats["dropped"] = sum(int(d) for _, d in found)
        m = re.findall(r"Packets captured: (\d+)", text)
        stats["captured"] = int(m[-1]) if m else None
        return stats
    return None


def capinfos_count(paths):
    """Packets in pcap/pcapng files, as capinfos -c counts them."""
    total = 0
    for path in paths:
        out = sh(["capinfos", "-c", "-M", "-T", "-r", path], timeout=300)
        fields = out.strip().split("\t")
        total += int(fields[-1])
    return total


class Lab:
    """Namespaces + links + the nspawn target machine, all named mlb-*."""

    def __init__(self):
        self.pid = None  # the machine's systemd (for nsenter)

    # --- network -------------------------------------------------------------------------
    def leftovers(self):
        names = sh(["ip", "netns", "list"])
        return [n for n in (NS_GEN, NS_SRC, NS_TGT) if re.search(rf"^{re.escape(n)}\b", names, re.M)]

    def create_network(self):
        if self.leftovers():
            raise CommandError(f"namespaces {self.leftovers()} exist already: another run is active, or "
                               f"remove them with `ip netns del NAME`")
        for ns in (NS_GEN, NS_SRC, NS_TGT):
            sh(["ip", "netns", "add", ns])
            sh(["ip", "-n", ns, "link", "set", "lo", "up"])
            # No IPv6 in the benchmark's namespaces: nothing but the offered traffic on the links.
            sh(in_ns(ns, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1",
                     "net.ipv6.conf.default.disable_ipv6=1"))
        sh(["ip", "link", "add", GEN_DEV, "netns", NS_GEN, "type", "veth", "peer", "name", SRC_DEV, "netns", NS_SRC])
        sh(["ip", "link", "add", SRC_UNDERLAY, "netns", NS_SRC, "mtu", str(UNDERLAY_MTU), "type", "veth",
            "peer", "name", TGT_UNDERLAY, "netns", NS_TGT, "mtu", str(UNDERLAY_MTU)])
        sh(["ip", "-n", NS_GEN, "link", "set", GEN_DEV, "up"])
        sh(["ip", "-n", NS_SRC, "link", "set", SRC_DEV, "up"])
        sh(["ip", "-n", NS_SRC, "addr", "add", f"{SRC_IP}/24", "dev", SRC_UNDERLAY])
        sh(["ip", "-n", NS_SRC, "link", "set", SRC_UNDERLAY, "up"])
        sh(["ip", "-n", NS_TGT, "addr", "add", f"{TGT_IP}/24", "dev", TGT_UNDERLAY])
        sh(["ip", "-n", NS_TGT, "link", "set", TGT_UNDERLAY, "up"])
        sh(["ip", "-n", NS_TGT, "route", "add", "default", "via", SRC_IP])
        self.offloads_off(NS_GEN, GEN_DEV)
        self.offloads_off(NS_SRC, SRC_DEV)
        self.offloads_off(NS_SRC, SRC_UNDERLAY)

    @staticmethod
    def offloads_off(netns, dev):
        """TSO/GSO/GRO off: otherwise veth carries 64 KB GSO packets and rates mean nothing."""
        sh(in_ns(netns, "ethtool", "-K", dev, "tso", "off", "gso", "off", "gro", "off"), check=False)

    # --- the target machine (booted by mirrorlab.vpc.lab_machine) -----------------------------
    def attach_machine(self, pid):
        """The PID of the machine's systemd, as mirrorlab.vpc.lab_machine returned it."""
        self.pid = int(pid)

    def machine_cmd(self, *argv):
        """argv run inside the target machine, as community.docker.nsenter runs it."""
        return ["nsenter", "--ipc", "--mount", "--net", "--pid", "--uts", f"--target={self.pid}", "--", *argv]

    def machine_path(self, path):
        """A path inside the machine, seen from the host."""
        return f"/proc/{self.pid}/root{path}"

    # --- cleanup ---------------------------------------------------------------------------
    def close(self):
        """Remove the namespaces (the machine is removed by its module before this)."""
        for ns in (NS_GEN, NS_SRC, NS_TGT):
            sh(["ip", "netns", "del", ns], check=False)
        left = self.leftovers()
        return [f"namespaces left: {left}"] if left else []
