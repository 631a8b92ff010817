"""HTTPS in the lab, real failing TLS clients, and the report on the mirrored packets.

One deployment (`mltls`) for every case, in order: site.yml with mirrorlab_https and the
alb_client filter (and an idempotent re-run), the tls_errors traffic profile with known counts
per kind, then playbooks/report.yml on the capture machine's files: its summary.by_outcome and
alert descriptions must equal what was sent, the good requests must be handshake_ok. Teardown
at the end, whatever happened.
"""

import json
import os
import re
import stat
import subprocess
import time
import uuid

import pytest

from labtools import ROOT, leftovers, module, playbook, recap_all, run

pytestmark = [
    pytest.mark.slow,
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
]

DEPLOYMENT = "mltls"
CLIENT, ALB = "198.51.100.10", "10.0.0.10"
BASE = {"mirrorlab_deployment": DEPLOYMENT, "mirrorlab_https": True, "mirrorlab_filter": {"preset": "alb_client"}}
COUNTS = {"good": 3, "good_tls12": 2, "old_tls": 2, "no_cipher": 2, "bad_cert": 2, "silent": 1, "abort": 1,
          "reset": 1, "plain_http": 1}


@pytest.fixture(scope="module")
def lab():
    state = {}
    yield state
    playbook(ROOT / "teardown.yml", {"mirrorlab_deployment": DEPLOYMENT}, check=False)
    assert leftovers(DEPLOYMENT, module("lab_plan", {"deployment": DEPLOYMENT})["lab"]["prefix"]) == {}


def test_site_with_https(lab):
    proc, _ = playbook(ROOT / "site.yml", BASE, timeout=600)
    out = proc.stdout
    lab["pcaps"] = re.search(r"Pcaps \(host path\): (\S+)", out).group(1)
    assert f"HTTPS: https://{ALB}:443/" in out and "ELBSecurityPolicy-TLS13-1-2-2021-06" in out
    assert f"curl -sk https://{ALB}:443/" in out and "openssl s_client -connect" in out
    key = f"/run/ml-{DEPLOYMENT}/alb-https.key"
    info = os.stat(key)
    assert info.st_uid == 0 and stat.S_IMODE(info.st_mode) == 0o600
    conf = open(f"/run/ml-{DEPLOYMENT}/alb.conf").read()
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in conf and "ECDHE-ECDSA-AES128-GCM-SHA256" in conf
    # the listener answers with the lab's certificate and TLS 1.3
    got = subprocess.run(["ip", "netns", "exec", f"ml-{DEPLOYMENT}-client", "curl", "-sk", "--max-time", "5",
                          "-w", "%{http_code} %{ssl_verify_result}", "-o", "/dev/null", f"https://{ALB}/"],
                         capture_output=True, text=True)
    assert got.stdout.startswith("200"), got


def test_second_site_run_changes_nothing(lab):
    proc, _ = playbook(ROOT / "site.yml", BASE, timeout=600)
    hosts = recap_all(proc.stdout)
    assert hosts and all(v.get("changed", 0) == 0 and v.get("failed", 0) == 0 for v in hosts.values()), hosts


def test_tls_errors_profile_and_the_report(lab, tmp_path):
    extra = dict(BASE, lab_traffic_profile="tls_errors", lab_traffic_tls_silent_seconds=0.5,
                 **{f"lab_traffic_tls_{kind}": n for kind, n in COUNTS.items()})
    proc, _ = playbook(ROOT / "playbooks" / "lab_traffic.yml", extra, timeout=300)
    assert "The report should find" in proc.stdout
    # the capture tool buffers its output: plain HTTP (port 80, also mirrored by alb_client)
    # pushes the TLS connections out, until its marker is in the files
    marker = f"/flush-{uuid.uuid4().hex[:8]}"
    deadline = time.monotonic() + 60
    while True:
        for i in range(20):
            subprocess.run(["ip", "netns", "exec", f"ml-{DEPLOYMENT}-client", "curl", "-s", "-o", "/dev/null",
                            "--max-time", "5", f"http://{ALB}{marker}?{i}"], check=False)
        seen = run(["bash", "-c", f"for f in $(find {lab['pcaps']} -name '*.pcap*'); do tshark -r $f -Y http "
                                  f"-T fields -e http.request.uri 2>/dev/null; done"], check=False).stdout
        if marker in seen or time.monotonic() > deadline:
            break
    assert marker in seen, "the flush marker never reached the pcaps"

    out_json, out_html = tmp_path / "report.json", tmp_path / "report.html"
    proc, _ = playbook(ROOT / "playbooks" / "report.yml",
                       {"mirrorlab_deployment": DEPLOYMENT, "report_json": str(out_json), "report_html": str(out_html),
                        "report_server_ports": [443], "report_rows": 0}, timeout=300)
    report = json.loads(out_json.read_text())
    summary, conns = report["summary"], report["connections"]
    from ansible_collections.mirrorlab.vpc.plugins.module_utils import tls_clients
    outcomes, alerts = tls_clients.expected(COUNTS)
    outcomes["handshake_ok"] += 1  # test_site_with_https's own curl -k
    assert summary["by_outcome"] == outcomes, json.dumps(summary["by_outcome"])
    got = {(s, d): n for s, descs in summary["by_alert_sender"].items() for d, n in descs.items()}
    assert got == alerts
    assert summary["by_alert"] == {"protocol_version": 2, "handshake_failure": 2, "unknown_ca": 2}
    ok = [c for c in conns if c["outcome"] == "handshake_ok"]
    assert len(ok) == COUNTS["good"] + COUNTS["good_tls12"] + 1
    assert sorted(c["version"] for c in ok) == ["TLS 1.2"] * 2 + ["TLS 1.3"] * 4
    assert sum(c["sni"] == f"alb.{DEPLOYMENT}.lab.mirrorlab.invalid" for c in ok) == 5  # the curl -k sent none
    assert all(c["client"].startswith(CLIENT + ":") and c["server"] == f"{ALB}:443" for c in conns)
    assert all(c["source"]["link"] == "capture0" and c["source"]["vni"] == 12345 for c in conns)
    assert "handshake_ok" in proc.stdout and "protocol_version" in proc.stdout  # the table, printed
    assert out_html.read_text().startswith("<!DOCTYPE html>")
    # the checkout's front door on the same files gives the same summary
    cli = subprocess.run([str(ROOT / "mirrorlab"), "report", lab["pcaps"], "--server-port", "443", "--summary-json"],
                         capture_output=True, text=True, check=True)
    assert json.loads(cli.stdout)["by_outcome"] == outcomes
