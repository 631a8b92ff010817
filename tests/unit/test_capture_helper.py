"""The capture helper's housekeeping under faults (roles/capture/files/mirrorlab-capture, the
real script, loaded as a module): S3 failing for one file or for a while, a file the pass may
not touch, another pass holding the lock, the open file known from /proc/<pid>/fd whatever the
times and names say, many size rotations, bounded S3 calls; and status --json."""

import fcntl
import json
import os
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

HELPER = Path(__file__).resolve().parents[2] / "roles" / "capture" / "files" / "mirrorlab-capture"


def load_helper():
    """The script as a module, compiled in memory (no __pycache__ beside it in the role)."""
    module = types.ModuleType("mirrorlab_capture_helper")
    module.__file__ = str(HELPER)
    exec(compile(HELPER.read_text(), str(HELPER), "exec"), module.__dict__)  # noqa: S102 - the role's own script
    return module


class FakeS3:
    """upload_file/head_object as boto3's; `fail` names the files whose upload raises."""

    def __init__(self):
        self.objects = {}
        self.fail = set()
        self.calls = []

    def upload_file(self, path, bucket, key):
        self.calls.append(os.path.basename(path))
        if os.path.basename(path) in self.fail or "*" in self.fail:
            raise ConnectionError("S3 unreachable")
        self.objects[key] = Path(path).read_bytes()

    def head_object(self, Bucket, Key):
        return {"ContentLength": len(self.objects[Key])}


@pytest.fixture
def helper(tmp_path, monkeypatch):
    h = load_helper()
    link = tmp_path / "capture0"
    link.mkdir()
    cfg = {"dir": str(tmp_path), "host": "tgt", "tool": "tcpdump", "max_total_mb": 2048, "rotate_mb": 100,
           "min_free_mb": 0, "links": [{"name": "capture0", "vni": 12345, "interface": "eth0"}],
           "archive": {"bucket": "b", "prefix": "pcap/"}}
    s3 = FakeS3()
    state = {"pid": 0}
    monkeypatch.setattr(h, "s3_client", lambda archive: s3)
    monkeypatch.setattr(h, "service_state", lambda name: ("active" if state["pid"] else "inactive", state["pid"]))
    monkeypatch.setattr(h, "log", lambda msg: None)
    return h, cfg, link, s3, state


def names(link):
    return sorted(p.name for p in link.iterdir() if not p.name.startswith("."))


def write(link, *files):
    for name in files:
        (link / name).write_bytes(b"\xd4\xc3\xb2\xa1" + name.encode())


@pytest.fixture
def writer(tmp_path):
    """A process holding a file open, as the capture tool does."""
    procs = []

    def start(path):
        proc = subprocess.Popen([sys.executable, "-c", "import sys, time; f = open(sys.argv[1], 'ab'); "
                                 "print('ready', flush=True); time.sleep(60)", str(path)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        procs.append(proc)
        return proc.pid
    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


def test_one_failing_upload_does_not_block_the_others_and_waits_longer_each_time(helper):
    h, cfg, link, s3, state = helper
    write(link, "c-1.pcap", "c-2.pcap", "c-3.pcap")
    s3.fail = {"c-1.pcap"}
    h.archive_closed(cfg, now=1000)
    assert names(link) == ["c-1.pcap"] and set(s3.objects) == {"pcap/tgt/capture0/c-2.pcap", "pcap/tgt/capture0/c-3.pcap"}
    retries = json.loads((link / h.RETRY_FILE).read_text())
    assert retries == {str(link / "c-1.pcap"): {"failures": 1, "next": 1000 + h.RETRY_FIRST_SECONDS}}
    s3.calls.clear()
    h.archive_closed(cfg, now=1001)  # within the backoff: not tried
    assert s3.calls == []
    h.archive_closed(cfg, now=1000 + h.RETRY_FIRST_SECONDS)  # tried, fails again: twice the wait
    assert json.loads((link / h.RETRY_FILE).read_text())[str(link / "c-1.pcap")]["next"] == 1015 + 2 * h.RETRY_FIRST_SECONDS
    s3.fail = set()
    h.archive_closed(cfg, now=2000)
    assert names(link) == [] and json.loads((link / h.RETRY_FILE).read_text()) == {}


def test_s3_unreachable_for_a_while_then_back_loses_nothing_and_deletes_nothing_early(helper):
    h, cfg, link, s3, state = helper
    write(link, "c-1.pcap", "c-2.pcap")
    s3.fail = {"*"}
    for now in (0, 100, 1000):
        h.archive_closed(cfg, now=now)
        assert names(link) == ["c-1.pcap", "c-2.pcap"]
    assert h.enforce_limits(cfg) is True and names(link) == ["c-1.pcap", "c-2.pcap"]  # with an archive: never deleted
    s3.fail = set()
    h.archive_closed(cfg, now=10_000)
    assert names(link) == [] and len(s3.objects) == 2


def test_a_file_the_pass_may_not_touch_is_skipped(helper, monkeypatch):
    h, cfg, link, s3, state = helper
    write(link, "c-1.pcap", "c-2.pcap")
    os.chmod(link / "c-1.pcap", 0o600)
    os.chmod(link / "c-2.pcap", 0o600)
    real_chmod = os.chmod

    def chmod(path, mode):
        if str(path).endswith("c-1.pcap"):
            raise PermissionError(1, "Operation not permitted", str(path))
        real_chmod(path, mode)
    monkeypatch.setattr(h.os, "chmod", chmod)
    cfg["archive"] = None
    assert h.housekeep(cfg, stop_tools=False) is True  # the pass goes on past the file
    assert (os.stat(link / "c-1.pcap").st_mode & 0o777, os.stat(link / "c-2.pcap").st_mode & 0o777) == (0o600, 0o640)


def test_a_pass_that_finds_the_lock_held_ends_at_once(helper):
    h, cfg, link, s3, state = helper
    write(link, "c-1.pcap")
    with open(link / ".housekeeping.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        started = time.monotonic()
        assert h.housekeep(cfg, stop_tools=False) is True
        assert time.monotonic() - started < 2
        assert names(link) == ["c-1.pcap"] and s3.calls == []
    assert h.housekeep(cfg, stop_tools=False) is True and names(link) == []


def test_the_open_file_is_the_one_the_tool_holds_whatever_times_and_names_say(helper, writer):
    h, cfg, link, s3, state = helper
    write(link, "c-20261202T000000Z.pcap", "c-20261202T000500Z.pcap")
    live = link / "c-20261202T000000Z.pcap"
    os.utime(live, (0, 0))  # a clock step backwards: the live file looks oldest
    state["pid"] = writer(live)
    h.archive_closed(cfg, now=0)
    assert names(link) == ["c-20261202T000000Z.pcap"]
    assert list(s3.objects) == ["pcap/tgt/capture0/c-20261202T000500Z.pcap"]


def test_ten_plus_size_rotations_keep_the_tools_order_and_only_the_open_one_stays(helper, writer):
    h, cfg, link, s3, state = helper
    files = ["c-20261202T000000Z.pcap"] + ["c-20261202T000000Z.pcap%d" % n for n in range(1, 12)]
    write(link, *files)
    for i, name in enumerate(files):  # mtimes in reverse, as after a clock step
        os.utime(link / name, (1000 - i, 1000 - i))
    assert [os.path.basename(p) for p in h.link_files(cfg, "capture0")] == files
    state["pid"] = writer(link / files[-1])
    h.archive_closed(cfg, now=0)
    assert s3.calls == files[:-1] and names(link) == [files[-1]]


def test_without_proc_fd_the_tools_name_order_decides(helper, monkeypatch):
    h, cfg, link, s3, state = helper
    files = ["c_00009_20261202000000.pcap", "c_00010_20261202000000.pcap"]  # dumpcap's numbering
    write(link, *files)
    os.utime(link / files[1], (0, 0))
    state["pid"] = os.getpid()
    monkeypatch.setattr(h, "open_files", lambda pid: None)
    h.archive_closed(cfg, now=0)
    assert s3.calls == files[:1] and names(link) == files[1:]


def test_no_answer_from_systemd_closes_no_file(helper, monkeypatch):
    """A busy bus or a failed systemctl: whether a tool writes the newest file is unknown, so
    the pass archives nothing of the link (and the next pass, answered, archives the closed)."""
    h, cfg, link, s3, state = helper
    write(link, "c-20261202T000000Z.pcap", "c-20261202T000005Z.pcap")
    answers = iter([types.SimpleNamespace(returncode=1, stdout="", stderr="Failed to connect to bus"),
                    types.SimpleNamespace(returncode=0, stdout="ActiveState=active\n", stderr=""),
                    types.SimpleNamespace(returncode=0, stdout="MainPID=4242\nActiveState=active\n", stderr="")])
    real = load_helper()  # its own service_state (the fixture's h has a stand-in), over a stand-in systemctl
    monkeypatch.setattr(real, "run", lambda cmd, check=True: next(answers))
    monkeypatch.setattr(h, "service_state", real.service_state)
    monkeypatch.setattr(h, "open_files", lambda pid: None)
    for _ in range(2):  # the failed call, then an answer without MainPID
        h.archive_closed(cfg, now=0)
        assert s3.calls == [] and len(names(link)) == 2
    h.archive_closed(cfg, now=0)
    assert s3.calls == ["c-20261202T000000Z.pcap"] and names(link) == ["c-20261202T000005Z.pcap"]


def test_s3_calls_are_bounded():
    pytest.importorskip("boto3")
    h = load_helper()
    client = h.s3_client({"region": "eu-west-1"})
    config = client.meta.config
    assert (config.connect_timeout, config.read_timeout) == (h.S3_CONNECT_TIMEOUT, h.S3_READ_TIMEOUT)
    assert config.retries["total_max_attempts"] == h.S3_ATTEMPTS


def test_status_json_names_files_ages_and_the_open_file(helper, writer, monkeypatch):
    h, cfg, link, s3, state = helper
    write(link, "c-1.pcap", "c-2.pcap")
    os.utime(link / "c-1.pcap", (time.time() - 100, time.time() - 100))
    state["pid"] = writer(link / "c-2.pcap")
    monkeypatch.setattr(h, "tool_stats", lambda cfg, name, pid: "5 packets captured, 5 received by filter, 2 packets dropped by kernel")
    data = json.loads(json.dumps(h.status_data(cfg)))
    (entry,) = data["links"]
    assert (entry["name"], entry["files"], entry["tool_drops"], entry["state"]) == ("capture0", 2, 2, "active")
    assert entry["open_file"] == str(link / "c-2.pcap") and entry["newest_age_seconds"] < 5
    assert data["archive"] == "s3://b/pcap/tgt/"
    assert h.tool_drops("Packets received/dropped on interface 'capture0': 10/3 (pcap:0/dumpcap:0/flushed:3/ps_ifdrop:0) (76.9%)") == 3


def drain_rig(h, cfg, link, state, writer, monkeypatch):
    """drain's systemctl: `stop` ends the tool (its file reaches the final size); `start` of the
    housekeeping unit is one pass as the unit runs it. Returns the calls."""
    calls = []

    def run(cmd, check=True):
        calls.append(cmd[1:])
        if cmd[:2] == ["systemctl", "stop"]:
            with open(link / "c-2.pcap", "ab") as f:
                f.write(b"flushed at exit")  # what tcpdump writes out when it ends
            state["pid"] = 0
        return types.SimpleNamespace(returncode=0, stdout="", stderr="")

    def one_pass(timeout):
        calls.append(["start", h.HOUSEKEEPING_UNIT])
        h.housekeep(cfg, stop_tools=True)
        return ""
    monkeypatch.setattr(h, "run", run)
    monkeypatch.setattr(h, "housekeeping_pass", one_pass)
    monkeypatch.setattr(h, "DRAIN_PAUSE_SECONDS", 0)
    write(link, "c-1.pcap", "c-2.pcap")
    state["pid"] = writer(link / "c-2.pcap")
    return calls


def test_drain_stops_the_tool_lists_final_sizes_and_archives_every_file(helper, writer, monkeypatch):
    h, cfg, link, s3, state = helper
    calls = drain_rig(h, cfg, link, state, writer, monkeypatch)
    # c-1 failed earlier and waits (backoff): the drain makes its retry due.
    (link / h.RETRY_FILE).write_text(json.dumps({str(link / "c-1.pcap"): {"failures": 3, "next": time.time() + 900}}))
    report = h.drain(cfg, seconds=30)
    assert calls[0] == ["stop", "mirrorlab-capture@capture0.service"]
    assert report["left"] == [] and names(link) == [] and report["stopped"] == ["mirrorlab-capture@capture0.service"]
    sizes = {f["key"]: f["bytes"] for f in report["files"]}
    assert sizes == {k: len(v) for k, v in s3.objects.items()}
    assert sizes["pcap/tgt/capture0/c-2.pcap"] == len(b"\xd4\xc3\xb2\xa1c-2.pcapflushed at exit")
    assert report["archive"] == {"bucket": "b", "prefix": "pcap/tgt/"}
    json.dumps(report)  # what the controller parses


def test_drain_with_s3_down_ends_at_its_deadline_and_names_what_is_left(helper, writer, monkeypatch):
    h, cfg, link, s3, state = helper
    drain_rig(h, cfg, link, state, writer, monkeypatch)
    s3.fail = {"*"}
    clock = iter(range(0, 1000, 10))
    report = h.drain(cfg, seconds=35, now=lambda: next(clock))
    assert report["left"] == [str(link / "c-1.pcap"), str(link / "c-2.pcap")] and names(link) == ["c-1.pcap", "c-2.pcap"]
    assert 1 <= report["passes"] <= 3 and s3.objects == {}


def test_drain_holds_the_lock_while_the_stop_runs_a_pass(helper, writer, monkeypatch):
    """ExecStopPost's pass must not archive the last file before its final size is listed."""
    h, cfg, link, s3, state = helper
    calls = drain_rig(h, cfg, link, state, writer, monkeypatch)
    real_run = h.run

    def stop_then_pass(cmd, check=True):
        result = real_run(cmd, check)
        if cmd[:2] == ["systemctl", "stop"]:
            assert h.housekeep(cfg, stop_tools=False) is True  # the unit's ExecStopPost: ends at once
            assert names(link) == ["c-1.pcap", "c-2.pcap"]
        return result
    monkeypatch.setattr(h, "run", stop_then_pass)
    report = h.drain(cfg, seconds=30)
    assert report["left"] == [] and len(report["files"]) == 2 and calls[0][0] == "stop"


# --- link-check: what the capture role repairs -----------------------------------------------

LINK = {"name": "capture0", "vni": 12345, "interface": "eth0", "dstport": 4789, "mtu": 8951, "manager": "unit"}


def kernel_link(**changes):
    """ip -d -j link show of the device link-up makes for LINK, with changes."""
    details = {"ifname": "capture0", "mtu": 8951, "flags": ["BROADCAST", "MULTICAST", "NOARP", "UP", "LOWER_UP"],
               "linkinfo": {"info_kind": "vxlan", "info_data": {"id": 12345, "port": 4789, "link": "eth0",
                                                                 "learning": False}}}
    data = changes.pop("info_data", {})
    details["linkinfo"]["info_data"].update(data)
    details.update(changes)
    return details


@pytest.mark.parametrize("details,problems", [
    (kernel_link(), []),
    (None, ["missing"]),
    (kernel_link(info_data={"id": 777}), ["not the configured VXLAN device"]),
    (kernel_link(info_data={"port": 8472}), ["not the configured VXLAN device"]),
    (kernel_link(info_data={"learning": True}), ["not the configured VXLAN device"]),
    (kernel_link(mtu=1400), ["MTU 1400, not 8951"]),
    (kernel_link(flags=["BROADCAST", "MULTICAST", "NOARP"]), ["down"]),
    (kernel_link(flags=["BROADCAST", "MULTICAST", "UP", "LOWER_UP"]), ["ARP on"]),
    (kernel_link(mtu=9001, flags=["BROADCAST"]), ["MTU 9001, not 8951", "down", "ARP on"]),
], ids=["right", "missing", "other-vni", "other-port", "learning", "mtu", "down", "arp", "several"])
def test_link_check_names_each_difference(monkeypatch, details, problems):
    h = load_helper()
    monkeypatch.setattr(h, "vxlan_details", lambda name: details)
    assert h.link_problems(LINK) == problems
    assert h.link_check({"links": [LINK]}) == {"capture0": problems}


def test_link_check_sees_ipv6_switched_back_on(monkeypatch, tmp_path):
    h = load_helper()
    monkeypatch.setattr(h, "vxlan_details", lambda name: kernel_link())
    sysctl = tmp_path / "disable_ipv6"
    real_open = open

    def fake_open(path, *args, **kwargs):
        return real_open(sysctl if str(path).endswith("/capture0/disable_ipv6") else path, *args, **kwargs)

    monkeypatch.setitem(h.__dict__, "open", fake_open)
    sysctl.write_text("0\n")
    assert h.link_problems(LINK) == ["IPv6 on"]
    sysctl.write_text("1\n")
    assert h.link_problems(LINK) == []
