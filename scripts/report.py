#!/usr/bin/env python3
"""./mirrorlab report: per-connection TLS/HTTP outcomes from pcap files (docs/report.md).

    ./mirrorlab report [PCAP files or directories] [--json FILE] [--html FILE] [options]

With files or directories, the report runs here on them (the same code as the module
mirrorlab.vpc.pcap_report). Without any, playbooks/report.yml finds the deployment's
captures (the lab's capture machine, or ./captures/<deployment> fetched from AWS with
-i inventories/aws) and runs the module there; other arguments (-i, -e, ...) are passed on
to ansible-playbook.
"""

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, ".collections"))

from ansible_collections.mirrorlab.vpc.plugins.module_utils.pcap_report import (  # noqa: E402
    DEFAULT_IDLE_TIMEOUT, DEFAULT_PIECE_PACKETS, ReportError)
from ansible_collections.mirrorlab.vpc.plugins.module_utils.pcap_report_output import run_report  # noqa: E402


def parse(argv):
    parser = argparse.ArgumentParser(prog="./mirrorlab report", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="Without PATH: ansible-playbook playbooks/report.yml "
                                            "(unknown arguments such as -i inventories/aws or -e ... go to it).")
    parser.add_argument("paths", nargs="*", metavar="PATH", help="capture files or directories")
    parser.add_argument("--json", metavar="FILE", help="write {connections: [...], summary: {...}} to FILE")
    parser.add_argument("--html", metavar="FILE", help="write a self-contained HTML page to FILE")
    parser.add_argument("--rows", type=int, default=100, help="table lines (0 = all; default 100)")
    parser.add_argument("--failures", action="store_true", help="leave handshake_ok connections out of the table")
    parser.add_argument("--tls-port", type=int, action="append", dest="tls_ports", metavar="PORT",
                        help="a port that speaks TLS (repeatable; default 443)")
    parser.add_argument("--server-port", type=int, action="append", dest="server_ports", metavar="PORT",
                        help="only connections to this server port (repeatable)")
    parser.add_argument("--idle-timeout", type=float, default=DEFAULT_IDLE_TIMEOUT, metavar="SECONDS",
                        help="capture-time seconds after which an idle connection is reported (default %(default)s)")
    parser.add_argument("--piece-packets", type=int, default=DEFAULT_PIECE_PACKETS, metavar="PACKETS",
                        help="a fresh tshark reads every PACKETS packets, bounding its memory "
                             "(default %(default)s)")
    parser.add_argument("--keylog", metavar="FILE", help="SSLKEYLOGFILE of the clients: tshark decrypts, alerts show")
    parser.add_argument("--title", default="mirrorlab report", help="title of the HTML page")
    parser.add_argument("--summary-json", action="store_true", help="print the summary as JSON instead of the table")
    return parser.parse_known_args(argv)


def via_playbook(args, extra):
    cmd = ["ansible-playbook", os.path.join(ROOT, "playbooks", "report.yml")]
    variables = {"report_rows": args.rows, "report_failures_only": args.failures,
                 "report_idle_timeout": args.idle_timeout}
    if args.title != "mirrorlab report":
        variables["report_title"] = args.title
    for key, value in (("report_json", args.json), ("report_html", args.html), ("report_keylog", args.keylog)):
        if value:
            variables[key] = os.path.abspath(value)
    if args.tls_ports:
        variables["report_tls_ports"] = args.tls_ports
    if args.server_ports:
        variables["report_server_ports"] = args.server_ports
    return subprocess.call(cmd + ["-e", json.dumps(variables)] + extra)


def main(argv=None):
    args, extra = parse(sys.argv[1:] if argv is None else argv)
    if not args.paths:
        return via_playbook(args, extra)
    if extra:
        print("unknown arguments: {0}".format(" ".join(extra)), file=sys.stderr)
        return 2
    try:
        summary, _changed = run_report(
            args.paths, (lambda line: None) if args.summary_json else print, json_path=args.json,
            html_path=args.html, rows=args.rows, failures_only=args.failures, title=args.title,
            tls_ports=args.tls_ports or [443], server_ports=args.server_ports,
            idle_timeout=args.idle_timeout, keylog=args.keylog, piece_packets=max(1, args.piece_packets))
    except (ReportError, OSError) as exc:
        print("report: {0}".format(exc), file=sys.stderr)
        return 1
    if args.summary_json:
        print(json.dumps(summary, indent=1, sort_keys=True))
    for what, path in (("JSON", args.json), ("HTML", args.html)):
        if path:
            print("{0}: {1}".format(what, os.path.abspath(path)), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
