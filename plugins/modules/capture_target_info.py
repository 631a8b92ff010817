#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the mirrorlab.vpc collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: capture_target_info
short_description: Read a capture target's underlay interface, the links' MTU and the link manager
version_added: 0.3.0
description:
  - Runs on the capture target and changes nothing. Reads the routes, the addresses and the links
    with C(ip -j), and asks systemd-networkd (C(networkctl status)) which file configures the
    underlay.
  - The underlay is O(interface), else the interface of the default route, else the first
    interface with a global IPv4 address. The capture links' MTU is O(mtu), else the underlay's
    MTU less 50 bytes (VXLAN over IPv4). The links persist with systemd-networkd when it manages
    the underlay (O(link_manager=auto)), else with a systemd unit running ip(8).
  - The role M(mirrorlab.vpc.capture) runs it once per host and passes the result to
    M(mirrorlab.vpc.capture_target).
author:
  - mirrorlab developers (@mirrorlab)
options:
  interface:
    description: The underlay interface (the role's C(capture_interface)); empty to choose it.
    type: str
    default: ""
  mtu:
    description: The capture links' MTU (C(capture_mtu)); 0 for the underlay's less 50.
    type: int
    default: 0
  link_manager:
    description: How the links persist (C(capture_link_manager)).
    type: str
    choices: [auto, networkd, unit]
    default: auto
attributes:
  check_mode:
    support: full
    description: Reads only, in check mode too.
seealso:
  - module: mirrorlab.vpc.capture_target
"""

EXAMPLES = r"""
- name: Read the underlay, the links' MTU and who manages the links
  mirrorlab.vpc.capture_target_info:
    interface: "{{ capture_interface }}"
  register: capture_detected
"""

RETURN = r"""
underlay:
  description: The interface the VXLAN packets arrive on.
  returned: success
  type: str
  sample: ens5
mtu:
  description: The capture links' MTU.
  returned: success
  type: int
  sample: 8951
network_file:
  description: The systemd-networkd file of the underlay, empty when networkd does not manage it.
  returned: success
  type: str
  sample: /run/systemd/network/70-ens5.network
manager:
  description: How the links persist, C(networkd) or C(unit).
  returned: success
  type: str
  sample: networkd
interfaces:
  description: Every interface of the target.
  returned: success
  type: list
  elements: str
  sample: [lo, ens5]
"""

import json

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mirrorlab.vpc.plugins.module_utils.capture_target import (
    choose_manager,
    choose_underlay,
    link_mtu,
    network_file,
)


def ip_json(module, args):
    rc, out, err = module.run_command(["ip", "-j"] + args)
    if rc != 0:
        module.fail_json(msg="ip -j %s failed: %s" % (" ".join(args), err.strip()))
    return json.loads(out or "[]")


def networkctl_status(module, interface):
    """networkctl's status of the interface, '' without systemd-networkd."""
    if not module.get_bin_path("networkctl"):
        return ""
    rc, out, dummy = module.run_command(["networkctl", "--no-pager", "--no-legend", "status", interface])
    return out if rc == 0 else ""


def main():
    module = AnsibleModule(
        argument_spec=dict(
            interface=dict(type="str", default=""),
            mtu=dict(type="int", default=0),
            link_manager=dict(type="str", default="auto", choices=["auto", "networkd", "unit"]),
        ),
        supports_check_mode=True,
    )
    links = ip_json(module, ["link", "show"])
    underlay, problem = choose_underlay(module.params["interface"], ip_json(module, ["route", "show", "default"]),
                                        ip_json(module, ["-4", "addr", "show", "scope", "global"]), links)
    if problem:
        module.fail_json(msg=problem)
    found = ""
    if module.params["link_manager"] != "unit":
        found = network_file(networkctl_status(module, underlay))
    manager, problem = choose_manager(module.params["link_manager"], found, underlay)
    if problem:
        module.fail_json(msg=problem)
    module.exit_json(changed=False, underlay=underlay, mtu=link_mtu(module.params["mtu"], links, underlay),
                     network_file=found, manager=manager, interfaces=[link["ifname"] for link in links])


if __name__ == "__main__":
    main()
