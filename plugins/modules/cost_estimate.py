#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the mirrorlab project
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: cost_estimate
short_description: Estimate what a mirrorlab deployment costs on AWS, item by item
version_added: 0.2.0
description:
  - Works out, from the normalized experiment model (M(mirrorlab.vpc.experiment_info)), what the
    deployment runs on AWS (mirror sessions per source ENI, capture instances by type, their
    volumes, the ALB, the NLB of a scale-out target, the Fargate task's vCPU and memory, public
    IPv4 addresses) and prices each item from the collection's price table
    (C(plugins/module_utils/pricing.py)), which names for every figure the AWS pricing page, where
    the figure was read, whether that was AWS's own page, and the date.
  - A region, an instance type or a price that is not in the table is C(unknown) and left out of
    the totals, which then read "at least"; no figure is made up.
  - Usage-based charges (load balancer capacity units, data transfer, S3 storage and requests)
    are not in the totals; they are returned as RV(estimate.notes) with their unit price.
  - Makes no AWS call and changes nothing; runs on the controller.
author:
  - mirrorlab developers (@mirrorlab)
options:
  experiment:
    description: The normalized experiment model (the C(experiment) fact).
    type: dict
    required: true
  sessions:
    description:
      - The number of mirror sessions deployed (after deploying). Omitted, it is estimated from
        the sources (an ALB has one ENI per zone).
    type: int
  hours:
    description:
      - The planned lifetime in hours (C(mirrorlab_expire_after)); the estimate adds the cost
        over it. 0 = no end.
    type: int
    default: 0
attributes:
  check_mode:
    support: full
    description: Changes nothing, in check mode or not.
seealso:
  - module: mirrorlab.vpc.experiment_info
"""

EXAMPLES = r"""
- name: What the deployment costs
  mirrorlab.vpc.cost_estimate:
    experiment: "{{ experiment }}"
    sessions: "{{ stacks_sessions.traffic_mirror_sessions | length }}"
    hours: "{{ experiment.expire_after }}"
  register: stacks_cost

- name: Show it
  ansible.builtin.debug:
    msg: "{{ stacks_cost.estimate.lines }}"
"""

RETURN = r"""
estimate:
  description: The estimate.
  returned: success
  type: dict
  contains:
    region:
      description: The region priced.
      type: str
    read:
      description: The date the prices were read.
      type: str
    items:
      description: One per billed item, with C(item), C(quantity), C(unit), C(unit_usd) (null =
        unknown), C(hourly_usd), C(confirmed), C(page), C(seen_on) and C(note).
      type: list
      elements: dict
    hourly_usd:
      description: The sum of the known items per hour; null when none is known.
      type: float
    daily_usd:
      description: 24 times C(hourly_usd).
      type: float
    lifetime_usd:
      description: C(hourly_usd) times O(hours); null without an end.
      type: float
    unknown:
      description: The items whose price is not in the table (not in the totals).
      type: list
      elements: str
    unconfirmed:
      description: The items priced from a page other than AWS's own.
      type: list
      elements: str
    complete:
      description: Whether every item has a price.
      type: bool
    notes:
      description: Usage-based charges, with their unit price, not in the totals.
      type: list
      elements: dict
    lines:
      description: The estimate as text lines for a summary.
      type: list
      elements: str
  sample:
    region: us-east-1
    hourly_usd: 0.114
    lines: ["What this costs on AWS (us-east-1, prices read 2026-12-02, not a quote): at least $0.1140 per hour, ..."]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mirrorlab.vpc.plugins.module_utils.pricing import estimate


def main():
    module = AnsibleModule(
        argument_spec={
            "experiment": {"type": "dict", "required": True},
            "sessions": {"type": "int"},
            "hours": {"type": "int", "default": 0},
        },
        supports_check_mode=True,
    )
    experiment = module.params["experiment"]
    missing = [key for key in ("region", "target", "sources", "network") if key not in experiment]
    if missing:
        module.fail_json(msg="experiment: not a normalized experiment model (missing %s); pass the experiment fact "
                             "of mirrorlab.vpc.experiment" % ", ".join(missing))
    if module.params["hours"] < 0 or (module.params["sessions"] or 0) < 0:
        module.fail_json(msg="hours and sessions must be 0 or more")
    module.exit_json(changed=False, estimate=estimate(experiment, module.params["sessions"], module.params["hours"]))


if __name__ == "__main__":
    main()
