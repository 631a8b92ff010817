# -*- coding: utf-8 -*-

# Copyright: mirrorlab developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The local lab's host plumbing, shared by the lab modules.

- Commands, in the host's root namespace or inside a named network namespace
  (``ip netns exec``), through ``AnsibleModule.run_command``; a failing command fails the
  module with one message that names the command, its exit status and its stderr.
- Processes, identified by PID *and* kernel start time (``/proc/PID/stat``), so that a PID the
  kernel has given to another process since is never signalled; stopped with a signal
  (SIGTERM), a bounded wait, then SIGKILL.
- The tail of a log file, for error messages.
- Whether a network namespace exists (``/run/netns/NAME``, a mounted namespace).
"""

from __future__ import annotations

import json
import os
import signal
import time

NETNS_DIR = "/run/netns"
POLL_SECONDS = 0.05
KILL_WAIT_SECONDS = 5.0
LOG_TAIL_BYTES = 2000
ERROR_TAIL_CHARS = 4000


# ---- commands -------------------------------------------------------------------------------

def in_netns(argv, netns=None):
    """The command line that runs argv inside network namespace `netns` (none: as it is)."""
    argv = [str(arg) for arg in argv]
    return ["ip", "netns", "exec", netns] + argv if netns else argv


def command_error(cmd, rc, out, err):
    """One line for a failed command: the command, its exit status, the end of its stderr
    (its stdout when stderr is empty)."""
    detail = (err or "").strip() or (out or "").strip()
    if len(detail) > ERROR_TAIL_CHARS:
        detail = "..." + detail[-ERROR_TAIL_CHARS:]
    return f"{' '.join(str(arg) for arg in cmd)} failed (rc={rc}): {detail}"


def fail_command(module, cmd, rc, out, err, **extra):
    """Fail the module for a command that failed; `extra` goes into the result too."""
    module.fail_json(msg=command_error(cmd, rc, out, err), cmd=[str(arg) for arg in cmd], rc=rc, stdout=out,
                     stderr=err, **extra)


def run(module, argv, netns=None, check=True, data=None, environ_update=None, **extra):
    """Run argv (in network namespace `netns` when given); return (rc, stdout, stderr).

    With check, a non-zero exit fails the module (see fail_command; `extra` is added to the
    failure's result). `data` is fed to the command's stdin as is."""
    cmd = in_netns(argv, netns)
    rc, out, err = module.run_command(cmd, data=data, binary_data=data is not None, environ_update=environ_update)
    if check and rc != 0:
        fail_command(module, cmd, rc, out, err, **extra)
    return rc, out, err


# ---- network namespaces ---------------------------------------------------------------------

def netns_path(name):
    return os.path.join(NETNS_DIR, name)


def netns_listed(name):
    """Whether /run/netns/NAME is there at all (what `ip netns list` shows and `ip netns del` removes)."""
    return os.path.lexists(netns_path(name))


def netns_exists(name):
    """Whether /run/netns/NAME is a network namespace one can enter (`ip netns exec`, `ip -n`,
    systemd-nspawn --network-namespace-path): a mount of the kernel's namespace file system,
    not a file left behind without its namespace."""
    try:
        return os.stat(netns_path(name)).st_dev == os.stat("/proc/self/ns/net").st_dev
    except OSError:
        return False


def missing_netns(name):
    """The error message for a network namespace that does not exist."""
    return f"network namespace {name} does not exist ({netns_path(name)})"


# ---- processes ------------------------------------------------------------------------------

def start_time(pid):
    """The kernel start time of pid (clock ticks since boot), or None when it is gone or a zombie."""
    try:
        with open(f"/proc/{int(pid)}/stat") as stat:
            data = stat.read()
    except (OSError, ValueError):
        return None
    fields = data[data.rindex(")") + 2:].split()
    if fields[0] == "Z":
        return None
    return int(fields[19])


def cmdline(pid):
    """The command line of pid, its arguments joined by spaces ("" when it is gone)."""
    try:
        with open(f"/proc/{int(pid)}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except (OSError, ValueError):
        return ""


def process(pid, cmdline_has=()):
    """A record {pid, start_time} of the live process pid, or None when it is gone (or its
    command line lacks one of the strings `cmdline_has`)."""
    started = start_time(pid) if pid else None
    if started is None:
        return None
    if cmdline_has:
        line = cmdline(pid)
        if not all(needle in line for needle in cmdline_has):
            return None
    return {"pid": int(pid), "start_time": started}


def alive(record):
    """Whether the recorded process still runs: its PID is alive with the recorded start time."""
    return bool(record) and record.get("start_time") is not None and start_time(record["pid"]) == record["start_time"]


def signal_process(record, signum, group=False):
    """Send signum to the recorded process (group: to its process group) if it is still the
    recorded one; whether it was sent."""
    if not alive(record):
        return False
    try:
        if group:
            os.killpg(record["pid"], signum)
        else:
            os.kill(record["pid"], signum)
    except ProcessLookupError:
        return False
    return True


def wait_for(predicate, timeout, interval=POLL_SECONDS):
    """Call predicate until it returns something true or timeout seconds have passed; its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def stop_processes(records, timeout, signum=signal.SIGTERM, group=False, kill_wait=KILL_WAIT_SECONDS):
    """End the recorded processes: send signum (None: send nothing, e.g. after asking for an
    orderly shutdown another way), wait up to timeout seconds for all of them to end, SIGKILL
    the survivors and wait up to kill_wait seconds more. Only a process that still has its
    recorded start time is ever signalled. With group, the signals go to each process's group
    (the record is of the group's leader), and once the leader has ended its group is killed
    once more, for workers that outlived it. Returns the records that were alive at first."""
    live = [record for record in records if alive(record)]
    for sig, wait in ((signum, timeout), (signal.SIGKILL, kill_wait)):
        left = [record for record in live if alive(record)]
        if not left:
            break
        if sig is not None:
            for record in left:
                signal_process(record, sig, group)
        wait_for(lambda: not any(alive(record) for record in left), wait)
    if group:
        for record in live:
            try:
                os.killpg(record["pid"], signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    return live


# ---- pid files and logs ---------------------------------------------------------------------

def read_pid(path):
    """The PID in a plain pid file (0 when there is none)."""
    try:
        with open(path) as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return 0


def read_record(path):
    """A process record written by write_record (a JSON object with an integer pid), or None."""
    try:
        with open(path) as handle:
            record = json.load(handle)
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("pid"), int) else None


def write_record(path, record):
    """Write a process record atomically (a temporary file renamed into place)."""
    tmp = path + ".tmp"
    with open(tmp, "w") as handle:
        json.dump(record, handle)
    os.replace(tmp, path)


def remove_files(*paths):
    """Delete the files that exist; whether any did."""
    removed = False
    for path in paths:
        try:
            os.remove(path)
            removed = True
        except FileNotFoundError:
            pass
    return removed


def log_tail(path, size=LOG_TAIL_BYTES):
    """The last `size` bytes of a log file as text ("" when it cannot be read)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - size))
            return handle.read().decode(errors="replace")
    except OSError:
        return ""
