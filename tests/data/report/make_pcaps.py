#!/usr/bin/env python3
"""Make the small captures of tests/unit/report/ (the pcap report's unit tests) (run as root, under the lab lock):

    flock /tmp/mirrorlab-lab.lock .venv/bin/python tests/data/report/make_pcaps.py

Two network namespaces joined by a veth pair, addressed as the lab (client 198.51.100.10,
"ALB" 10.0.0.10), TSO/GSO/GRO off so that packets are wire-sized, checksum offload (tx) off so
that the captured checksums are the real ones. The server is nginx with the
lab's TLS policy (roles/lab/vars/main.yml: lab_tls_policy) and a self-signed ECDSA certificate;
the clients are the lab's own (plugins/module_utils/tls_clients.py: curl, openssl s_client,
Python's ssl), sending the SNI alb.lab.test. tcpdump on the server's side writes one capture per case:

- <kind>.pcap for every kind of tls_clients.KINDS (old_tls: one TLS 1.0 and one TLS 1.1 client)
- http.pcap: plain HTTP on port 80, two requests on one keep-alive connection
- truncated_snap.pcap: a TLS 1.2 handshake captured with a 96-byte snap length
- truncated_wire.pcap: the same handshake as AWS truncates to packet_length=96 (the packets
  themselves are cut: captured length = wire length, the IP header keeps the original length;
  rewritten from a full capture, record headers only)
- split/capture0/capture0-vni12345-*.pcap: one TLS 1.3 connection split over two files
  (editcap -c), with a vni-map.json next to them
- vxlan.pcap: a TLS 1.2 handshake mirrored as AWS does (nftables netdev dup to a VXLAN device,
  VNI 777, UDP 4789), captured on the underlay: the packets are encapsulated

Nothing outside the two namespaces is touched; they are removed at the end.
"""

import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT / ".collections"))
from ansible_collections.mirrorlab.vpc.plugins.module_utils import tls_clients  # noqa: E402

CLIENT_NS, SERVER_NS = "mlrpt-client", "mlrpt-server"
CLIENT, SERVER, MIRROR_TARGET = "198.51.100.10", "10.0.0.10", "10.0.0.99"
SNI = "alb.lab.test"


def sh(*cmd, check=True, **kw):
    return subprocess.run(cmd, check=check, capture_output=True, text=True, **kw)


def netns(ns, *cmd, **kw):
    return sh("ip", "netns", "exec", ns, *cmd, **kw)


def setup():
    teardown()
    sh("ip", "netns", "add", CLIENT_NS)
    sh("ip", "netns", "add", SERVER_NS)
    sh("ip", "-n", CLIENT_NS, "link", "add", "c0", "type", "veth", "peer", "name", "s0", "netns", SERVER_NS)
    sh("ip", "-n", CLIENT_NS, "addr", "add", CLIENT + "/32", "dev", "c0")
    sh("ip", "-n", CLIENT_NS, "addr", "add", MIRROR_TARGET + "/32", "dev", "c0")
    sh("ip", "-n", SERVER_NS, "addr", "add", SERVER + "/32", "dev", "s0")
    for ns, dev, peer in ((CLIENT_NS, "c0", SERVER), (SERVER_NS, "s0", CLIENT)):
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", ns, "link", "set", dev, "up")
        sh("ip", "-n", ns, "route", "add", peer + "/32", "dev", dev)
        netns(ns, "ethtool", "-K", dev, "tso", "off", "gso", "off", "gro", "off", "tx", "off")
        netns(ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
    sh("ip", "-n", SERVER_NS, "route", "add", MIRROR_TARGET + "/32", "dev", "s0")


def teardown():
    for ns in (CLIENT_NS, SERVER_NS):
        sh("ip", "netns", "del", ns, check=False)


def nginx_conf(work):
    policy = yaml.safe_load((ROOT / "roles/lab/vars/main.yml").read_text())["lab_tls_policy"]
    return f"""daemon off; master_process on; worker_processes 1; user www-data;
pid {work}/nginx.pid; error_log {work}/nginx.err notice;
events {{ worker_connections 64; }}
http {{
  access_log off; server_tokens off; default_type text/plain;
  server {{
    listen {SERVER}:443 ssl;
    ssl_certificate {work}/cert.pem; ssl_certificate_key {work}/key.pem;
    ssl_protocols {' '.join(policy['protocols'])};
    ssl_ciphers {':'.join(policy['ciphers'])};
    ssl_conf_command Ciphersuites {':'.join(policy['ciphersuites'])};
    ssl_prefer_server_ciphers on;
    location / {{ return 200 "ok\\n"; }}
  }}
  server {{ listen {SERVER}:80; location / {{ return 200 "plain\\n"; }} }}
}}
"""


class Capture:
    """tcpdump in the server namespace writing one file: packet-buffered (-U) and in immediate
    mode (without it libpcap hands packets over in blocks, and tcpdump stopped within the
    block timeout writes none of the last block)."""

    def __init__(self, path, snaplen=262144, bpf=(), dev="s0"):
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", SERVER_NS, "tcpdump", "-i", dev, "-n", "-U", "--immediate-mode", "-s", str(snaplen),
             "-w", str(path), *bpf], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        line = self.proc.stderr.readline()
        if "listening" not in line:
            raise RuntimeError(f"tcpdump: {line}")

    def stop(self):
        time.sleep(0.3)
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(10)


def clients(counts):
    result = tls_clients.run_clients(sys.executable, CLIENT_NS, SERVER, 443, counts, sni=SNI, timeout=5,
                                     silent_seconds=0.5)
    for kind, res in result.items():
        if res["as_expected"] != res["sent"]:
            raise RuntimeError(f"{kind}: not as expected: {res}")


def capture(path, counts=None, snaplen=262144, action=None, bpf=("tcp",)):
    cap = Capture(path, snaplen=snaplen, bpf=bpf)
    try:
        if counts:
            clients(counts)
        if action:
            action()
    finally:
        cap.stop()
    sh("chown", "--reference", str(HERE), str(path))


def truncate_records(src, dst, length):
    """Cut every packet of a classic pcap to `length` bytes as AWS's packet_length does: the
    captured and the original length both become the cut length (the IP header keeps the
    original total length). Only the record headers and data are rewritten."""
    data = src.read_bytes()
    magic = data[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    out, pos = [data[:24]], 24
    while pos + 16 <= len(data):
        sec, frac, incl, orig = struct.unpack(endian + "IIII", data[pos:pos + 16])
        body = data[pos + 16:pos + 16 + incl]
        cut = min(len(body), length)
        out.append(struct.pack(endian + "IIII", sec, frac, cut, cut) + body[:cut])
        pos += 16 + incl
    dst.write_bytes(b"".join(out))


def main():
    if os.geteuid() != 0:
        raise SystemExit("run as root (network namespaces), under flock /tmp/mirrorlab-lab.lock")
    work = Path(tempfile.mkdtemp(prefix="mlrpt-"))
    os.chmod(work, 0o755)
    nginx = None
    try:
        setup()
        sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
           "-keyout", str(work / "key.pem"), "-out", str(work / "cert.pem"), "-days", "3650",
           "-subj", "/CN=*.lab.test/O=mirrorlab test (self-signed)", "-addext", "subjectAltName=DNS:*.lab.test")
        (work / "nginx.conf").write_text(nginx_conf(work))
        nginx = subprocess.Popen(["ip", "netns", "exec", SERVER_NS, "nginx", "-c", str(work / "nginx.conf"),
                                  "-e", str(work / "nginx.err")])
        for _ in range(50):
            if netns(SERVER_NS, "ss", "-Hltn", "sport = :443").stdout.strip():
                break
            time.sleep(0.1)
        for kind in tls_clients.KINDS:
            capture(HERE / f"{kind}.pcap", {kind: 2 if kind == "old_tls" else 1})

        def two_requests():
            netns(CLIENT_NS, "curl", "-sf", "-o", "/dev/null", "-o", "/dev/null",
                  f"http://{SERVER}/one?a=1,2", f"http://{SERVER}/two")
        capture(HERE / "http.pcap", action=two_requests)
        capture(HERE / "truncated_snap.pcap", {"good_tls12": 1}, snaplen=96)
        full = work / "full.pcap"
        capture(full, {"good_tls12": 1})
        truncate_records(full, HERE / "truncated_wire.pcap", 96)

        split_dir = HERE / "split" / "capture0"
        shutil.rmtree(HERE / "split", ignore_errors=True)
        split_dir.mkdir(parents=True)
        whole = work / "whole.pcap"
        capture(whole, {"good": 1})
        sh("editcap", "-c", "8", str(whole), str(work / "part.pcap"))
        parts = sorted(work.glob("part_*.pcap"))
        assert len(parts) == 2, parts
        for i, part in enumerate(parts):
            shutil.copy(part, split_dir / f"capture0-vni12345-20261201T00000{i}Z.pcap")
        (HERE / "split" / "vni-map.json").write_text(json.dumps(
            {"vnis": {"12345": {"eni": "eni-0123456789abcdef0", "zone": "eu-west-1a",
                                "description": "ELB app/mirrorlab-alb/0123456789abcdef"}}}, indent=2) + "\n")

        # VXLAN: mirror s0 (both directions) to 10.0.0.99 with VNI 777, as the lab does
        netns(SERVER_NS, "ip", "link", "add", "mx0", "type", "vxlan", "id", "777", "local", SERVER,
              "remote", MIRROR_TARGET, "dstport", "4789", "nolearning")
        netns(SERVER_NS, "ip", "link", "set", "mx0", "up")
        netns(SERVER_NS, "nft", "-f", "-", input="""table netdev mlrpt {
  chain in { type filter hook ingress device "s0" priority 0; ip protocol tcp dup to "mx0"; }
  chain out { type filter hook egress device "s0" priority 0; ip protocol tcp dup to "mx0"; }
}
""")
        capture(HERE / "vxlan.pcap", {"good_tls12": 1}, bpf=("udp", "port", "4789"))
        for path in list(HERE.glob("*.pcap")) + list((HERE / "split").rglob("*")):
            sh("chown", "--reference", str(HERE), str(path))
    finally:
        if nginx is not None:
            nginx.terminate()
            nginx.wait(10)
        teardown()
        shutil.rmtree(work, ignore_errors=True)
    for path in sorted(HERE.rglob("*.pcap")):
        print(f"{path.relative_to(ROOT)}: {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
