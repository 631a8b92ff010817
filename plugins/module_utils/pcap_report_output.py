# -*- coding: utf-8 -*-

# Copyright: mirrorlab developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The outputs of the pcap report: a terminal table, a JSON file and one self-contained HTML
page. Each is a sink: add(record) for every finished connection (streamed: nothing is kept
but what is written), close(summary) at the end. The files are written to a temporary file
next to the target and moved into place only when complete and different from what is
there (so an unchanged report reports no change)."""

from __future__ import annotations

import filecmp
import json
import os
import tempfile

from ansible_collections.mirrorlab.vpc.plugins.module_utils.pcap_report import OUTCOMES, analyze

HTML_MAX_ROWS = 20000


class _AtomicFile:
    """A text file written to a temporary name and moved over `path` when it differs."""

    def __init__(self, path):
        self.path = os.path.abspath(path)
        directory = os.path.dirname(self.path)
        if not os.path.isdir(directory):
            raise OSError("{0}: the directory does not exist".format(directory))
        fd, self.tmp = tempfile.mkstemp(prefix=".report-", dir=directory)
        self.handle = os.fdopen(fd, "w", encoding="utf-8")

    def write(self, text):
        self.handle.write(text)

    def commit(self, apply=True):
        """Move the file into place (not when `apply` is false: check mode); returns True
        when it differs from what is there."""
        self.handle.close()
        changed = not (os.path.isfile(self.path) and filecmp.cmp(self.tmp, self.path, shallow=False))
        if changed and apply:
            os.chmod(self.tmp, 0o640)
            os.replace(self.tmp, self.path)
        else:
            os.unlink(self.tmp)
        return changed

    def discard(self):
        if not self.handle.closed:
            self.handle.close()
        if os.path.exists(self.tmp):
            os.unlink(self.tmp)


class JsonSink:
    """{"connections": [...], "summary": {...}}, the connections written as they finish."""

    def __init__(self, path):
        self.file = _AtomicFile(path)
        self.file.write('{"connections": [')
        self.count = 0
        self.changed = False

    def add(self, rec):
        self.file.write(("\n  " if self.count == 0 else ",\n  ") + json.dumps(rec, sort_keys=True))
        self.count += 1

    def close(self, summary, apply=True):
        self.file.write("\n],\n\"summary\": " + json.dumps(summary, indent=1, sort_keys=True) + "}\n")
        self.changed = self.file.commit(apply)

    def discard(self):
        self.file.discard()


def _alert_text(rec):
    alert = rec.get("alert")
    if not alert:
        return ""
    return "{0} ({1})".format(alert["description"], alert["sender"])


def _short_time(iso_text):
    return iso_text[11:23] if iso_text else ""


class TableSink:
    """A plain-text table, one line per connection (at most `rows`; 0 = all), then the
    summary tables. Lines go to `write` (print, or a list's append)."""

    COLUMNS = (("start", 12), ("client", 21), ("server", 21), ("sni", 18), ("version", 7),
               ("outcome", 12), ("alert", 30), ("ended_by", 11))

    def __init__(self, write, rows=100, failures_only=False):
        self.write = write
        self.rows = rows
        self.failures_only = failures_only
        self.shown = 0
        self.hidden = 0
        self.inferred_shown = False
        self.header_done = False

    def _line(self, values):
        cells = []
        for (_name, width), value in zip(self.COLUMNS, values):
            text = str(value if value is not None else "")
            cells.append(text[:width].ljust(width) if len(text) <= width else text[:width - 1] + "~")
        return "  ".join(cells).rstrip()

    def add(self, rec):
        if self.failures_only and rec["outcome"] == "handshake_ok":
            return
        if self.rows and self.shown >= self.rows:
            self.hidden += 1
            return
        if not self.header_done:
            self.write(self._line([name for name, _w in self.COLUMNS]))
            self.header_done = True
        note = " *" if rec["inferred"] else ""
        self.inferred_shown = self.inferred_shown or rec["inferred"]
        self.write(self._line([_short_time(rec["start"]), rec["client"], rec["server"], rec["sni"] or "-",
                               (rec["version"] or "-").replace("TLS ", ""), rec["outcome"] + note,
                               _alert_text(rec) or (rec["stage"] if rec["outcome"] in ("incomplete", "reset") else ""),
                               rec["ended_by"]]))
        self.shown += 1

    def close(self, summary, apply=True):
        for line in summary_lines(summary, hidden=self.hidden, inferred_shown=self.inferred_shown):
            self.write(line)


def summary_lines(summary, hidden=0, inferred_shown=False):
    lines = []
    if hidden:
        lines.append("... {0} more connection(s) not shown (--rows 0 shows all; --json/--html keep all)".format(hidden))
    if inferred_shown:
        lines.append("(* = best inference: see the connection's reasons in --json or --html)")
    lines.append("")
    lines.append("{0} connection(s) from {1} file(s), {2} TCP packets, {3} .. {4}".format(
        summary["connections"], summary.get("files", "?"), summary.get("packets", "?"),
        summary.get("first") or "-", summary.get("last") or "-"))
    total = summary["connections"] or 1
    lines.append("by outcome:")
    for outcome in OUTCOMES:
        count = summary["by_outcome"].get(outcome, 0)
        if count:
            lines.append("  {0:<14}{1:>8}  {2:5.1f}%".format(outcome, count, 100.0 * count / total))
    if summary["by_alert"]:
        lines.append("by alert (sender description):")
        for sender, descs in sorted(summary["by_alert_sender"].items()):
            for desc, count in sorted(descs.items(), key=lambda kv: -kv[1]):
                lines.append("  {0:<7}{1:<32}{2:>8}".format(sender, desc, count))
    if summary["by_stage"]:
        lines.append("incomplete/reset by stage reached: " + ", ".join(
            "{0} {1}".format(k, v) for k, v in summary["by_stage"].items()))
    if summary["by_version"]:
        lines.append("negotiated versions: " + ", ".join("{0} {1}".format(k, v) for k, v in summary["by_version"].items()))
    for title, key in (("by source", "by_source"), ("by client (top 10)", "by_client")):
        items = list(summary[key].items())[:10]
        if items:
            lines.append(title + ":")
            for name, counts in items:
                lines.append("  {0:<40} {1}".format(name, ", ".join("{0} {1}".format(k, v) for k, v in counts.items())))
    if summary["inferred"]:
        lines.append("{0} connection(s) with a best-inference outcome".format(summary["inferred"]))
    for warning in summary.get("warnings") or ():
        lines.append("warning: " + warning)
    if summary.get("http_requests"):
        lines.append("plaintext HTTP: {0} request(s), status {1}".format(
            summary["http_requests"], ", ".join("{0}: {1}".format(k, v) for k, v in summary["http_status"].items())))
    return lines


def _script_json(value):
    """JSON safe inside <script> (no </script>, no <!--)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":")).replace("</", "<\\/").replace("<!--", "<\\!--")


def _html_row(rec):
    src = rec.get("source") or {}
    http = rec.get("http") or []
    return {
        "start": (rec["start"] or "").replace("T", " ")[:23], "ms": rec["duration_ms"], "client": rec["client"],
        "server": rec["server"], "sni": rec["sni"], "version": rec["version"], "cipher": rec["cipher"],
        "offered": " ".join(v.replace("TLS ", "") for v in rec["offered_versions"]), "outcome": rec["outcome"], "alert": _alert_text(rec),
        "stage": rec["stage"], "ended": rec["ended_by"], "inferred": rec["inferred"], "reasons": rec["reasons"],
        "ja3": rec["ja3"], "ja4": rec.get("ja4"),
        "http": ["{0} {1} -> {2} ({3} ms)".format(h["method"], h["path"], h["status"], h["latency_ms"]) for h in http],
        "source": " ".join(str(x) for x in (src.get("link"), src.get("vni") and "vni {0}".format(src["vni"]),
                                            src.get("eni")) if x),
    }


class HtmlSink:
    """One self-contained page: inline CSS and JavaScript, the data as JSON in the page; no
    network is needed to open it. At most `max_rows` connections are in the table (all are
    in the summary and the chart)."""

    def __init__(self, path, title="mirrorlab report", max_rows=HTML_MAX_ROWS):
        self.file = _AtomicFile(path)
        self.max_rows = max_rows
        self.count = 0
        self.left_out = 0
        self.changed = False
        self.file.write(HTML_HEAD.replace("@TITLE@", _escape(title)))
        self.file.write('<script id="connections" type="application/json">[')

    def add(self, rec):
        if self.max_rows and self.count >= self.max_rows:
            self.left_out += 1
            return
        self.file.write(("" if self.count == 0 else ",\n") + _script_json(_html_row(rec)))
        self.count += 1

    def close(self, summary, apply=True):
        summary = dict(summary, html_rows=self.count, html_left_out=self.left_out)
        self.file.write(']</script>\n<script id="summary" type="application/json">' + _script_json(summary) + "</script>\n")
        self.file.write(HTML_TAIL)
        self.changed = self.file.commit(apply)

    def discard(self):
        self.file.discard()


def _escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def run_report(paths, write_line, json_path=None, html_path=None, rows=100, failures_only=False,
               title="mirrorlab report", html_max_rows=HTML_MAX_ROWS, check_mode=False, **analyze_args):
    """The whole report: analyze `paths`, stream the table to `write_line` and the records
    to the JSON and HTML files. Returns (summary, {"json": changed, "html": changed}); in
    check mode the files are compared, not written."""
    table = TableSink(write_line, rows=rows, failures_only=failures_only)
    sinks = [table]
    files = {}
    try:
        if json_path:
            files["json"] = JsonSink(json_path)
        if html_path:
            files["html"] = HtmlSink(html_path, title=title, max_rows=html_max_rows)
        sinks.extend(files.values())
        summary = analyze(paths, sinks=sinks, **analyze_args)
    except BaseException:
        for sink in files.values():
            sink.discard()
        raise
    table.close(summary)
    changed = {}
    for name, sink in files.items():
        sink.close(summary, apply=not check_mode)
        changed[name] = sink.changed
    return summary, changed


HTML_HEAD = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>@TITLE@</title>
<style>
:root { --ok:#2e7d32; --alert:#c62828; --reset:#6a1b9a; --incomplete:#ef6c00; --not_tls:#1565c0; --http:#00838f; }
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; margin: 0 0 .3em; } h2 { font-size: 1.1em; margin: 1.2em 0 .4em; }
.meta { color: #666; }
.cards { display: flex; flex-wrap: wrap; gap: .6em; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: .5em .8em; min-width: 7em; }
.card b { display: block; font-size: 1.5em; }
.grid { display: flex; flex-wrap: wrap; gap: 2em; }
table { border-collapse: collapse; }
td, th { padding: 2px 8px; border-bottom: 1px solid #eee; text-align: left; vertical-align: top; }
th { background: #f5f5f5; position: sticky; top: 0; }
#conns th { cursor: pointer; user-select: none; white-space: nowrap; }
#conns th.sorted-asc::after { content: " \25B2"; } #conns th.sorted-desc::after { content: " \25BC"; }
#conns td { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; white-space: nowrap; }
.o { font-weight: 600; }
.o-handshake_ok { color: var(--ok); } .o-alert { color: var(--alert); } .o-reset { color: var(--reset); }
.o-incomplete { color: var(--incomplete); } .o-not_tls { color: var(--not_tls); } .o-http { color: var(--http); }
.inf { color: #999; cursor: help; }
.controls { margin: .5em 0; display: flex; gap: 1em; align-items: center; flex-wrap: wrap; }
.legend span { display: inline-block; margin-right: 1em; } .legend i { display: inline-block; width: .8em; height: .8em; margin-right: .3em; }
svg text { font: 11px system-ui, sans-serif; fill: #444; }
.note { color: #666; font-size: 12px; }
</style>
</head>
<body>
<h1>@TITLE@</h1>
<div class="meta" id="meta"></div>
<h2>Summary</h2>
<div class="cards" id="cards"></div>
<div class="grid" id="tables"></div>
<h2>Outcomes over time</h2>
<div class="legend" id="legend"></div>
<div id="chart"></div>
<h2>Connections</h2>
<div class="controls">
  <label>outcome <select id="f-outcome"><option value="">all</option></select></label>
  <label>search <input id="f-text" type="search" placeholder="client, SNI, alert, ..."></label>
  <span id="count"></span>
  <button id="prev" type="button">&lt; prev</button><span id="page"></span><button id="next" type="button">next &gt;</button>
</div>
<table id="conns"><thead><tr></tr></thead><tbody></tbody></table>
<p class="note">* = best inference (hover for the reasons); TLS 1.3 hides the server's certificate and
every alert sent after the ServerHello; see docs/report.md for what each TLS version shows.</p>
"""

HTML_TAIL = r"""<script>
(function () {
  "use strict";
  var rows = JSON.parse(document.getElementById("connections").textContent);
  var summary = JSON.parse(document.getElementById("summary").textContent);
  var OUTCOMES = ["handshake_ok", "alert", "reset", "incomplete", "not_tls", "http"];
  var COLORS = {handshake_ok: "#2e7d32", alert: "#c62828", reset: "#6a1b9a", incomplete: "#ef6c00", not_tls: "#1565c0", http: "#00838f"};
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in (attrs || {})) { e.setAttribute(k, attrs[k]); }
    if (text !== undefined && text !== null) { e.textContent = text; }
    return e;
  }
  function svg(tag, attrs) {
    var e = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (var k in attrs) { e.setAttribute(k, attrs[k]); }
    return e;
  }
  // meta and cards
  document.getElementById("meta").textContent = summary.connections + " connections from " + summary.files +
    " file(s), " + summary.packets + " TCP packets, " + (summary.first || "-") + " .. " + (summary.last || "-") +
    (summary.html_left_out ? " (table: first " + summary.html_rows + " connections; " + summary.html_left_out + " more in the summary and chart only)" : "");
  var cards = document.getElementById("cards");
  var total = el("div", {"class": "card", "id": "card-total"}); total.appendChild(el("b", {}, String(summary.connections)));
  total.appendChild(document.createTextNode("connections")); cards.appendChild(total);
  OUTCOMES.forEach(function (o) {
    var n = summary.by_outcome[o] || 0; if (!n) { return; }
    var c = el("div", {"class": "card", "id": "card-" + o}); var b = el("b", {"class": "o-" + o}, String(n)); c.appendChild(b);
    c.appendChild(document.createTextNode(o)); cards.appendChild(c);
  });
  function kvTable(title, obj, id) {
    var keys = Object.keys(obj || {}); if (!keys.length) { return; }
    var box = el("div", {"id": id}); box.appendChild(el("h2", {}, title));
    var t = el("table"); keys.slice(0, 15).forEach(function (k) {
      var tr = el("tr"); tr.appendChild(el("td", {}, k));
      var v = obj[k]; tr.appendChild(el("td", {}, typeof v === "object" ? Object.keys(v).map(function (x) { return x + " " + v[x]; }).join(", ") : String(v)));
      t.appendChild(tr);
    });
    box.appendChild(t); document.getElementById("tables").appendChild(box);
  }
  var alerts = {};
  ["server", "client"].forEach(function (s) { var d = (summary.by_alert_sender || {})[s] || {};
  Object.keys(d).forEach(function (k) { alerts[s + ": " + k] = d[k]; }); });
  kvTable("By alert", alerts, "by-alert");
  kvTable("Incomplete/reset: stage reached", summary.by_stage, "by-stage");
  kvTable("Negotiated version", summary.by_version, "by-version");
  kvTable("By source", summary.by_source, "by-source");
  kvTable("By client", summary.by_client, "by-client");
  kvTable("By SNI", summary.by_sni, "by-sni");
  // chart: stacked bars of outcomes per time bucket (inline SVG)
  var legend = document.getElementById("legend");
  OUTCOMES.forEach(function (o) { if (summary.by_outcome[o]) { var s = el("span"); var i = el("i"); i.style.background = COLORS[o]; s.appendChild(i);
  s.appendChild(document.createTextNode(o)); legend.appendChild(s); } });
  var buckets = (summary.timeline || {}).buckets || [];
  var W = 900, H = 220, L = 40, B = 30, T = 10;
  var chart = svg("svg", {width: W, height: H, viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": "outcomes over time", id: "timeline"});
  var max = 1; buckets.forEach(function (b) { var s = 0; for (var k in b.counts) { s += b.counts[k]; } if (s > max) { max = s; } });
  var bw = buckets.length ? (W - L - 10) / buckets.length : 0;
  chart.appendChild(svg("line", {x1: L, y1: H - B, x2: W - 5, y2: H - B, stroke: "#999"}));
  chart.appendChild(svg("line", {x1: L, y1: T, x2: L, y2: H - B, stroke: "#999"}));
  var ymax = svg("text", {x: L - 4, y: T + 8, "text-anchor": "end"}); ymax.textContent = String(max); chart.appendChild(ymax);
  var y0 = svg("text", {x: L - 4, y: H - B, "text-anchor": "end"}); y0.textContent = "0"; chart.appendChild(y0);
  buckets.forEach(function (b, i) {
    var y = H - B;
    OUTCOMES.forEach(function (o) {
      var n = b.counts[o] || 0; if (!n) { return; }
      var h = (H - B - T) * n / max;
      var r = svg("rect", {x: L + i * bw + 0.5, y: y - h, width: Math.max(bw - 1, 1), height: h, fill: COLORS[o], "class": "bar"});
      var tip = svg("title", {}); tip.textContent = b.start + ": " + o + " " + n; r.appendChild(tip);
      chart.appendChild(r); y -= h;
    });
  });
  if (buckets.length) {
    [0, buckets.length - 1].forEach(function (i) {
      var t = svg("text", {x: L + i * bw + (i ? bw : 0), y: H - B + 14, "text-anchor": i ? "end" : "start"});
      t.textContent = buckets[i].start.replace("T", " ").slice(0, 19) + " UTC"; chart.appendChild(t);
    });
    var w = svg("text", {x: (W + L) / 2, y: H - 4, "text-anchor": "middle"}); w.textContent = "bucket: " + summary.timeline.bucket_seconds + " s";
    chart.appendChild(w);
  }
  document.getElementById("chart").appendChild(chart);
  // the connection table: sortable, filterable, paged
  var COLS = [["start", "start"], ["client", "client"], ["server", "server"], ["sni", "SNI"], ["offered", "offered"],
              ["version", "version"], ["cipher", "cipher"], ["outcome", "outcome"], ["alert", "alert"], ["stage", "stage"],
              ["ended", "ended by"], ["ms", "ms"], ["source", "source"], ["http", "HTTP"], ["ja3", "JA3"]];
  var head = document.querySelector("#conns thead tr"), body = document.querySelector("#conns tbody");
  var sortKey = "start", sortDir = 1, page = 0, PAGE = 200, view = rows;
  COLS.forEach(function (c) { var th = el("th", {"data-key": c[0]}, c[1]);
  th.addEventListener("click", function () { if (sortKey === c[0]) { sortDir = -sortDir; } else { sortKey = c[0]; sortDir = 1; } page = 0; render();
  }); head.appendChild(th); });
  var fo = document.getElementById("f-outcome");
  OUTCOMES.forEach(function (o) { if (summary.by_outcome[o]) { fo.appendChild(el("option", {value: o}, o)); } });
  function text(v) { return v === null || v === undefined ? "" : (Array.isArray(v) ? v.join(", ") : String(v)); }
  function cmp(a, b) { var x = a[sortKey], y = b[sortKey]; if (typeof x === "number" && typeof y === "number") { return (x - y) * sortDir;
  } x = text(x); y = text(y); return (x < y ? -1 : x > y ? 1 : 0) * sortDir; }
  function render() {
    var want = fo.value, q = document.getElementById("f-text").value.toLowerCase();
    view = rows.filter(function (r) { return (!want || r.outcome === want) && (!q || JSON.stringify(r).toLowerCase().indexOf(q) >= 0); });
    view.sort(cmp);
    var pages = Math.max(1, Math.ceil(view.length / PAGE)); if (page >= pages) { page = pages - 1; }
    Array.prototype.forEach.call(head.children, function (th) {
      th.className = th.getAttribute("data-key") === sortKey ? (sortDir > 0 ? "sorted-asc" : "sorted-desc") : "";
    });
    while (body.firstChild) { body.removeChild(body.firstChild); }
    view.slice(page * PAGE, (page + 1) * PAGE).forEach(function (r) {
      var tr = el("tr");
      COLS.forEach(function (c) {
        var td = el("td", {}, text(r[c[0]]));
        if (c[0] === "outcome") { td.className = "o o-" + r.outcome;
        if (r.inferred) { var s = el("span", {"class": "inf", title: r.reasons.join("; ")}, " *"); td.appendChild(s); } }
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    document.getElementById("count").textContent = view.length + " of " + rows.length + " connections";
    document.getElementById("page").textContent = " page " + (page + 1) + " / " + pages + " ";
  }
  fo.addEventListener("change", function () { page = 0; render(); });
  document.getElementById("f-text").addEventListener("input", function () { page = 0; render(); });
  document.getElementById("prev").addEventListener("click", function () { if (page > 0) { page--; render(); } });
  document.getElementById("next").addEventListener("click", function () { page++; render(); });
  render();
  document.body.setAttribute("data-ready", "1");
}());
</script>
</body>
</html>
"""
