#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the mirrorlab.vpc collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: capture_files
short_description: Copy a capture target's pcap files to a local folder, incrementally
version_added: 0.3.0
description:
  - Reads the capture helper's configuration that the role M(mirrorlab.vpc.capture) wrote on the
    target (C(/etc/mirrorlab/capture/config.json)) to find the capture directory and the links,
    and copies every pcap file of each link to C(<dest>/<link>/).
  - Incremental, a file already in C(dest) with the same size and modification time is left
    alone; the file being written is copied again when it has grown. Each copy is written under a
    temporary name and checked against the source's size before it takes the file's name.
  - The target's file system is seen below O(root) on the host the module runs on (in the lab the
    capture machine's overlay); with the default C(/) it is the host itself.
  - Reports per link the files, the bytes and the packets (complete records of classic pcap
    files) in C(dest).
author:
  - mirrorlab developers (@mirrorlab)
options:
  root:
    description: Where the target's root file system is (C(/) = this host's own).
    type: path
    default: /
  dest:
    description: Local folder; each link's files go to C(<dest>/<link>/) (created, mode 0700).
    type: path
    required: true
  config:
    description: The capture helper's configuration file, a path on the target.
    type: path
    default: /etc/mirrorlab/capture/config.json
attributes:
  check_mode:
    support: full
    description: Reports what would be copied, copies nothing.
seealso:
  - module: mirrorlab.vpc.pcap_report
"""

EXAMPLES = r"""
- name: Keep the lab machine's captures (its overlay's upper layer, the machine stopped)
  mirrorlab.vpc.capture_files:
    root: /var/lib/mirrorlab/ml-mirrorlab/machine/upper
    dest: ./captures/mirrorlab/ml-mirrorlab-target
  register: kept

- name: Say where they are
  ansible.builtin.debug:
    msg: "{{ kept.packets }} packets, {{ kept.bytes }} bytes in {{ kept.files }} files"
"""

RETURN = r"""
found:
  description: Whether the target has a capture configuration (false means nothing configured, nothing copied).
  returned: always
  type: bool
dir:
  description: The capture directory on the target.
  returned: always
  type: str
  sample: /var/lib/mirrorlab/capture
links:
  description: Per link, C(files) and C(copied) (names copied by this run), C(bytes), C(packets), C(dest).
  returned: always
  type: dict
  sample: {capture0: {files: 2, copied: [capture0-vni12345-20261202T031500Z.pcap], bytes: 84123, packets: 412,
           dest: ./captures/mirrorlab/ml-mirrorlab-target/capture0}}
files:
  description: Files of all links (in O(dest) after the run).
  returned: always
  type: int
copied:
  description: Files copied by this run.
  returned: always
  type: int
bytes:
  description: Bytes of all links' files.
  returned: always
  type: int
packets:
  description: Packets (complete records) of all links' files.
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mirrorlab.vpc.plugins.module_utils.captures import CaptureError, copy_captures


def main():
    module = AnsibleModule(
        argument_spec=dict(
            root=dict(type="path", default="/"),
            dest=dict(type="path", required=True),
            config=dict(type="path", default="/etc/mirrorlab/capture/config.json"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        result = copy_captures(params["root"], params["dest"], params["config"], check_mode=module.check_mode)
    except (CaptureError, OSError) as exc:
        module.fail_json(msg="captures not copied (nothing was removed): {0}".format(exc))
    module.exit_json(changed=result["copied"] > 0, **result)


if __name__ == "__main__":
    main()
