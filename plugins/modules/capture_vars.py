#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the mirrorlab project
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: capture_vars
short_description: Check the capture role's variables on the controller and name its links
version_added: 0.2.0
description:
  - An action that runs on the controller only (it never connects to the host). It reads the
    C(capture_*) variables of the role M(mirrorlab.vpc.capture) (role defaults, inventory, extra
    variables, whatever applies to the host), checks them with the rules that
    M(mirrorlab.vpc.experiment_info) applies to C(mirrorlab_capture) (declared once in
    C(plugins/module_utils/model.py)) and returns the capture links.
  - "Every problem is reported at once, each C(capture_<variable>: <rule>), for example
    C(capture_rotate_seconds: must be an integer of at least 1, got -5)."
  - The capture role runs it first; it takes no options.
author:
  - mirrorlab developers (@mirrorlab)
options: {}
attributes:
  check_mode:
    support: full
    description: Changes nothing, in check mode or not.
notes:
  - An action plugin (plugins/action/capture_vars.py); this file only documents it.
seealso:
  - module: mirrorlab.vpc.experiment_info
"""

EXAMPLES = r"""
- name: Check the capture variables and name the links
  mirrorlab.vpc.capture_vars:
  register: capture_checked

- name: Keep the links
  ansible.builtin.set_fact:
    capture_links: "{{ capture_checked.links }}"
"""

RETURN = r"""
links:
  description: The capture links, the session's (C(capture_link_name), C(capture_vni)) first, then
    one C(capv<VNI>) per extra VNI.
  returned: success
  type: list
  elements: dict
  sample: [{name: capture0, vni: 12345}, {name: capv777, vni: 777}]
errors:
  description: Every problem, each the variable, a colon and the rule (also joined in C(msg)).
  returned: failure
  type: list
  elements: str
  sample: ["capture_rotate_seconds: must be an integer of at least 1, got -5"]
"""
