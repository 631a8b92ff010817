"""Your captures at hand, in the lab: packets in the current file within about a second
(tcpdump -U). One deployment (`mlcape`); the pcaps are read with capinfos/tcpdump, not the
project's code; then playbooks/status.yml (./mirrorlab status --json), ./mirrorlab watch and
playbooks/watch.yml with a packet count, and playbooks/fetch_captures.yml twice (the second copies
only what is new or grew) on the same machine."""

import json
import os
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest

from labtools import ROOT, leftovers, module, playbook, recap_all

pytestmark = [
    pytest.mark.slow,
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
]

DEPLOYMENT = "mlcape"
ALB = "10.0.0.10"
PCAPS = Path(f"/var/lib/mirrorlab/ml-{DEPLOYMENT}/machine/root/var/lib/mirrorlab/capture/capture0")
REQUESTS = 3
HTTP_PACKET = re.compile(r"IP [0-9.]+\.\d+ > [0-9.]+\.\d+: Flags")  # tcpdump -n's line of a TCP packet


def request(query, max_time=5):
    """One HTTP request from the lab's client to the ALB."""
    return subprocess.run(["ip", "netns", "exec", f"ml-{DEPLOYMENT}-client", "curl", "-sf", "--max-time", str(max_time),
                           f"http://{ALB}/?{query}"], capture_output=True, text=True)


def http(count=REQUESTS):
    for i in range(count):
        out = request(f"n={i}")
        assert out.returncode == 0, out.stderr


def packets(paths):
    """Packets in the files, by capinfos (a file being written may end mid-packet: -c still counts)."""
    total = 0
    for path in paths:
        out = subprocess.run(["capinfos", "-M", "-c", "-T", "-r", str(path)], capture_output=True, text=True)
        total += int(out.stdout.split()[-1]) if out.stdout.strip() else 0
    return total


@pytest.fixture(scope="module")
def lab():
    playbook(ROOT / "site.yml", {"mirrorlab_deployment": DEPLOYMENT}, timeout=600)
    yield
    playbook(ROOT / "teardown.yml", {"mirrorlab_deployment": DEPLOYMENT, "mirrorlab_discard_captures": True}, check=False)


def test_requests_are_in_the_current_file_within_two_seconds(lab):
    before = packets(sorted(PCAPS.glob("*.pcap*")))
    http()
    sent = time.monotonic()
    while packets(sorted(PCAPS.glob("*.pcap*"))) - before < 4 * REQUESTS and time.monotonic() - sent < 2:
        time.sleep(0.1)
    assert packets(sorted(PCAPS.glob("*.pcap*"))) - before >= 4 * REQUESTS
    out = subprocess.run(["tcpdump", "-nn", "-r", str(sorted(PCAPS.glob("*.pcap*"))[-1]), "tcp port 80"],
                         capture_output=True, text=True)
    assert "HTTP: GET /?n=0" in out.stdout or "GET /?n=0" in out.stdout


def test_status_json_reports_the_running_capture(lab, tmp_path):
    out = tmp_path / "status.json"
    playbook(ROOT / "playbooks" / "status.yml", {"mirrorlab_deployment": DEPLOYMENT, "mirrorlab_status_json": str(out)},
             timeout=300)
    status = json.loads(out.read_text())
    target = status["targets"][f"ml-{DEPLOYMENT}-target"]
    (link,) = [link for link in target["links"] if link["name"] == "capture0"]
    files = sorted(PCAPS.glob("*.pcap*"))
    assert link["state"] == "active" and link["files"] == len(files) >= 1
    assert link["tool_drops"] == 0, link["tool_counters"]  # tcpdump's own kernel-drop counter
    # the requests of the test before are in (the file may have grown since)
    assert 24 < link["file_bytes"] <= sum(f.stat().st_size for f in files)
    assert os.path.basename(link["open_file"]) == files[-1].name
    assert any(f"ml-{DEPLOYMENT}-alb/vpc0" in s for s in status["sessions"]), status["sessions"]


def in_target(*cmd):
    """A command in the lab's capture machine (its systemd's namespaces)."""
    machine_dir = f"/var/lib/mirrorlab/ml-{DEPLOYMENT}/machine"
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv[0].endswith(b"systemd-nspawn") and any(machine_dir.encode() in a for a in argv):
            (leader,) = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            return subprocess.run(["nsenter", "-t", leader, "-m", "-u", "-i", "-n", "-p", *cmd],
                                  capture_output=True, text=True)
    raise AssertionError(f"no systemd-nspawn for {machine_dir}")


@pytest.mark.parametrize("unit", ["mirrorlab-capture@capture0.service", "mirrorlab-capture-housekeeping.service"])
def test_both_capture_units_are_sandboxed(lab, unit):
    """systemd-analyze security on the lab target: exposure at most 4.0 ("OK") for each unit."""
    out = in_target("systemd-analyze", "security", "--no-pager", unit)
    found = re.search(r"Overall exposure level for \S+: ([0-9.]+)", out.stdout)
    assert found, out.stdout[-2000:] + out.stderr
    print(f"{unit}: exposure {found.group(1)}")
    assert float(found.group(1)) <= 4.0, out.stdout


def requests_until(proc, seconds=60):
    """One HTTP request every half second while `proc` (a viewer waiting for packets) runs."""
    deadline = time.monotonic() + seconds
    while proc.poll() is None and time.monotonic() < deadline:
        request("watch", max_time=2)
        time.sleep(0.5)


def capture_step_executions(stdout):
    """Remote module executions on the capture machine, from a -vvv run (benchmarks/_remote_count.py)."""
    import sys
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from _remote_count import module_executions, total
    return {host: total(c) for host, c in module_executions(stdout).items() if host != "localhost"}


def test_rerun_repairs_drift_on_the_target_in_few_executions(lab):
    """A target changed behind the role's back is detected and put right by a re-run of site.yml,
    which makes at most 8 remote module executions (issue 12); then a re-run changes nothing."""
    extra = {"mirrorlab_deployment": DEPLOYMENT}
    unit = "/etc/systemd/system/mirrorlab-capture@.service"
    timer = "mirrorlab-capture-housekeeping.timer"
    for cmd in (["ip", "link", "set", "dev", "capture0", "down", "mtu", "1400"],
                ["sh", "-c", f"echo '# edited by hand' >> {unit}"],
                ["chmod", "0644", "/etc/mirrorlab/capture/config.json"],
                ["systemctl", "disable", "--now", timer],
                ["mkdir", "/etc/systemd/system/mirrorlab-capture@capv999.service.d"],  # a link no longer wanted
                ["ip", "link", "add", "capv999", "type", "vxlan", "id", "999", "dstport", "4789", "dev", "vpc0"]):
        assert in_target(*cmd).returncode == 0, cmd
    proc, _ = playbook(ROOT / "site.yml", extra, timeout=600, args=("-vvv",))
    out = " ".join(proc.stdout.split())
    for change in ("link capture0 repaired (MTU 1400, not", f"file {unit} changed",
                   "file /etc/mirrorlab/capture/config.json: owner, group or mode set to root:pcap 0640",
                   "/etc/systemd/system/mirrorlab-capture@capv999.service.d removed", "link capv999 deleted",
                   f"enabled {timer}", f"started {timer}"):
        assert change in out, change
    (executions,) = capture_step_executions(proc.stdout).values()
    assert executions <= 8, executions
    link = in_target("ip", "-d", "link", "show", "dev", "capture0").stdout
    assert ",UP," in link and "mtu 1400" not in link and "vxlan id 12345" in link
    assert "edited by hand" not in in_target("cat", unit).stdout
    assert in_target("stat", "-c", "%a", "/etc/mirrorlab/capture/config.json").stdout.strip() == "640"
    assert in_target("systemctl", "is-enabled", timer).stdout.strip() == "enabled"
    assert in_target("ip", "link", "show", "dev", "capv999").returncode != 0
    assert not in_target("test", "-e", "/etc/systemd/system/mirrorlab-capture@capv999.service.d").returncode == 0

    # A deleted link with its capture stopped: the capture starts again and link-up recreates it.
    assert in_target("systemctl", "stop", "mirrorlab-capture@capture0.service").returncode == 0
    assert in_target("ip", "link", "del", "dev", "capture0").returncode == 0
    proc, _ = playbook(ROOT / "site.yml", extra, timeout=600, args=("-v",))
    assert "started mirrorlab-capture@capture0.service" in " ".join(proc.stdout.split())
    assert in_target("systemctl", "is-active", "mirrorlab-capture@capture0.service").stdout.strip() == "active"
    assert "vxlan id 12345" in in_target("ip", "-d", "link", "show", "dev", "capture0").stdout

    proc, _ = playbook(ROOT / "site.yml", extra, timeout=600)
    target = next(v for host, v in recap_all(proc.stdout).items() if host != "localhost")
    assert target["changed"] == 0, proc.stdout[-3000:]
    http()  # the repaired capture still records (the test after reads its files)


def test_watch_shows_the_mirrored_packets_live(lab):
    """./mirrorlab watch -c N: its first line says what it watches, then tcpdump on the capture
    link inside the machine decodes the requests' packets as they come and ends after N."""
    proc = subprocess.Popen([str(ROOT / "mirrorlab"), "watch", "-c", "6", "--", "-e", f"mirrorlab_deployment={DEPLOYMENT}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killer = threading.Timer(180, proc.kill)
    killer.start()
    try:
        header = proc.stdout.readline()
        requests_until(proc)
        out, err = proc.communicate(timeout=30)
    finally:
        killer.cancel()
    assert proc.returncode == 0, (header, out, err)
    assert header.startswith("watching capture0 (VNI ") and f"ml-{DEPLOYMENT}-alb/vpc0" in header, header
    lines = [line for line in out.splitlines() if " IP " in line]
    assert len(lines) == 6 and all(HTTP_PACKET.search(line) for line in lines), out
    # The ALB's packets (its client leg on port 80 or its backend leg: where tcpdump starts in
    # the stream of requests decides which 6 it sees).
    assert any(f" {ALB}." in line for line in lines), out
    assert "6 packets captured" in err, err


def test_watch_playbook_shows_the_next_packets(lab):
    """playbooks/watch.yml (the installed collection's way): the live command, then the next
    mirrorlab_watch_count packets."""
    proc = subprocess.Popen(["ansible-playbook", str(ROOT / "playbooks" / "watch.yml"), "-e",
                             json.dumps({"mirrorlab_deployment": DEPLOYMENT, "mirrorlab_watch_count": 4})],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    requests_until(proc, 120)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    assert "live (Ctrl-C ends): nsenter -t " in out and "tcpdump -n -l -i capture0" in out, out
    assert len(HTTP_PACKET.findall(out)) == 4, out


def copies(dest):
    """{name: (inode, mtime_ns, size)} of the fetched copies of capture0."""
    folder = dest / f"ml-{DEPLOYMENT}-target" / "capture0"
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns, p.stat().st_size) for p in folder.glob("*.pcap*")}


def fetch(dest):
    proc, _ = playbook(ROOT / "playbooks" / "fetch_captures.yml",
                       {"mirrorlab_deployment": DEPLOYMENT, "mirrorlab_captures_dir": str(dest)}, timeout=300)
    return int(re.search(r"Fetched (\d+) new or grown file", proc.stdout).group(1))


def sources():
    time.sleep(1.5)  # the tool writes each packet out within a second
    return {p.name: p.stat().st_size for p in PCAPS.glob("*.pcap*")}


def test_fetch_copies_everything_then_only_what_is_new_or_grew(lab, tmp_path):
    dest = tmp_path / "captures"
    on_machine = sources()
    assert fetch(dest) == len(on_machine) >= 1
    first = copies(dest)
    assert {name: size for name, (_, _, size) in first.items()} == on_machine
    assert packets(sorted(dest.rglob("*.pcap*"))) == packets(sorted(PCAPS.glob("*.pcap*")))

    # Nothing new: nothing copied, every copy untouched.
    assert sources() == on_machine
    assert fetch(dest) == 0 and copies(dest) == first

    # New requests: exactly the new or grown files are copied again, the others stay as they were.
    http()
    now = sources()
    expected = {name for name, size in now.items() if name not in on_machine or size != on_machine[name]}
    assert expected
    assert fetch(dest) == len(expected)
    second = copies(dest)
    assert {name for name in second if second[name] != first.get(name)} == expected
    assert {name: size for name, (_, _, size) in second.items()} == now


def test_teardown_keeps_the_captures_and_leaves_nothing_else(lab, tmp_path):
    """teardown.yml by default: the machine stopped (the tool closes its file), every pcap copied
    and checked, then everything removed; the copies hold every packet the target had."""
    http()
    on_machine = sources()
    before = packets(sorted(PCAPS.glob("*.pcap*")))
    dest = tmp_path / "kept"
    down, _ = playbook(ROOT / "teardown.yml", {"mirrorlab_deployment": DEPLOYMENT, "mirrorlab_captures_dir": str(dest)},
                       timeout=600)
    kept = sorted((dest / f"ml-{DEPLOYMENT}-target" / "capture0").glob("*.pcap*"))
    assert {p.name for p in kept} == set(on_machine)
    assert packets(kept) == before >= 4 * REQUESTS
    assert f"Kept the captures of ml-{DEPLOYMENT}-target: {before} packets" in down.stdout and str(dest) in down.stdout
    plan = module("lab_plan", {"deployment": DEPLOYMENT})["lab"]
    assert leftovers(DEPLOYMENT, plan["prefix"]) == {}
    assert not PCAPS.exists()
