#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the mirrorlab project
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: verify_probe
version_added: 0.4.0
short_description: Send the probe requests of ./mirrorlab verify through the sample service
description:
  - Sends O(requests) HTTP requests with curl to each URL of O(urls), each with a query string
    C(mirrorlab-verify=<nonce>-<n>) that names this probe, optionally inside a network namespace
    (the lab's client), and then waits O(settle) seconds for the mirrored copies to reach the
    capture files.
  - With O(each_address), a URL whose host name has several addresses (an ALB has one per zone)
    is sent to every address (curl C(--resolve)), so that every ALB node, and with it every ALB
    ENI, carries probe traffic.
  - Reports the time window of the probe (epoch seconds, this host's clock) that
    M(mirrorlab.vpc.mirror_verify) looks at, and how many requests were answered.
  - The requests change nothing; the module runs in check mode too.
author:
  - mirrorlab developers (@mirrorlab)
options:
  urls:
    description: The URLs to probe (http or https; https is not verified, the lab's certificate is self-signed).
    type: list
    elements: str
    required: true
  netns:
    description: Run curl in this network namespace (C(ip netns exec)); empty = on this host.
    type: str
    default: ""
  requests:
    description: Requests per URL and address.
    type: int
    default: 5
  timeout:
    description: Seconds each request may take.
    type: int
    default: 5
  settle:
    description: Seconds to wait after the last request before the window closes.
    type: float
    default: 2.0
  each_address:
    description: Send to every address the URL's host name resolves to.
    type: bool
    default: false
  client_address:
    description:
      - The address the probe leaves from as the mirrored ENIs see it (the lab's client); with it
        the result has C(flows), the probe's own connections.
    type: str
    default: ""
attributes:
  check_mode:
    support: full
    description: Sends the probes in check mode too (they change nothing).
"""

EXAMPLES = r"""
- name: Probe the lab's ALB from the client namespace
  mirrorlab.vpc.verify_probe:
    urls: [http://10.0.0.10:80/]
    netns: ml-mirrorlab-client
  register: probe
"""

RETURN = r"""
nonce:
  description: The probe's name in the query strings.
  returned: always
  type: str
  sample: 5f2c1a9e
start:
  description: Epoch seconds just before the first request.
  returned: always
  type: float
end:
  description: Epoch seconds after the settling time.
  returned: always
  type: float
requests:
  description: Requests sent.
  returned: always
  type: int
answered:
  description: Requests that got an HTTP response (any status).
  returned: always
  type: int
statuses:
  description: HTTP status codes seen, with their counts.
  returned: always
  type: dict
  sample: {"200": 10}
urls:
  description: The URLs probed, with the address used when O(each_address) resolved several.
  returned: always
  type: list
  elements: str
error:
  description: The last curl error, empty when every request was answered.
  returned: always
  type: str
flows:
  description:
    - The probe's connections (C(client), C(server), C(port)) to each URL whose host is an
      address, with O(client_address); empty without it.
  returned: always
  type: list
  elements: dict
  sample: [{client: 198.51.100.10, server: 10.0.0.10, port: 80}]
"""

import ipaddress
import socket
import subprocess
import time
import uuid

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.six.moves.urllib.parse import urlsplit


def targets(urls, each_address):
    """[(label, url, curl --resolve argument or None)]: each URL, or each of its addresses."""
    out = []
    for url in urls:
        parts = urlsplit(url)
        if not each_address or not parts.hostname:
            out.append((url, url, None))
            continue
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = sorted(set(info[4][0] for info in socket.getaddrinfo(parts.hostname, port, 0, socket.SOCK_STREAM)))
        for address in addresses:
            out.append(("%s (%s)" % (url, address), url, "%s:%d:%s" % (parts.hostname, port, address)))
    return out


def flows(client_address, urls):
    """The probe's own connections to the URLs whose host is an address."""
    out = []
    for url in urls if client_address else []:
        parts = urlsplit(url)
        try:
            server = str(ipaddress.ip_address(parts.hostname or ""))
        except ValueError:
            continue
        out.append({"client": client_address, "server": server, "port": parts.port or (443 if parts.scheme == "https" else 80)})
    return out


def curl_command(netns, url, resolve, nonce, requests, timeout):
    sep = "&" if "?" in url else "?"
    cmd = ["ip", "netns", "exec", netns] if netns else []
    cmd += ["curl", "--silent", "--show-error", "--insecure", "--max-time", str(timeout), "--output", "/dev/null",
            "--write-out", "%{http_code}\\n"]
    if resolve:
        cmd += ["--resolve", resolve]
    cmd.append("%s%smirrorlab-verify=%s-[1-%d]" % (url, sep, nonce, requests))
    return cmd


def main():
    module = AnsibleModule(
        argument_spec=dict(
            urls=dict(type="list", elements="str", required=True),
            netns=dict(type="str", default=""),
            requests=dict(type="int", default=5),
            timeout=dict(type="int", default=5),
            settle=dict(type="float", default=2.0),
            each_address=dict(type="bool", default=False),
            client_address=dict(type="str", default=""),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if not params["urls"] or params["requests"] < 1 or params["timeout"] < 1 or params["settle"] < 0:
        module.fail_json(msg="urls must not be empty, requests and timeout must be 1 or more, settle 0 or more")
    try:
        probes = targets(params["urls"], params["each_address"])
    except (socket.gaierror, ValueError) as exc:
        module.fail_json(msg="cannot resolve the probe URL: %s" % exc)
    nonce = uuid.uuid4().hex[:8]
    start = time.time()
    statuses, answered, error = {}, 0, ""
    for dummy, url, resolve in probes:
        proc = subprocess.run(curl_command(params["netns"], url, resolve, nonce, params["requests"], params["timeout"]),
                              capture_output=True, text=True, check=False)
        for code in proc.stdout.split():
            if code != "000":
                answered += 1
                statuses[code] = statuses.get(code, 0) + 1
        if proc.stderr.strip():
            error = proc.stderr.strip().splitlines()[-1]
    time.sleep(params["settle"])
    module.exit_json(changed=False, nonce=nonce, start=start, end=time.time(), requests=params["requests"] * len(probes),
                     answered=answered, statuses=statuses, urls=[label for label, dummy, dummy2 in probes], error=error,
                     flows=flows(params["client_address"], params["urls"]))


if __name__ == "__main__":
    main()
