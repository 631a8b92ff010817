"""Your captures at hand, in the lab: packets in the current file within about a second
(tcpdump -U). One deployment (`mlcape`); the pcaps are read with capinfos/tcpdump, not the
project's code; then playbooks/status.yml (./mirrorlab status --json) on the same machine.
(watch and the lab fetch: not yet verified by a test.)"""

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from labtools import ROOT, playbook

pytestmark = [
    pytest.mark.slow,
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
]

DEPLOYMENT = "mlcape"
ALB = "10.0.0.10"
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
    # the requests of the test before are in (the file may have grown since)
    assert 24 < link["file_bytes"] <= sum(f.stat().st_size for f in files)
    assert os.path.basename(link["open_file"]) == files[-1].name
    assert any(f"ml-{DEPLOYMENT}-alb/vpc0" in s for s in status["sessions"]), status["sessions"]
