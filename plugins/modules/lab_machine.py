#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the mirrorlab.vpc collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: lab_machine
short_description: Boot, stop and remove a systemd-nspawn machine in a network namespace
version_added: 0.1.0
description:
  - Runs a lab machine (real systemd as PID 1) with C(systemd-nspawn -b) in an existing network
    namespace, on an overlay of a read-only root file system (see M(mirrorlab.vpc.lab_rootfs)),
    so the machine's own changes persist across restarts and reboots until it is removed.
  - The host's PID 1 need not be systemd. The machine is kept by a small supervisor process of
    its own that starts C(systemd-nspawn) again when the machine reboots (nspawn exits with
    status 133) and stops when it powers off.
  - Returns the PID of the machine's systemd, which is what C(community.docker.nsenter) needs
    as C(ansible_nsenter_pid). The PID changes when the machine reboots; call the module again
    with O(state=started) to read the new one.
  - Only processes whose PIDs this module recorded, and whose command line names the machine,
    are ever signalled (and only while they keep the kernel start time they had when found).
author:
  - mirrorlab developers (@mirrorlab)
options:
  name:
    description: Machine name (also its host name). At most 64 characters.
    type: str
    required: true
  state:
    description:
      - C(started) boots the machine unless it runs and waits until its systemd reports
        C(running) or C(degraded).
      - C(stopped) powers it off (and unmounts its overlay) but keeps its state.
      - C(absent) stops it and deletes its state directory.
    type: str
    choices: [started, stopped, absent]
    default: started
  rootfs:
    description: Root file system used as the read-only lower layer. Required with O(state=started).
    type: path
  netns:
    description: Name of the network namespace (C(/run/netns/NAME)) the machine runs in. Defaults to O(name).
    type: str
  state_dir:
    description: Where the overlay's upper layer, the mount point, PID files and console log live.
    type: path
  bind:
    description: Host paths bound into the machine, as C(SRC) or C(SRC:DST) (C(--bind) of systemd-nspawn).
    type: list
    elements: str
    default: []
  boot_timeout:
    description: Seconds to wait for the machine's systemd to finish booting (and to power off).
    type: int
    default: 120
notes:
  - Needs root, C(systemd-nspawn) (Debian package C(systemd-container)) and overlayfs.
  - Supports check mode.
"""

EXAMPLES = r"""
- name: Boot the capture machine in its namespace
  mirrorlab.vpc.lab_machine:
    name: mlcap
    rootfs: "{{ rootfs.path }}"
    netns: ml-target
  register: machine

- name: Reach it with nsenter
  ansible.builtin.add_host:
    name: mlcap
    ansible_connection: community.docker.nsenter
    ansible_nsenter_pid: "{{ machine.pid }}"

- name: Remove it and its state
  mirrorlab.vpc.lab_machine:
    name: mlcap
    state: absent
"""

RETURN = r"""
pid:
  description: PID of the machine's systemd (0 when it is not running).
  returned: always
  type: int
  sample: 16567
root:
  description: The machine's root file system as seen from the host (the overlay mount point).
  returned: always
  type: str
  sample: /var/lib/mirrorlab/machines/mlcap/root
state_dir:
  description: The machine's state directory.
  returned: always
  type: str
  sample: /var/lib/mirrorlab/machines/mlcap
console_log:
  description: File that receives the machine's console.
  returned: always
  type: str
  sample: /var/lib/mirrorlab/machines/mlcap/console.log
system_state:
  description: What C(systemctl is-system-running) said inside the machine.
  returned: when started
  type: str
  sample: running
"""

import os
import shutil
import signal
import sys
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mirrorlab.vpc.plugins.module_utils.lab_host import (
    log_tail,
    missing_netns,
    netns_exists,
    netns_path,
    process,
    read_pid,
    remove_files,
    run,
    signal_process,
    stop_processes,
    wait_for,
)
from ansible_collections.mirrorlab.vpc.plugins.module_utils.lab_supervisor import (
    NSPAWN_PID,
    STOP_FLAG,
    SUPERVISOR,
    SUPERVISOR_PID,
)


class Machine:
    def __init__(self, module):
        params = module.params
        self.module = module
        self.name = params["name"]
        self.netns = params["netns"] or self.name
        self.state_dir = params["state_dir"] or os.path.join("/var/lib/mirrorlab/machines", self.name)
        self.root = os.path.join(self.state_dir, "root")
        self.upper = os.path.join(self.state_dir, "upper")
        self.work = os.path.join(self.state_dir, "work")
        self.console_log = os.path.join(self.state_dir, "console.log")
        self.timeout = params["boot_timeout"]

    # --- processes --------------------------------------------------------------------

    def _process(self, filename, needle):
        """The process of our pid file (a record: PID and start time), only if its command line
        still names the program and our state directory; None otherwise."""
        pid = read_pid(os.path.join(self.state_dir, filename))
        return process(pid, cmdline_has=(needle, self.state_dir))

    def supervisor(self):
        return self._process(SUPERVISOR_PID, "python")

    def nspawn(self):
        return self._process(NSPAWN_PID, "systemd-nspawn")

    def leader_pid(self):
        """PID of the machine's systemd: the child of systemd-nspawn."""
        nspawn = self.nspawn()
        if not nspawn:
            return 0
        nspawn = nspawn["pid"]
        try:
            for task in os.listdir("/proc/{0}/task".format(nspawn)):
                with open("/proc/{0}/task/{1}/children".format(nspawn, task)) as f:
                    for child in f.read().split():
                        with open("/proc/{0}/comm".format(child)) as comm:
                            if comm.read().strip() == "systemd":
                                return int(child)
        except OSError:
            return 0
        return 0

    def system_state(self, pid):
        rc, out, err = run(self.module, ["nsenter", "-t", pid, "-m", "-u", "-i", "-n", "-p", "systemctl",
                                         "is-system-running"], check=False)
        return out.strip() or err.strip()

    # --- mounts -----------------------------------------------------------------------

    def mounted(self):
        with open("/proc/self/mountinfo") as f:
            return any(line.split()[4] == self.root for line in f)

    def mount(self, rootfs):
        for path in (self.upper, self.work, self.root):
            os.makedirs(path, exist_ok=True)
        if self.mounted():
            return
        options = "lowerdir={0},upperdir={1},workdir={2}".format(rootfs, self.upper, self.work)
        run(self.module, ["mount", "-t", "overlay", "overlay", "-o", options, self.root])

    def unmount(self):
        if self.mounted():
            run(self.module, ["umount", self.root])

    # --- life cycle -------------------------------------------------------------------

    def start(self, rootfs, binds):
        if not os.path.isfile(os.path.join(rootfs, "etc", "os-release")):
            self.module.fail_json(msg="rootfs {0} is not a root file system (no etc/os-release)".format(rootfs))
        if not netns_exists(self.netns):
            self.module.fail_json(msg=missing_netns(self.netns))
        self.mount(rootfs)
        remove_files(os.path.join(self.state_dir, STOP_FLAG))
        cmd = [
            self.module.get_bin_path("systemd-nspawn", required=True),
            "--quiet", "--keep-unit", "--register=no", "--boot",
            "--machine=" + self.name,
            "--directory=" + self.root,
            "--network-namespace-path=" + netns_path(self.netns),
            # The namespace is the machine's own (as with --private-network, where nspawn grants
            # it by itself): the machine configures its links (a VXLAN capture link, sysctls).
            "--capability=CAP_NET_ADMIN",
            "--console=read-only",
        ]
        cmd += ["--bind=" + b for b in binds]
        script = os.path.join(self.state_dir, "supervise.py")
        with open(script, "w") as f:
            f.write(SUPERVISOR)
        # setsid --fork detaches the supervisor from this module's session; it then points its
        # own standard streams at the console log, which lets run_command return at once.
        # /proc/sys/net writable inside, as nspawn makes it with --private-network: the machine
        # sets its own links' sysctls (rp_filter, disable_ipv6 of the capture link).
        run(self.module, ["setsid", "--fork", sys.executable, script, self.state_dir, self.console_log] + cmd,
            environ_update={"SYSTEMD_NSPAWN_API_VFS_WRITABLE": "network"})
        wait_for(self.supervisor, 10, interval=0.1)

    def wait_booted(self):
        deadline = time.time() + self.timeout
        state = "starting"
        while time.time() < deadline:
            pid = self.leader_pid()
            if pid:
                state = self.system_state(pid)
                if state in ("running", "degraded"):
                    return pid, state
            elif not self.supervisor():
                break
            time.sleep(0.5)
        self.module.fail_json(
            msg="machine {0} did not boot within {1} s (last state: {2}); console: {3}".format(
                self.name, self.timeout, state, log_tail(self.console_log)
            )
        )

    def stop(self):
        open(os.path.join(self.state_dir, STOP_FLAG), "w").close()
        leader = self.leader_pid()
        if leader:
            # SIGRTMIN+4 asks systemd for an orderly poweroff.
            signal_process(process(leader), signal.SIGRTMIN + 4)
        # nspawn ends with the machine, the supervisor after it (it finds the stop flag);
        # whatever of the two still runs after the boot timeout is killed.
        wait_for(lambda: not self.supervisor(), self.timeout, interval=0.2)
        stop_processes([self.nspawn(), self.supervisor()], 0, signum=None)
        remove_files(*(os.path.join(self.state_dir, name) for name in (NSPAWN_PID, SUPERVISOR_PID)))
        self.unmount()


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", choices=["started", "stopped", "absent"], default="started"),
            rootfs=dict(type="path"),
            netns=dict(type="str"),
            state_dir=dict(type="path"),
            bind=dict(type="list", elements="str", default=[]),
            boot_timeout=dict(type="int", default=120),
        ),
        required_if=[("state", "started", ["rootfs"])],
        supports_check_mode=True,
    )
    machine = Machine(module)
    state = module.params["state"]
    result = dict(changed=False, pid=0, root=machine.root, state_dir=machine.state_dir, console_log=machine.console_log)

    running = bool(machine.supervisor())
    if state == "started":
        if not running:
            result["changed"] = True
            if module.check_mode:
                module.exit_json(**result)
            machine.start(module.params["rootfs"], module.params["bind"])
        pid, system_state = machine.wait_booted()
        result.update(pid=pid, system_state=system_state)
        module.exit_json(**result)

    if running or machine.mounted():
        result["changed"] = True
        if not module.check_mode:
            machine.stop()
    if state == "absent" and os.path.exists(machine.state_dir):
        result["changed"] = True
        if not module.check_mode:
            shutil.rmtree(machine.state_dir)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
