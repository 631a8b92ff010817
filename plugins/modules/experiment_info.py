#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the mirrorlab project
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: experiment_info
short_description: Validate the mirrorlab experiment model and return it normalized
version_added: 0.1.0
description:
  - Validates the C(mirrorlab_*) variables of a traffic mirroring experiment (see the
    collection's C(docs/experiment.md)) and returns the normalized model as RV(experiment),
    with defaults filled in, the filter preset expanded into rules, rules sorted by direction and
    rule number, protocols as numbers, port ranges as C({from, to}).
  - "Every problem is reported at once, each naming the variable path and the rule it breaks,
    for example C(mirrorlab_filter.rules[3].destination_ports: ports must be 0-65535, got 80-70000)."
  - Changes nothing; runs on the controller. The role C(mirrorlab.vpc.experiment) calls it with
    the C(mirrorlab_*) variables and sets the C(experiment) fact.
author:
  - mirrorlab developers (@mirrorlab)
options:
  backend:
    description: Where the experiment runs (C(mirrorlab_backend)).
    type: str
    default: lab
  deployment:
    description:
      - Deployment name (C(mirrorlab_deployment)), the prefix of the stack names and the value of
        the C(mirrorlab:deployment) tag.
      - 1-23 characters, a lower-case letter first, then lower-case letters, digits or C(-), not ending in C(-).
    type: str
    default: mirrorlab
  region:
    description: AWS region (C(mirrorlab_region)); AWS only.
    type: str
    default: eu-west-1
  network:
    description:
      - The network (C(mirrorlab_network)), keys C(vpc_cidr) (IPv4 /16 to /28), C(vpc_id)
        (C(vpc-...) or empty to import), C(subnet_ids) (at least 2 C(subnet-...) when C(vpc_id)
        is given) and C(import_prefix) (the CloudFormation export prefix). Missing keys take
        their defaults.
    type: dict
    default: {vpc_cidr: 10.0.0.0/16, vpc_id: "", subnet_ids: [], import_prefix: infra-vpc}
  sources:
    description:
      - What to mirror (C(mirrorlab_sources)), a list of mappings with a C(type)
        C(sample_service), C(load_balancer) (C(name) or C(arn)), C(instance) (C(id) or C(tags)),
        C(ecs_service) (C(cluster) and C(service)) or C(network_interface) (C(id)). Each source
        gets one session per ENI, so a source may be listed only once.
    type: list
    elements: dict
    default: [{type: sample_service}]
  filter:
    description:
      - The mirror filter (C(mirrorlab_filter)), C(preset) (C(all_tcp), C(alb_client),
        C(alb_target)) or C(rules), at most 10 rules with AWS semantics (keys C(direction),
        C(number), C(action), C(protocol), C(source_cidr), C(destination_cidr),
        C(source_ports), C(destination_ports), C(description)). C(preset) is ignored when
        C(rules) is not empty.
    type: dict
    default: {preset: all_tcp, rules: []}
  session:
    description:
      - The mirror session (C(mirrorlab_session)), C(vni) 0-16777215, C(session_number)
        1-32766, C(packet_length) 1-8500 bytes or null for the whole packet.
    type: dict
    default: {vni: 12345, session_number: 1, packet_length: null}
  target:
    description:
      - The capture target (C(mirrorlab_target)), C(count) 1-10 (above 1, the capture
        instances sit behind an NLB), C(instance_type) (a Nitro type) and C(spot).
    type: dict
    default: {count: 1, instance_type: t3.small, spot: false}
  capture:
    description: Capture settings (C(mirrorlab_capture)), passed through; the capture role validates them.
    type: dict
    default: {}
  https:
    description: Add an HTTPS listener to the sample service (C(mirrorlab_https)); AWS only.
    type: bool
    default: false
  certificate_arn:
    description: ACM certificate for the HTTPS listener (C(mirrorlab_certificate_arn)); empty = self-signed.
    type: str
    default: ""
  variable_names:
    description:
      - Names of the C(mirrorlab_*) variables defined in the play (the role passes them). A name
        that looks like a misspelled model variable (C(mirrorlab_filters)) gets a warning, as it
        would otherwise be silently ignored.
    type: list
    elements: str
    default: []
notes:
  - Supports check mode; never changes anything.
seealso:
  - name: The experiment model
    description: docs/experiment.md and docs/filters.md in the collection.
    link: https://github.com/mirrorlab/mirrorlab.vpc/blob/main/docs/experiment.md
"""

EXAMPLES = r"""
- name: Validate the experiment and keep the normalized model
  mirrorlab.vpc.experiment_info:
    deployment: demo
    filter:
      rules:
        - {direction: ingress, number: 100, action: reject, protocol: tcp,
           source_cidr: 0.0.0.0/0, destination_cidr: 0.0.0.0/0, destination_ports: "22"}
        - {direction: ingress, number: 200, action: accept, protocol: tcp,
           source_cidr: 0.0.0.0/0, destination_cidr: 0.0.0.0/0}
  register: model

- name: Use it
  ansible.builtin.debug:
    msg: "{{ model.experiment.stack_names.mirroring }} mirrors {{ model.experiment.filter.rules | length }} rules"

# Usually through the role, which reads the mirrorlab_* variables and sets the experiment fact:
- name: Validate the experiment model
  ansible.builtin.include_role:
    name: mirrorlab.vpc.experiment
"""

RETURN = r"""
experiment:
  description: The normalized experiment model (docs/experiment.md, "The normalized model").
  returned: success
  type: dict
  sample:
    backend: lab
    deployment: mirrorlab
    region: eu-west-1
    tags: {"mirrorlab:deployment": mirrorlab}
    stack_names: {sample_service: mirrorlab-sample-service, target_instance: mirrorlab-target-instance,
                  mirroring: mirrorlab-mirroring}
    network: {vpc_cidr: 10.0.0.0/16, vpc_id: "", subnet_ids: [], import_prefix: infra-vpc}
    sources: [{type: sample_service}]
    filter:
      preset: all_tcp
      rules:
        - {direction: ingress, number: 100, action: accept, protocol: 6, source_cidr: 0.0.0.0/0,
           destination_cidr: 0.0.0.0/0, source_ports: null, destination_ports: null, description: all TCP in}
        - {direction: egress, number: 100, action: accept, protocol: 6, source_cidr: 0.0.0.0/0,
           destination_cidr: 0.0.0.0/0, source_ports: null, destination_ports: null, description: all TCP out}
    session: {vni: 12345, session_number: 1, packet_length: null}
    target: {count: 1, instance_type: t3.small, spot: false}
    capture: {}
    https: false
    certificate_arn: ""
errors:
  description: Every validation problem, each the variable path, a colon and the rule (also joined in C(msg)).
  returned: failure
  type: list
  elements: str
  sample: ["mirrorlab_session.vni: must be an integer 0-16777215, got 16777216"]
"""

import copy

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mirrorlab.vpc.plugins.module_utils.experiment import (
    DEFAULTS,
    build_experiment,
    misspelled_variables,
)


def argument_spec():
    types = {
        "backend": "str",
        "deployment": "str",
        "region": "str",
        "network": "dict",
        "sources": "list",
        "filter": "dict",
        "session": "dict",
        "target": "dict",
        "capture": "dict",
        "https": "bool",
        "certificate_arn": "str",
    }
    spec = {}
    for name, kind in types.items():
        spec[name] = {"type": kind, "default": copy.deepcopy(DEFAULTS[name])}
        if kind == "list":
            spec[name]["elements"] = "dict"
    return spec


def main():
    spec = argument_spec()
    spec["variable_names"] = {"type": "list", "elements": "str", "default": []}
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    for warning in misspelled_variables(module.params["variable_names"]):
        module.warn(warning)
    values = dict((name, module.params[name]) for name in argument_spec())
    experiment, errors = build_experiment(values)
    if errors:
        module.fail_json(
            msg="The experiment model is invalid (%d problem%s):\n%s"
            % (len(errors), "" if len(errors) == 1 else "s", "\n".join(errors)),
            errors=errors,
        )
    module.exit_json(changed=False, experiment=experiment)


if __name__ == "__main__":
    main()
