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
  - "It is the only translator of the model: it checks C(mirrorlab_capture) against the capture
    role's own variables (unknown keys are refused with the nearest valid name, types, ranges,
    choices, the cross-field rules) and returns them as RV(experiment.capture_vars), the
    C(capture_*) variables that both backends pass to the capture role unchanged."
  - The variables, their types, defaults and rules are declared once, in
    C(plugins/module_utils/model.py); the options below are generated from it.
  - "Every problem is reported at once, each naming the variable path and the rule it breaks,
    for example C(mirrorlab_session.vni: must be an integer 0-16777215, got 16777216)."
  - Changes nothing; runs on the controller. The role C(mirrorlab.vpc.experiment) calls it with
    the C(mirrorlab_*) variables and sets the C(experiment) fact.
author:
  - mirrorlab developers (@mirrorlab)
options:
  # BEGIN generated from plugins/module_utils/model.py by scripts/model_docs.py: do not edit by hand
  backend:
    description:
      - Where the experiment runs; set by the inventory (C(inventories/lab), C(inventories/aws)) (C(mirrorlab_backend),
        a string).
      - C(lab) or C(aws).
    type: raw
    default: lab
  deployment:
    description:
      - 'Deployment name: prefix of the stack names, value of the tag C(mirrorlab:deployment) on every resource
        (C(mirrorlab_deployment), a string).'
      - '1-23 characters: a lower-case letter, then lower-case letters, digits or ''-'', not ending in ''-''
        (it prefixes CloudFormation stack names).'
    type: raw
    default: mirrorlab
  region:
    description:
      - The AWS region (C(mirrorlab_region), a string). AWS only.
      - An AWS region name such as eu-west-1.
    type: raw
    default: eu-west-1
  network:
    description:
      - The VPC (C(mirrorlab_network), a mapping).
      - 'C(vpc_cidr) (default C(10.0.0.0/16)): an IPv4 CIDR from /16 to /28 with no host bits set (AWS VPC
        rule); the VPC''s CIDR; lab: the lab VPC; AWS: with C(vpc_id), or checked against the export.'
      - 'C(vpc_id) (default C("")): an id like vpc-0123456789abcdef0; or empty; the VPC''s id; empty = import
        it from the C(import_prefix) exports. AWS only.'
      - 'C(subnet_ids) (default C([])): a list of subnet ids; at least 2 subnets in different zones when
        C(vpc_id) is given; refused without it. AWS only.'
      - 'C(import_prefix) (default C(infra-vpc)): a CloudFormation export name prefix (letters, digits,
        ''-'', '':''); exports C(<prefix>-VpcId), C(<prefix>-VpcCidr), C(<prefix>-PublicSubnets), C(<prefix>-PrivateSubnets).
        AWS only.'
    type: raw
    default:
      vpc_cidr: 10.0.0.0/16
      vpc_id: ''
      subnet_ids: []
      import_prefix: infra-vpc
  sources:
    description:
      - What to mirror; each source ENI gets one session, so a source is listed once (C(mirrorlab_sources),
        a list).
      - 'A non-empty list of sources, e.g. [{type: sample_service}].'
      - 'C([].type): one of C(sample_service), C(load_balancer), C(instance), C(ecs_service), C(network_interface);
        C(sample_service): the sample service''s ALB (on the lab: the lab''s ALB); C(load_balancer): a load
        balancer by C(name) or C(arn) (on the lab: the lab''s ALB); C(instance): EC2 instances by C(id)
        or C(tags) (AWS only); C(ecs_service): the tasks of an ECS service (on the lab: the backend); C(network_interface):
        one ENI by C(id) (on the lab: a lab ENI id, see docs/lab.md).'
      - 'C([].name): C(type: load_balancer); a load balancer name (1-32 letters, digits, ''-''); load balancer
        name.'
      - 'C([].arn): C(type: load_balancer); an elasticloadbalancing load balancer ARN; load balancer ARN.'
      - 'C([].id): C(type: instance); an id like i-0123456789abcdef0; instance id. AWS only.'
      - 'C([].tags): C(type: instance); a mapping of tag names to values; tag names to values; every instance
        carrying them. AWS only.'
      - 'C([].cluster): C(type: ecs_service); a string (a name or an ARN); cluster name or ARN.'
      - 'C([].service): C(type: ecs_service); a string (a name or an ARN); service name or ARN.'
      - 'C([].id): C(type: network_interface); an id like eni-0123456789abcdef0; ENI id.'
    type: raw
    default:
      - type: sample_service
  filter:
    description:
      - 'The mirror filter: a preset, or rules with AWS semantics (C(mirrorlab_filter), a mapping).'
      - 'C(preset) (default C(all_tcp)): one of C(all_tcp), C(alb_client), C(alb_target); ignored when C(rules)
        is given (presets below).'
      - 'C(rules) (default C([])): a list of rules; at most 10 rules (AWS quota per filter), see below.'
      - 'C(rules[].direction): C(ingress) or C(egress); as seen by the source ENI.'
      - 'C(rules[].number): 1-32766; unique per direction; lower is evaluated first.'
      - 'C(rules[].action): C(accept) or C(reject); C(accept): mirrored, C(reject): not mirrored.'
      - 'C(rules[].protocol) (default C(all)): C(tcp), C(udp), C(icmp), C(all) or a number 0-255.'
      - 'C(rules[].source_cidr): IPv4 or IPv6 CIDR (a bare address is /32 or /128).'
      - 'C(rules[].destination_cidr): same IP family as C(source_cidr).'
      - 'C(rules[].source_ports): C(N) or C(N-M) (0-65535), tcp and udp only; omitted = any.'
      - 'C(rules[].destination_ports): C(N) or C(N-M) (0-65535), tcp and udp only; omitted = any.'
      - 'C(rules[].description) (default C("")): at most 255 characters.'
    type: raw
    default:
      preset: all_tcp
      rules: []
  session:
    description:
      - The mirror sessions (one per source ENI) (C(mirrorlab_session), a mapping).
      - 'C(vni) (default C(12345)): 0-16777215; VXLAN network identifier of every session (the capture link''s
        VNI).'
      - 'C(session_number) (default C(1)): 1-32766; the sessions'' priority on their ENI, lowest first.'
      - 'C(packet_length) (default C(null)): 1-8500 or null; bytes mirrored of each packet; null = the whole
        packet.'
      - 'C(vni_per_eni) (default C(false)): true or false; each source ENI''s session gets its own VNI:
        C(vni) + the ENI''s position in the source ENIs sorted by id (0, 1, ...); C(vni-map.json) next to
        the fetched pcaps names the ENI, zone and source of each VNI.'
      - 'C(extra) (default C([])): a list of sessions, e.g. [{session_number: 2, filter: {preset: alb_target}}];
        up to 2 more sessions on every source ENI (AWS quota: 3 per source ENI), each with its own C(session_number),
        filter and VNI; a packet goes to the lowest-numbered session whose filter accepts it, once.'
      - 'C(extra[].session_number): 1-32766; required; unique among the ENI''s sessions, lowest first.'
      - 'C(extra[].vni) (default C(null)): 0-16777215 or null; its VNI; null = C(mirrorlab_session.vni);
        another VNI gets its own capture link.'
      - 'C(extra[].packet_length) (default C(null)): 1-8500 or null; null = the whole packet.'
      - 'C(extra[].filter) (default C({preset: all_tcp, rules: []})): its filter, like C(mirrorlab_filter).'
      - 'C(extra[].filter.preset) (default C(all_tcp)): one of C(all_tcp), C(alb_client), C(alb_target);
        ignored when C(rules) is given (presets below).'
      - 'C(extra[].filter.rules) (default C([])): a list of rules; at most 10 rules (AWS quota per filter),
        see below.'
      - 'C(extra[].filter.rules[].direction): C(ingress) or C(egress); as seen by the source ENI.'
      - 'C(extra[].filter.rules[].number): 1-32766; unique per direction; lower is evaluated first.'
      - 'C(extra[].filter.rules[].action): C(accept) or C(reject); C(accept): mirrored, C(reject): not mirrored.'
      - 'C(extra[].filter.rules[].protocol) (default C(all)): C(tcp), C(udp), C(icmp), C(all) or a number
        0-255.'
      - 'C(extra[].filter.rules[].source_cidr): IPv4 or IPv6 CIDR (a bare address is /32 or /128).'
      - 'C(extra[].filter.rules[].destination_cidr): same IP family as C(source_cidr).'
      - 'C(extra[].filter.rules[].source_ports): C(N) or C(N-M) (0-65535), tcp and udp only; omitted = any.'
      - 'C(extra[].filter.rules[].destination_ports): C(N) or C(N-M) (0-65535), tcp and udp only; omitted
        = any.'
      - 'C(extra[].filter.rules[].description) (default C("")): at most 255 characters.'
    type: raw
    default:
      vni: 12345
      session_number: 1
      packet_length: null
      vni_per_eni: false
      extra: []
  target:
    description:
      - The capture target (C(mirrorlab_target), a mapping).
      - 'C(type) (default C(instance)): C(instance) or C(gateway_load_balancer_endpoint); C(instance): capture
        instances made by mirrorlab; C(gateway_load_balancer_endpoint): the sessions go to an existing GWLB
        endpoint (C(gwlb_endpoint_id), AWS only; the lab refuses it).'
      - 'C(gwlb_endpoint_id) (default C("")): an id like vpce-0123456789abcdef0; or empty; the Gateway Load
        Balancer endpoint, with C(type: gateway_load_balancer_endpoint). AWS only.'
      - 'C(count) (default C(1)): 1-10; capture instances (lab: machines); above 1 they sit behind an NLB
        (UDP 4789; the lab: a stand-in that keeps each flow on one machine).'
      - 'C(instance_type) (default C(t3.small)): an EC2 instance type such as t3.small; a Nitro type (known
        Xen families such as t2, m4, c4, i3 are refused). AWS only.'
      - 'C(spot) (default C(false)): true or false; a spot instance. AWS only.'
    type: raw
    default:
      type: instance
      gwlb_endpoint_id: ''
      count: 1
      instance_type: t3.small
      spot: false
  expire_after:
    description:
      - Hours after which an EventBridge Scheduler schedule in the account deletes the mirroring stack (the
        billed sessions) without the user's machine; a re-run of site.yml sets it anew from then (docs/cost.md)
        (C(mirrorlab_expire_after), an integer). AWS only.
      - 0 (never) or an integer 1-720.
    type: raw
    default: 0
  capture:
    description:
      - The capture role's settings, each key a C(capture_<key>) variable without its prefix (C(mirrorlab_capture),
        a mapping).
      - A mapping (see the capture role's capture_* variables).
    type: raw
    default: {}
  discard_captures:
    description:
      - 'Teardown.yml deletes the pcap files (AWS: and the archive) instead of copying them to C(./captures/<deployment>/<target>/<link>/)
        first (C(mirrorlab_discard_captures), a boolean).'
    type: raw
    default: false
  https:
    description:
      - 'An HTTPS listener (443, the TLS policy of ELBSecurityPolicy-TLS13-1-2-2021-06) on the sample service;
        AWS: without C(mirrorlab_certificate_arn) a self-signed certificate is imported to ACM; lab: a self-signed
        certificate made by the same role (C(mirrorlab_https), a boolean).'
    type: raw
    default: false
  certificate_arn:
    description:
      - 'ACM certificate of the HTTPS listener; only with C(mirrorlab_https: true) (C(mirrorlab_certificate_arn),
        a string). AWS only.'
      - An ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>); or empty.
    type: raw
    default: ''
  # END generated
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
    session: {vni: 12345, session_number: 1, packet_length: null, vni_per_eni: false, extra: []}
    target: {type: instance, gwlb_endpoint_id: "", count: 1, instance_type: t3.small, spot: false}
    expire_after: 0
    capture: {link_name: capture0, extra_vnis: [], interface: "", dstport: 4789, mtu: 0, link_manager: auto,
              tool: tcpdump, dir: /var/lib/mirrorlab/capture, rotate_seconds: 300, rotate_mb: 100,
              max_total_mb: 2048, min_free_mb: 1024, housekeeping_seconds: 15, snaplen: 0, filter: "",
              buffer_kib: 131072, user: mirrorlab-capture, group: pcap, s3_bucket: "", s3_prefix: pcap/,
              s3_region: "", s3_endpoint_url: "", s3_environment: {}, install_packages: true}
    discard_captures: false
    capture_vars: {capture_vni: 12345}
    capture_instances: 1
    https: false
    certificate_arn: ""
    constants: {deployment_pattern: "^[a-z]([a-z0-9-]{0,21}[a-z0-9])?$", vni: {min: 0, max: 16777215},
                session_number: {min: 1, max: 32766}, packet_length: {min: 1, max: 8500}, all_protocols: -1}
  contains:
    capture:
      description: Every capture setting that C(mirrorlab_capture) can set, normalized, defaults filled in.
      type: dict
    capture_vars:
      description:
        - The capture role's variables, ready to pass on unchanged, C(capture_<key>) for every key
          of C(mirrorlab_capture) that was set (normalized), plus C(capture_vni), the session's VNI.
        - The lab adds its C(capture_interface); AWS its archive bucket and the VNI read back from
          the deployed sessions.
      type: dict
    capture_instances:
      description:
        - The capture instances mirrorlab creates, C(mirrorlab_target.count), or 0 with a Gateway
          Load Balancer endpoint target (the target-instance stack then holds no instance, no
          bucket and no capture step runs).
      type: int
    constants:
      description: The model's limits for the CloudFormation templates (their parameter constraints
        and the "all protocols" protocol number of a normalized rule).
      type: dict
errors:
  description: Every validation problem, each the variable path, a colon and the rule (also joined in C(msg)).
  returned: failure
  type: list
  elements: str
  sample: ["mirrorlab_session.vni: must be an integer 0-16777215, got 16777216"]
"""

import copy

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mirrorlab.vpc.plugins.module_utils import model
from ansible_collections.mirrorlab.vpc.plugins.module_utils.experiment import (
    build_experiment,
    misspelled_variables,
)


def argument_spec():
    """One option per variable of the model (model.EXPERIMENT) with its default, each of type
    raw (model.ARGSPEC_TYPE): build_experiment checks the declared types, naming the variable."""
    spec = {}
    for option in model.EXPERIMENT:
        spec[option.name] = {"type": model.ARGSPEC_TYPE, "default": copy.deepcopy(option.default)}
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
