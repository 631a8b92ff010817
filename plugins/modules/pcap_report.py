#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: mirrorlab developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pcap_report
short_description: Per-connection TLS and HTTP outcomes from mirrored pcap files
version_added: 0.2.0
description:
  - Reads capture files (the mirrored packets of the experiment, from the lab's capture
    machine or fetched from the AWS archive) and reports, per TCP connection, the client and
    server, first and last time, SNI, offered versions and cipher suites, the client's JA3
    (and JA4 when the installed tshark gives it), the negotiated version and cipher, and the
    outcome with who ended the connection.
  - "Outcomes: V(handshake_ok), V(alert) (with the alert's description and sender),
    V(reset), V(incomplete) (no completed handshake before the end, a timeout or the end of
    the capture; C(stage) says how far it got), V(not_tls) (e.g. plain HTTP sent to 443) and
    V(http) (plaintext HTTP on a port not in O(tls_ports), with method, path, status and
    latency). Outcomes that rest on an inference (TLS 1.3 encrypted alerts, truncated
    packets, a capture that started mid-connection) have C(inferred=true) and the reasons."
  - The packets are dissected by tshark (package tshark) and, for more than one file, merged
    by time with mergecap, so a connection split over two files is one connection. The files
    are streamed (finished connections are written out and dropped), memory stays bounded.
  - The source of each file comes from its name and directory (C(<link>/<link>-vni<VNI>-*.pcap),
    as the capture role writes them), the ENI and zone from a C(vni-map.json) next to the files
    (see docs/report.md), and from the VXLAN header when the packets are still encapsulated.
  - Runs where the files are (the controller); reads only, writes only O(json) and O(html).
    In check mode the files are compared with what is there, not written.
author:
  - mirrorlab developers (@mirrorlab)
options:
  paths:
    description: Capture files or directories (searched recursively for C(*.pcap*), C(*.pcapng*), C(*.cap)).
    type: list
    elements: path
    required: true
  json:
    description:
      - 'Write the report as JSON to this file: C({"connections": [...], "summary": {...}}).'
    type: path
  html:
    description: Write one self-contained HTML page (summary, outcomes over time, sortable table) to this file.
    type: path
  tls_ports:
    description: Server ports that speak TLS (tshark decodes them as TLS; plain data there is V(not_tls)).
    type: list
    elements: int
    default: [443]
  server_ports:
    description: Report only connections to these server ports (default all).
    type: list
    elements: int
  idle_timeout:
    description: Seconds of capture time after which an idle connection is closed and reported.
    type: float
    default: 300
  keylog:
    description:
      - An SSLKEYLOGFILE of the clients (NSS key log format). tshark then decrypts TLS 1.3
        and the encrypted alerts become visible.
    type: path
  piece_packets:
    description:
      - A fresh tshark process reads every this many packets. tshark keeps about 7 kB per
        connection it has seen until it exits, so this bounds its memory whatever the size of
        the capture (one tshark process lives at a time). A new piece loses tshark's
        TCP/TLS state of the connections open at that instant (the report keeps its own, see
        docs/report.md).
    type: int
    default: 100000
  rows:
    description: Lines of the connection table in RV(table) (0 = every connection).
    type: int
    default: 100
  failures_only:
    description: Leave the V(handshake_ok) connections out of RV(table).
    type: bool
    default: false
  title:
    description: Title of the HTML page.
    type: str
    default: mirrorlab report
  html_max_rows:
    description: At most this many connections in the HTML table (every one counts in its summary and chart).
    type: int
    default: 20000
requirements:
  - tshark and mergecap (Debian packages tshark and wireshark-common) on the host that runs the module
seealso:
  - module: mirrorlab.vpc.lab_tls_clients
notes:
  - docs/report.md lists which failure reasons TLS 1.2 and TLS 1.3 show in the packets.
"""

EXAMPLES = r"""
- name: Report on the lab's captures
  mirrorlab.vpc.pcap_report:
    paths: [/var/lib/mirrorlab/ml-mirrorlab/machine/root/var/lib/mirrorlab/capture]
    json: /tmp/report.json
    html: /tmp/report.html
  register: report

- name: How the handshakes ended
  ansible.builtin.debug:
    var: report.summary.by_outcome

- name: The fetched AWS archive, failures only, HTTPS on 443 and 8443
  mirrorlab.vpc.pcap_report:
    paths: ["./captures/mirrorlab"]
    tls_ports: [443, 8443]
    failures_only: true
"""

RETURN = r"""
summary:
  description: The summary of every connection.
  returned: always
  type: dict
  contains:
    connections:
      description: Number of connections.
      type: int
      sample: 12
    by_outcome:
      description: Outcome -> number of connections.
      type: dict
      sample: {handshake_ok: 5, alert: 4, incomplete: 2, not_tls: 1}
    by_alert:
      description: Alert description -> number of connections (C(encrypted) when not visible).
      type: dict
      sample: {protocol_version: 2, handshake_failure: 1, unknown_ca: 1}
    by_alert_sender:
      description: C(client) and C(server) -> alert description -> number.
      type: dict
      sample: {server: {protocol_version: 2}, client: {unknown_ca: 1}}
    by_version:
      description: Negotiated version -> number.
      type: dict
      sample: {"TLS 1.3": 4, "TLS 1.2": 1}
    by_stage:
      description: For V(incomplete) and V(reset) connections, the handshake stage reached -> number.
      type: dict
      sample: {tcp: 1, server_flight: 1}
    by_client:
      description: Client address -> outcome -> number (the 100 busiest clients, then C((other))).
      type: dict
      sample: {198.51.100.10: {handshake_ok: 5, alert: 4}}
    by_source:
      description: Source (capture link, VNI, ENI, zone) -> outcome -> number.
      type: dict
      sample: {capture0 vni 12345: {handshake_ok: 5}}
    by_sni:
      description: SNI -> outcome -> number.
      type: dict
      sample: {"www.example.com": {handshake_ok: 5}}
    inferred:
      description: Connections whose outcome is a best inference.
      type: int
      sample: 1
    timeline:
      description: Outcomes per time bucket (C(bucket_seconds), C(buckets)).
      type: dict
      sample: {bucket_seconds: 1.0, buckets: [{start: "2026-12-01T10:00:00.000000Z", counts: {handshake_ok: 3}}]}
    files:
      description: Capture files read.
      type: int
      sample: 3
    packets:
      description: TCP packets read.
      type: int
      sample: 1200
table:
  description: The connection table and the summary as text lines.
  returned: always
  type: list
  elements: str
  sample: ["start         client  ...", "by outcome:", "  handshake_ok         5   41.7%"]
files:
  description: The files written (or, in check mode, that would change) and whether they changed.
  returned: always
  type: dict
  sample: {json: true, html: false}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mirrorlab.vpc.plugins.module_utils.pcap_report import ReportError
from ansible_collections.mirrorlab.vpc.plugins.module_utils.pcap_report_output import run_report


def main():
    module = AnsibleModule(
        argument_spec=dict(
            paths=dict(type="list", elements="path", required=True),
            json=dict(type="path"),
            html=dict(type="path"),
            tls_ports=dict(type="list", elements="int", default=[443]),
            server_ports=dict(type="list", elements="int"),
            idle_timeout=dict(type="float", default=300),
            keylog=dict(type="path", no_log=False),
            rows=dict(type="int", default=100),
            failures_only=dict(type="bool", default=False),
            title=dict(type="str", default="mirrorlab report"),
            html_max_rows=dict(type="int", default=20000),
            piece_packets=dict(type="int", default=100000),
        ),
        supports_check_mode=True,
    )
    p = module.params
    for port in p["tls_ports"] + (p["server_ports"] or []):
        if not 1 <= port <= 65535:
            module.fail_json(msg="tls_ports and server_ports must be TCP ports 1-65535, not {0}".format(port))
    if p["idle_timeout"] <= 0:
        module.fail_json(msg="idle_timeout must be positive")
    if p["piece_packets"] < 1:
        module.fail_json(msg="piece_packets must be a number of packets (1 or more), got {0}".format(p["piece_packets"]))
    for tool in ("tshark", "mergecap"):
        if not module.get_bin_path(tool):
            module.fail_json(msg="{0} is missing: install the Debian packages tshark and wireshark-common".format(tool))
    lines = []
    try:
        summary, changed = run_report(
            p["paths"], lines.append, json_path=p["json"], html_path=p["html"], rows=p["rows"],
            failures_only=p["failures_only"], title=p["title"], html_max_rows=p["html_max_rows"],
            check_mode=module.check_mode, tls_ports=p["tls_ports"], server_ports=p["server_ports"],
            idle_timeout=p["idle_timeout"], keylog=p["keylog"], piece_packets=p["piece_packets"])
    except (ReportError, OSError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=any(changed.values()), summary=summary, table=lines, files=changed)


if __name__ == "__main__":
    main()
