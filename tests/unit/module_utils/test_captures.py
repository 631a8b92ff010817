"""Copying a capture target's pcap files to the controller (plugins/module_utils/captures.py):
the helper's configuration names the directory and links, copies are incremental, counts are
of complete records."""

import json
import os
import struct

import pytest

from ansible_collections.mirrorlab.vpc.plugins.module_utils import captures


def pcap(packets, tail=b""):
    """A classic little-endian Ethernet pcap with `packets` 60-byte records (and a torn tail)."""
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)
    for i in range(packets):
        out += struct.pack("<IIII", 1700000000 + i, 0, 60, 60) + bytes(60)
    return out + tail


@pytest.fixture
def target(tmp_path):
    root = tmp_path / "root"
    cfg = root / "etc/mirrorlab/capture/config.json"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(json.dumps({"dir": "/var/lib/mirrorlab/capture", "links": [{"name": "capture0"}, {"name": "capv777"}]}))
    link = root / "var/lib/mirrorlab/capture/capture0"
    link.mkdir(parents=True)
    (link / "capture0-vni12345-a.pcap").write_bytes(pcap(3))
    (link / "capture0-vni12345-a.pcap1").write_bytes(pcap(2, tail=struct.pack("<IIII", 1, 0, 60, 60) + bytes(10)))
    (link / ".housekeeping.lock").write_bytes(b"")
    (link / ".paused").write_bytes(b"")
    return root, tmp_path / "dest"


def test_copies_every_link_file_and_counts_complete_packets(target):
    root, dest = target
    result = captures.copy_captures(str(root), str(dest))
    assert result["found"] and result["dir"] == "/var/lib/mirrorlab/capture"
    assert sorted(os.listdir(dest / "capture0")) == ["capture0-vni12345-a.pcap", "capture0-vni12345-a.pcap1"]
    assert list(result["links"]) == ["capture0"]  # capv777 has no files
    assert (result["files"], result["copied"], result["packets"]) == (2, 2, 5)
    assert result["bytes"] == sum(p.stat().st_size for p in (dest / "capture0").iterdir())
    assert oct((dest / "capture0" / "capture0-vni12345-a.pcap").stat().st_mode & 0o777) == "0o600"


def test_a_second_copy_takes_only_what_is_new_or_grew(target):
    root, dest = target
    captures.copy_captures(str(root), str(dest))
    link = root / "var/lib/mirrorlab/capture/capture0"
    with open(link / "capture0-vni12345-a.pcap1", "ab") as f:  # the open file grows
        f.write(bytes(50))
    (link / "capture0-vni12345-b.pcap").write_bytes(pcap(1))
    again = captures.copy_captures(str(root), str(dest))
    assert sorted(again["links"]["capture0"]["copied"]) == ["capture0-vni12345-a.pcap1", "capture0-vni12345-b.pcap"]
    assert (again["packets"], again["files"]) == (3 + 3 + 1, 3)
    assert captures.copy_captures(str(root), str(dest))["copied"] == 0


def test_check_mode_copies_nothing(target):
    root, dest = target
    result = captures.copy_captures(str(root), str(dest), check_mode=True)
    assert result["copied"] == 2 and not dest.exists()


def test_no_configuration_means_nothing_to_copy(tmp_path):
    result = captures.copy_captures(str(tmp_path), str(tmp_path / "dest"))
    assert result["found"] is False and result["files"] == 0 and not (tmp_path / "dest").exists()


def test_a_broken_configuration_is_an_error(target):
    root, dest = target
    (root / "etc/mirrorlab/capture/config.json").write_text("{")
    with pytest.raises(captures.CaptureError, match="config.json"):
        captures.copy_captures(str(root), str(dest))


def test_pcap_names_and_counts(tmp_path):
    assert captures.is_pcap_name("capture0-vni1-20261202T031500Z.pcap12")
    assert captures.is_pcap_name("capture0-vni1_00001_20261202031500.pcap")
    assert not captures.is_pcap_name(".housekeeping.lock") and not captures.is_pcap_name("x.pcap.part")
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(b"")
    assert captures.pcap_counts(str(empty)) == (0, 0)
    big = tmp_path / "be.pcap"
    big.write_bytes(struct.pack(">IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1) + struct.pack(">IIII", 1, 0, 4, 4) + b"abcd")
    assert captures.pcap_counts(str(big)) == (1, 44)


def test_status_lines_per_target_and_link():
    text = json.dumps({"host": "t", "dir": "/d", "tool": "tcpdump", "bytes": 4130, "max_total_mb": 2048, "free_bytes": 9e9,
                       "min_free_mb": 1024, "archive": None,
                       "links": [{"name": "capture0", "vni": 12345, "unit": "mirrorlab-capture@capture0.service",
                                  "state": "active", "files": 2, "file_bytes": 4130, "newest_age_seconds": 1.6,
                                  "tool_drops": 0, "counters": {"rx_dropped": 0}, "paused": True}]})
    lines = captures.status_lines({"t": captures.parse_status("t", text)}, ["mirrored: alb:eth0"])
    assert lines == ["t: tcpdump in /d (4130 B, cap 2048 MB, 9000.0 MB free)",
                     "  capture0 (VNI 12345): mirrorlab-capture@capture0.service active, 2 file(s), 4130 B, newest 2 s ago; "
                     "drops: tool 0, link 0 PAUSED (cap/floor)",
                     "session: mirrored: alb:eth0"]
    with pytest.raises(captures.CaptureError, match="t: mirrorlab-capture-status --json did not print JSON"):
        captures.parse_status("t", "Traceback ...")
    with pytest.raises(captures.CaptureError, match="no links"):
        captures.parse_status("t", "[]")


def test_watch_command_per_backend():
    assert captures.watch_command("lab", "capture0", ["-c", "5"], pid=42) == [
        "nsenter", "-t", "42", "-m", "-u", "-i", "-n", "-p", "tcpdump", "-n", "-l", "-i", "capture0", "-c", "5"]
    aws = captures.watch_command("aws", "capv7", ["tcp port 80"], instance_id="i-0abc", region="eu-west-1")
    assert aws[:7] == ["aws", "ssm", "start-session", "--region", "eu-west-1", "--target", "i-0abc"]
    assert json.loads(aws[-1]) == {"command": ["sudo tcpdump -n -l -i capv7 'tcp port 80'"]}
    with pytest.raises(captures.CaptureError, match="not running"):
        captures.watch_command("lab", "capture0", [])
    with pytest.raises(captures.CaptureError, match="no capture instance"):
        captures.watch_command("aws", "capture0", [])


# ---- the teardown's drain: what each target's result says, and the archive against its list

REPORT = {"host": "i-1", "seconds": 3.2, "left": [], "archive": {"bucket": "b", "prefix": "pcap/i-1/"},
          "files": [{"path": "/c/capture0/a.pcap", "key": "pcap/i-1/capture0/a.pcap", "bytes": 100},
                    {"path": "/c/capture0/b.pcap", "key": "pcap/i-1/capture0/b.pcap", "bytes": 250}]}


@pytest.mark.parametrize("result, state", [
    ({"item": "i-1", "rc": 0, "stdout": json.dumps(REPORT), "changed": True}, "drained"),
    ({"item": "i-1", "skipped": True, "changed": False}, "not configured"),
    ({"item": "i-1", "unreachable": True, "msg": "timed out"}, "unreachable"),
    # the connection plugin failed before any module ran (no rc): as unreachable
    ({"item": "i-1", "failed": True, "msg": "Task failed: TargetNotConnected: i-1 is not connected."}, "unreachable"),
    ({"item": "i-1", "failed": True, "rc": 1, "stderr": "systemctl stop: failed", "stdout": ""}, "failed"),
    ({"item": "i-1", "rc": 0, "stdout": "not json"}, "failed"),
    ({"item": "i-1", "rc": 0, "stdout": json.dumps({"host": "i-1"})}, "failed"),
])
def test_drain_outcome_tells_reached_from_unreachable(result, state):
    assert captures.drain_outcome(result)[0] == state


def test_archive_gaps_names_missing_and_short_files():
    assert captures.archive_gaps(REPORT, {"pcap/i-1/capture0/a.pcap": 100, "pcap/i-1/capture0/b.pcap": 250,
                                          "pcap/i-1/capture0/older.pcap": 9}) == []
    gaps = captures.archive_gaps(REPORT, {"pcap/i-1/capture0/a.pcap": 99})
    assert [(g["key"], g["archived_bytes"]) for g in gaps] == [("pcap/i-1/capture0/a.pcap", 99),
                                                               ("pcap/i-1/capture0/b.pcap", None)]


def test_drain_summary_says_what_happened_to_each_target():
    assert captures.drain_summary("i-1", "drained", REPORT) == (
        "i-1: capture stopped; all 2 file(s) left on it (350 B) are in the archive s3://b/pcap/i-1/ (3.2 s)")
    gaps = captures.archive_gaps(REPORT, {})
    assert "2 of 2 file(s) NOT in the archive s3://b/pcap/i-1/ after 3.2 s: a.pcap, b.pcap" in captures.drain_summary(
        "i-1", "drained", REPORT, gaps)
    assert captures.drain_summary("i-1", "unreachable", "timed out").startswith("i-1 could not be reached")
