#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: mirrorlab developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: lab_daemon
short_description: Run a long-lived process inside a network namespace, with a pid file
version_added: 0.1.0
description:
  - Starts a foreground program inside a network namespace (C(ip netns exec)) in its own
    session and process group, detached from Ansible, its output appended to a log file; records
    its PID and kernel start time in a pid file; stops it again by that process group only.
  - A process is taken as ours only when the PID in the pid file is alive and has the start
    time recorded at launch, so a reused PID is never signalled.
  - Idempotent. V(started) leaves a running daemon alone unless its command, namespace or
    O(fingerprint) (for example the checksum of its configuration file) changed, in which case it is
    restarted.
  - Needs root for C(ip netns exec).
author:
  - mirrorlab developers (@mirrorlab)
options:
  name:
    description: The daemon's name; the pid file is C(<state_dir>/<name>.pid), the log C(<state_dir>/<name>.log).
    type: str
    required: true
  state:
    description: V(started), V(stopped) or V(restarted).
    type: str
    choices: [started, stopped, restarted]
    default: started
  netns:
    description: The network namespace to run in. Required with V(started) and V(restarted).
    type: str
  command:
    description: The program and its arguments (not through a shell); it must stay in the foreground.
    type: list
    elements: str
  state_dir:
    description: Directory for the pid file and the log (created, mode 0750).
    type: path
    required: true
  fingerprint:
    description: Any string; when it differs from the running daemon's, the daemon is restarted.
    type: str
    default: ""
  config:
    description:
      - A configuration file the daemon reads, written (atomically, root-owned) before it
        starts when its content differs; its content is part of the fingerprint, so a changed
        configuration restarts the daemon. Saves a separate template task per daemon.
    type: dict
    suboptions:
      path:
        description: Where to write it.
        type: path
        required: true
      content:
        description: The file's content.
        type: str
        required: true
      mode:
        description: Its permissions.
        type: raw
        default: "0640"
  listen_port:
    description:
      - A TCP port the daemon listens on once ready; V(started) waits for it in the daemon's
        namespace (up to O(timeout)) and fails with the log's tail when it does not come up.
    type: int
  timeout:
    description: Seconds to wait for readiness, and after SIGTERM before SIGKILL when stopping.
    type: float
    default: 10
notes:
  - Supports check mode.
seealso:
  - module: mirrorlab.vpc.lab_netns
"""

EXAMPLES = r"""
- name: A web server in a namespace
  mirrorlab.vpc.lab_daemon:
    name: backend-nginx
    netns: ml-demo-backend
    command: [/usr/sbin/nginx, -c, /run/ml-demo/backend-nginx.conf]
    state_dir: /run/ml-demo
    fingerprint: "{{ conf.checksum }}"
    listen_port: 80

- name: A daemon with its configuration (restarted when the configuration changes)
  mirrorlab.vpc.lab_daemon:
    name: alb
    netns: ml-demo-alb
    command: [/usr/sbin/nginx, -c, /run/ml-demo/alb.conf]
    state_dir: /run/ml-demo
    config:
      path: /run/ml-demo/alb.conf
      content: "{{ lookup('ansible.builtin.template', 'nginx.conf.j2') }}"
    listen_port: 80

- name: Stop it (only the process group this module started)
  mirrorlab.vpc.lab_daemon:
    name: backend-nginx
    state_dir: /run/ml-demo
    state: stopped
"""

RETURN = r"""
pid:
  description: The daemon's PID (its process group id too); null when stopped.
  returned: always
  type: int
  sample: 4242
pidfile:
  description: The pid file.
  returned: always
  type: str
  sample: /run/ml-demo/backend-nginx.pid
log:
  description: The daemon's log file (stdout and stderr).
  returned: always
  type: str
  sample: /run/ml-demo/backend-nginx.log
"""

import hashlib
import json
import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mirrorlab.vpc.plugins.module_utils.lab_host import (
    alive,
    in_netns,
    log_tail,
    missing_netns,
    netns_exists,
    read_record,
    remove_files,
    start_time,
    stop_processes,
    write_record,
)

DAEMON_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}


def listening(pid, port):
    """Whether a TCP socket listens on port in pid's network namespace."""
    for table in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{pid}/net/{table}") as handle:
                lines = handle.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                return True
    return False


def stop(record, timeout):
    """End the recorded process group: SIGTERM, then SIGKILL after timeout (workers of the group
    that outlive the leader are killed with it)."""
    stop_processes([record], timeout, group=True)


def spawn(argv, cwd, logfile):
    """Fork and exec argv in a new session (its own process group), detached from us: stdin
    /dev/null, stdout and stderr appended to logfile, no other file descriptors. Returns the PID."""
    log = os.open(logfile, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    pid = os.fork()
    if pid == 0:  # the child: never returns
        try:
            os.setsid()
            os.chdir(cwd)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(log, 1)
            os.dup2(log, 2)
            os.closerange(3, os.sysconf("SC_OPEN_MAX"))
            os.execvpe(argv[0], argv, DAEMON_ENV)
        finally:
            os._exit(127)
    os.close(log)
    return pid


def exited(pid):
    """The exit status of our child pid once it has ended, else None."""
    done, status = os.waitpid(pid, os.WNOHANG)
    return os.waitstatus_to_exitcode(status) if done else None


def start(module, params, pidfile, logfile, fingerprint):
    pid = spawn(in_netns(params["command"], params["netns"]), params["state_dir"], logfile)
    # ip netns exec execs the command: the child's PID is the daemon's PID and group id. Its
    # start time is fixed at the fork (None only when it has already exited: reported below).
    record = {"pid": pid, "start_time": start_time(pid), "netns": params["netns"],
              "command": params["command"], "fingerprint": fingerprint}
    launched = time.monotonic()
    deadline = launched + params["timeout"]
    write_record(pidfile, record)
    while True:
        status = exited(pid)
        if status is not None:
            os.unlink(pidfile)
            module.fail_json(msg=f"{params['name']} exited with status {status} at start",
                             log=logfile, log_tail=log_tail(logfile))
        if params["listen_port"] is None:
            # No readiness probe: a daemon that survives its first half second is up.
            if time.monotonic() - launched >= min(0.5, params["timeout"]):
                return record
        elif listening(pid, params["listen_port"]):
            return record
        if time.monotonic() > deadline:
            stop(record, 2)
            os.unlink(pidfile)
            module.fail_json(msg=f"{params['name']} did not listen on TCP port {params['listen_port']} "
                                 f"within {params['timeout']} s", log=logfile, log_tail=log_tail(logfile))
        time.sleep(0.05)


def write_config(config, check_mode):
    """Write config["content"] to config["path"] unless it already holds it; True if changed."""
    data = config["content"].encode()
    mode = int(str(config["mode"]), 8)
    try:
        with open(config["path"], "rb") as handle:
            same = handle.read() == data
        same = same and (os.stat(config["path"]).st_mode & 0o7777) == mode
    except OSError:
        same = False
    if same or check_mode:
        return not same
    os.makedirs(os.path.dirname(config["path"]), mode=0o750, exist_ok=True)
    tmp = config["path"] + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, config["path"])
    return True


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", choices=["started", "stopped", "restarted"], default="started"),
            netns=dict(type="str"),
            command=dict(type="list", elements="str"),
            state_dir=dict(type="path", required=True),
            fingerprint=dict(type="str", default=""),
            listen_port=dict(type="int"),
            timeout=dict(type="float", default=10),
            config=dict(type="dict", options=dict(
                path=dict(type="path", required=True),
                content=dict(type="str", required=True),
                mode=dict(type="raw", default="0640"),
            )),
        ),
        required_if=[("state", "started", ("netns", "command")), ("state", "restarted", ("netns", "command"))],
        supports_check_mode=True,
    )
    params = module.params
    if "/" in params["name"]:
        module.fail_json(msg=f"name {params['name']!r} must not contain '/'")
    pidfile = os.path.join(params["state_dir"], params["name"] + ".pid")
    logfile = os.path.join(params["state_dir"], params["name"] + ".log")
    record = read_record(pidfile)
    running = alive(record)
    result = dict(changed=False, pid=record["pid"] if running else None, pidfile=pidfile, log=logfile)

    if params["state"] == "stopped":
        if running or record is not None or os.path.exists(pidfile):
            result.update(changed=running or os.path.exists(pidfile), pid=None)
            if not module.check_mode:
                if running:
                    stop(record, params["timeout"])
                remove_files(pidfile)
        module.exit_json(**result)

    if params["netns"] and not netns_exists(params["netns"]):
        if module.check_mode:
            result["changed"] = True
            module.exit_json(**result)
        module.fail_json(msg=missing_netns(params["netns"]))
    config = params["config"]
    fingerprint = hashlib.sha256(json.dumps(
        [params["netns"], params["command"], params["fingerprint"],
         hashlib.sha256(config["content"].encode()).hexdigest() if config else None]).encode()).hexdigest()
    if not module.check_mode:
        os.makedirs(params["state_dir"], mode=0o750, exist_ok=True)
    config_changed = bool(config) and write_config(config, module.check_mode)
    if running and record.get("fingerprint") == fingerprint and params["state"] == "started":
        result["changed"] = config_changed
        module.exit_json(**result)
    result["changed"] = True
    if module.check_mode:
        module.exit_json(**result)
    if running:
        stop(record, params["timeout"])
    record = start(module, params, pidfile, logfile, fingerprint)
    result["pid"] = record["pid"]
    module.exit_json(**result)


if __name__ == "__main__":
    main()
