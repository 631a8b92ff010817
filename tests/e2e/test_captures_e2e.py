"""Your captures at hand, in the lab: packets in the current file within about a second,
`./mirrorlab status --json`, `./mirrorlab watch`, `./mirrorlab fetch` (incremental) and a
teardown that keeps the pcaps. One deployment (`mlcape`) shared by the cases, in order; the
pcaps are read with capinfos/tcpdump, not the project's code."""

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from conftest import ansible_env, run
from labtools import ROOT, leftovers, module, playbook

pytestmark = [
    pytest.mark.slow,
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
]

DEPLOYMENT = "mlcape"
MACHINE = f"ml-{DEPLOYMENT}-target"
ALB = "10.0.0.10"
DEP = ["-e", f"mirrorlab_deployment={DEPLOYMENT}"]
PCAPS = Path(f"/var/lib/mirrorlab/ml-{DEPLOYMENT}/machine/root/var/lib/mirrorlab/capture/capture0")
REQUESTS = 3


def http(count=REQUESTS):
    for i in range(count):
        out = subprocess.run(["ip", "netns", "exec", f"ml-{DEPLOYMENT}-client", "curl", "-sf", "--max-time", "5",
                              f"http://{ALB}/?n={i}"], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr


def packets(paths):
    """Packets in the files, by capinfos (a file being written may end mid-packet: -c still counts)."""
    total = 0
    for path in paths:
        out = subprocess.run(["capinfos", "-M", "-c", "-T", "-r", str(path)], capture_output=True, text=True)
        total += int(out.stdout.split()[-1]) if out.stdout.strip() else 0
    return total


def front(*args, timeout=300):
    return run([str(ROOT / "mirrorlab"), *args], env=ansible_env(), timeout=timeout)


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


def test_status_json_shows_the_unit_files_and_no_drops(lab):
    data = json.loads(front("status", "--json", *DEP).stdout)
    (target,) = data["targets"].values()
    (link,) = target["links"]
    assert (link["name"], link["vni"], link["state"]) == ("capture0", 12345, "active")
    assert link["files"] >= 1 and link["file_bytes"] > 24 and link["newest_age_seconds"] < 60
    assert link["tool_drops"] == 0 and link["counters"]["rx_dropped"] == 0
    assert link["open_file"] and link["open_file"].startswith("/var/lib/mirrorlab/capture/capture0/")
    assert any("mirrored:" in s for s in data["sessions"])


def test_watch_shows_the_packets_as_they_arrive(lab):
    proc = subprocess.Popen([str(ROOT / "mirrorlab"), "watch", "-c", str(4 * REQUESTS), "--", *DEP],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ansible_env())
    try:
        header = proc.stdout.readline()
        assert header.startswith("watching capture0 (VNI 12345)"), header + proc.stderr.read()
        time.sleep(1)  # tcpdump attaches
        http()
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    lines = [line for line in out.splitlines() if " IP " in line]
    assert len(lines) == 4 * REQUESTS and any(f"> {ALB}.80:" in line for line in lines)


def test_fetch_copies_then_only_what_is_new_and_teardown_keeps_the_rest(lab):
    kept = Path(os.environ["MIRRORLAB_CAPTURES_ROOT"]) / DEPLOYMENT / MACHINE / "capture0"
    first = front("fetch", *DEP)
    assert "Fetched" in first.stdout and sorted(p.name for p in kept.iterdir()) == sorted(p.name for p in PCAPS.glob("*.pcap*"))
    closed = {p.name: p.stat().st_mtime_ns for p in kept.iterdir()}
    http()
    second = front("fetch", *DEP)
    assert "Fetched 1 new or grown file(s)" in second.stdout, second.stdout
    assert all(p.stat().st_mtime_ns == closed[p.name] for p in kept.iterdir() if p.name in closed
               and p.name != sorted(closed)[-1])
    on_target = packets(sorted(PCAPS.glob("*.pcap*")))

    down, _ = playbook(ROOT / "teardown.yml", {"mirrorlab_deployment": DEPLOYMENT})
    assert "Kept the captures: " in down.stdout and str(kept.parent) in down.stdout
    assert packets(sorted(kept.iterdir())) == on_target
    assert not list(kept.glob("*.part"))
    assert leftovers(DEPLOYMENT, module("lab_plan", {"deployment": DEPLOYMENT})["lab"]["prefix"]) == {}
