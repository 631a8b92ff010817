"""Helpers for the lab tests: run modules and playbooks, and list what a lab left behind."""

import json
import os
import re
import subprocess

from conftest import ROOT, ansible_env, run


def module(name, args, check=False, expect_failure=False):
    """Run one mirrorlab.vpc module on localhost; return its result dict."""
    env = ansible_env(ANSIBLE_LOAD_CALLBACK_PLUGINS=1, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
    cmd = ["ansible", "localhost", "-m", f"mirrorlab.vpc.{name}", "-a", json.dumps(args)]
    if check:
        cmd.append("--check")
    proc = run(cmd, env=env, check=False)
    result = json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    if expect_failure:
        assert result.get("failed"), result
    else:
        assert proc.returncode == 0 and not result.get("failed"), result
    return result


# The entry playbooks print no warning in a run that succeeds (issue 10: zero warnings).
ENTRY_PLAYBOOKS = ("site.yml", "teardown.yml")
WARNING_MARKS = ("[WARNING]", "[DEPRECATION WARNING]")


def warnings_of(proc):
    """The warning lines of an ansible-playbook run (stdout and stderr)."""
    return [line for line in (proc.stdout + proc.stderr).splitlines() if any(m in line for m in WARNING_MARKS)]


def playbook(path, extra_vars, *, check=True, timeout=900, args=()):
    """Run ansible-playbook with JSON extra vars; return (proc, {recap field: value}). A
    successful site.yml or teardown.yml must not print any warning."""
    cmd = ["ansible-playbook", str(path), "-e", json.dumps(extra_vars), *args]
    proc = run(cmd, check=check, timeout=timeout)
    if proc.returncode == 0 and os.path.basename(str(path)) in ENTRY_PLAYBOOKS:
        assert not warnings_of(proc), f"{path} printed warnings: {warnings_of(proc)}"
    recap = {}
    for line in proc.stdout.splitlines():
        if line.startswith("localhost ") and "ok=" in line:
            recap = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)}
    return proc, recap


def recap_all(stdout):
    """{host: {field: value}} of every host in the PLAY RECAP."""
    hosts = {}
    recap = stdout[stdout.rfind("PLAY RECAP"):]
    for line in recap.splitlines()[1:]:
        if "ok=" in line:
            host = line.split()[0]
            hosts[host] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)}
    return hosts


def netns_names():
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def leftovers(deployment, prefix):
    """Everything of the deployment's lab still on the host (empty lists when clean)."""
    ours = f"ml-{deployment}"
    left = {"namespaces": [n for n in netns_names() if n.startswith(ours + "-")]}
    links = json.loads(subprocess.run(["ip", "-j", "link", "show"], capture_output=True, text=True,
                                      check=True).stdout)
    left["root_links"] = [link["ifname"] for link in links if link["ifname"].startswith(prefix)]
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, check=True).stdout
    table_prefix = "ml_" + deployment.replace("-", "_")
    left["root_nft_tables"] = [t for t in tables.splitlines() if table_prefix in t]
    with open("/proc/self/mountinfo") as handle:
        left["mounts"] = [line.split()[4] for line in handle if ours in line]
    procs = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                cmdline = handle.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if ours in cmdline and "pytest" not in cmdline and "ansible" not in cmdline:
            procs.append(f"{pid} {cmdline.strip()}")
    left["processes"] = procs
    left["dirs"] = [d for d in (f"/run/{ours}", f"/var/lib/mirrorlab/{ours}") if os.path.exists(d)]
    return {k: v for k, v in left.items() if v}


__all__ = ["ROOT", "module", "playbook", "recap_all", "netns_names", "leftovers"]
