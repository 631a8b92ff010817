#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the mirrorlab project
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: mirror_verify
version_added: 0.4.0
short_description: Check that every session mirrored both directions of the probe, and name the cause
description:
  - The verdict of C(./mirrorlab verify) (docs/verify.md). Reads the capture files fetched from
    the targets during the probe with tshark, and the targets' VXLAN link counters before and
    after it, and checks, for every source ENI and each of its sessions, that ingress and egress
    copies of the probe traffic arrived on the link of the session's VNI.
  - A packet that passes two mirrored ENIs is mirrored by both; it proves a session only when
    every copy the experiment expects of it arrived (the filter rules are evaluated with AWS's
    semantics, lowest session number first, a packet mirrored once per ENI).
  - When a check fails it names the likely cause, for example nothing arrives at all (the
    target's security group, network ACL, route or ENI), nothing for one ENI (its session is
    missing, or the ENI is not eligible), one direction only (the filter, naming the rule),
    fewer bytes than sent (truncation by C(packet_length) or the target MTU).
  - Reads only; O(dest) is the one file it writes.
author:
  - mirrorlab developers (@mirrorlab)
options:
  pcap_dir:
    description:
      - Where the capture files of the probe's window were fetched, as M(ansible.builtin.fetch)
        lays them out (C(<pcap_dir>/<target>/<path on the target>)).
    type: path
    required: true
  counters_before:
    description: Per target the output of C(ip -d -j -s link show type vxlan) before the probe.
    type: dict
    required: true
  counters_after:
    description: The same after the probe.
    type: dict
    required: true
  probe:
    description:
      - The result of M(mirrorlab.vpc.verify_probe). Its C(flows), the probe's own connections,
        let a filter that mirrors none of the probe's packets be named when nothing arrives at all,
        instead of the path to the target.
    type: dict
    required: true
  lab:
    description:
      - The lab's sources. Keys C(sessions) (lab_plan's), C(eni_vnis) (M(mirrorlab.vpc.vni_map)'s),
        C(session) and C(rules) (the experiment's session and filter rules), C(tables) (the registered
        results of C(nft list table netdev <table>) per session, with C(lab_session) and C(rc)).
    type: dict
  aws:
    description:
      - AWS's sources. Keys C(enis) (the eligible source ENIs M(mirrorlab.vpc.mirror_eni_info)
        resolves the sources to now), C(eni_vnis) (M(mirrorlab.vpc.vni_map)'s), C(session) and
        C(rules) (the experiment's session and filter rules), C(deployed) (the deployment's sessions,
        M(mirrorlab.vpc.traffic_mirror_info)'s C(traffic_mirror_sessions)).
    type: dict
  margin:
    description: Seconds of clock difference between the controller and the targets to allow for.
    type: float
    default: 1.0
  dest:
    description: Write the verdict as JSON to this file.
    type: path
  tshark:
    description: The tshark program.
    type: str
    default: tshark
attributes:
  check_mode:
    support: full
    description: Reads and reports in check mode too (O(dest) is written).
notes:
  - Exactly one of O(lab) and O(aws) is given.
"""

EXAMPLES = r"""
- name: Judge the probe
  mirrorlab.vpc.mirror_verify:
    pcap_dir: "{{ verify_dir.path }}"
    counters_before: "{{ verify_before }}"
    counters_after: "{{ verify_after }}"
    probe: "{{ verify_probe }}"
    lab:
      sessions: "{{ lab_plan.lab.sessions }}"
      eni_vnis: "{{ lab_verify_vnis.eni_vnis }}"
      session: "{{ experiment.session }}"
      rules: "{{ experiment.filter.rules }}"
      tables: "{{ lab_verify_tables.results }}"
  register: verdict
"""

RETURN = r"""
ok:
  description: Whether every check passed.
  returned: always
  type: bool
causes:
  description: Causes that concern every source (no answer to the probe, nothing arrived at all).
  returned: always
  type: list
  elements: str
sessions:
  description:
    - Per source ENI and session, per direction the copies and bytes that arrived, the probe
      packets the session was to mirror, the state (C(ok), C(missing), C(not_probed)), any
      truncation, and the causes.
  returned: always
  type: list
  elements: dict
enis:
  description: Per source ENI whether ingress and egress arrived, and the causes when not.
  returned: always
  type: list
  elements: dict
links:
  description: Per target and VXLAN link the VNI, the MTU and the packets and bytes received during the probe.
  returned: always
  type: list
  elements: dict
lines:
  description: The verdict as text.
  returned: always
  type: list
  elements: str
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mirrorlab.vpc.plugins.module_utils import verify


def fetched_copies(pcap_dir, tshark):
    copies = []
    for top, dirs, names in os.walk(pcap_dir):
        dirs.sort()
        for name in sorted(names):
            if verify.vni_of_file(name) is None:
                continue
            path = os.path.join(top, name)
            target = os.path.relpath(path, pcap_dir).split(os.sep, 1)[0]
            copies.extend(verify.read_copies(path, target, os.path.basename(top), tshark))
    return copies


def main():
    module = AnsibleModule(
        argument_spec=dict(
            pcap_dir=dict(type="path", required=True),
            counters_before=dict(type="dict", required=True),
            counters_after=dict(type="dict", required=True),
            probe=dict(type="dict", required=True),
            lab=dict(type="dict"),
            aws=dict(type="dict"),
            margin=dict(type="float", default=1.0),
            dest=dict(type="path"),
            tshark=dict(type="str", default="tshark"),
        ),
        required_one_of=[("lab", "aws")],
        mutually_exclusive=[("lab", "aws")],
        supports_check_mode=True,
    )
    params = module.params
    try:
        if params["lab"] is not None:
            lab = params["lab"]
            sources = verify.lab_sources(lab["sessions"], lab["eni_vnis"], lab["session"], lab["rules"], lab["tables"])
        else:
            aws = params["aws"]
            sources = verify.aws_sources(aws["enis"], aws["eni_vnis"], aws["session"], aws["rules"], aws["deployed"])
        before = dict((t, verify.link_counters(v)) for t, v in params["counters_before"].items())
        after = dict((t, verify.link_counters(v)) for t, v in params["counters_after"].items())
        copies = fetched_copies(params["pcap_dir"], params["tshark"])
    except (verify.VerifyError, KeyError, ValueError) as exc:
        module.fail_json(msg="mirror_verify: %s" % exc)
    probe = params["probe"]
    window = (float(probe["start"]) - params["margin"], float(probe["end"]) + params["margin"])
    verdict = verify.analyse(sources, copies, verify.counter_deltas(before, after), probe, window)
    verdict["lines"] = verify.result_lines(verdict)
    if params["dest"]:
        with open(params["dest"], "w") as handle:
            json.dump(dict((k, v) for k, v in verdict.items() if k != "lines"), handle, indent=2, sort_keys=True)
            handle.write("\n")
    module.exit_json(changed=False, **verdict)


if __name__ == "__main__":
    main()
