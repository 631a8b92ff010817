#!/usr/bin/env python3
"""Traffic and evidence for the capture scenario's verify step (runs on the lab host, as root).

  send DST TAG COUNT [SIZE] [PPS]              UDP datagrams to DST:9 (run inside a source
                                               namespace), each payload "TAG-<i>-" padded to SIZE
  pcap DIR...                                  what the pcap files under DIR hold (JSON)
  sustain NETNS DST SECONDS PPS SIZE DIR...    send from NETNS for SECONDS while sampling the
                                               total size and the names of the files under DIR
  s3list ENDPOINT BUCKET                       the archive's objects (run inside a namespace that
                                               reaches ENDPOINT)
"""

import glob
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time

PORT = 9


def send(dst, tag, count, size=200, pps=2000):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    interval = 1.0 / pps if pps else 0
    start = time.time()
    for i in range(count):
        head = "{0}-{1}-".format(tag, i).encode()
        sock.sendto(head + b"x" * max(0, size - len(head)), (dst, PORT))
        if interval:
            delay = start + (i + 1) * interval - time.time()
            if delay > 0:
                time.sleep(delay)
    return count


def in_netns(netns, *args):
    out = subprocess.run(["ip", "netns", "exec", netns, sys.executable, os.path.abspath(__file__)] + list(args),
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def read_pcap(path):
    """Yield (linktype, frame, orig_len) of every complete record of a classic pcap file."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        raise ValueError("{0}: not a classic pcap file (magic {1})".format(path, magic.hex()))
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    offset = 24
    while offset + 16 <= len(data):
        _, _, incl, orig = struct.unpack(endian + "IIII", data[offset:offset + 16])
        if offset + 16 + incl > len(data):
            break
        yield linktype, data[offset + 16:offset + 16 + incl], orig
        offset += 16 + incl


def files_under(dirs):
    out = []
    for d in dirs:
        out.extend(p for p in glob.glob(os.path.join(d, "*.pcap*")) if os.path.isfile(p))
    return sorted(out)


def pcap_summary(dirs):
    summary = {"files": {}, "linktypes": [], "frames": 0, "ipv6": 0, "arp": 0, "vxlan_outer": 0,
               "truncated": 0, "by_source_tag": {}, "sources": {}, "short_payload": 0, "other": 0}
    for path in files_under(dirs):
        n = 0
        for linktype, frame, orig in read_pcap(path):
            n += 1
            summary["frames"] += 1
            if linktype not in summary["linktypes"]:
                summary["linktypes"].append(linktype)
            if len(frame) < orig:
                summary["truncated"] += 1
            ethertype = struct.unpack("!H", frame[12:14])[0] if len(frame) >= 14 else 0
            if ethertype == 0x86DD:
                summary["ipv6"] += 1
                continue
            if ethertype == 0x0806:
                summary["arp"] += 1
                continue
            if ethertype != 0x0800:
                summary["other"] += 1
                continue
            ip = frame[14:]
            ihl = (ip[0] & 0x0F) * 4
            src = socket.inet_ntoa(ip[12:16])
            summary["sources"][src] = summary["sources"].get(src, 0) + 1
            if ip[9] != 17:
                continue
            udp = ip[ihl:]
            dport = struct.unpack("!H", udp[2:4])[0]
            if dport == 4789:
                summary["vxlan_outer"] += 1
                continue
            if dport != PORT:
                continue
            payload = udp[8:]
            if len(payload) != struct.unpack("!H", udp[4:6])[0] - 8:
                summary["short_payload"] += 1
            parts = payload.split(b"-")
            if len(parts) >= 3 and parts[0] == b"mlm":
                key = "{0} {1}".format(src, parts[1].decode())
                summary["by_source_tag"][key] = summary["by_source_tag"].get(key, 0) + 1
        summary["files"][path] = n
    return summary


def sustain(netns, dst, seconds, pps, size, dirs):
    samples, seen = [], set()
    done = threading.Event()

    def sample():
        while not done.is_set():
            files = files_under(dirs)
            seen.update(os.path.basename(p) for p in files)
            total = 0
            for p in files:
                try:
                    total += os.path.getsize(p)
                except OSError:
                    pass
            samples.append(total)
            time.sleep(0.2)

    thread = threading.Thread(target=sample)
    thread.start()
    count = int(seconds * pps)
    started = time.time()
    in_netns(netns, "send", dst, "mlm-load", str(count), str(size), str(pps))
    elapsed = time.time() - started
    done.set()
    thread.join()
    return {"sent": count, "seconds": round(elapsed, 2), "max_total": max(samples), "samples": len(samples),
            "final_total": samples[-1], "files_seen": sorted(seen)}


def s3list(endpoint, bucket):
    import boto3
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    objects = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            objects[obj["Key"]] = obj["Size"]
    return objects


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "send":
        size = int(argv[5]) if len(argv) > 5 else 200
        pps = int(argv[6]) if len(argv) > 6 else 2000
        result = send(argv[2], argv[3], int(argv[4]), size, pps)
    elif cmd == "pcap":
        result = pcap_summary(argv[2:])
    elif cmd == "sustain":
        result = sustain(argv[2], argv[3], float(argv[4]), int(argv[5]), int(argv[6]), argv[7:])
    elif cmd == "s3list":
        result = s3list(argv[2], argv[3])
    else:
        raise SystemExit(__doc__)
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv)
