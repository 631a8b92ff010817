# -*- coding: utf-8 -*-

# Copyright: Contributors to the mirrorlab.vpc collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The captures of a capture target, copied to the controller (mirrorlab.vpc.capture_files).

A capture target keeps its pcap files in ``<capture dir>/<link>/``; the capture helper's
configuration (``/etc/mirrorlab/capture/config.json``, written by the capture role) names the
directory and the links. Files are copied to ``<dest>/<link>/`` incrementally: a file already
there with the same size and modification time is left alone, so a second copy takes only what
is new or has grown (the file being written). Each copy is checked (its size) before it counts;
a caller that deletes the originals afterwards (the lab teardown) deletes only what was copied.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import struct

from ansible_collections.mirrorlab.vpc.plugins.module_utils.pcap_report import PCAP_MAGIC

CONFIG_PATH = "/etc/mirrorlab/capture/config.json"
PCAP_HEADER = 24
RECORD_HEADER = 16


class CaptureError(Exception):
    pass


def inside(root, path):
    """`path` of the target's file system, under `root` on this one (root / is the path itself)."""
    return os.path.join(root, path.lstrip("/")) if root and root != "/" else path


def read_config(root, config_path=CONFIG_PATH):
    """The capture helper's configuration on the target below `root`, or None without one."""
    try:
        with open(inside(root, config_path)) as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise CaptureError("cannot read the capture configuration {0}: {1}".format(inside(root, config_path), exc))


def is_pcap_name(name):
    """tcpdump's <base>.pcap, <base>.pcapN (-C) and dumpcap's <base>_N_<time>.pcap."""
    stem, dot, tail = name.rpartition(".pcap")
    return bool(dot) and bool(stem) and (tail == "" or tail.isdigit())


def pcap_counts(path):
    """(packets, bytes) of a classic pcap file up to its last complete packet; (0, size) for a
    file that is no classic pcap (pcapng, empty: its header not yet written)."""
    size = os.path.getsize(path)
    packets = 0
    with open(path, "rb") as handle:
        header = handle.read(PCAP_HEADER)
        endian = PCAP_MAGIC.get(header[:4])
        if endian is None or len(header) < PCAP_HEADER:
            return 0, size
        pos = PCAP_HEADER
        while pos + RECORD_HEADER <= size:
            handle.seek(pos + 8)
            incl = struct.unpack(endian + "I", handle.read(4))[0]
            if pos + RECORD_HEADER + incl > size:
                break
            pos += RECORD_HEADER + incl
            packets += 1
    return packets, size


def same_file(src_stat, dest):
    try:
        st = os.stat(dest)
    except FileNotFoundError:
        return False
    return st.st_size == src_stat.st_size and st.st_mtime_ns == src_stat.st_mtime_ns


def copy_link(src_dir, dest_dir, check_mode=False):
    """Copy the link's pcap files from src_dir to dest_dir (only new or changed ones).

    Returns the link's summary: files, copied (names), bytes and packets of every file there."""
    summary = {"files": 0, "copied": [], "bytes": 0, "packets": 0, "dest": dest_dir}
    try:
        names = sorted(n for n in os.listdir(src_dir) if is_pcap_name(n))
    except FileNotFoundError:
        return summary
    for name in names:
        src = os.path.join(src_dir, name)
        dest = os.path.join(dest_dir, name)
        try:
            st = os.stat(src)
        except FileNotFoundError:
            continue  # removed (archived, cap) since the listing
        summary["files"] += 1
        if not same_file(st, dest):
            summary["copied"].append(name)
            if check_mode:
                continue
            os.makedirs(dest_dir, mode=0o700, exist_ok=True)
            partial = dest + ".part"
            shutil.copy2(src, partial)
            os.chmod(partial, 0o600)
            if os.path.getsize(partial) < st.st_size:
                os.remove(partial)
                raise CaptureError("{0}: copied {1} bytes of {2}".format(src, os.path.getsize(partial), st.st_size))
            os.replace(partial, dest)
        packets, size = pcap_counts(dest if os.path.exists(dest) else src)
        summary["packets"] += packets
        summary["bytes"] += size
    return summary


def copy_captures(root, dest, config_path=CONFIG_PATH, check_mode=False):
    """Every link's files of the target below `root` to `<dest>/<link>/`.

    Returns {found, dir, links: {link: summary}, files, copied, bytes, packets}."""
    cfg = read_config(root, config_path)
    result = {"found": cfg is not None, "dir": None, "links": {}, "files": 0, "copied": 0, "bytes": 0, "packets": 0}
    if cfg is None:
        return result
    result["dir"] = cfg["dir"]
    base = inside(root, cfg["dir"])
    names = [link["name"] for link in cfg.get("links", [])]
    # Links of an earlier configuration whose files are still there count too.
    if os.path.isdir(base):
        names += sorted(n for n in os.listdir(base) if n not in names and os.path.isdir(os.path.join(base, n)))
    for name in names:
        link = copy_link(os.path.join(base, name), os.path.join(dest, name), check_mode=check_mode)
        if not link["files"]:
            continue
        result["links"][name] = link
        result["files"] += link["files"]
        result["copied"] += len(link["copied"])
        result["bytes"] += link["bytes"]
        result["packets"] += link["packets"]
    return result


# ---- status and watch (playbooks/status.yml, playbooks/watch.yml) ---------------------------

def parse_status(host, text):
    """`mirrorlab-capture status --json` of one target, or an error naming the target."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise CaptureError("{0}: mirrorlab-capture-status --json did not print JSON ({1}): {2}".format(host, exc, text[:200]))
    if not isinstance(data, dict) or not isinstance(data.get("links"), list):
        raise CaptureError("{0}: mirrorlab-capture-status --json printed no links: {1}".format(host, text[:200]))
    return data


def _size(n):
    return "{0:.1f} MB".format(n / 1e6) if n >= 100000 else "{0} B".format(n)


def status_lines(targets, sessions=None):
    """One line per target, then one per link: unit state, files, bytes, newest file's age,
    drops (kernel ring via the tool, and the link's rx_dropped); then the sessions."""
    lines = []
    for host in sorted(targets):
        data = targets[host]
        lines.append("{0}: {1} in {2} ({3}, cap {4} MB, {5} free){6}".format(
            host, data["tool"], data["dir"], _size(data["bytes"]), data["max_total_mb"], _size(data["free_bytes"]),
            ", archive " + data["archive"] if data.get("archive") else ""))
        for link in data["links"]:
            age = link.get("newest_age_seconds")
            drops = link.get("tool_drops")
            lines.append("  {0} (VNI {1}): {2} {3}, {4} file(s), {5}, newest {6}; drops: tool {7}, link {8}{9}".format(
                link["name"], link["vni"], link["unit"], link["state"], link["files"], _size(link["file_bytes"]),
                "-" if age is None else "{0:.0f} s ago".format(age), "?" if drops is None else drops,
                link.get("counters", {}).get("rx_dropped"), " PAUSED (cap/floor)" if link.get("paused") else ""))
    for session in sessions or []:
        lines.append("session: {0}".format(session))
    return lines


def watch_command(backend, link, tool_args, pid=0, instance_id="", region=""):
    """The viewer's command line: tcpdump on the capture link, line-buffered, decoded, with the
    user's arguments (a packet count -c N, -vv, a filter), run with privileges on the target."""
    viewer = ["tcpdump", "-n", "-l", "-i", link] + list(tool_args)
    if backend == "lab":
        if not pid:
            raise CaptureError("the lab's capture machine is not running: run site.yml first")
        return ["nsenter", "-t", str(pid), "-m", "-u", "-i", "-n", "-p"] + viewer
    if not instance_id:
        raise CaptureError("no capture instance: the target stack has none (run site.yml first)")
    command = " ".join(["sudo"] + [shlex.quote(arg) for arg in viewer])
    return ["aws", "ssm", "start-session", "--region", region, "--target", instance_id,
            "--document-name", "AWS-StartInteractiveCommand", "--parameters", json.dumps({"command": [command]})]


# ---- drain at teardown (roles/capture/tasks/drain.yml, mirrorlab.vpc.capture_archive_check) -----

def drain_outcome(result):
    """What one target's drain task result says: (state, report or reason).

    state is ``drained`` (the helper's JSON report), ``not configured`` (the task was skipped:
    no helper), ``unreachable`` (the connection failed, so no module ran: no ``rc``) or
    ``failed`` (the helper ran and failed)."""
    if result.get("skipped"):
        return "not configured", "no capture helper on the target (the capture step never ran)"
    if result.get("unreachable") or (result.get("failed") and "rc" not in result):
        return "unreachable", (result.get("msg") or "no answer").strip().splitlines()[-1][:300]
    if result.get("failed") or result.get("rc"):
        return "failed", (result.get("stderr") or result.get("msg") or "rc {0}".format(result.get("rc"))).strip()[-300:]
    try:
        report = json.loads(result.get("stdout", ""))
    except ValueError:
        return "failed", "the drain printed no JSON: {0}".format(result.get("stdout", "")[:200])
    if not isinstance(report, dict) or not isinstance(report.get("files"), list):
        return "failed", "the drain's report has no file list: {0}".format(result.get("stdout", "")[:200])
    return "drained", report


def archive_url(report):
    """s3://bucket/prefix/ of a drain report's archive, None without one."""
    archive = report.get("archive")
    return "s3://{0}/{1}".format(archive["bucket"], archive["prefix"]) if archive else None


def archive_gaps(report, archived):
    """The files of a drain report that the archive lacks or holds with another size.

    ``archived`` maps the S3 keys under the report's prefix to their sizes (empty without an
    archive: every file is a gap). Returns [{path, key, bytes, archived_bytes}] (archived_bytes
    None when the key is missing)."""
    gaps = []
    for item in report["files"]:
        size = archived.get(item.get("key"))
        if size != item["bytes"]:
            gaps.append({"path": item["path"], "key": item.get("key"), "bytes": item["bytes"], "archived_bytes": size})
    return gaps


def drain_summary(instance, state, detail, gaps=()):
    """One line per capture target for the teardown's output."""
    if state != "drained":
        verdict = {"unreachable": "could not be reached, so nothing more was archived; the archive holds what it "
                                  "holds, the rest goes with the instance",
                   "not configured": "has no capture to drain",
                   "failed": "could not drain its capture"}[state]
        return "{0} {1} ({2})".format(instance, verdict, detail)
    files = detail["files"]
    total = sum(f["bytes"] for f in files)
    if not detail.get("archive"):
        return "{0}: capture stopped; {1} file(s), {2}, not archived (no archive configured)".format(
            instance, len(files), _size(total))
    where = archive_url(detail)
    if gaps:
        return "{0}: capture stopped; {1} of {2} file(s) NOT in the archive {3} after {4} s: {5}".format(
            instance, len(gaps), len(files), where, detail.get("seconds"),
            ", ".join(os.path.basename(g["path"]) for g in gaps[:5]) + (" ..." if len(gaps) > 5 else ""))
    return "{0}: capture stopped; all {1} file(s) left on it ({2}) are in the archive {3} ({4} s)".format(
        instance, len(files), _size(total), where, detail.get("seconds"))
