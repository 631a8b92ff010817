"""The lab's host plumbing (plugins/module_utils/lab_host.py): commands, processes, log tails,
network namespace checks. No root needed: the processes are this test's own children."""

import os
import signal
import subprocess
import sys
import time

import pytest

from ansible_collections.mirrorlab.vpc.plugins.module_utils import lab_host


class Failed(Exception):
    pass


class FakeModule:
    """run_command answers from a table; fail_json raises with the result it was given."""

    def __init__(self, answers=None):
        self.answers = answers or {}
        self.calls = []

    def run_command(self, cmd, data=None, binary_data=False, environ_update=None):
        self.calls.append({"cmd": cmd, "data": data, "binary_data": binary_data, "environ_update": environ_update})
        return self.answers.get(cmd[-1], (0, "out", ""))

    def fail_json(self, **result):
        raise Failed(result)


# ---- commands -------------------------------------------------------------------------------

def test_in_netns_wraps_only_with_a_namespace():
    assert lab_host.in_netns(["nft", "list", "tables"], "ml-x-alb") == [
        "ip", "netns", "exec", "ml-x-alb", "nft", "list", "tables"]
    assert lab_host.in_netns(["ip", "link", 7]) == ["ip", "link", "7"]
    assert lab_host.in_netns(["ip", "link"], "") == ["ip", "link"]


def test_run_returns_the_output_and_passes_stdin():
    module = FakeModule()
    assert lab_host.run(module, ["nft", "-f", "-"], netns="ns1", data="table x") == (0, "out", "")
    call = module.calls[0]
    assert call["cmd"] == ["ip", "netns", "exec", "ns1", "nft", "-f", "-"]
    assert call["data"] == "table x" and call["binary_data"] is True
    lab_host.run(module, ["true"], environ_update={"A": "1"})
    assert module.calls[1]["binary_data"] is False and module.calls[1]["environ_update"] == {"A": "1"}


def test_a_failing_command_fails_with_command_rc_and_stderr():
    module = FakeModule({"boom": (2, "some output", "Error: no such device\n")})
    with pytest.raises(Failed) as failed:
        lab_host.run(module, ["ip", "link", "del", "boom"], netns="ns1", commands=["x"])
    result = failed.value.args[0]
    assert result["msg"] == "ip netns exec ns1 ip link del boom failed (rc=2): Error: no such device"
    assert result["rc"] == 2 and result["stderr"] == "Error: no such device\n" and result["stdout"] == "some output"
    assert result["cmd"] == ["ip", "netns", "exec", "ns1", "ip", "link", "del", "boom"]
    assert result["commands"] == ["x"]  # the caller's extra fields


def test_a_failing_command_without_check_is_returned():
    module = FakeModule({"boom": (1, "", "nope")})
    assert lab_host.run(module, ["boom"], check=False) == (1, "", "nope")


def test_command_error_falls_back_to_stdout_and_keeps_the_tail():
    assert lab_host.command_error(["x"], 1, "only stdout\n", "") == "x failed (rc=1): only stdout"
    long = "a" * 10 + "b" * lab_host.ERROR_TAIL_CHARS
    message = lab_host.command_error(["x"], 1, "", long)
    assert message.endswith("b" * lab_host.ERROR_TAIL_CHARS) and "a" not in message.split(": ", 1)[1]


# ---- network namespaces ---------------------------------------------------------------------

def test_netns_checks(tmp_path, monkeypatch):
    monkeypatch.setattr(lab_host, "NETNS_DIR", str(tmp_path))
    (tmp_path / "stale").write_text("")  # a file left without its namespace
    os.symlink("/proc/self/ns/net", tmp_path / "live")  # stands in for the bind mount ip netns makes
    assert lab_host.netns_path("live") == str(tmp_path / "live")
    assert lab_host.netns_exists("live") and lab_host.netns_listed("live")
    assert not lab_host.netns_exists("stale") and lab_host.netns_listed("stale")
    assert not lab_host.netns_exists("gone") and not lab_host.netns_listed("gone")
    assert lab_host.missing_netns("gone") == f"network namespace gone does not exist ({tmp_path}/gone)"


# ---- processes ------------------------------------------------------------------------------

def child(script, **kwargs):
    """A Python child running script; it prints "ready" once its signal handlers are set."""
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, **kwargs)
    assert proc.stdout.readline().strip() == "ready"
    return proc


SLEEPER = "import time\nprint('ready', flush=True)\ntime.sleep(60)\n"
STUBBORN = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('ready', flush=True)\ntime.sleep(60)\n"


@pytest.fixture
def procs():
    started = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_start_time_and_records(procs):
    proc = child(SLEEPER)
    procs.append(proc)
    record = lab_host.process(proc.pid)
    assert record == {"pid": proc.pid, "start_time": lab_host.start_time(proc.pid)}
    assert isinstance(record["start_time"], int) and lab_host.alive(record)
    assert lab_host.process(proc.pid, cmdline_has=("time.sleep", sys.executable)) == record
    assert lab_host.process(proc.pid, cmdline_has=("not-in-its-command-line",)) is None
    assert sys.executable in lab_host.cmdline(proc.pid)
    assert not lab_host.alive(dict(record, start_time=record["start_time"] - 1))  # a reused PID
    assert not lab_host.alive(dict(record, start_time=None)) and not lab_host.alive(None)
    proc.kill()
    assert lab_host.wait_for(lambda: lab_host.start_time(proc.pid) is None, 5)  # a zombie counts as gone
    assert not lab_host.alive(record) and lab_host.process(proc.pid) is None
    proc.wait()
    assert lab_host.start_time(proc.pid) is None and lab_host.cmdline(proc.pid) == ""
    assert lab_host.process(0) is None


def test_a_reused_pid_is_never_signalled(procs):
    proc = child(SLEEPER)
    procs.append(proc)
    record = lab_host.process(proc.pid)
    stranger = dict(record, start_time=record["start_time"] + 1)
    assert lab_host.signal_process(stranger, signal.SIGKILL) is False
    assert lab_host.stop_processes([stranger], timeout=0.2) == []
    assert proc.poll() is None and lab_host.alive(record)


def test_stop_ends_with_sigterm(procs):
    proc = child(SLEEPER)
    procs.append(proc)
    record = lab_host.process(proc.pid)
    begin = time.monotonic()
    assert lab_host.stop_processes([record], timeout=10) == [record]
    assert time.monotonic() - begin < 5 and proc.wait(timeout=5) == -signal.SIGTERM


def test_stop_kills_what_ignores_sigterm_after_the_timeout(procs):
    stubborn, polite = child(STUBBORN), child(SLEEPER)
    procs += [stubborn, polite]
    records = [lab_host.process(stubborn.pid), lab_host.process(polite.pid)]
    begin = time.monotonic()
    assert lab_host.stop_processes(records, timeout=0.5) == records
    assert 0.5 <= time.monotonic() - begin < 5
    assert stubborn.wait(timeout=5) == -signal.SIGKILL and polite.wait(timeout=5) == -signal.SIGTERM


def test_stop_without_a_signal_only_waits_then_kills(procs):
    proc = child(SLEEPER)
    procs.append(proc)
    lab_host.stop_processes([lab_host.process(proc.pid)], timeout=0.2, signum=None)
    assert proc.wait(timeout=5) == -signal.SIGKILL


def test_stop_of_a_group_ends_its_workers(procs):
    # A group leader with a worker that ignores SIGTERM and outlives the leader.
    script = ("import signal, subprocess, sys, time\n"
              "w = subprocess.Popen([sys.executable, '-c', 'import signal, time\\n"
              "signal.signal(signal.SIGTERM, signal.SIG_IGN)\\nprint(\"w\", flush=True)\\ntime.sleep(60)'],"
              " stdout=subprocess.PIPE, text=True)\n"
              "w.stdout.readline()\nprint('ready', w.pid, flush=True)\ntime.sleep(60)\n")
    leader = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                              start_new_session=True)
    procs.append(leader)
    worker = int(leader.stdout.readline().split()[1])
    record = lab_host.process(leader.pid)
    lab_host.stop_processes([record], timeout=5, group=True)
    assert leader.wait(timeout=5) == -signal.SIGTERM
    assert lab_host.wait_for(lambda: lab_host.start_time(worker) is None, 5)


def test_wait_for_returns_the_last_value():
    values = iter([0, None, "done"])
    assert lab_host.wait_for(lambda: next(values), 5, interval=0) == "done"
    begin = time.monotonic()
    assert lab_host.wait_for(lambda: False, 0.1) is False and time.monotonic() - begin >= 0.1


# ---- pid files and logs ---------------------------------------------------------------------

def test_pid_files(tmp_path):
    plain = tmp_path / "nspawn.pid"
    plain.write_text("4242\n")
    assert lab_host.read_pid(str(plain)) == 4242
    plain.write_text("garbage")
    assert lab_host.read_pid(str(plain)) == 0 and lab_host.read_pid(str(tmp_path / "none")) == 0

    path = str(tmp_path / "web.pid")
    lab_host.write_record(path, {"pid": 7, "start_time": 99, "netns": "ns"})
    assert lab_host.read_record(path) == {"pid": 7, "start_time": 99, "netns": "ns"}
    assert not os.path.exists(path + ".tmp")
    for bad in ('{"pid": "7"}', "[7]", "not json"):
        (tmp_path / "bad.pid").write_text(bad)
        assert lab_host.read_record(str(tmp_path / "bad.pid")) is None
    assert lab_host.read_record(str(tmp_path / "none")) is None

    assert lab_host.remove_files(path, str(tmp_path / "none")) is True and not os.path.exists(path)
    assert lab_host.remove_files(path) is False


def test_log_tail(tmp_path):
    log = tmp_path / "x.log"
    log.write_bytes(b"head\n" + b"x" * 3000 + b"\nlast line \xff\n")
    tail = lab_host.log_tail(str(log))
    assert len(tail.encode()) >= lab_host.LOG_TAIL_BYTES - 2 and tail.endswith("last line \ufffd\n")
    assert "head" not in tail
    log.write_bytes(b"0123456789")
    assert lab_host.log_tail(str(log), size=4) == "6789" and lab_host.log_tail(str(log), size=99) == "0123456789"
    assert lab_host.log_tail(str(tmp_path / "none")) == ""
