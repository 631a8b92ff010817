#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the mirrorlab project
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: stack_wait
version_added: 0.1.0
short_description: Follow CloudFormation stacks until they are done, printing their progress
description:
  - "Waits for background jobs of M(amazon.aws.cloudformation) (a looped task with C(async) and
    C(poll: 0)) to end, or, without O(jobs), for the O(names) stacks to leave every
    C(*_IN_PROGRESS) state. Every O(poll_interval) seconds it prints each stack's status, the
    time waited and its O(events) newest events, so that a run of many minutes shows what
    CloudFormation is doing."
  - Each round reads the stacks with M(mirrorlab.vpc.stack_info) (one call per stack, plus one
    for its events) and the jobs with M(ansible.builtin.async_status).
  - Fails when the stacks are not done after O(timeout) seconds (CloudFormation goes on
    working on them), naming them with their status. A job that failed does not fail the
    task; it is returned in RV(failures), for the playbook to decide.
  - The task reports C(changed) when a job changed its stack (the change of a background job
    shows when it is collected).
  - This is an action plugin; it runs on the controller and executes its modules on the task's
    host.
author:
  - mirrorlab developers (@mirrorlab)
options:
  jobs:
    description:
      - "The registered C(results) of a looped M(amazon.aws.cloudformation) task started with
        C(async) and C(poll: 0). Each result's loop C(item) names the stack, as a string or as
        a mapping with the stack name in C(name)."
      - Results without C(ansible_job_id) (a skipped loop item, a run in check mode) are left
        out.
    type: list
    elements: dict
    default: []
  names:
    description:
      - Stacks to follow (besides those of O(jobs)). Without O(jobs), the wait ends when none
        of them is C(*_IN_PROGRESS).
    type: list
    elements: str
    default: []
  poll_interval:
    description: Seconds between two progress reports.
    type: int
    default: 15
  timeout:
    description: Longest wait in seconds.
    type: int
    default: 3000
  events:
    description: How many of each stack's newest events each report shows.
    type: int
    default: 3
notes:
  - Needs what M(mirrorlab.vpc.stack_info) needs (C(cloudformation:DescribeStacks),
    C(cloudformation:DescribeStackEvents)).
  - The AWS connection options are passed on to M(mirrorlab.vpc.stack_info).
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
attributes:
  action:
    support: full
    description: Runs on the controller, with the task's connection for its modules.
  async:
    support: none
    description: It waits for background jobs; it is not one.
  check_mode:
    support: full
    description: Only reads; in check mode there are no background jobs to wait for.
"""

EXAMPLES = r"""
# Note: These examples do not set authentication details, see the AWS Guide for details.

- name: Create two stacks concurrently
  amazon.aws.cloudformation:
    region: eu-west-1
    stack_name: "{{ item.name }}"
    template_body: "{{ lookup('ansible.builtin.file', item.template) }}"
  loop:
    - {name: demo-a, template: a.yml}
    - {name: demo-b, template: b.yml}
  async: 3600
  poll: 0
  register: demo_jobs
  changed_when: false

- name: Follow both until they are done
  mirrorlab.vpc.stack_wait:
    region: eu-west-1
    jobs: "{{ demo_jobs.results }}"
    poll_interval: 15
    timeout: 3000
  register: demo_wait

- name: Stop when a stack failed
  ansible.builtin.fail:
    msg: "{{ demo_wait.failures | map(attribute='name') | join(', ') }} failed: {{ demo_wait.failures | map(attribute='msg') | join('; ') }}"
  when: demo_wait.failures | length > 0

- name: Let an update or a rollback end before deleting a stack
  mirrorlab.vpc.stack_wait:
    region: eu-west-1
    names: [demo-a]
"""

RETURN = r"""
done:
  description: The wait ended (it fails otherwise).
  returned: always
  type: bool
  sample: true
elapsed:
  description: Seconds waited.
  returned: always
  type: int
  sample: 184
jobs:
  description: Each job's outcome, in the order of O(jobs).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The stack.
      type: str
      returned: always
      sample: mirrorlab-target-instance
    changed:
      description: The job changed its stack.
      type: bool
      returned: always
      sample: true
    failed:
      description: The job failed.
      type: bool
      returned: always
      sample: false
    msg:
      description: The job's message and output, joined by C(; ) (empty when there are none).
      type: str
      returned: always
      sample: ""
failures:
  description: The RV(jobs) that failed.
  returned: always
  type: list
  elements: dict
  sample: [{"name": "mirrorlab-target-instance", "changed": false, "failed": true, "msg": "Stack CREATE_FAILED"}]
stacks:
  description: The stacks as the last round read them (RV(mirrorlab.vpc.stack_info#module:stacks)).
  returned: always
  type: dict
  sample: {"mirrorlab-target-instance": {"name": "mirrorlab-target-instance", "status": "CREATE_IN_PROGRESS"}}
"""
