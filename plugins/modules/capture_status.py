#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the mirrorlab.vpc collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: capture_status
short_description: Put the capture targets' status together (one line per link, and JSON)
version_added: 0.3.0
description:
  - Takes what C(mirrorlab-capture-status --json) printed on each capture target (the lab
    machine, the AWS instances) and returns it parsed, with one line per target and per link,
    the capture unit's state, the files, their bytes, the newest file's age and the drops (the
    tool's kernel drops and the link's C(rx_dropped)), then the mirror sessions that point at
    the targets.
  - With O(dest), also writes it all as one JSON object there (C(./mirrorlab status --json)).
  - Runs on the controller; changes nothing but O(dest).
author:
  - mirrorlab developers (@mirrorlab)
options:
  targets:
    description: Per target (its inventory name), the output of C(mirrorlab-capture-status --json).
    type: dict
    required: true
  sessions:
    description: The mirror sessions that point at the targets, one text each.
    type: list
    elements: str
    default: []
  dest:
    description: Write C({"targets":..., "sessions":...}) as JSON to this file (mode 0600).
    type: path
attributes:
  check_mode:
    support: full
    description: Writes O(dest) in check mode too (it reads the targets only).
"""

EXAMPLES = r"""
- name: Put the status together
  mirrorlab.vpc.capture_status:
    targets: "{{ dict(groups['mirrorlab_targets'] | zip(groups['mirrorlab_targets'] | map('extract', hostvars, ['status', 'stdout']))) }}"
  register: status

- name: Print it
  ansible.builtin.debug:
    msg: "{{ status.lines }}"
"""

RETURN = r"""
targets:
  description: Per target, the parsed status (dir, tool, bytes, free_bytes, archive, links with state, files, bytes,
    newest_age_seconds, tool_drops, counters, open_file).
  returned: success
  type: dict
lines:
  description: The status as text, one line per target and per link.
  returned: success
  type: list
  elements: str
  sample: ["ml-mirrorlab-target: tcpdump in /var/lib/mirrorlab/capture (41.3 kB, cap 2048 MB, 9000.1 MB free)",
           "  capture0 (VNI 12345): mirrorlab-capture@capture0.service active, 1 file(s), 4130 B, newest 2 s ago; drops: tool 0, link 0"]
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mirrorlab.vpc.plugins.module_utils.captures import CaptureError, parse_status, status_lines


def main():
    module = AnsibleModule(
        argument_spec=dict(
            targets=dict(type="dict", required=True),
            sessions=dict(type="list", elements="str", default=[]),
            dest=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    try:
        targets = dict((host, parse_status(host, str(text))) for host, text in module.params["targets"].items())
    except CaptureError as exc:
        module.fail_json(msg=str(exc))
    result = dict(changed=False, targets=targets, lines=status_lines(targets, module.params["sessions"]))
    if module.params["dest"]:
        fd = os.open(module.params["dest"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump({"targets": targets, "sessions": module.params["sessions"]}, handle, indent=2, sort_keys=True)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
