#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: mirrorlab developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: lab_tls_clients
short_description: Real TLS clients that fail the ways ALB users meet, from a lab namespace
version_added: 0.2.0
description:
  - Runs real clients (curl, openssl s_client, Python's ssl) inside a network namespace
    against an HTTPS listener, a given number of times per kind, and checks that each client
    saw what its kind is meant to make. The lab's C(tls_errors) traffic profile
    (C(playbooks/lab_traffic.yml -e lab_traffic_profile=tls_errors)).
  - "Kinds: V(good) (curl, TLS 1.3), V(good_tls12) (curl, TLS 1.2), V(old_tls) (openssl
    s_client offering only TLS 1.0 or 1.1: the server's protocol_version alert), V(no_cipher)
    (only RSA key exchange suites: the server's handshake_failure alert), V(bad_cert) (curl
    verifying the self-signed certificate: the client's unknown_ca alert), V(silent) (TCP
    opened, nothing sent), V(abort) (ClientHello, then a FIN mid-handshake), V(reset)
    (ClientHello, then a RST), V(plain_http) (plain HTTP sent to the TLS port)."
  - Returns what the report (M(mirrorlab.vpc.pcap_report)) should find for these counts.
  - In check mode nothing is sent.
author:
  - mirrorlab developers (@mirrorlab)
options:
  netns:
    description: The client's network namespace (C(ip netns exec)); empty runs the clients here.
    type: str
    default: ""
  host:
    description: The server's address.
    type: str
    required: true
  port:
    description: The server's TLS port.
    type: int
    default: 443
  sni:
    description: A server name to send (SNI, and curl's URL host); empty sends none.
    type: str
    default: ""
  counts:
    description: Kind -> number of connections, run in this order.
    type: dict
    required: true
  timeout:
    description: Seconds each client may take.
    type: int
    default: 5
  silent_seconds:
    description: How long a V(silent) client keeps its connection open before closing it.
    type: float
    default: 1.0
  fail_on_unexpected:
    description: Fail when a client did not see what its kind is meant to make.
    type: bool
    default: true
requirements:
  - curl, openssl and ip (iproute2) on the host
seealso:
  - module: mirrorlab.vpc.pcap_report
"""

EXAMPLES = r"""
- name: Failing TLS clients against the lab ALB
  mirrorlab.vpc.lab_tls_clients:
    netns: ml-mirrorlab-client
    host: 10.0.0.10
    counts: {good: 3, old_tls: 2, no_cipher: 1, bad_cert: 1, silent: 1, abort: 1, reset: 1, plain_http: 1}
  register: tls_clients

- name: What the report should say
  ansible.builtin.debug:
    var: tls_clients.expected
"""

RETURN = r"""
results:
  description: Per kind, the connections made, how many went as expected, and up to 3 unexpected client outputs.
  returned: when not in check mode
  type: dict
  sample: {old_tls: {sent: 2, as_expected: 2, unexpected: []}}
sent:
  description: Kind -> connections made.
  returned: when not in check mode
  type: dict
  sample: {good: 3, old_tls: 2}
expected:
  description: What the report should find for these counts.
  returned: always
  type: dict
  contains:
    by_outcome:
      description: Outcome -> connections.
      type: dict
      sample: {handshake_ok: 3, alert: 4, incomplete: 2, reset: 1, not_tls: 1}
    by_alert_sender:
      description: Sender -> alert description -> connections.
      type: dict
      sample: {server: {protocol_version: 2, handshake_failure: 1}, client: {unknown_ca: 1}}
"""

import sys

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mirrorlab.vpc.plugins.module_utils.tls_clients import KINDS, expected, run_clients


def main():
    module = AnsibleModule(
        argument_spec=dict(
            netns=dict(type="str", default=""),
            host=dict(type="str", required=True),
            port=dict(type="int", default=443),
            sni=dict(type="str", default=""),
            counts=dict(type="dict", required=True),
            timeout=dict(type="int", default=5),
            silent_seconds=dict(type="float", default=1.0),
            fail_on_unexpected=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    p = module.params
    counts = {}
    for kind, count in p["counts"].items():
        if kind not in KINDS:
            module.fail_json(msg="counts: unknown kind {0}; the kinds are {1}".format(kind, ", ".join(KINDS)))
        try:
            counts[kind] = int(count)
        except (TypeError, ValueError):
            module.fail_json(msg="counts: {0} must be a whole number, not {1!r}".format(kind, count))
        if counts[kind] < 0:
            module.fail_json(msg="counts: {0} must not be negative".format(kind))
    outcomes, alerts = expected(counts)
    by_sender = {}
    for (sender, desc), count in alerts.items():
        by_sender.setdefault(sender, {})[desc] = count
    result = dict(changed=bool(sum(counts.values())), expected=dict(by_outcome=outcomes, by_alert_sender=by_sender))
    if module.check_mode:
        module.exit_json(**result)
    for tool in ("curl", "openssl") + (("ip",) if p["netns"] else ()):
        if not module.get_bin_path(tool):
            module.fail_json(msg="{0} is missing on this host".format(tool))
    try:
        results = run_clients(sys.executable, p["netns"] or None, p["host"], p["port"], counts, sni=p["sni"],
                              timeout=p["timeout"], silent_seconds=p["silent_seconds"])
    except (RuntimeError, ValueError) as exc:
        module.fail_json(msg=str(exc), **result)
    result["results"] = results
    result["sent"] = {kind: res["sent"] for kind, res in results.items()}
    wrong = sorted(kind for kind, res in results.items() if res["as_expected"] != res["sent"])
    if wrong and p["fail_on_unexpected"]:
        module.fail_json(msg="clients that did not see what their kind makes: {0}".format(", ".join(wrong)), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
