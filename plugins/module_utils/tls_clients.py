# -*- coding: utf-8 -*-

# Copyright: mirrorlab developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Real TLS clients that fail the ways ALB users meet (the lab's tls_errors traffic profile,
module lab_tls_clients, and the generator of the report's test captures).

Each kind is made by a real client, run inside the client's network namespace: curl and
openssl s_client for the complete handshakes and the refusals, Python's ssl module (OpenSSL)
for the connections cut short. Nothing is crafted by hand. What each kind makes, as seen
from the server and in the mirrored packets, was checked with tshark (tests/unit/test_pcap_report*):

| kind | client | what happens | report outcome |
| --- | --- | --- | --- |
| good | curl -k (TLS 1.3) | full handshake, one GET | handshake_ok |
| good_tls12 | curl -k --tls-max 1.2 | full TLS 1.2 handshake, one GET | handshake_ok |
| old_tls | openssl s_client -tls1 / -tls1_1, SECLEVEL=0 | server alert protocol_version | alert |
| no_cipher | openssl s_client -tls1_2 with RSA key exchange suites only | server alert handshake_failure | alert |
| bad_cert | curl without -k: the self-signed certificate fails verification | client alert unknown_ca | alert |
| silent | TCP connect, nothing sent, close | no ClientHello | incomplete |
| abort | ClientHello, wait for the server's first bytes, close (FIN, no alert) | mid-handshake | incomplete |
| reset | as abort, but closed with a RST (SO_LINGER 0) | mid-handshake | reset |
| plain_http | curl http:// to the TLS port | not TLS | not_tls |
"""

from __future__ import annotations

import json
import subprocess

# kind -> (report outcome, alert description or None, alert sender or None)
KINDS = {
    "good": ("handshake_ok", None, None),
    "good_tls12": ("handshake_ok", None, None),
    "old_tls": ("alert", "protocol_version", "server"),
    "no_cipher": ("alert", "handshake_failure", "server"),
    "bad_cert": ("alert", "unknown_ca", "client"),
    "silent": ("incomplete", None, None),
    "abort": ("incomplete", None, None),
    "reset": ("reset", None, None),
    "plain_http": ("not_tls", None, None),
}

# Cipher suites no ELB TLS 1.2+ policy offers (RSA key exchange): a client offering only
# these meets no cipher in common.
NO_COMMON_CIPHERS = "AES128-SHA256:AES256-SHA256:AES128-SHA:AES256-SHA"

CLIENT = r'''
import json, socket, ssl, struct, subprocess, sys, time

args = json.loads(sys.argv[1])
host, port, sni, counts = args["host"], args["port"], args["sni"], args["counts"]
timeout, silent_seconds = args["timeout"], args["silent_seconds"]
url = "https://{0}:{1}/".format(sni or host, port)
resolve = ["--resolve", "{0}:{1}:{2}".format(sni, port, host)] if sni else []


def run(cmd, stdin=""):
    try:
        proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout + 5)
    except subprocess.TimeoutExpired:
        return 124, "timed out"
    return proc.returncode, (proc.stdout + proc.stderr)[-2000:]


def curl(extra, target=None):
    code, out = run(["curl", "--silent", "--show-error", "--max-time", str(timeout), "--output", "/dev/null",
                     "--write-out", "HTTP %{http_code}\n"] + resolve + extra + [target or url])
    return code, out


def s_client(extra):
    cmd = ["openssl", "s_client", "-connect", "{0}:{1}".format(host, port)]
    if sni:
        cmd += ["-servername", sni]
    return run(cmd + extra, stdin="")


def hello(close_with_reset):
    """Send a real ClientHello (Python's ssl), read the server's first bytes, then close:
    with a FIN (no alert), or with a RST (SO_LINGER 0)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname=sni or None)
    sock = socket.create_connection((host, port), timeout=timeout)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    sock.sendall(outgoing.read())
    data = sock.recv(65536)
    if close_with_reset:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
    return 0, "sent ClientHello, got {0} bytes, closed with {1}".format(len(data), "RST" if close_with_reset else "FIN")


def silent():
    sock = socket.create_connection((host, port), timeout=timeout)
    time.sleep(silent_seconds)
    sock.close()
    return 0, "connected, sent nothing for {0} s, closed".format(silent_seconds)


def one(kind, i):
    if kind == "good":
        code, out = curl(["--insecure"])
        return code == 0 and "HTTP 200" in out, code, out
    if kind == "good_tls12":
        code, out = curl(["--insecure", "--tls-max", "1.2"])
        return code == 0 and "HTTP 200" in out, code, out
    if kind == "old_tls":
        code, out = s_client(["-tls1" if i % 2 == 0 else "-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"])
        return "alert protocol version" in out, code, out
    if kind == "no_cipher":
        code, out = s_client(["-tls1_2", "-cipher", args["no_common_ciphers"]])
        return "alert handshake failure" in out, code, out
    if kind == "bad_cert":
        code, out = curl([])
        return code == 60, code, out
    if kind == "silent":
        code, out = silent()
        return True, code, out
    if kind in ("abort", "reset"):
        code, out = hello(kind == "reset")
        return True, code, out
    if kind == "plain_http":
        code, out = curl([], target="http://{0}:{1}/".format(host, port))
        return "HTTP 400" in out, code, out
    raise SystemExit("unknown kind " + kind)


results = {}
for kind, count in counts.items():
    done = results.setdefault(kind, {"sent": 0, "as_expected": 0, "unexpected": []})
    for i in range(count):
        try:
            ok, code, out = one(kind, i)
        except OSError as exc:
            ok, code, out = False, -1, str(exc)
        done["sent"] += 1
        if ok:
            done["as_expected"] += 1
        elif len(done["unexpected"]) < 3:
            done["unexpected"].append({"exit": code, "output": out.strip()[-600:]})
print(json.dumps(results))
'''


def expected(counts):
    """{outcome: count} and {(sender, description): count} that the counts should give."""
    outcomes, alerts = {}, {}
    for kind, count in counts.items():
        if not count:
            continue
        outcome, desc, sender = KINDS[kind]
        outcomes[outcome] = outcomes.get(outcome, 0) + count
        if desc:
            alerts[(sender, desc)] = alerts.get((sender, desc), 0) + count
    return outcomes, alerts


def run_clients(python, netns, host, port, counts, sni="", timeout=5, silent_seconds=1.0):
    """Run the kinds in `counts` ({kind: n}, in order) from namespace `netns` (None: here)
    against host:port. Returns {kind: {sent, as_expected, unexpected}}."""
    unknown = sorted(set(counts) - set(KINDS))
    if unknown:
        raise ValueError("unknown kinds {0}; known: {1}".format(", ".join(unknown), ", ".join(KINDS)))
    payload = json.dumps({"host": host, "port": int(port), "sni": sni or "", "timeout": timeout,
                          "silent_seconds": silent_seconds, "no_common_ciphers": NO_COMMON_CIPHERS,
                          "counts": {k: int(v) for k, v in counts.items() if int(v) > 0}})
    cmd = [python, "-c", CLIENT, payload]
    if netns:
        cmd = ["ip", "netns", "exec", netns] + cmd
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError("the TLS clients failed ({0}): {1}".format(proc.returncode, proc.stderr.strip()[-2000:]))
    return json.loads(proc.stdout)
