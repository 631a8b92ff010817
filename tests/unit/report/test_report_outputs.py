"""The report's outputs (table, JSON, HTML), the module (check mode, changed) and the CLI."""

import json
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT, module_main
from ansible_collections.mirrorlab.vpc.plugins.module_utils import pcap_report_output, tls_clients
from ansible_collections.mirrorlab.vpc.plugins.modules import pcap_report as pcap_report_module

DATA = ROOT / "tests" / "data" / "report"
KIND_FILES = [str(DATA / f"{kind}.pcap") for kind in tls_clients.KINDS]

pytestmark = pytest.mark.skipif(shutil.which("tshark") is None, reason="needs tshark")


def test_json_has_the_connections_and_the_summary(tmp_path):
    out = tmp_path / "r.json"
    lines = []
    summary, changed = pcap_report_output.run_report(KIND_FILES, lines.append, json_path=str(out))
    data = json.loads(out.read_text())
    assert changed == {"json": True}
    assert data["summary"]["by_outcome"] == summary["by_outcome"]
    assert len(data["connections"]) == summary["connections"] == 10
    for rec in data["connections"]:
        assert {"client", "server", "sni", "outcome", "alert", "version", "cipher", "offered_versions"} <= set(rec)
    assert oct(out.stat().st_mode & 0o777) == "0o640"
    # the same input again: nothing changes
    _s, again = pcap_report_output.run_report(KIND_FILES, lines.append, json_path=str(out))
    assert again == {"json": False}


def test_table_lists_connections_then_the_summary():
    lines = []
    pcap_report_output.run_report(KIND_FILES, lines.append, rows=3)
    assert lines[0].split()[:4] == ["start", "client", "server", "sni"]
    assert len([line for line in lines if "198.51.100.10:" in line]) == 3
    text = "\n".join(lines)
    assert "... 7 more connection(s) not shown" in text
    assert "protocol_version" in text and "by outcome:" in text
    failures = []
    pcap_report_output.run_report(KIND_FILES, failures.append, rows=0, failures_only=True)
    rows = [line for line in failures if line[:2].isdigit() and "198.51.100.10:" in line]
    assert len(rows) == 8 and not [line for line in rows if "handshake_ok" in line]


def test_html_is_one_self_contained_page(tmp_path):
    out = tmp_path / "r.html"
    pcap_report_output.run_report(KIND_FILES, lambda line: None, html_path=str(out), title="t <&>")
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and "<title>t &lt;&amp;&gt;</title>" in page
    for external in ("<link", " src=", "@import", "url(", "https://", "//cdn"):
        assert external not in page, external
    rows = json.loads(page.split('<script id="connections" type="application/json">')[1].split("</script>")[0])
    assert len(rows) == 10 and {r["outcome"] for r in rows} >= {"handshake_ok", "alert", "reset", "not_tls"}


def test_html_table_is_capped_but_the_summary_counts_everything(tmp_path):
    out = tmp_path / "r.html"
    pcap_report_output.run_report(KIND_FILES, lambda line: None, html_path=str(out), html_max_rows=4)
    page = out.read_text()
    summary = json.loads(page.split('<script id="summary" type="application/json">')[1].split("</script>")[0])
    assert summary["html_rows"] == 4 and summary["html_left_out"] == 6 and summary["connections"] == 10


def test_module_check_mode_writes_nothing(tmp_path, capsys):
    out = tmp_path / "r.json"
    code, result = module_main(pcap_report_module.main, {"paths": [str(DATA / "good.pcap")], "json": str(out),
                                                         "_ansible_check_mode": True}, capsys)
    assert code == 0 and result["changed"] is True and not out.exists()
    assert result["summary"]["by_outcome"] == {"handshake_ok": 1}
    code, result = module_main(pcap_report_module.main, {"paths": [str(DATA / "good.pcap")], "json": str(out)}, capsys)
    assert code == 0 and result["changed"] is True and out.exists()
    code, result = module_main(pcap_report_module.main, {"paths": [str(DATA / "good.pcap")], "json": str(out)}, capsys)
    assert result["changed"] is False and result["files"] == {"json": False}


def test_module_refuses_bad_input(tmp_path, capsys):
    code, result = module_main(pcap_report_module.main, {"paths": [str(tmp_path / "none")]}, capsys)
    assert code == 1 and "no such file or directory" in result["msg"]
    code, result = module_main(pcap_report_module.main, {"paths": [str(DATA)], "tls_ports": [0]}, capsys)
    assert code == 1 and "tls_ports" in result["msg"]
    code, result = module_main(pcap_report_module.main, {"paths": [str(DATA)], "json": str(tmp_path / "no" / "x.json")},
                               capsys)
    assert code == 1 and "directory does not exist" in result["msg"]


def test_cli_on_files_and_directories(tmp_path):
    out = tmp_path / "r.json"
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "report.py"), str(DATA / "split"), str(DATA / "http.pcap"),
                           "--json", str(out), "--server-port", "443"], capture_output=True, text=True, check=True)
    assert "1 connection(s) from 3 file(s)" in proc.stdout
    assert json.loads(out.read_text())["summary"]["by_outcome"] == {"handshake_ok": 1}
    bad = subprocess.run([sys.executable, str(ROOT / "scripts" / "report.py"), str(tmp_path / "nothing")],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and "no such file or directory" in bad.stderr
