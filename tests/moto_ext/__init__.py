"""EMULATION for the mirrorlab tests only: what moto 5.2.5 lacks for the AWS playbooks.

This package is imported by tests/integration/aws into the test's own in-process moto server
(ThreadedMotoServer). It is never shipped in the collection and never loaded by a playbook.
What it adds, and why (docs/aws.md, "What the moto tests emulate"):

1. CloudFormation resource types AWS::EC2::TrafficMirrorFilter, ...FilterRule, ...Target and
   ...Session. moto 5.2.5 has the EC2 API objects (create/describe of filters, targets,
   sessions; delete/modify of sessions) but no CloudFormation model for them: a template that
   declares them is accepted, a warning "No Moto CloudFormation support" is logged and the
   resources are silently NOT created. The models here create them through moto's own EC2
   backend, with filter rules, tags (explicit Tags plus the stack's tags, as CloudFormation
   propagates them), the AWS rules that a session's ENI and target must exist, a random VNI
   when none is given, and "a target cannot be deleted while a session uses it".
2. describe_traffic_mirror_* returned the tags as they were at creation; here they are live.
3. CloudFormation timing: moto creates and deletes a stack inside the API call. With
   `install(create_delay=D, delete_delay=D)` a stack stays CREATE_IN_PROGRESS (DELETE_IN_PROGRESS)
   for D seconds and its resources are created (deleted) afterwards in a background thread,
   as on AWS, so that ordering and concurrency of the playbooks can be observed. A resource
   that fails to create leaves the stack in ROLLBACK_COMPLETE, as on AWS. Until the creation
   completes, DescribeStacks returns no outputs, as on AWS (moto would resolve them, creating
   the resources early, racing the background thread).
4. CreateChangeSet without ChangeSetType: AWS means UPDATE, moto 5.2.5 means CREATE (and then
   shadows the existing stack with a REVIEW_IN_PROGRESS one); amazon.aws.cloudformation's
   check mode sends none. Here a CREATE change set for a live stack is taken as UPDATE.
5. UpdateStack with the same template, parameters and tags fails with "No updates are to be
   performed." (moto updates anyway); amazon.aws.cloudformation reports `changed: false` on it.
6. Deleting a stack whose bucket was already deleted (teardown empties and removes the capture
   bucket first) succeeds, as on AWS; moto failed and lost the stack. A failed deletion leaves
   the stack DELETE_FAILED, as on AWS.
7. Application/network load balancers get one requester-managed ENI per subnet with the
   description `ELB app/<name>/<id>` (`ELB net/...`), as AWS creates them; moto creates none.
   `add_load_balancer_eni()` adds one more, as when an ALB scales out.
8. Session Manager's session API (StartSession, ResumeSession, TerminateSession,
   DescribeSessions), which moto lacks: tests/moto_ext/ssm_sessions.py.
9. Properties moto's CloudFormation dropped: a load balancer's Type (every one became an ALB,
   so the scale-out NLB refused its UDP listener) and a role's ManagedPolicyArns (none were
   attached): tests/moto_ext/cfn_properties.py.
10. AWS::Scheduler::Schedule in CloudFormation (the expiry schedule), through moto's scheduler
   backend; no schedule ever fires: tests/moto_ext/scheduler.py.
"""

from __future__ import annotations

import random
import threading
from typing import Any

from moto.cloudformation import models as cfn_models
from moto.cloudformation import parsing as cfn_parsing
from moto.cloudformation.exceptions import ValidationError
from moto.core.common_models import CloudFormationModel
from moto.ec2.exceptions import InvalidInputError
from moto.ec2.models import ec2_backends
from moto.ec2.models.traffic_mirrors import (
    TrafficMirrorFilter,
    TrafficMirrorSession,
    TrafficMirrorTarget,
)
from moto.elbv2 import models as elbv2_models

_LOCK = threading.RLock()
_SETTINGS = {"create_delay": 0.0, "delete_delay": 0.0}
_INSTALLED = False

PROTOCOLS = {"tcp": 6, "udp": 17, "icmp": 1, "all": -1}


# --------------------------------------------------------------------------- helpers


def _ec2(account_id: str, region_name: str):
    return ec2_backends[account_id][region_name]


def _stack_tags(account_id: str, region_name: str, stack_id: str | None) -> dict[str, str]:
    if not stack_id:
        return {}
    backend = cfn_models.cloudformation_backends[account_id][region_name]
    stack = backend.stacks.get(stack_id)
    return dict(stack.tags) if stack else {}


def _tags(props: dict[str, Any], account_id: str, region_name: str, kwargs: dict) -> dict[str, str]:
    tags = _stack_tags(account_id, region_name, kwargs.get("StackId"))
    tags.update({t["Key"]: t["Value"] for t in props.get("Tags", []) or []})
    if kwargs.get("StackId"):
        tags["aws:cloudformation:stack-id"] = kwargs["StackId"]
        tags["aws:cloudformation:logical-id"] = kwargs.get("LogicalId", "")
    return tags


def _live_tags(obj) -> list[dict[str, str]]:
    return [{"Key": t["key"], "Value": t["value"]} for t in obj.get_tags()]


def _port_range(value):
    if not value:
        return None
    return {"FromPort": int(value["FromPort"]), "ToPort": int(value["ToPort"])}


class _Resource:
    """Common part: the emulated CloudFormation resource wraps a moto EC2 object."""

    kind = ""  # the EC2 backend dict name

    def __init__(self, obj, account_id: str, region_name: str):
        self.obj = obj
        self.account_id = account_id
        self.region_name = region_name

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @property
    def physical_resource_id(self) -> str:
        return self.obj.id

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Id"

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        return self.obj.id

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[misc]
        cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
    ):
        # Replacement, as CloudFormation does for these types' non-updatable properties.
        new = cls.create_from_cloudformation_json(
            new_resource_name, cloudformation_json, account_id, region_name,
            StackId=getattr(original_resource, "stack_id", None),
            LogicalId=getattr(original_resource, "logical_resource_id", None),
        )
        original_resource.delete(account_id, region_name)
        return new

    @classmethod
    def _wrap(cls, obj, props, account_id: str, region_name: str, kwargs):
        """Tag a new EC2 object as CloudFormation does and wrap it as the stack's resource."""
        obj.add_tags(_tags(props, account_id, region_name, kwargs))
        res = cls(obj, account_id, region_name)
        res.stack_id = kwargs.get("StackId")
        return res

    def _refuse_while_sessions_use(self, account_id: str, region_name: str, attribute: str, type_name: str) -> None:
        """As EC2 does, refuse to delete a filter or target that a session still uses."""
        ec2 = _ec2(account_id, region_name)
        users = [s.id for s in ec2.traffic_mirror_sessions.values() if getattr(s, attribute) == self.obj.id]
        if users:
            raise InvalidInputError(f"{type_name} {self.obj.id} is in use by {users}")

    def delete(self, account_id: str, region_name: str) -> None:
        ec2 = _ec2(account_id, region_name)
        getattr(ec2, self.kind).pop(self.obj.id, None)
        ec2.tags.pop(self.obj.id, None)


class MirrorFilter(_Resource, CloudFormationModel):
    __module__ = "moto_ext.ec2"  # moto's model registry keys models by module path
    kind = "traffic_mirror_filters"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::EC2::TrafficMirrorFilter"

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
    ):
        props = cloudformation_json.get("Properties", {})
        ec2 = _ec2(account_id, region_name)
        obj = ec2.create_traffic_mirror_filter(props.get("Description"), None, None)
        obj.network_services = list(props.get("NetworkServices", []))
        obj.mirrorlab_rules = {}
        return cls._wrap(obj, props, account_id, region_name, kwargs)

    def delete(self, account_id: str, region_name: str) -> None:
        self._refuse_while_sessions_use(account_id, region_name, "traffic_mirror_filter_id", "TrafficMirrorFilter")
        super().delete(account_id, region_name)


class MirrorFilterRule(_Resource, CloudFormationModel):
    __module__ = "moto_ext.ec2"  # moto's model registry keys models by module path
    kind = ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::EC2::TrafficMirrorFilterRule"

    @property
    def physical_resource_id(self) -> str:
        return self.rule["TrafficMirrorFilterRuleId"]

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
    ):
        props = cloudformation_json["Properties"]
        ec2 = _ec2(account_id, region_name)
        mirror_filter = ec2.traffic_mirror_filters.get(props["TrafficMirrorFilterId"])
        if mirror_filter is None:
            raise InvalidInputError(f"TrafficMirrorFilter {props['TrafficMirrorFilterId']} not found")
        direction = props["TrafficDirection"]
        number = int(props["RuleNumber"])
        rules = getattr(mirror_filter, "mirrorlab_rules", {})
        mirror_filter.mirrorlab_rules = rules
        if any(r["TrafficDirection"] == direction and r["RuleNumber"] == number for r in rules.values()):
            raise InvalidInputError(f"Rule number {number} already exists for {direction}")
        rule = {
            "TrafficMirrorFilterRuleId": f"tmfr-{random.getrandbits(68):017x}",
            "TrafficMirrorFilterId": mirror_filter.id,
            "TrafficDirection": direction,
            "RuleNumber": number,
            "RuleAction": props["RuleAction"],
            "Protocol": int(props.get("Protocol", -1)),
            "DestinationCidrBlock": props["DestinationCidrBlock"],
            "SourceCidrBlock": props["SourceCidrBlock"],
            "Description": props.get("Description", ""),
        }
        for key in ("DestinationPortRange", "SourcePortRange"):
            if _port_range(props.get(key)):
                rule[key] = _port_range(props[key])
        rules[rule["TrafficMirrorFilterRuleId"]] = rule
        res = cls(mirror_filter, account_id, region_name)
        res.rule = rule
        res.stack_id = kwargs.get("StackId")
        return res

    def delete(self, account_id: str, region_name: str) -> None:
        getattr(self.obj, "mirrorlab_rules", {}).pop(self.rule["TrafficMirrorFilterRuleId"], None)


class MirrorTarget(_Resource, CloudFormationModel):
    __module__ = "moto_ext.ec2"  # moto's model registry keys models by module path
    kind = "traffic_mirror_targets"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::EC2::TrafficMirrorTarget"

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
    ):
        props = cloudformation_json.get("Properties", {})
        ec2 = _ec2(account_id, region_name)
        eni = props.get("NetworkInterfaceId")
        if eni:
            ec2.get_network_interface(eni)  # raises InvalidNetworkInterfaceID.NotFound
        obj = ec2.create_traffic_mirror_target(
            eni, props.get("NetworkLoadBalancerArn"), props.get("Description"), None, None,
            props.get("GatewayLoadBalancerEndpointId"),
        )
        return cls._wrap(obj, props, account_id, region_name, kwargs)

    def delete(self, account_id: str, region_name: str) -> None:
        # AWS: "a target cannot be deleted while a session uses it"
        self._refuse_while_sessions_use(account_id, region_name, "traffic_mirror_target_id", "TrafficMirrorTarget")
        super().delete(account_id, region_name)


class MirrorSession(_Resource, CloudFormationModel):
    __module__ = "moto_ext.ec2"  # moto's model registry keys models by module path
    kind = "traffic_mirror_sessions"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::EC2::TrafficMirrorSession"

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
    ):
        props = cloudformation_json["Properties"]
        ec2 = _ec2(account_id, region_name)
        eni = props["NetworkInterfaceId"]
        ec2.get_network_interface(eni)  # raises InvalidNetworkInterfaceID.NotFound
        for key, table in (("TrafficMirrorTargetId", ec2.traffic_mirror_targets),
                           ("TrafficMirrorFilterId", ec2.traffic_mirror_filters)):
            if props[key] not in table:
                raise InvalidInputError(f"{key} {props[key]} not found")
        existing = [s for s in ec2.traffic_mirror_sessions.values() if s.network_interface_id == eni]
        number = int(props["SessionNumber"])
        if len(existing) >= 3:
            raise InvalidInputError(f"{eni} already has 3 traffic mirror sessions")
        if any(s.session_number == number for s in existing):
            raise InvalidInputError(f"Session number {number} is already used on {eni}")
        vni = props.get("VirtualNetworkId")
        obj = ec2.create_traffic_mirror_session(
            eni, props["TrafficMirrorTargetId"], props["TrafficMirrorFilterId"], number,
            int(props["PacketLength"]) if props.get("PacketLength") else None,
            int(vni) if vni not in (None, "") else random.randint(0, 16777215),
            props.get("Description"), None, None,
        )
        return cls._wrap(obj, props, account_id, region_name, kwargs)


# --------------------------------------------------------------------------- patches


def _filter_to_dict(self) -> dict[str, Any]:
    rules = sorted(getattr(self, "mirrorlab_rules", {}).values(), key=lambda r: r["RuleNumber"])
    return {
        "TrafficMirrorFilterId": self.id,
        "IngressFilterRules": [r for r in rules if r["TrafficDirection"] == "ingress"],
        "EgressFilterRules": [r for r in rules if r["TrafficDirection"] == "egress"],
        "NetworkServices": getattr(self, "network_services", []),
        "Description": self.description,
        "Tags": _live_tags(self),
    }


def _with_live_tags(original):
    def to_dict(self):
        result = original(self)
        result["Tags"] = _live_tags(self)
        return result

    return to_dict


def _patch_stack_timing() -> None:
    stack_cls = cfn_models.Stack
    backend_cls = cfn_models.CloudFormationBackend
    original_create = stack_cls.create_resources
    original_delete_stack = backend_cls.delete_stack
    original_update_stack = backend_cls.update_stack

    def finish_create(stack) -> None:
        with _LOCK:
            if stack.status != "CREATE_IN_PROGRESS":
                return
            try:
                original_create(stack)
            except Exception as exc:  # noqa: BLE001 - any resource failure rolls back
                stack._add_stack_event("CREATE_FAILED", resource_status_reason=str(exc))
                stack._add_stack_event("ROLLBACK_IN_PROGRESS")
                try:
                    stack.resource_map.delete()
                except Exception:  # noqa: BLE001 - keep what could not be deleted
                    pass
                stack.status = "ROLLBACK_COMPLETE"
                stack._add_stack_event("ROLLBACK_COMPLETE")

    def create_resources(stack) -> None:
        delay = _SETTINGS["create_delay"]
        if delay <= 0:
            original_create(stack)
            return
        stack.status = "CREATE_IN_PROGRESS"
        stack.mirrorlab_timer = threading.Timer(delay, finish_create, args=(stack,))
        stack.mirrorlab_timer.daemon = True
        stack.mirrorlab_timer.start()

    def delete_stack(backend, name_or_stack_id: str) -> None:
        delay = _SETTINGS["delete_delay"]
        stack = next((s for s in backend.stacks.values()
                      if name_or_stack_id in (s.name, s.stack_id)), None)
        if delay <= 0 or stack is None:
            with _LOCK:
                original_delete_stack(backend, name_or_stack_id)
            return
        if stack.status == "DELETE_IN_PROGRESS":
            return
        timer = getattr(stack, "mirrorlab_timer", None)
        if timer is not None:
            timer.cancel()
        stack.status = "DELETE_IN_PROGRESS"
        stack._add_stack_event("DELETE_IN_PROGRESS", resource_status_reason="User Initiated")

        def finish() -> None:
            with _LOCK:
                try:
                    original_delete_stack(backend, stack.stack_id)
                except Exception as exc:  # noqa: BLE001 - as AWS: the stack stays, DELETE_FAILED
                    backend.stacks[stack.stack_id] = stack  # moto had already dropped it
                    stack.status = "DELETE_FAILED"
                    stack._add_stack_event("DELETE_FAILED", resource_status_reason=str(exc))

        stack.mirrorlab_timer = threading.Timer(delay, finish)
        stack.mirrorlab_timer.daemon = True
        stack.mirrorlab_timer.start()

    def update_stack(backend, name, template, role_arn, parameters, tags):
        stack = backend.get_stack(name)
        resolved = backend._resolve_update_parameters(instance=stack, incoming_params=parameters)
        if (stack.has_template(template) and stack.has_parameters(resolved)
                and (tags is None or dict(tags) == dict(stack.tags))):
            raise ValidationError(message="No updates are to be performed.")
        with _LOCK:
            return original_update_stack(backend, name, template, role_arn, parameters, tags)

    original_change_set = backend_cls.create_change_set

    def create_change_set(backend, stack_name, change_set_name, template, parameters,
                          description, change_set_type, *args, **kwargs):
        live = any(s.name == stack_name and s.status != "REVIEW_IN_PROGRESS"
                   for s in backend.stacks.values())
        if change_set_type == "CREATE" and live:
            change_set_type = "UPDATE"
        return original_change_set(backend, stack_name, change_set_name, template, parameters,
                                   description, change_set_type, *args, **kwargs)

    original_outputs = stack_cls.outputs.fget

    def outputs(stack):
        # As on AWS, no outputs before the creation completes. moto resolves the outputs on
        # every DescribeStacks, creating the resources they refer to on the spot: during the
        # delayed creation that raced the timer thread and could create a resource twice (two
        # capture instances for one stack).
        if stack.status == "CREATE_IN_PROGRESS":
            return None
        with _LOCK:
            return original_outputs(stack)

    backend_cls.create_change_set = create_change_set
    stack_cls.outputs = property(outputs)
    stack_cls.create_resources = create_resources
    backend_cls.delete_stack = delete_stack
    backend_cls.update_stack = update_stack


def _eni_description(lb) -> str:
    kind = {"application": "app", "network": "net", "gateway": "gwy"}.get(lb.type, "app")
    lb_id = lb.arn.rsplit("/", 1)[-1]
    return f"ELB {kind}/{lb.name}/{lb_id}"


def add_load_balancer_eni(lb, subnet=None):
    """One more ELB ENI for `lb` (as when an ALB scales out); returns the moto ENI."""
    ec2 = lb.mirrorlab_ec2
    eni = ec2.create_network_interface(subnet or lb.subnets[0], None,
                                       group_ids=list(lb.security_groups or []),
                                       description=_eni_description(lb))
    eni.requester_managed = True
    eni.requester_id = "amazon-elb"
    if lb.type == "network":
        eni.interface_type = "network_load_balancer"
    return eni


def _patch_load_balancer_enis() -> None:
    backend_cls = elbv2_models.ELBv2Backend
    original_create = backend_cls.create_load_balancer
    original_delete = backend_cls.delete_load_balancer

    def create_load_balancer(backend, *args, **kwargs):
        lb = original_create(backend, *args, **kwargs)
        lb.mirrorlab_ec2 = backend.ec2_backend
        for subnet in lb.subnets:
            add_load_balancer_eni(lb, subnet)
        return lb

    def delete_load_balancer(backend, arn):
        lb = backend.load_balancers.get(arn)
        if lb is not None:
            description = _eni_description(lb)
            ec2 = backend.ec2_backend
            for eni in list(ec2.enis.values()):
                if eni.description == description:
                    ec2.delete_network_interface(eni.id)
        return original_delete(backend, arn)

    backend_cls.create_load_balancer = create_load_balancer
    backend_cls.delete_load_balancer = delete_load_balancer


def _patch_bucket_delete() -> None:
    from moto.s3.exceptions import MissingBucket
    from moto.s3.models import FakeBucket

    original = FakeBucket.delete_from_cloudformation_json.__func__

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
        try:
            original(cls, resource_name, cloudformation_json, account_id, region_name)
        except MissingBucket:
            pass  # already gone: CloudFormation counts that as deleted

    FakeBucket.delete_from_cloudformation_json = delete_from_cloudformation_json


def _install_ssmrig_additions() -> None:
    """Items 8 and 9 of the module doc (the SSM rig of tests/ssm needs both)."""
    from . import cfn_properties, scheduler, ssm_sessions

    ssm_sessions.install()
    cfn_properties.install()
    scheduler.install()


def install(create_delay: float = 0.0, delete_delay: float = 0.0) -> None:
    """Install the emulation into this process's moto (idempotent); set the stack delays."""
    global _INSTALLED
    _SETTINGS["create_delay"] = float(create_delay)
    _SETTINGS["delete_delay"] = float(delete_delay)
    if _INSTALLED:
        return
    TrafficMirrorFilter.to_dict = _filter_to_dict
    TrafficMirrorTarget.to_dict = _with_live_tags(TrafficMirrorTarget.to_dict)
    TrafficMirrorSession.to_dict = _with_live_tags(TrafficMirrorSession.to_dict)
    _patch_stack_timing()
    _patch_load_balancer_enis()
    _patch_bucket_delete()
    _install_ssmrig_additions()
    # moto caches its CloudFormation type map; our models are new subclasses.
    cfn_parsing.get_model_list.cache_clear()
    cfn_parsing.get_model_map.cache_clear()
    cfn_parsing.get_name_type_map.cache_clear()
    _INSTALLED = True
