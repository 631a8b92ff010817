"""EMULATION for the mirrorlab tests only: Session Manager's session API, which moto 5.2.5 lacks.

Loaded with the rest of tests/moto_ext into the tests' own moto server process (server.py);
never shipped, never loaded by a playbook. What `amazon.aws.aws_ssm` calls, answered as the
SSM API reference describes it:

- StartSession(Target, DocumentName?, Reason?, Parameters?) -> SessionId, StreamUrl, TokenValue.
  The target must be an instance of this account and region that SSM could manage: running,
  with an instance profile whose role allows what the SSM agent needs to register and open the
  session's channels (AmazonSSMManagedInstanceCore grants it). Otherwise AWS answers
  TargetNotConnected ("<id> is not connected."), and so does this emulation.
- ResumeSession(SessionId) -> SessionId, StreamUrl, a new TokenValue (an active session only).
- TerminateSession(SessionId) -> SessionId; the session moves to the history. Terminating an
  already terminated session succeeds, as on AWS; an unknown id is DoesNotExistException.
- DescribeSessions(State=Active|History, Filters?) -> Sessions (SessionId, Target, Status,
  StartDate, EndDate, DocumentName, Owner, Reason, MaxSessionDuration).

What is NOT emulated: the data channel behind StreamUrl (wss://ssmmessages...). The tests'
stand-in session-manager-plugin (tests/ssm/bin) plays the agent's side instead and checks with
DescribeSessions that the session it was handed is active and for its target.
"""

from __future__ import annotations

import base64
import datetime
import fnmatch
import json
import secrets
from typing import Any

from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult
from moto.ec2.models import ec2_backends
from moto.ssm.models import ssm_backends
from moto.ssm.responses import SimpleSystemManagerResponse

# What the SSM agent needs from the instance's role to register and to open a session
# (the session-related part of the AWS managed policy AmazonSSMManagedInstanceCore).
AGENT_ACTIONS = (
    "ssm:UpdateInstanceInformation",
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
)
SSM_CORE_POLICY = "AmazonSSMManagedInstanceCore"
DEFAULT_DOCUMENT = "SSM-SessionManagerRunShell"
OWNER_NAME = "moto"  # moto's GetCallerIdentity names the caller "moto"


class TargetNotConnected(ServiceException):
    __module__ = "moto_ext.ssm"  # moto finds the service model of an error by its module path

    def __init__(self, target: str, why: str) -> None:
        # AWS's message is "<id> is not connected."; the reason is the emulation's own addition.
        super().__init__("TargetNotConnected", f"{target} is not connected. ({why})")


class SessionDoesNotExist(ServiceException):
    __module__ = "moto_ext.ssm"

    def __init__(self, session_id: str) -> None:
        super().__init__("DoesNotExistException", f"Session {session_id} does not exist.")


class InvalidFilter(ServiceException):
    __module__ = "moto_ext.ssm"

    def __init__(self, message: str) -> None:
        super().__init__("InvalidFilterKey", message)


# --------------------------------------------------------------------------- the target


def _policy_documents(role) -> list[dict]:
    docs = []
    for policy in getattr(role, "managed_policies", {}).values():
        default = [v.document for v in getattr(policy, "versions", []) if v.version_id == policy.default_version_id]
        document = (default[0] if default else None) or _aws_managed_document(policy.arn)
        if document:
            docs.append(json.loads(document) if isinstance(document, str) else document)
    for document in getattr(role, "policies", {}).values():
        docs.append(json.loads(document) if isinstance(document, str) else document)
    return docs


def _aws_managed_document(arn: str) -> dict | None:
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    name = arn.rsplit("/", 1)[-1]
    entry = json.loads(aws_managed_policies_data).get(name)
    return entry["Document"] if entry else None


def _allows(documents: list[dict], action: str) -> bool:
    for document in documents:
        statements = document.get("Statement", [])
        for statement in statements if isinstance(statements, list) else [statements]:
            actions = statement.get("Action", [])
            actions = [actions] if isinstance(actions, str) else actions
            resources = statement.get("Resource", [])
            resources = [resources] if isinstance(resources, str) else resources
            if (statement.get("Effect") == "Allow" and "*" in resources
                    and any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in actions)):
                return True
    return False


def _role_of(ec2, instance_id: str):
    association = ec2.iam_instance_profile_associations.get(instance_id)
    profile = getattr(association, "iam_instance_profile", None)
    roles = list(getattr(profile, "roles", []) or [])
    return roles[0] if roles else None


def check_target(account_id: str, region_name: str, target: str) -> None:
    """Raise TargetNotConnected unless SSM could manage this instance (see the module doc)."""
    ec2 = ec2_backends[account_id][region_name]
    instance = next((i for r in ec2.reservations.values() for i in r.instances if i.id == target), None)
    if instance is None:
        raise TargetNotConnected(target, f"no instance {target} in {region_name}")
    if instance.state != "running":
        raise TargetNotConnected(target, f"the instance is {instance.state}")
    role = _role_of(ec2, target)
    if role is None:
        raise TargetNotConnected(target, "the instance has no instance profile with a role: the SSM agent cannot register")
    documents = _policy_documents(role)
    missing = [a for a in AGENT_ACTIONS if not _allows(documents, a)]
    if missing:
        raise TargetNotConnected(
            target, f"role {role.name} does not allow {', '.join(missing)} (attach {SSM_CORE_POLICY})")


# --------------------------------------------------------------------------- the sessions


def _sessions(account_id: str, region_name: str) -> dict[str, dict[str, Any]]:
    backend = ssm_backends[account_id][region_name]
    if not hasattr(backend, "mirrorlab_sessions"):
        backend.mirrorlab_sessions = {}
    return backend.mirrorlab_sessions


def _stream(region_name: str, session_id: str) -> dict[str, str]:
    return {
        "SessionId": session_id,
        "StreamUrl": f"wss://ssmmessages.{region_name}.amazonaws.com/v1/data-channel/{session_id}"
                     "?role=publish_subscribe&cell-number=" + base64.b64encode(b"mirrorlab-moto").decode(),
        "TokenValue": secrets.token_urlsafe(192),
    }


def _public(session: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in session.items() if not k.startswith("_") and v is not None}


def start_session(self) -> ActionResult:
    target = self._get_param("Target")
    check_target(self.current_account, self.region, target)
    session_id = f"{OWNER_NAME}-{secrets.token_hex(9)[:17]}"
    _sessions(self.current_account, self.region)[session_id] = {
        "SessionId": session_id,
        "Target": target,
        "Status": "Connected",
        "StartDate": datetime.datetime.now(datetime.timezone.utc),
        "EndDate": None,
        "DocumentName": self._get_param("DocumentName") or DEFAULT_DOCUMENT,
        "Owner": f"arn:aws:sts::{self.current_account}:user/{OWNER_NAME}",
        "Reason": self._get_param("Reason"),
        "MaxSessionDuration": "20",
        "_parameters": self._get_param("Parameters") or {},
    }
    return ActionResult(_stream(self.region, session_id))


def resume_session(self) -> ActionResult:
    session_id = self._get_param("SessionId")
    session = _sessions(self.current_account, self.region).get(session_id)
    if session is None or session["Status"] != "Connected":
        raise SessionDoesNotExist(session_id)
    return ActionResult(_stream(self.region, session_id))


def terminate_session(self) -> ActionResult:
    session_id = self._get_param("SessionId")
    session = _sessions(self.current_account, self.region).get(session_id)
    if session is None:
        raise SessionDoesNotExist(session_id)
    if session["Status"] != "Terminated":
        session["Status"] = "Terminated"
        session["EndDate"] = datetime.datetime.now(datetime.timezone.utc)
    return ActionResult({"SessionId": session_id})


FILTER_KEYS = {"InvokedAfter", "InvokedBefore", "Target", "Owner", "Status", "SessionId"}


def _matches(session: dict[str, Any], key: str, value: str) -> bool:
    if key in ("InvokedAfter", "InvokedBefore"):
        moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return session["StartDate"] >= moment if key == "InvokedAfter" else session["StartDate"] <= moment
    return session.get(key) == value


def describe_sessions(self) -> ActionResult:
    state = self._get_param("State")
    filters = self._get_param("Filters") or []
    for item in filters:
        if item.get("key") not in FILTER_KEYS:
            raise InvalidFilter(f"{item.get('key')} is not a valid filter key")
    active = state == "Active"
    found = [
        _public(s) for s in _sessions(self.current_account, self.region).values()
        if (s["Status"] != "Terminated") == active and all(_matches(s, f["key"], f["value"]) for f in filters)
    ]
    return ActionResult({"Sessions": sorted(found, key=lambda s: s["StartDate"], reverse=True)})


def install() -> None:
    """Add the four actions to moto's SSM responses (moto dispatches by method name)."""
    for function in (start_session, resume_session, terminate_session, describe_sessions):
        setattr(SimpleSystemManagerResponse, function.__name__, function)
