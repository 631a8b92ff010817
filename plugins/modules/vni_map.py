#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the mirrorlab project
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: vni_map
version_added: 0.2.0
short_description: The VNI of each source ENI's mirror sessions, and the vni-map.json file
description:
  - Computes which VNI the sessions of each source ENI carry (with C(mirrorlab_session.vni_per_eni)
    the ENIs sorted by id, the i-th gets C(vni + i); further sessions carry their own VNI) and the
    VNI map that M(mirrorlab.vpc.pcap_report) reads to name the ENI and zone behind each VNI.
  - With O(dest), writes the map there as JSON (mode 0644, atomically); C(changed) when the
    content differs. Supports check mode and diff mode.
author:
  - mirrorlab developers (@mirrorlab)
options:
  session:
    description: C(experiment.session) from M(mirrorlab.vpc.experiment_info).
    type: dict
    required: true
  network_interfaces:
    description:
      - The source ENIs, each with C(id) and optionally C(zone), C(description) and C(source)
        (as M(mirrorlab.vpc.mirror_eni_info) returns them).
    type: list
    elements: dict
    required: true
  dest:
    description: Where to write C(vni-map.json); omitted = compute only.
    type: path
"""

EXAMPLES = r"""
- name: Write the VNI map next to the fetched captures
  mirrorlab.vpc.vni_map:
    session: "{{ experiment.session }}"
    network_interfaces: "{{ stacks_mirror_sources }}"
    dest: "{{ stacks_fetch_dir }}/vni-map.json"
  register: vni_map
"""

RETURN = r"""
eni_vnis:
  description: The VNI of each source ENI's first session.
  returned: always
  type: dict
  sample: {eni-0123456789abcdef0: 12345, eni-0fedcba9876543210: 12346}
extra_sessions:
  description: The further sessions (C(mirrorlab_session.extra)) as the mirroring template takes them.
  returned: always
  type: list
  elements: dict
  sample: [{session_number: 2, vni: 12345, packet_length: null, rules: []}]
vnis:
  description: The map, per VNI (a string) the ENI, zone, description, source and session number.
  returned: always
  type: dict
  sample: {"12345": {eni: eni-0123456789abcdef0, zone: eu-west-1a, session_number: 1}}
other_vnis:
  description:
    - Every VNI the sessions carry besides C(mirrorlab_session.vni), sorted (the per-ENI VNIs and
      the further sessions' VNIs); the capture target needs one more link for each.
  returned: always
  type: list
  elements: int
  sample: [777, 12346]
"""

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mirrorlab.vpc.plugins.module_utils.vni_map import (
    dumps,
    eni_vnis,
    extra_sessions,
    other_vnis,
    vni_map,
)


def read(path):
    try:
        with open(path) as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def write(path, text):
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        os.makedirs(directory)
    fd, temp = tempfile.mkstemp(dir=directory, prefix=".vni-map.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(temp, 0o644)
        os.rename(temp, path)
    except Exception:
        os.unlink(temp)
        raise


def main():
    module = AnsibleModule(
        argument_spec=dict(
            session=dict(type="dict", required=True),
            network_interfaces=dict(type="list", elements="dict", required=True),
            dest=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    session, enis = module.params["session"], module.params["network_interfaces"]
    missing = [key for key in ("vni", "session_number") if key not in session]
    if missing or not all(isinstance(eni, dict) and eni.get("id") for eni in enis):
        module.fail_json(msg="session needs %s (experiment.session) and every network interface an id"
                         % " and ".join(missing or ["vni", "session_number"]))
    try:
        vnis_by_eni, data = eni_vnis(session, [eni["id"] for eni in enis]), vni_map(session, enis)
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    result = {"changed": False, "eni_vnis": vnis_by_eni, "vnis": data["vnis"], "extra_sessions": extra_sessions(session),
              "other_vnis": other_vnis(session, vnis_by_eni)}
    dest = module.params["dest"]
    if dest:
        text, before = dumps(data), read(dest)
        result["changed"] = text != before
        if module._diff:
            result["diff"] = {"before": before or "", "after": text, "before_header": dest, "after_header": dest}
        if result["changed"] and not module.check_mode:
            write(dest, text)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
