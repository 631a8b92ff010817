# -*- coding: utf-8 -*-

# Copyright: Contributors to the mirrorlab project
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The capture role's whole target state, rendered on the controller and applied in one module
execution (docs: plugins/modules/capture_target.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.mirrorlab.vpc.plugins.module_utils.capture_target import (
    CAPTURE_TEMPLATE_UNIT,
    DROPIN_FILE,
    HOUSEKEEPING_SERVICE,
    HOUSEKEEPING_TIMER,
    LINK_TEMPLATE_UNIT,
    NETWORKD,
    NETWORKD_ATTACH_FILE,
    NOTHING,
    RESTART,
    attach_dir,
    dropin_dir,
    networkd_paths,
    unit_path,
)

try:  # ansible-core 2.19 renders only trusted template text
    from ansible.template import trust_as_template
except ImportError:  # pragma: no cover - ansible-core < 2.19 trusts every string
    def trust_as_template(text):
        return text

MODULE = "mirrorlab.vpc.capture_target"
# The role variables the module needs besides the rendered files.
ROLE_VARS = ("capture_dir", "capture_helper", "capture_status_command", "capture_config_dir", "capture_config_file",
             "capture_networkd_dir", "capture_user", "capture_group", "capture_purge_files", "capture_state")
# The names under which the templates see what capture_target_info found.
DETECTED = dict(underlay="capture_underlay", mtu="capture_link_mtu", manager="capture_manager",
                network_file="capture_network_file")


class ActionModule(ActionBase):
    """Renders the role's templates and files for this host, then runs capture_target once."""

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(["state", "links", "underlay", "mtu", "manager", "network_file"])

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp  # tmp no longer has any effect
        args = self._task.args
        v = self._templar.template(dict((name, task_vars[name]) for name in ROLE_VARS if name in task_vars))
        missing = [name for name in ROLE_VARS if name not in v]
        if missing:
            raise AnsibleActionFail("%s runs inside the role mirrorlab.vpc.capture (missing: %s)" % (MODULE, ", ".join(missing)))
        state = args.get("state", v["capture_state"])
        links = [dict(name=link["name"], vni=int(link["vni"])) for link in args.get("links") or []]
        module_args = dict(
            state=state, links=links, user=v["capture_user"], group=v["capture_group"],
            capture_dir=v["capture_dir"], purge_files=bool(v["capture_purge_files"]), helper=v["capture_helper"],
            status_command=v["capture_status_command"], config_dir=v["capture_config_dir"],
            config_file=v["capture_config_file"], networkd_dir=v["capture_networkd_dir"],
        )
        if state == "present":
            detected = dict((key, args.get(key)) for key in DETECTED)
            if not detected["underlay"] or detected["manager"] not in ("unit", "networkd"):
                raise AnsibleActionFail("%s: state present needs underlay and manager (unit or networkd) from "
                                        "mirrorlab.vpc.capture_target_info" % MODULE)
            detected["mtu"] = int(detected["mtu"] or 0)
            detected["network_file"] = detected["network_file"] or ""
            render_vars = dict(task_vars, capture_links=links)
            render_vars.update((DETECTED[key], value) for key, value in detected.items())
            module_args.update(detected)
            module_args.update(self.wanted(v, links, detected, render_vars))
        result.update(self._execute_module(module_name=MODULE, module_args=module_args, task_vars=task_vars))
        result.pop("invocation", None)  # the files' whole contents: what changed is in `changes`
        return result

    # --- the wanted state ---------------------------------------------------------------------

    def wanted(self, v, links, detected, render_vars):
        """The directories, files and secret files of the state, each file rendered here."""
        user, group, capture_dir = v["capture_user"], v["capture_group"], v["capture_dir"]
        directories = [directory(v["capture_config_dir"], "root", group, "0750"),
                       directory(capture_dir, "root", group, "0750")]
        directories += [directory(os.path.join(capture_dir, link["name"]), user, group, "02750") for link in links]
        directories += [directory(dropin_dir(link["name"]), "root", "root", "0755") for link in links]
        files = [
            self.file(v["capture_helper"], self.source("mirrorlab-capture"), "0755", RESTART),
            self.file(v["capture_status_command"], self.render("mirrorlab-capture-status.j2", render_vars), "0755"),
            self.file(v["capture_config_file"], self.render("config.json.j2", render_vars), "0640", RESTART, group=group),
        ]
        if detected["manager"] == "unit":
            files.append(self.file(unit_path(LINK_TEMPLATE_UNIT), self.render(LINK_TEMPLATE_UNIT + ".j2", render_vars),
                                   "0644", RESTART))
        else:
            attach = attach_dir(v["capture_networkd_dir"], detected["network_file"])
            directories.append(directory(attach, "root", "root", "0755"))
            for link in links:
                link_vars = dict(render_vars, capture_link=link)
                netdev, network = networkd_paths(v["capture_networkd_dir"], link["name"])
                files.append(self.file(netdev, self.render("capture.netdev.j2", link_vars), "0644", NETWORKD))
                files.append(self.file(network, self.render("capture.network.j2", link_vars), "0644", NETWORKD))
            files.append(self.file(os.path.join(attach, NETWORKD_ATTACH_FILE),
                                   self.render("networkd-attach.conf.j2", render_vars), "0644", NETWORKD))
        for unit in (CAPTURE_TEMPLATE_UNIT, HOUSEKEEPING_SERVICE, HOUSEKEEPING_TIMER):
            files.append(self.file(unit_path(unit), self.render(unit + ".j2", render_vars), "0644", RESTART))
        for link in links:
            files.append(self.file(os.path.join(dropin_dir(link["name"]), DROPIN_FILE),
                                   self.render("capture-exec.conf.j2", dict(render_vars, capture_link=link)),
                                   "0644", RESTART))
        secret = [self.file(os.path.join(v["capture_config_dir"], "s3.env"), self.render("s3.env.j2", render_vars),
                            "0600", RESTART)]
        return dict(directories=directories, files=files, private_files=secret)

    @staticmethod
    def file(path, content, mode, effect=NOTHING, owner="root", group="root"):
        return dict(path=path, content=content, owner=owner, group=group, mode=mode, effect=effect)

    def source(self, name):
        """A file of the role's files/ directory, as it is."""
        with open(self._loader.get_real_file(self._find_needle("files", name)), "rb") as f:
            return f.read().decode("utf-8")

    def render(self, name, variables):
        """A template of the role's templates/ directory, rendered with the host's variables
        (its includes are found beside it)."""
        path = self._find_needle("templates", name)
        text = trust_as_template(self._loader.get_text_file_contents(path))
        templar = self._templar.copy_with_new_env(searchpath=[os.path.dirname(path)], available_variables=variables)
        rendered = templar.template(text, escape_backslashes=False,
                                    overrides=dict(trim_blocks=True, lstrip_blocks=False, newline_sequence="\n"))
        return rendered or ""


def directory(path, owner, group, mode):
    return dict(path=path, owner=owner, group=group, mode=mode)
