#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the mirrorlab.vpc collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: capture_watch
short_description: The command that shows the mirrored packets live on a capture link
version_added: 0.3.0
description:
  - Returns the command line of a live viewer of the capture link (C(tcpdump -n -l -i <link>)
    with the user's arguments, e.g. a packet count C(-c 20), C(-vv), a filter), run with
    privileges on the capture target, and a header line saying what it watches.
  - "Lab: C(nsenter) into the capture machine (its leader PID). AWS: a Session Manager session
    (C(aws ssm start-session), document C(AWS-StartInteractiveCommand), the Session Manager
    plugin the capture step already needs) running the viewer with C(sudo). Ctrl-C ends it."
  - It runs nothing itself (C(./mirrorlab watch) and playbooks/watch.yml run the command); it
    changes nothing.
author:
  - mirrorlab developers (@mirrorlab)
options:
  backend:
    description: C(lab) or C(aws).
    type: str
    choices: [lab, aws]
    required: true
  link:
    description: The capture link.
    type: str
    default: capture0
  vni:
    description: The link's VNI (for the header).
    type: int
  sources:
    description: The source interfaces or ENIs mirrored to the link (for the header).
    type: list
    elements: str
    default: []
  args:
    description: Further tcpdump arguments.
    type: list
    elements: str
    default: []
  pid:
    description: Lab, the capture machine's leader PID.
    type: int
    default: 0
  instance_id:
    description: AWS, the capture instance.
    type: str
    default: ""
  region:
    description: AWS, the region.
    type: str
    default: ""
  target:
    description: The watched target's name for the header (the lab machine; AWS the instance id is used).
    type: str
    default: ""
  others:
    description:
      - The other capture targets (several behind an NLB, each with its share of the flows), named
        in the header with how to watch one of them (C(mirrorlab_watch_target)).
    type: list
    elements: str
    default: []
attributes:
  check_mode:
    support: full
    description: Changes nothing.
"""

EXAMPLES = r"""
- name: The viewer of the lab's capture link
  mirrorlab.vpc.capture_watch:
    backend: lab
    link: capture0
    vni: 12345
    pid: 4242
    args: [-c, "20"]
  register: watch
"""

RETURN = r"""
argv:
  description: The viewer's command line.
  returned: success
  type: list
  elements: str
  sample: [nsenter, -t, "4242", -m, -u, -i, -n, -p, tcpdump, -n, -l, -i, capture0, -c, "20"]
header:
  description: What it watches.
  returned: success
  type: str
  sample: "watching capture0 (VNI 12345) on ml-mirrorlab-target: sources alb:eth0; Ctrl-C ends"
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mirrorlab.vpc.plugins.module_utils.captures import CaptureError, watch_command


def main():
    module = AnsibleModule(
        argument_spec=dict(
            backend=dict(type="str", choices=["lab", "aws"], required=True),
            link=dict(type="str", default="capture0"),
            vni=dict(type="int"),
            sources=dict(type="list", elements="str", default=[]),
            args=dict(type="list", elements="str", default=[]),
            pid=dict(type="int", default=0),
            instance_id=dict(type="str", default=""),
            region=dict(type="str", default=""),
            target=dict(type="str", default=""),
            others=dict(type="list", elements="str", default=[]),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        argv = watch_command(p["backend"], p["link"], p["args"], pid=p["pid"], instance_id=p["instance_id"], region=p["region"])
    except CaptureError as exc:
        module.fail_json(msg=str(exc))
    others = ""
    if p["others"]:
        others = "; this target has its share of the flows only, the others (-e mirrorlab_watch_target=<name>): {0}".format(
            ", ".join(p["others"]))
    header = "watching {0}{1} on {2}: sources {3}{4}; Ctrl-C ends".format(
        p["link"], "" if p["vni"] is None else " (VNI {0})".format(p["vni"]),
        p["instance_id"] or p["target"] or "the lab's capture machine", ", ".join(p["sources"]) or "?", others)
    module.exit_json(changed=False, argv=argv, header=header)


if __name__ == "__main__":
    main()
