# -*- coding: utf-8 -*-

# Copyright: Contributors to the mirrorlab.vpc collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The supervisor of a lab machine (see the lab_machine module).

The module writes SUPERVISOR to the machine's state directory and starts it detached with
`setsid --fork python3 supervise.py STATE_DIR CONSOLE_LOG systemd-nspawn ...`. It outlives the
module, records its own PID (SUPERVISOR_PID) and systemd-nspawn's (NSPAWN_PID) in the state
directory, runs systemd-nspawn again whenever the machine reboots (nspawn exits with status
REBOOT_STATUS) and stops when the machine powers off or the state directory holds a STOP_FLAG
file. The script runs on its own, outside Ansible: it imports nothing of the collection; the
file names it shares with the module are written into it from the constants below.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

SUPERVISOR_PID = "supervisor.pid"
NSPAWN_PID = "nspawn.pid"
STOP_FLAG = "stop"
REBOOT_STATUS = 133  # systemd-nspawn's exit status when the machine asked for a reboot

SUPERVISOR = "SUPERVISOR_PID, NSPAWN_PID, STOP_FLAG, REBOOT_STATUS = %r, %r, %r, %d\n" % (
    SUPERVISOR_PID, NSPAWN_PID, STOP_FLAG, REBOOT_STATUS) + r'''
import os, signal, subprocess, sys

state_dir, console_log, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
log = os.open(console_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
null = os.open(os.devnull, os.O_RDONLY)
os.dup2(null, 0)
os.dup2(log, 1)
os.dup2(log, 2)
with open(os.path.join(state_dir, SUPERVISOR_PID), "w") as f:
    f.write(str(os.getpid()))

stop_flag = os.path.join(state_dir, STOP_FLAG)
child = None


def forward(signum, frame):
    if child is not None and child.poll() is None:
        child.send_signal(signum)


signal.signal(signal.SIGTERM, forward)
while True:
    child = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
    with open(os.path.join(state_dir, NSPAWN_PID), "w") as f:
        f.write(str(child.pid))
    rc = child.wait()
    if rc != REBOOT_STATUS or os.path.exists(stop_flag):
        break
for name in (NSPAWN_PID, SUPERVISOR_PID):
    try:
        os.remove(os.path.join(state_dir, name))
    except FileNotFoundError:
        pass
'''
