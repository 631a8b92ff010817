#!/usr/bin/env python3
"""The pcap report's speed and memory on a large generated capture.

    flock /tmp/mirrorlab-lab.lock ./mirrorlab bench report [--sizes 0.25,1.0] [--dir /var/tmp]

Generates, for each size (GB), one pcap made of the small real captures of the report's unit
tests (tests/data/report/*.pcap: TLS 1.3 and 1.2 handshakes with requests, every failure kind,
plain HTTP): copy after copy, each with another client address (100.64.0.0/10) and shifted
timestamps so that about --concurrency connections overlap at a time; the rewritten packets get
their IPv4 and TCP checksums updated (RFC 1624 incremental update, exact). Then it runs, on the
same file in the same run:

- the baseline `tshark -r FILE -T fields -e frame.number > /dev/null`
- the report, `scripts/report.py FILE --json OUT --rows 20` (tshark + the connection state
  machine + the JSON writer), its peak RSS sampled every 50 ms over the whole process tree
  (Python and tshark, added up)

and prints file size, packets, connections, both wall times, their ratio (goal <= 1.5) and the
peak RSS (goal < 500 MB, the same for every size). The generated files are deleted at the end.
Exit status 0 when both goals are met for every size, 1 otherwise. Run it under the lab lock: it
keeps both cores busy for minutes.
"""

import argparse
import heapq
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "report"
CLIENT = bytes([198, 51, 100, 10])
TEMPLATES = {  # template file -> copies per round (the mix of the generated traffic)
    "good.pcap": 6, "good_tls12.pcap": 2, "http.pcap": 1, "old_tls.pcap": 1, "no_cipher.pcap": 1,
    "bad_cert.pcap": 1, "abort.pcap": 1, "reset.pcap": 1, "plain_http.pcap": 1, "silent.pcap": 1,
}
RATIO_GOAL, RSS_GOAL_MB = 1.5, 500


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="0.25,1.0", help="generated file sizes in GB (default 0.25,1.0)")
    parser.add_argument("--dir", default="/var/tmp", help="where to generate (deleted after)")
    parser.add_argument("--concurrency", type=int, default=200, help="connections open at a time (default 200)")
    parser.add_argument("--runs", type=int, default=1, help="timed runs of each command; the fastest counts")
    return parser.parse_args()


def read_pcap(path):
    """(endian, snaplen, linktype, [(ts, bytes)]) of a classic pcap (microseconds)."""
    data = path.read_bytes()
    magic = data[:4]
    if magic == b"\xd4\xc3\xb2\xa1":
        endian = "<"
    elif magic == b"\xa1\xb2\xc3\xd4":
        endian = ">"
    else:
        raise SystemExit(f"{path}: not a microsecond pcap")
    _major, _minor, _zone, _sig, snaplen, linktype = struct.unpack(endian + "HHiIII", data[4:24])
    packets, pos = [], 24
    while pos + 16 <= len(data):
        sec, usec, incl, _orig = struct.unpack(endian + "IIII", data[pos:pos + 16])
        packets.append((sec + usec / 1e6, data[pos + 16:pos + 16 + incl]))
        pos += 16 + incl
    return endian, snaplen, linktype, packets


def _csum_update(csum, old, new):
    """RFC 1624: the checksum after 16-bit words `old` became `new` (equation 3)."""
    total = (~csum & 0xFFFF)
    for o, n in zip(old, new):
        total += (~o & 0xFFFF) + n
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


class Template:
    """The TCP/IPv4 packets of one small capture, times relative to its first packet."""

    def __init__(self, path):
        self.name = path.name
        _e, _s, linktype, packets = read_pcap(path)
        if linktype != 1:
            raise SystemExit(f"{path}: not Ethernet")
        self.packets = []
        t0 = None
        for ts, frame in packets:
            if len(frame) < 54 or frame[12:14] != b"\x08\x00" or frame[23] != 6:
                continue  # IPv4/TCP only
            t0 = ts if t0 is None else t0
            ihl = (frame[14] & 0x0F) * 4
            from_client = frame[26:30] == CLIENT
            self.packets.append((ts - t0, frame, ihl, from_client))
        self.duration = self.packets[-1][0] if self.packets else 0.0
        self.bytes = sum(len(p[1]) + 16 for p in self.packets)


def rewrite(frame, ihl, from_client, client):
    """The frame with the client address replaced (source or destination) and both checksums updated."""
    buf = bytearray(frame)
    off = 26 if from_client else 30
    old = struct.unpack(">HH", buf[off:off + 4])
    new = struct.unpack(">HH", client)
    buf[off:off + 4] = client
    ip_csum = struct.unpack(">H", buf[24:26])[0]
    struct.pack_into(">H", buf, 24, _csum_update(ip_csum, old, new))
    tcp = 14 + ihl
    if len(buf) >= tcp + 18:
        tcp_csum = struct.unpack(">H", buf[tcp + 16:tcp + 18])[0]
        struct.pack_into(">H", buf, tcp + 16, _csum_update(tcp_csum, old, new))
    return bytes(buf)


def generate(path, size_bytes, concurrency):
    """Write the file; return (packets, connections made)."""
    templates = []
    for name, weight in TEMPLATES.items():
        tpl = Template(DATA / name)
        templates.extend([tpl] * weight)
    mean_duration = sum(t.duration for t in templates) / len(templates)
    spacing = max(mean_duration / concurrency, 1e-5)
    conns_per = {t.name: len({p[1][34:36] for p in t.packets if p[3]}) for t in templates}
    start = 1767225600.0  # 2026-01-01T00:00:00Z
    written = 24
    packets = connections = 0
    heap = []
    copy = 0
    with open(path, "wb", buffering=1 << 22) as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        while written < size_bytes or heap:
            # start new copies until the next one would begin after the earliest queued packet
            while written < size_bytes and (not heap or start + copy * spacing <= heap[0][0]):
                tpl = templates[copy % len(templates)]
                n = copy
                client = bytes([100, 64 + (n >> 16) % 64, (n >> 8) & 0xFF, n & 0xFF])
                base = start + copy * spacing
                heapq.heappush(heap, (base + tpl.packets[0][0], copy, 0, tpl, base, client))
                written += tpl.bytes
                connections += conns_per[tpl.name]
                copy += 1
            ts, cid, i, tpl, base, client = heapq.heappop(heap)
            _rel, frame, ihl, from_client = tpl.packets[i]
            data = rewrite(frame, ihl, from_client, client)
            sec = int(ts)
            out.write(struct.pack("<IIII", sec, int(round((ts - sec) * 1e6)) % 1000000, len(data), len(data)))
            out.write(data)
            packets += 1
            if i + 1 < len(tpl.packets):
                heapq.heappush(heap, (base + tpl.packets[i + 1][0], cid, i + 1, tpl, base, client))
    return packets, connections


def tree_rss_kb(pid):
    """RSS of a process and all its descendants (kB)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
            except (OSError, ValueError, IndexError):
                continue
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
        todo.extend(children.get(p, []))
    return total


def timed(cmd, sample=False):
    """(wall seconds, peak RSS MB of the process tree or None, stdout)."""
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    peak = [0]
    if sample:
        def watch():
            while proc.poll() is None:
                peak[0] = max(peak[0], tree_rss_kb(proc.pid))
                time.sleep(0.05)
        thread = threading.Thread(target=watch, daemon=True)
        thread.start()
    out, _ = proc.communicate()
    wall = time.monotonic() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}")
    if sample:
        thread.join()
    return wall, (peak[0] / 1024.0 if sample else None), out


def main():
    args = parse_args()
    sizes = [float(s) for s in args.sizes.split(",")]
    work = Path(tempfile.mkdtemp(prefix="mirrorlab-bench-report-", dir=args.dir))
    results, ok = [], True
    try:
        for size in sizes:
            pcap = work / f"bench-{size:g}GB.pcap"
            t0 = time.monotonic()
            packets, connections = generate(pcap, int(size * 1e9), args.concurrency)
            gen = time.monotonic() - t0
            file_mb = pcap.stat().st_size / 1e6
            print(f"generated {pcap.name}: {file_mb:.0f} MB, {packets} packets, {connections} connections "
                  f"in {gen:.0f} s", flush=True)
            bad = subprocess.run(["tshark", "-r", str(pcap), "-c", "200000", "-o", "tcp.check_checksum:TRUE",
                                  "-o", "ip.check_checksum:TRUE", "-Y", "tcp.checksum.status == 0 || ip.checksum.status == 0",
                                  "-T", "fields", "-e", "frame.number"], capture_output=True, text=True, check=True)
            if bad.stdout.strip():
                raise SystemExit(f"{pcap.name}: {len(bad.stdout.split())} bad checksums in the first 200000 packets")
            subprocess.run(["cat", str(pcap)], stdout=subprocess.DEVNULL, check=True)  # both runs start warm
            base = rep = None
            peak = 0.0
            for _ in range(args.runs):
                wall, _p, _o = timed(["tshark", "-r", str(pcap), "-T", "fields", "-e", "frame.number"])
                base = wall if base is None else min(base, wall)
                out_json = work / "report.json"
                wall, rss, _o = timed([sys.executable, str(ROOT / "scripts" / "report.py"), str(pcap),
                                       "--json", str(out_json), "--rows", "20", "--summary-json"], sample=True)
                rep = wall if rep is None else min(rep, wall)
                peak = max(peak, rss)
            summary = json.loads(out_json.read_text())["summary"]
            out_json.unlink()
            ratio = rep / base
            row = {"size_gb": size, "file_mb": round(file_mb), "packets": packets, "connections": summary["connections"],
                   "generated_connections": connections, "baseline_s": round(base, 1), "report_s": round(rep, 1),
                   "ratio": round(ratio, 2), "peak_rss_mb": round(peak), "by_outcome": summary["by_outcome"],
                   "max_open": summary.get("max_open")}
            results.append(row)
            print(json.dumps(row), flush=True)
            ok = ok and ratio <= RATIO_GOAL and peak < RSS_GOAL_MB
            pcap.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(f"{'file':>8} {'packets':>10} {'connections':>11} {'tshark -e frame.number':>22} {'report':>8} "
          f"{'ratio':>6} {'peak RSS':>9}")
    for r in results:
        print(f"{r['file_mb']:>5} MB {r['packets']:>10} {r['connections']:>11} {r['baseline_s']:>20.1f} s "
              f"{r['report_s']:>6.1f} s {r['ratio']:>6.2f} {r['peak_rss_mb']:>6} MB")
    print(f"goals: ratio <= {RATIO_GOAL}, peak RSS < {RSS_GOAL_MB} MB: {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
