# -*- coding: utf-8 -*-

# Copyright: Contributors to the mirrorlab project
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""mirrorlab.vpc.stack_wait: follow CloudFormation stacks until their background jobs end (or,
without jobs, until no stack is in progress), printing each stack's status and newest events
every poll_interval seconds. Documentation: plugins/modules/stack_wait.py.

An action plugin because a module cannot print while it runs: each round reads the stacks with
the module mirrorlab.vpc.stack_info and the jobs with ansible.builtin.async_status, on the
task's host, with the task's connection options and environment.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.mirrorlab.vpc.plugins.module_utils.stacks import job_outcome
from ansible_collections.mirrorlab.vpc.plugins.module_utils.stacks import job_stack_name
from ansible_collections.mirrorlab.vpc.plugins.module_utils.stacks import progress_lines

display = Display()

OWN_ARGS = dict(
    names=dict(type="list", elements="str", default=[]),
    jobs=dict(type="list", elements="dict", default=[]),
    poll_interval=dict(type="int", default=15),
    timeout=dict(type="int", default=3000),
    events=dict(type="int", default=3),
)


def _failure_text(result):
    """A failed result's message: its msg, or (ansible-core 2.19, which moves a module's error
    message into the result's exception summary) the message of its exception."""
    if result.get("msg") or not result.get("exception"):
        return result.get("msg", "")
    exception = result["exception"]
    event = getattr(exception, "event", None)
    return str(getattr(event, "msg", None) or exception)


class ActionModule(ActionBase):

    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        # Its own options are checked here; the AWS connection options go to stack_info, which
        # checks them.
        validation = ArgumentSpecValidator(OWN_ARGS).validate(
            dict((k, v) for k, v in self._task.args.items() if k in OWN_ARGS)
        )
        if validation.error_messages:
            raise AnsibleActionFail("; ".join(validation.error_messages))
        args = validation.validated_parameters
        aws_args = dict((k, v) for k, v in self._task.args.items() if k not in OWN_ARGS)
        if args["poll_interval"] < 1 or args["timeout"] < 0 or args["events"] < 0:
            raise AnsibleActionFail("poll_interval must be 1 or more, timeout and events 0 or more")

        jobs = self._jobs(args["jobs"])
        names = list(dict.fromkeys(args["names"] + [name for name, dummy in jobs]))
        if not names:
            return dict(result, changed=False, done=True, jobs=[], failures=[], stacks={}, elapsed=0)

        start = time.monotonic()
        while True:
            elapsed = int(time.monotonic() - start)
            reading = self._stack_info(names, args["events"], aws_args, task_vars)
            for line in progress_lines(reading["stacks"], elapsed):
                display.display(line)
            if jobs:
                outcomes = self._job_outcomes(jobs, task_vars)
                done = all(outcome is not None for outcome in outcomes)
            else:
                outcomes = []
                done = not any(name in reading["in_progress"] for name in names)
            if done:
                break
            if elapsed + args["poll_interval"] > args["timeout"]:
                raise AnsibleActionFail(
                    "Timed out after %d s waiting for %s (%s); CloudFormation goes on working on them. "
                    "Run the playbook again when they are done." % (elapsed, ", ".join(names), reading["summary"])
                )
            time.sleep(args["poll_interval"])

        for outcome in outcomes:
            display.display("%s: %s" % (outcome["name"], "failed: " + outcome["msg"] if outcome["failed"]
                                        else "done" + (" (changed)" if outcome["changed"] else "")))
        return dict(
            result,
            changed=any(outcome["changed"] for outcome in outcomes),
            done=True,
            elapsed=int(time.monotonic() - start),
            jobs=outcomes,
            failures=[outcome for outcome in outcomes if outcome["failed"]],
            stacks=reading["stacks"],
        )

    @staticmethod
    def _jobs(results):
        """(stack name, job id) of each started background job; results without a job id (a
        skipped loop item, a run in check mode) are left out."""
        jobs = []
        for item in results:
            if not item.get("ansible_job_id"):
                continue
            name = job_stack_name(item)
            if not name:
                raise AnsibleActionFail(
                    "jobs: the job %s has no stack name in its loop item (a stack name, or a mapping "
                    "with the stack name in 'name')" % item["ansible_job_id"]
                )
            jobs.append((name, item["ansible_job_id"]))
        return jobs

    def _stack_info(self, names, events, aws_args, task_vars):
        args = dict(aws_args, names=names, events=events)
        reading = self._execute_module(module_name="mirrorlab.vpc.stack_info", module_args=args, task_vars=task_vars)
        if reading.get("failed"):
            raise AnsibleActionFail(reading.get("msg", "mirrorlab.vpc.stack_info failed"), result=reading)
        return reading

    def _job_outcomes(self, jobs, task_vars):
        """Per job its outcome (job_outcome) once finished, else None."""
        outcomes = []
        for name, jid in jobs:
            status = self._async_status(jid, task_vars)
            # finished, or failed without finishing: the job is unknown or its result unreadable
            if status.get("finished") or status.get("failed"):
                outcomes.append(job_outcome(name, dict(status, msg=_failure_text(status))))
            else:
                outcomes.append(None)
        return outcomes

    def _async_status(self, jid, task_vars):
        task = self._task.copy()
        task.args = dict(jid=jid, mode="status")
        action = self._shared_loader_obj.action_loader.get(
            "ansible.builtin.async_status",
            task=task,
            connection=self._connection,
            play_context=self._play_context,
            loader=self._loader,
            templar=self._templar,
            shared_loader_obj=self._shared_loader_obj,
        )
        return action.run(task_vars=task_vars)
