"""The HTML report opened in a real headless browser (Chromium from Debian's packages): it loads
without console errors, draws the summary, the chart and the table, and sorts; a screenshot
is kept in the test's tmp_path (report.png)."""

import json
import re
import shutil
import subprocess

import pytest

from conftest import ROOT
from ansible_collections.mirrorlab.vpc.plugins.module_utils import pcap_report_output, tls_clients

DATA = ROOT / "tests" / "data" / "report"
CHROMIUM = shutil.which("chromium")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (Debian package chromium)"),
    pytest.mark.skipif(shutil.which("tshark") is None, reason="needs tshark"),
]


def chromium(tmp_path, *args):
    """Headless Chromium with a fresh profile and no network of its own; returns (stdout, stderr)."""
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
           f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    return proc.stdout, proc.stderr


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("html")
    out = tmp / "report.html"
    files = [str(DATA / f"{kind}.pcap") for kind in tls_clients.KINDS] + [str(DATA / "http.pcap"), str(DATA / "split")]
    summary, _ = pcap_report_output.run_report(files, lambda line: None, html_path=str(out), title="mirrorlab test report")
    return out, summary


def test_the_page_loads_without_errors_and_shows_the_summary(page, tmp_path):
    out, summary = page
    dom, log = chromium(tmp_path, "--dump-dom", out.as_uri())
    errors = [line for line in log.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert not errors, errors
    assert 'data-ready="1"' in dom, dom[-2000:]
    total = re.search(r'id="card-total"><b>(\d+)</b>', dom)
    assert total and int(total.group(1)) == summary["connections"]
    for outcome, count in summary["by_outcome"].items():
        assert re.search(rf'id="card-{outcome}"><b class="o-{outcome}">{count}</b>', dom), outcome
    assert dom.count('class="bar"') >= 1                     # the chart's bars
    assert dom.count("<tr>") >= summary["connections"]       # the connection table (and the summary tables)
    assert "server: protocol_version" in dom and "client: unknown_ca" in dom


def test_screenshot(page, tmp_path):
    out, _ = page
    shot = tmp_path / "report.png"
    chromium(tmp_path, "--window-size=1400,1200", f"--screenshot={shot}", out.as_uri())
    assert shot.exists() and shot.stat().st_size > 20000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sorting_by_a_column(page, tmp_path):
    """Clicking a header sorts: the page's own script, driven by a small script added to a copy."""
    out, _ = page
    copy = tmp_path / "sorted.html"
    click = ('<script>document.querySelector(\'#conns th[data-key="outcome"]\').click();'
             'document.body.setAttribute("data-first", document.querySelector("#conns tbody tr td:nth-child(8)").textContent);'
             "</script></body>")
    copy.write_text(out.read_text().replace("</body>", click))
    dom, _log = chromium(tmp_path, "--dump-dom", copy.as_uri())
    first = re.search(r'data-first="([^"]*)"', dom).group(1)
    assert first.startswith("alert"), first  # alphabetically first outcome present
    assert 'class="sorted-asc"' in dom and json.dumps("outcome")[1:-1] in dom
