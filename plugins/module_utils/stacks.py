# -*- coding: utf-8 -*-

# Copyright: Contributors to the mirrorlab project
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The state of CloudFormation stacks, for mirrorlab.vpc.stack_info and mirrorlab.vpc.stack_wait.

``describe_stacks(client, names, events)`` reads each named stack (status, outputs,
parameters, tags, and its newest events) and classifies it; ``progress_lines`` turns such a
reading into the progress report that stack_wait prints while it waits. Kept free of
AnsibleModule so that it can be tested with plain boto3 clients.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

try:
    from botocore.exceptions import ClientError
except ImportError:  # pragma: no cover - handled by AnsibleAWSModule (HAS_BOTO3)
    ClientError = Exception

from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

ABSENT = "ABSENT"  # the status of a stack that does not exist (never created, or deleted)

# Failed creations that CloudFormation cannot update: the stack must be deleted, then created.
UNRECOVERABLE_STATES = ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "CREATE_FAILED", "DELETE_FAILED")


def in_progress(status):
    """CloudFormation is still working on the stack."""
    return status.endswith("_IN_PROGRESS")


def settling(status):
    """An update or a rollback is running: it must end before the stack can be deleted (a
    creation in progress can be deleted at once, which cancels it)."""
    return in_progress(status) and (status.startswith("UPDATE") or "ROLLBACK" in status)


@AWSRetry.jittered_backoff()
def _paginate(client, operation, max_items=None, **params):
    paginator = client.get_paginator(operation)
    config = {"MaxItems": max_items} if max_items else {}
    return paginator.paginate(PaginationConfig=config, **params).build_full_result()


def _missing(exc):
    error = getattr(exc, "response", {}).get("Error", {})
    return error.get("Code") == "ValidationError" and "does not exist" in error.get("Message", "")


def _pairs(items, key, value):
    return dict((item[key], item.get(value, "")) for item in items or [])


def _event(event):
    return {
        "timestamp": event["Timestamp"].isoformat() if hasattr(event["Timestamp"], "isoformat") else str(event["Timestamp"]),
        "logical_resource_id": event.get("LogicalResourceId", ""),
        "resource_type": event.get("ResourceType", ""),
        "resource_status": event.get("ResourceStatus", ""),
        "resource_status_reason": event.get("ResourceStatusReason", ""),
    }


def describe_stack(client, name, events=0):
    """One stack's state: {name, status (ABSENT when there is no such stack), stack_id,
    status_reason, outputs, parameters, tags, events (the newest `events`, newest first)}."""
    state = {"name": name, "status": ABSENT, "stack_id": None, "status_reason": "",
             "outputs": {}, "parameters": {}, "tags": {}, "events": []}
    try:
        found = _paginate(client, "describe_stacks", StackName=name).get("Stacks", [])
    except ClientError as exc:
        if _missing(exc):
            return state
        raise
    if not found or found[0].get("StackStatus") == "DELETE_COMPLETE":
        return state
    stack = found[0]
    state.update(
        status=stack["StackStatus"],
        stack_id=stack.get("StackId"),
        status_reason=stack.get("StackStatusReason", ""),
        outputs=_pairs(stack.get("Outputs"), "OutputKey", "OutputValue"),
        parameters=_pairs(stack.get("Parameters"), "ParameterKey", "ParameterValue"),
        tags=_pairs(stack.get("Tags"), "Key", "Value"),
    )
    if events:
        try:
            page = _paginate(client, "describe_stack_events", max_items=events, StackName=state["stack_id"] or name)
        except ClientError as exc:
            if not _missing(exc):  # deleted between the two calls
                raise
            page = {}
        state["events"] = [_event(e) for e in page.get("StackEvents", [])[:events]]
    return state


def describe_stacks(client, names, events=0):
    """The module's result for these stack names (duplicates read once, order kept)."""
    stacks = {}
    for name in names:
        if name not in stacks:
            stacks[name] = describe_stack(client, name, events)
    return summarize(stacks)


def summarize(stacks):
    """stacks ({name: state}) with the views the playbooks use."""
    status = dict((name, s["status"]) for name, s in stacks.items())
    return {
        "stacks": stacks,
        "status": status,
        "outputs": dict((name, s["outputs"]) for name, s in stacks.items()),
        "present": [name for name, value in status.items() if value != ABSENT],
        "in_progress": [name for name, value in status.items() if in_progress(value)],
        "settling": [name for name, value in status.items() if settling(value)],
        "unrecoverable": [name for name, value in status.items() if value in UNRECOVERABLE_STATES],
        "summary": ", ".join("%s %s" % item for item in status.items()),
    }


def progress_lines(stacks, elapsed):
    """The progress report of one round: per stack its status and time, then its newest events."""
    lines = []
    for name, state in stacks.items():
        status = state["status"] if state["status"] != ABSENT else "no stack (yet/any more)"
        lines.append("%s: %s, %d s" % (name, status, elapsed))
        for event in state["events"]:
            reason = event["resource_status_reason"]
            lines.append("  %s %s (%s) %s%s" % (
                event["timestamp"], event["logical_resource_id"], event["resource_type"],
                event["resource_status"], ": " + reason if reason else "",
            ))
    return lines


def job_outcome(name, result):
    """What a finished background job (amazon.aws.cloudformation with async) says: {name,
    changed, failed, msg}; msg joins the module's message and output."""
    text = "; ".join(str(result[key]) for key in ("msg", "output") if result.get(key))
    return {
        "name": name,
        "changed": bool(result.get("changed")),
        "failed": bool(result.get("failed")),
        "msg": text,
    }


def job_stack_name(result):
    """The stack a registered loop result of amazon.aws.cloudformation is about: its loop item,
    a stack name or a mapping with the stack name in `name`."""
    item = result.get("item")
    if isinstance(item, dict):
        return item.get("name")
    return item
