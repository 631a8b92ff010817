#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the mirrorlab.vpc collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: capture_target
short_description: Apply the capture role's whole state on a capture target in one execution
version_added: 0.3.0
description:
  - The capture role's one module on the target. On the controller, its action renders the role's
    templates (units, drop-ins, networkd files, the helper's configuration) with the host's
    C(capture_*) variables; on the target, this module compares the system user and group, the
    directories, every file (content, owner, group, mode), the links in the kernel and the
    systemd units with that state, changes only what differs, and reports each change.
  - "With O(state=present): a changed file restarts the capture on every link (units, helper,
    configuration) or reloads systemd-networkd (networkd files); links configured on the target
    but no longer wanted are stopped and removed; a link the kernel lacks or that differs from
    its configuration (C(mirrorlab-capture link-check): missing, not the configured VXLAN
    device, MTU, down, ARP or IPv6 on) has its units restarted, which recreates and hardens it;
    units not enabled or not running are enabled and started."
  - With O(state=absent), everything the role installed is stopped and removed; the pcap files
    (and the group that owns them) stay unless O(purge_files).
  - Over M(amazon.aws.aws_ssm) each module execution costs a shell exchange and S3 transfers, so
    the role makes one execution of this module (and one of M(mirrorlab.vpc.capture_target_info))
    instead of a task per file and unit.
author:
  - mirrorlab developers (@mirrorlab)
options:
  state:
    description: Whether the capture is configured and running, or removed.
    type: str
    choices: [present, absent]
    default: present
  links:
    description: The wanted links (the capture role's C(capture_links)), each with its VNI.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The link's name.
        type: str
        required: true
      vni:
        description: The VXLAN network identifier.
        type: int
        required: true
  manager:
    description: How the links persist (M(mirrorlab.vpc.capture_target_info) chooses it).
    type: str
    choices: [unit, networkd]
    default: unit
  underlay:
    description: The underlay interface, reconfigured by systemd-networkd when its files change.
    type: str
    default: ""
  mtu:
    description:
      - The capture links' MTU (M(mirrorlab.vpc.capture_target_info) reads it). The action writes
        it into the links' files and the helper's configuration; the module returns it.
    type: int
    default: 0
  network_file:
    description:
      - The systemd-networkd file of the underlay, empty when networkd does not manage it. The
        action puts the links' drop-in beside it; the module returns it.
    type: str
    default: ""
  directories:
    description: Directories to create, with their owner, group and mode.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: The directory.
        type: path
        required: true
      owner:
        description: Its owner.
        type: str
        default: root
      group:
        description: Its group.
        type: str
        default: root
      mode:
        description: Its mode, octal.
        type: str
        required: true
  files:
    description: Files to write, with their content, owner, group, mode and what a change asks for.
    type: list
    elements: dict
    default: []
    suboptions: &file_suboptions
      path:
        description: The file.
        type: path
        required: true
      content:
        description: Its whole content.
        type: str
        required: true
      owner:
        description: Its owner.
        type: str
        default: root
      group:
        description: Its group.
        type: str
        default: root
      mode:
        description: Its mode, octal.
        type: str
        required: true
      effect:
        description:
          - What a change of the file asks for once every file is written. C(restart) reloads
            systemd and restarts the capture on every link, C(networkd) reloads systemd-networkd
            and reconfigures the underlay, C(reload) reloads systemd, C(none) nothing.
        type: str
        choices: [none, reload, networkd, restart]
        default: none
  private_files:
    description:
      - Like O(files), for files only root may read because they may hold credentials (the
        uploader's environment); their content is never logged or shown in a diff.
    type: list
    elements: dict
    default: []
    suboptions: *file_suboptions
  user:
    description: The capture user (a system user, no login, no home), created or corrected.
    type: str
    required: true
  group:
    description: The capture group (owns the pcap files).
    type: str
    required: true
  user_comment:
    description: The capture user's comment (GECOS).
    type: str
    default: mirrorlab packet capture
  capture_dir:
    description: Where the pcap files are, one directory per link.
    type: path
    required: true
  purge_files:
    description: With O(state=absent), also remove the pcap files and the capture group.
    type: bool
    default: false
  helper:
    description: The capture helper's path (its C(link-check) reads the links).
    type: path
    required: true
  status_command:
    description: The status command's path (removed with O(state=absent)).
    type: path
    required: true
  config_dir:
    description: The capture's configuration directory (removed with O(state=absent)).
    type: path
    required: true
  config_file:
    description: The helper's configuration file.
    type: path
    required: true
  networkd_dir:
    description: The directory of the role's systemd-networkd files.
    type: path
    default: /etc/systemd/network
attributes:
  check_mode:
    support: full
    description: Reports what would change and changes nothing.
  diff_mode:
    support: full
    description: Shows each changed file's old and new content (not those of O(private_files)).
notes:
  - The action plugin (plugins/action/capture_target.py) fills O(directories), O(files),
    O(private_files) and the paths from the role's variables and templates; the role passes
    O(state), O(links) and what M(mirrorlab.vpc.capture_target_info) returned.
  - The layout (unit names, drop-ins, networkd files) is in C(plugins/module_utils/capture_target.py).
seealso:
  - module: mirrorlab.vpc.capture_target_info
  - module: mirrorlab.vpc.capture_vars
"""

EXAMPLES = r"""
- name: Read the underlay and who manages the links
  mirrorlab.vpc.capture_target_info:
  register: capture_detected

- name: Configure and start the capture
  mirrorlab.vpc.capture_target:
    links: "{{ capture_links }}"
    underlay: "{{ capture_detected.underlay }}"
    mtu: "{{ capture_detected.mtu }}"
    manager: "{{ capture_detected.manager }}"
    network_file: "{{ capture_detected.network_file }}"

- name: Remove the capture, keep the pcap files
  mirrorlab.vpc.capture_target:
    state: absent
"""

RETURN = r"""
changes:
  description: What changed (or would change in check mode), in the order it was done.
  returned: always
  type: list
  elements: str
  sample: ["file /etc/systemd/system/mirrorlab-capture@.service written", "restarted mirrorlab-capture@capture0.service"]
underlay:
  description: The underlay interface, as given.
  returned: always
  type: str
  sample: ens5
manager:
  description: How the links persist, as given.
  returned: always
  type: str
  sample: unit
mtu:
  description: The capture links' MTU, as given.
  returned: always
  type: int
  sample: 8951
network_file:
  description: The underlay's systemd-networkd file, as given.
  returned: always
  type: str
  sample: ""
files:
  description: Every file of the state (O(files) and O(private_files)), without its content.
  returned: always
  type: list
  elements: dict
  sample: [{path: /etc/systemd/system/mirrorlab-capture@.service, owner: root, group: root, mode: "0644", effect: restart}]
link_problems:
  description: Each wanted link and what was wrong with it in the kernel before the repair.
  returned: when state is present and the helper could check the links
  type: dict
  sample: {capture0: [missing]}
"""

import grp
import os
import pwd
import shutil
import stat
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mirrorlab.vpc.plugins.module_utils.capture_target import (
    CAPTURE_UNIT,
    EFFECTS,
    HOUSEKEEPING_SERVICE,
    HOUSEKEEPING_TIMER,
    LINK_TEMPLATE_UNIT,
    LINK_UNIT,
    NETWORKD,
    NOTHING,
    RELOAD,
    RESTART,
    SYSTEMD_DIR,
    UNITS,
    dropin_dir,
    is_role_networkd_file,
    link_of_dropin_dir,
    link_of_unit,
    networkd_paths,
    unit_path,
)

NOLOGIN = "/usr/sbin/nologin"
NO_HOME = "/nonexistent"
ENABLED = ("enabled", "enabled-runtime", "static", "alias", "indirect", "generated")
RUNNING = ("active", "activating", "reloading", "deactivating", "failed")
JOURNAL_LINES = 15  # of the failed units' journal, in a failed start's message
RETRIED_VERBS = ("start", "restart")  # a failed start is tried once more, RETRY_PAUSE seconds later
RETRY_PAUSE = 2
# Link problems that a restart of the link's units cannot mend under systemd-networkd: the
# device must go first, networkd then creates it anew.
STRUCTURAL = ("missing", "not the configured VXLAN device")


def _id(lookup, name):
    try:
        return lookup(name)[2]
    except KeyError:
        return None


def uid_of(name):
    return _id(pwd.getpwnam, name)


def gid_of(name):
    return _id(grp.getgrnam, name)


class CaptureTarget(object):
    """Compares the target with the wanted state, changes what differs, records each change."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.check = module.check_mode
        self.changes = []
        self.effects = set()
        self.diffs = []

    # --- bookkeeping ----------------------------------------------------------------------

    def changed(self, what, effect=NOTHING):
        self.changes.append(what)
        if effect != NOTHING:
            self.effects.add(effect)

    def run(self, args, check_rc=True, environ=None):
        rc, out, err = self.module.run_command(args, environ_update=environ)
        if rc != 0 and check_rc:
            self.module.fail_json(msg="%s failed (rc %d): %s" % (" ".join(args), rc, (err or out).strip()),
                                  changes=self.changes)
        return rc, out, err

    # --- user and group ---------------------------------------------------------------------

    def group(self, name):
        if gid_of(name) is None:
            self.changed("group %s created" % name)
            if not self.check:
                self.run(["groupadd", "--system", name])

    def user(self, name, group, comment):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            self.changed("user %s created" % name)
            if not self.check:
                self.run(["useradd", "--system", "--gid", group, "--shell", NOLOGIN, "--home-dir", NO_HOME,
                          "--no-create-home", "--comment", comment, name])
            return
        args = []
        gid = gid_of(group)
        if gid is not None and entry.pw_gid != gid:
            args += ["--gid", group]
        if entry.pw_shell != NOLOGIN:
            args += ["--shell", NOLOGIN]
        if entry.pw_dir != NO_HOME:
            args += ["--home", NO_HOME]
        if entry.pw_gecos != comment:
            args += ["--comment", comment]
        if args:
            self.changed("user %s corrected (%s)" % (name, " ".join(a for a in args if a.startswith("--"))))
            if not self.check:
                self.run(["usermod"] + args + [name])

    # --- directories and files ----------------------------------------------------------------

    def attributes(self, path, st, owner, group, mode, what, effect):
        """Owner, group and mode of an existing path (st: its lstat, None when just created)."""
        uid, gid, mode = uid_of(owner), gid_of(group), int(mode, 8)
        if st is not None and (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (uid, gid, mode):
            return
        if st is not None:
            self.changed("%s %s: owner, group or mode set to %s:%s %04o" % (what, path, owner, group, mode), effect)
        if not self.check:
            os.chown(path, uid, gid)
            os.chmod(path, mode)

    def directory(self, spec):
        path = spec["path"]
        st = self.lstat(path)
        if st is not None and not stat.S_ISDIR(st.st_mode):
            self.module.fail_json(msg="%s exists and is not a directory: not replaced" % path, changes=self.changes)
        if st is None:
            self.changed("directory %s created" % path)
            if self.check:
                return
            os.makedirs(path, 0o755)
        self.attributes(path, st, spec["owner"], spec["group"], spec["mode"], "directory", NOTHING)

    def file(self, spec, secret=False):
        path, content = spec["path"], spec["content"].encode("utf-8")
        st = self.lstat(path)
        if st is not None and not stat.S_ISREG(st.st_mode):
            self.module.fail_json(msg="%s exists and is not a regular file: not replaced" % path, changes=self.changes)
        before = None
        if st is not None:
            with open(path, "rb") as f:
                before = f.read()
        if before == content:
            self.attributes(path, st, spec["owner"], spec["group"], spec["mode"], "file", spec["effect"])
            return
        self.changed("file %s %s" % (path, "written" if before is None else "changed"), spec["effect"])
        if self.module._diff:
            hidden = "(not shown: it may hold credentials)\n"
            self.diffs.append(dict(before_header=path, after_header=path,
                                   before=hidden if secret and before else (before or b"").decode("utf-8", "replace"),
                                   after=hidden if secret else spec["content"]))
        if not self.check:
            self.write(path, content, spec)

    def write(self, path, content, spec):
        """Atomically: a temporary file beside it, owner and mode set, then renamed over it."""
        directory = os.path.dirname(path)
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o755)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".%s." % os.path.basename(path))
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(content)
                os.fchown(f.fileno(), uid_of(spec["owner"]), gid_of(spec["group"]))
                os.fchmod(f.fileno(), int(spec["mode"], 8))
            os.rename(tmp, path)
        except Exception:
            if os.path.lexists(tmp):
                os.unlink(tmp)
            raise

    def remove(self, path, effect=NOTHING):
        if not os.path.lexists(path):
            return
        self.changed("%s removed" % path, effect)
        if not self.check:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)

    @staticmethod
    def lstat(path):
        try:
            return os.lstat(path)
        except OSError:
            return None

    # --- systemd ------------------------------------------------------------------------------

    def unit_states(self, units):
        """{unit: {LoadState, ActiveState, UnitFileState}}, or None when systemd does not answer
        (tolerated in check mode only: nothing is known, so everything would change)."""
        if not units:
            return {}
        rc, out, err = self.module.run_command(
            ["systemctl", "show", "--property", "Id,LoadState,ActiveState,UnitFileState", "--"] + list(units))
        if rc != 0:
            if self.check:
                return None
            self.module.fail_json(msg="systemctl show failed (rc %d): %s" % (rc, (err or out).strip()),
                                  changes=self.changes)
        blocks, current = [], {}
        for line in out.splitlines() + [""]:
            if "=" in line:
                key, value = line.split("=", 1)
                current[key] = value
            elif current:
                blocks.append(current)
                current = {}
        if len(blocks) != len(units):
            self.module.fail_json(msg="systemctl show gave %d answers for %d units" % (len(blocks), len(units)),
                                  changes=self.changes)
        return dict(zip(units, blocks))  # one block per unit, in the order asked for

    def systemctl(self, verb, units, what, options=()):
        if units:
            self.changed("%s %s" % (what, ", ".join(units)))
            if not self.check:
                args = ["systemctl", verb] + list(options) + list(units)
                rc, out, err = self.run(args, check_rc=False)
                if rc != 0 and verb in RETRIED_VERBS:
                    # Once more after a pause (a host still settling after its boot); the first
                    # failure stays in the changes, with the journal of that moment.
                    self.changes.append("%s failed once (rc %d), retried: %s%s" % (
                        " ".join(args), rc, (err or out).strip(), self.journal(units)))
                    time.sleep(RETRY_PAUSE)
                    self.run(["systemctl", "reset-failed"] + self.related(units), check_rc=False)
                    rc, out, err = self.run(args, check_rc=False)
                if rc != 0:
                    msg = "%s failed (rc %d): %s%s" % (" ".join(args), rc, (err or out).strip(), self.journal(units))
                    self.module.fail_json(msg=msg, changes=self.changes)

    def related(self, units):
        """units and the link units of those that are capture or link units."""
        names = list(units) + [LINK_UNIT % link for link in (link_of_unit(u) for u in units) if link]
        return sorted(set(names), key=names.index)

    def journal(self, units):
        """The end of the journal of units and their links' units: why a start failed, in the
        failure's message (systemctl itself only says "see journalctl")."""
        args = ["journalctl", "--no-pager", "--quiet", "-o", "short-precise", "-n", str(JOURNAL_LINES)]
        for name in self.related(units):
            args += ["-u", name]
        rc, out, dummy = self.module.run_command(args)
        lines = out.strip().splitlines() if rc == 0 else []
        return (" -- journal: " + " | ".join(lines)) if lines else ""

    def stop(self, units):
        """Stop and disable those of units that run or are enabled."""
        states = self.unit_states(units)
        if states is None:
            return
        active = [u for u in units if states[u].get("LoadState") == "loaded"
                  and (states[u].get("ActiveState") in RUNNING or states[u].get("UnitFileState") == "enabled")]
        self.systemctl("disable", active, "stopped and disabled", options=["--now"])

    def start(self, units, restart=()):
        """Enable those of units not enabled, restart those in restart, start the others that do
        not run; one systemctl call for each (systemd orders the jobs by the units' After=)."""
        states = self.unit_states(units) or {}
        unknown = dict(ActiveState="unknown", UnitFileState="unknown")
        enable = [u for u in units if states.get(u, unknown).get("UnitFileState") not in ENABLED]
        start = [u for u in units if u not in restart and states.get(u, unknown).get("ActiveState") != "active"]
        self.systemctl("enable", enable, "enabled")
        self.systemctl("restart", [u for u in units if u in restart], "restarted")
        self.systemctl("start", start, "started")

    def daemon_reload(self):
        self.changes.append("systemd reloaded")
        if not self.check:
            self.run(["systemctl", "daemon-reload"])

    def networkd_reload(self, underlay):
        self.changes.append("systemd-networkd reloaded" + (", %s reconfigured" % underlay if underlay else ""))
        if not self.check:
            self.run(["networkctl", "reload"])
            if underlay:
                self.run(["networkctl", "reconfigure", underlay])

    # --- links --------------------------------------------------------------------------------

    def kernel_has(self, link):
        return self.module.run_command(["ip", "link", "show", "dev", link])[0] == 0

    def configured_links(self):
        try:
            names = os.listdir(SYSTEMD_DIR)
        except OSError:
            names = []
        return sorted(link for link in (link_of_dropin_dir(name) for name in names) if link)

    def remove_link(self, link):
        """Stop its units, delete the device, remove its drop-ins and networkd files."""
        self.stop([CAPTURE_UNIT % link, LINK_UNIT % link])
        if self.kernel_has(link):
            self.changed("link %s deleted" % link)
            if not self.check:
                self.run(["ip", "link", "del", "dev", link])
        self.remove(dropin_dir(link), RELOAD)
        for path in networkd_paths(self.params["networkd_dir"], link):
            self.remove(path)
        if self.params["purge_files"]:
            self.remove(os.path.join(self.params["capture_dir"], link))

    def role_networkd_files(self):
        found = []
        for root, dummy, names in os.walk(self.params["networkd_dir"]):
            found += [os.path.join(root, name) for name in sorted(names) if is_role_networkd_file(name)]
        return found

    def link_problems(self):
        """{link: [problem]} from the installed helper, None when it cannot tell (check mode
        before the first run)."""
        if not os.path.exists(self.params["helper"]) or not os.path.exists(self.params["config_file"]):
            if self.check:
                return None
            self.module.fail_json(msg="the capture helper or its configuration is missing", changes=self.changes)
        rc, out, err = self.run([self.params["helper"], "link-check"], check_rc=not self.check,
                                environ=dict(MIRRORLAB_CAPTURE_CONFIG=self.params["config_file"]))
        if rc != 0:
            return None
        return self.module.from_json(out)

    # --- the two states -----------------------------------------------------------------------

    def present(self):
        p = self.params
        links = [link["name"] for link in p["links"]]
        self.group(p["group"])
        self.user(p["user"], p["group"], p["user_comment"])
        for spec in p["directories"]:
            self.directory(spec)
        for spec in p["files"]:
            self.file(spec)
        for spec in p["private_files"]:
            self.file(spec, secret=True)
        for link in self.configured_links():
            if link not in links:
                self.remove_link(link)
        if p["manager"] == "unit":
            for path in self.role_networkd_files():
                self.remove(path, NETWORKD)
        else:
            self.stop([LINK_UNIT % link for link in links])
        captures = [CAPTURE_UNIT % link for link in links]
        before = self.unit_states(captures) or {}
        # A capture that does not run gets its link when it starts (link-up); check the others.
        running = [link for link, unit in zip(links, captures) if before.get(unit, {}).get("ActiveState") == "active"]
        problems = self.link_problems() if running else None
        repair = [link for link in running if (problems or {}).get(link)]
        for link in repair:
            self.changed("link %s repaired (%s)" % (link, ", ".join(problems[link])))
            if p["manager"] == "networkd" and set(problems[link]) & set(STRUCTURAL):
                self.effects.add(NETWORKD)
                if self.kernel_has(link) and not self.check:
                    self.run(["ip", "link", "del", "dev", link])
        if self.effects & set([RELOAD, RESTART]):
            self.daemon_reload()
        if NETWORKD in self.effects and self.module.get_bin_path("networkctl"):
            self.networkd_reload(p["underlay"] if p["manager"] == "networkd" else "")
        restart = captures if RESTART in self.effects else [CAPTURE_UNIT % link for link in repair]
        units = captures + [HOUSEKEEPING_TIMER]
        if p["manager"] == "unit":
            units = [LINK_UNIT % link for link in links] + units
            restart = restart + [LINK_UNIT % link for link in repair]
        self.start(units, restart=restart)
        return problems

    def absent(self):
        p = self.params
        self.stop([HOUSEKEEPING_TIMER, HOUSEKEEPING_SERVICE])
        for link in sorted(set(self.configured_links()) | set(link["name"] for link in p["links"])):
            self.remove_link(link)
        removed_networkd = False
        for path in self.role_networkd_files():
            self.remove(path)
            removed_networkd = True
        for unit in UNITS + (LINK_TEMPLATE_UNIT,):
            self.remove(unit_path(unit), RELOAD)
        for path in (p["helper"], p["status_command"], p["config_dir"]):
            self.remove(path)
        if RELOAD in self.effects:
            self.daemon_reload()
        if removed_networkd and self.module.get_bin_path("networkctl"):
            self.networkd_reload("")
        if p["purge_files"]:
            self.remove(p["capture_dir"])
        if uid_of(p["user"]) is not None:
            self.changed("user %s removed" % p["user"])
            if not self.check:
                self.run(["userdel", p["user"]])
        if p["purge_files"] and gid_of(p["group"]) is not None:
            self.changed("group %s removed" % p["group"])
            if not self.check:
                self.run(["groupdel", p["group"]])


def file_options(secret=False):
    return dict(
        path=dict(type="path", required=True),
        content=dict(type="str", required=True, no_log=secret),
        owner=dict(type="str", default="root"),
        group=dict(type="str", default="root"),
        mode=dict(type="str", required=True),
        effect=dict(type="str", default=NOTHING, choices=list(EFFECTS)),
    )


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", default="present", choices=["present", "absent"]),
            links=dict(type="list", elements="dict", default=[],
                       options=dict(name=dict(type="str", required=True), vni=dict(type="int", required=True))),
            manager=dict(type="str", default="unit", choices=["unit", "networkd"]),
            underlay=dict(type="str", default=""),
            mtu=dict(type="int", default=0),
            network_file=dict(type="str", default=""),
            directories=dict(type="list", elements="dict", default=[], options=dict(
                path=dict(type="path", required=True), owner=dict(type="str", default="root"),
                group=dict(type="str", default="root"), mode=dict(type="str", required=True))),
            files=dict(type="list", elements="dict", default=[], options=file_options()),
            private_files=dict(type="list", elements="dict", default=[], options=file_options(secret=True)),
            user=dict(type="str", required=True),
            group=dict(type="str", required=True),
            user_comment=dict(type="str", default="mirrorlab packet capture"),
            capture_dir=dict(type="path", required=True),
            purge_files=dict(type="bool", default=False),
            helper=dict(type="path", required=True),
            status_command=dict(type="path", required=True),
            config_dir=dict(type="path", required=True),
            config_file=dict(type="path", required=True),
            networkd_dir=dict(type="path", default="/etc/systemd/network"),
        ),
        supports_check_mode=True,
    )
    target = CaptureTarget(module)
    result = {}
    if module.params["state"] == "present":
        problems = target.present()
        if problems is not None:
            result["link_problems"] = problems
    else:
        target.absent()
    if target.diffs:
        result["diff"] = target.diffs
    result["files"] = [dict((key, spec[key]) for key in ("path", "owner", "group", "mode", "effect"))
                       for spec in module.params["files"] + module.params["private_files"]]
    for name in ("underlay", "manager", "mtu", "network_file"):
        result[name] = module.params[name]
    module.exit_json(changed=bool(target.changes), changes=target.changes, **result)


if __name__ == "__main__":
    main()
