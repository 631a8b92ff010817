# -*- coding: utf-8 -*-

# Copyright: Contributors to the mirrorlab project
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Resolve Traffic Mirroring sources (load balancers, instances, ECS services, ENI ids,
CloudFormation stack outputs, the experiment's sources) to ENIs and decide whether each ENI can
be a mirror source.

The logic of mirrorlab.vpc.mirror_eni_info, kept free of AnsibleModule so that it can be
tested with plain boto3 clients. Every AWS call is filtered on the server side and batched
(up to MAX_FILTER_VALUES values per filter), so the number of calls depends on the inputs,
never on the number of ENIs in the account:

  describe_load_balancers    once per 20 load balancer names (none for ARNs)
  describe_stacks            once per stack
  describe_instances         once per 200 instance ids, once per tag filter, and once per
                             200 instances attached to resolved ENIs whose type is unknown
  list_tasks / describe_tasks once per ECS service / once per 100 tasks of a cluster
  describe_network_interfaces once per 200 ELB descriptions, once per 200 ENI ids
  describe_traffic_mirror_sessions / _targets  once per 200 resolved ENIs each, plus one
                             _targets call when the target is given as an NLB (its tmt- id)

Resolving one ALB by ARN takes 3 calls, by name 4.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

try:
    from botocore.exceptions import ClientError
except ImportError:  # pragma: no cover - handled by AnsibleAWSModule (HAS_BOTO3)
    ClientError = Exception

from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.mirrorlab.vpc.plugins.module_utils import model
from ansible_collections.mirrorlab.vpc.plugins.module_utils.experiment import check_sources
from ansible_collections.mirrorlab.vpc.plugins.module_utils.validation import Errors
from ansible_collections.mirrorlab.vpc.plugins.module_utils.mirror_support import source_support
from ansible_collections.mirrorlab.vpc.plugins.module_utils.model import SESSIONS_PER_SOURCE_ENI

MAX_FILTER_VALUES = 200  # EC2 accepts up to 200 values per filter
MAX_LB_NAMES = 20  # DescribeLoadBalancers takes at most 20 names
MAX_ECS_TASKS = 100  # DescribeTasks takes at most 100 tasks
MAX_SESSIONS_PER_SOURCE = SESSIONS_PER_SOURCE_ENI  # AWS quota, not adjustable (model.py)
LIVE_INSTANCE_STATES = ["pending", "running", "stopping", "stopped"]

# Errors that mean "this account or endpoint cannot tell us", as opposed to a failure.
UNKNOWN_ERROR_CODES = frozenset(
    [
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "NotImplemented",
        "InvalidAction",
        "UnsupportedOperation",
    ]
)

LB_ARN_RE = re.compile(r"^arn:aws[a-z-]*:elasticloadbalancing:[^:]*:[0-9]*:loadbalancer/(app|net|gwy)/([^/]+)/([^/]+)$")
ECS_SERVICE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:ecs:[^:]*:[0-9]*:service/(?:([^/]+)/)?([^/]+)$")
INSTANCE_ID_RE = re.compile(r"^i-[0-9a-f]{8,17}$")
ENI_ID_RE = re.compile(r"^eni-[0-9a-f]{8,17}$")
TMT_ID_RE = re.compile(r"^tmt-[0-9a-f]{8,17}$")


class ResolveError(Exception):
    """A user-facing failure that names the input it is about."""


@AWSRetry.jittered_backoff()
def _paginate(client, operation, **params):
    return client.get_paginator(operation).paginate(**params).build_full_result()


@AWSRetry.jittered_backoff()
def _call(client, operation, **params):
    return getattr(client, operation)(**params)


def _chunks(values, size):
    values = list(values)
    for start in range(0, len(values), size):
        yield values[start:start + size]


def _unique(values):
    return list(dict.fromkeys(values))


def _error_code(exc):
    return getattr(exc, "response", {}).get("Error", {}).get("Code", "")


def lb_description(arn):
    """The description AWS gives the ENIs of a load balancer: 'ELB app/<name>/<id>'."""
    match = LB_ARN_RE.match(arn)
    if not match:
        return None
    return "ELB {0}/{1}/{2}".format(*match.groups())


class Request:
    """One input item: what the user asked for and the ENIs it resolved to."""

    def __init__(self, kind, label, value):
        self.kind = kind
        self.label = label
        self.value = value
        self.eni_ids = []
        self.empty_reason = None

    def add(self, eni_ids):
        self.eni_ids.extend(e for e in eni_ids if e not in self.eni_ids)


def classify_output(label, value, cluster=None):
    """Split a stack output value into (kind, values); fail naming the output if unknown."""
    items = [item.strip() for item in str(value).split(",") if item.strip()]
    kinds = []
    values = []
    for item in items:
        if LB_ARN_RE.match(item):
            kinds.append("load_balancer")
            values.append(item)
        elif ECS_SERVICE_ARN_RE.match(item):
            arn_cluster, service = ECS_SERVICE_ARN_RE.match(item).groups()
            if not (arn_cluster or cluster):
                raise ResolveError(
                    f"{label}: value {item!r} is an ECS service ARN without a cluster name; "
                    "set the cluster in the stacks entry"
                )
            kinds.append("ecs_service")
            values.append({"cluster": arn_cluster or cluster, "service": service})
        elif INSTANCE_ID_RE.match(item):
            kinds.append("instance")
            values.append({"id": item})
        elif ENI_ID_RE.match(item):
            kinds.append("network_interface")
            values.append(item)
        else:
            kinds.append(None)
            values.append(item)
    if not items or None in kinds or len(set(kinds)) != 1:
        raise ResolveError(
            f"{label}: value {value!r} is not a load balancer ARN, an ECS service ARN, instance "
            "id(s) or ENI id(s) (a comma-separated list must hold one kind)"
        )
    return kinds[0], values


def experiment_source_inputs(sources, sample_service_load_balancer=None):
    """(kind, label, value) for each source of the experiment model (mirrorlab_sources, as in
    experiment.sources), checked by the model's own rules; a sample_service source stands for
    the load balancer sample_service_load_balancer (the sample-service stack's ALB)."""
    errors = Errors(model.PREFIX)
    normalized = check_sources(model.by_name(model.EXPERIMENT)["sources"], list(sources), "sources", errors)
    if errors:
        raise ResolveError("; ".join(errors.messages))
    inputs = []
    for index, source in enumerate(normalized):
        kind = source["type"]
        if kind == "sample_service":
            if not sample_service_load_balancer:
                raise ResolveError(
                    f"sources[{index}] sample_service: give sample_service_load_balancer (the name or ARN of "
                    "the sample service's load balancer, the sample-service stack's LoadBalancerArn output)"
                )
            kind, value = "load_balancer", sample_service_load_balancer
        elif kind == "load_balancer":
            value = source.get("arn") or source["name"]
        elif kind == "instance":
            value = {"id": source["id"]} if source.get("id") else {"tags": source["tags"]}
        elif kind == "ecs_service":
            value = {"cluster": source["cluster"], "service": source["service"]}
        else:  # network_interface
            value = source["id"]
        inputs.append((kind, f"sources[{index}] {source['type']} {_shown(kind, value)}", value))
    return inputs


# The per-kind options of mirror_eni_info and the kind of request each item becomes.
OPTION_KINDS = (
    ("load_balancers", "load_balancer"),
    ("instances", "instance"),
    ("ecs_services", "ecs_service"),
    ("network_interfaces", "network_interface"),
    ("stacks", "stack"),
)


def _shown(kind, value):
    if kind == "ecs_service":
        return f"{value['cluster']}/{value['service']}"
    if kind == "stack":
        return f"{value['name']!r} output {value['output']!r}"
    return repr(value)


def input_items(params):
    """Every input of the module as (kind, label, value), in order: the per-kind options, then
    the experiment's sources. Labels name the input, e.g. "load_balancers[0] 'web'"."""
    items = []
    for option, kind in OPTION_KINDS:
        for index, value in enumerate(params.get(option) or []):
            items.append((kind, f"{option}[{index}] {_shown(kind, value)}", value))
    if params.get("sources"):
        items.extend(experiment_source_inputs(params["sources"], params.get("sample_service_load_balancer")))
    return items


def check_input(kind, label, value):
    """The value of one input of this kind, checked (fails naming the input); instances are
    normalized to {'id': ...} or {'tags': ...}."""
    if kind == "load_balancer" and value.startswith("arn:") and not LB_ARN_RE.match(value):
        raise ResolveError(f"{label}: not a load balancer ARN (arn:aws:elasticloadbalancing:...:loadbalancer/app|net|gwy/...)")
    if kind == "instance":
        return normalize_instance(label, value)
    if kind == "network_interface" and not ENI_ID_RE.match(value):
        raise ResolveError(f"{label}: not an ENI id (eni-...)")
    return value


def normalize_instance(label, item):
    """An instances entry: 'i-...' or {'id': 'i-...'} or {'tags': {...}}."""
    if isinstance(item, str):
        item = {"id": item}
    if not isinstance(item, dict) or set(item) - {"id", "tags"} or len(item) != 1:
        raise ResolveError(f"{label}: must be an instance id or a dict with exactly one of 'id' or 'tags'")
    if "id" in item and not INSTANCE_ID_RE.match(str(item["id"])):
        raise ResolveError(f"{label}: {item['id']!r} is not an instance id (i-...)")
    if "tags" in item and (not isinstance(item["tags"], dict) or not item["tags"]):
        raise ResolveError(f"{label}: 'tags' must be a non-empty dict of tag names and values")
    return item


class EniResolver:
    """Resolve the module's inputs to ENIs with their mirror-source eligibility.

    client_factory(name) returns a boto3 client ('ec2', 'elbv2', 'ecs', 'cloudformation').
    """

    def __init__(self, client_factory):
        self._client_factory = client_factory
        self._clients = {}
        self.warnings = []
        self.requests = []
        self.instance_types = {}
        self.enis = {}
        self.lb_arns = {}

    def client(self, name):
        if name not in self._clients:
            self._clients[name] = self._client_factory(name)
        return self._clients[name]

    # ---- inputs -----------------------------------------------------------------------

    def build_requests(self, params):
        for kind, label, value in input_items(params):
            if kind == "stack":
                self.requests.extend(self._stack_requests(label, value))
            else:
                self.requests.append(Request(kind, label, check_input(kind, label, value)))

    def _stack_requests(self, label, stack):
        try:
            result = _paginate(self.client("cloudformation"), "describe_stacks", StackName=stack["name"])
        except ClientError as exc:
            if _error_code(exc) == "ValidationError" and "does not exist" in str(exc):
                request = Request("stack", label, stack)
                request.empty_reason = "stack does not exist"
                return [request]
            raise
        outputs = {}
        for found in result.get("Stacks", []):
            for output in found.get("Outputs", []) or []:
                outputs[output["OutputKey"]] = output.get("OutputValue", "")
        if stack["output"] not in outputs:
            known = ", ".join(sorted(outputs)) or "none"
            raise ResolveError(f"{label}: the stack has no such output (outputs: {known})")
        kind, values = classify_output(label, outputs[stack["output"]], stack.get("cluster"))
        requests = []
        for value in values:
            value = check_input(kind, label, value)
            requests.append(Request(kind, f"{label} ({kind} {value if isinstance(value, str) else value})", value))
        return requests

    # ---- load balancers ---------------------------------------------------------------

    def _lb_arns_by_name(self, names):
        """{name: arn} for the names that exist (one call per 20 names when all exist)."""
        found = {}
        elbv2 = self.client("elbv2")
        for chunk in _chunks(_unique(names), MAX_LB_NAMES):
            try:
                result = _paginate(elbv2, "describe_load_balancers", Names=chunk)
            except ClientError as exc:
                if _error_code(exc) != "LoadBalancerNotFound":
                    raise
                if len(chunk) == 1:
                    continue
                found.update(self._lb_arns_by_name_one_by_one(chunk))
                continue
            for lb in result.get("LoadBalancers", []):
                found[lb["LoadBalancerName"]] = lb["LoadBalancerArn"]
        return found

    def _lb_arns_by_name_one_by_one(self, names):
        found = {}
        for name in names:
            found.update(self._lb_arns_by_name([name]))
        return found

    def lb_descriptions(self, names_or_arns):
        """{input: 'ELB app/..' or None when the load balancer does not exist}."""
        names = [n for n in names_or_arns if not n.startswith("arn:")]
        arns = self._lb_arns_by_name(names) if names else {}
        result = {}
        for item in names_or_arns:
            arn = item if item.startswith("arn:") else arns.get(item)
            self.lb_arns[item] = arn
            result[item] = lb_description(arn) if arn else None
        return result

    # ---- instances --------------------------------------------------------------------

    def _describe_instances(self, filters):
        result = _paginate(self.client("ec2"), "describe_instances", Filters=filters)
        instances = [i for r in result.get("Reservations", []) for i in r.get("Instances", [])]
        for instance in instances:
            self.instance_types[instance["InstanceId"]] = instance.get("InstanceType")
        return instances

    @staticmethod
    def _instance_eni_ids(instance, all_interfaces):
        enis = []
        for eni in instance.get("NetworkInterfaces", []):
            attachment = eni.get("Attachment", {})
            primary = attachment.get("DeviceIndex", 0) == 0 and attachment.get("NetworkCardIndex", 0) == 0
            if all_interfaces or primary:
                enis.append(eni["NetworkInterfaceId"])
        return enis

    def resolve_instances(self, requests, all_interfaces):
        state = {"Name": "instance-state-name", "Values": LIVE_INSTANCE_STATES}
        by_id = [r for r in requests if "id" in r.value]
        ids = _unique(r.value["id"] for r in by_id)
        found = {}
        for chunk in _chunks(ids, MAX_FILTER_VALUES):
            for instance in self._describe_instances([{"Name": "instance-id", "Values": chunk}, state]):
                found[instance["InstanceId"]] = instance
        for request in by_id:
            instance = found.get(request.value["id"])
            if instance is None:
                request.empty_reason = "no such instance, or it is terminated"
            else:
                request.add(self._instance_eni_ids(instance, all_interfaces))
        for request in (r for r in requests if "tags" in r.value):
            filters = [{"Name": f"tag:{k}", "Values": [str(v)]} for k, v in request.value["tags"].items()]
            instances = self._describe_instances(filters + [state])
            if not instances:
                request.empty_reason = "no instance (other than terminated ones) has these tags"
            for instance in instances:
                request.add(self._instance_eni_ids(instance, all_interfaces))

    # ---- ECS services -----------------------------------------------------------------

    def resolve_ecs_services(self, requests):
        ecs = self.client("ecs")
        task_arns = {}
        for request in requests:
            cluster, service = request.value["cluster"], request.value["service"]
            try:
                result = _paginate(ecs, "list_tasks", cluster=cluster, serviceName=service, desiredStatus="RUNNING")
            except ClientError as exc:
                if _error_code(exc) not in ("ClusterNotFoundException", "ServiceNotFoundException"):
                    raise
                result = {}
            task_arns.setdefault(cluster, []).extend(result.get("taskArns", []))
        tasks = {}
        for cluster, arns in task_arns.items():
            for chunk in _chunks(_unique(arns), MAX_ECS_TASKS):
                result = _call(ecs, "describe_tasks", cluster=cluster, tasks=chunk)
                tasks.setdefault(cluster, []).extend(result.get("tasks", []))
        for request in requests:
            cluster, service = request.value["cluster"], request.value["service"]
            running = [t for t in tasks.get(cluster, []) if self._task_of_service(t, service)]
            for task in running:
                request.add(self._task_eni_ids(task))
            if not running:
                request.empty_reason = self._why_no_task(cluster, service)
            elif not request.eni_ids:
                request.empty_reason = "its running tasks have no ENI (network mode is not awsvpc)"

    @staticmethod
    def _task_of_service(task, service):
        # ListTasks(serviceName=...) already filters on AWS; the group check keeps the result
        # right where that filter is not applied (moto ignores serviceName).
        group = task.get("group")
        if group and group != f"service:{service}":
            return False
        return task.get("desiredStatus", "RUNNING") == "RUNNING"

    @staticmethod
    def _task_eni_ids(task):
        enis = []
        for attachment in task.get("attachments", []):
            if attachment.get("type") != "ElasticNetworkInterface" or attachment.get("status") == "DELETED":
                continue
            for detail in attachment.get("details", []):
                if detail.get("name") == "networkInterfaceId":
                    enis.append(detail["value"])
        return enis

    def _why_no_task(self, cluster, service):
        try:
            result = _call(self.client("ecs"), "describe_services", cluster=cluster, services=[service])
        except ClientError as exc:
            if _error_code(exc) == "ClusterNotFoundException":
                return "no such cluster"
            raise
        active = [s for s in result.get("services", []) if s.get("status") != "INACTIVE"]
        return "service has no running task" if active else "no such service in this cluster"

    # ---- ENIs -------------------------------------------------------------------------

    def describe_enis(self, filter_name, values):
        enis = []
        for chunk in _chunks(_unique(values), MAX_FILTER_VALUES):
            result = _paginate(
                self.client("ec2"), "describe_network_interfaces", Filters=[{"Name": filter_name, "Values": chunk}]
            )
            enis.extend(result.get("NetworkInterfaces", []))
        for eni in enis:
            self.enis[eni["NetworkInterfaceId"]] = eni
        return enis

    def _fill_instance_types(self):
        unknown = _unique(
            eni["Attachment"]["InstanceId"]
            for eni in self.enis.values()
            if eni.get("Attachment", {}).get("InstanceId")
            and eni["Attachment"]["InstanceId"] not in self.instance_types
        )
        for chunk in _chunks(unknown, MAX_FILTER_VALUES):
            self._describe_instances([{"Name": "instance-id", "Values": chunk}])

    def _mirror_lookup(self, operation, result_key, filter_name, key, values):
        """{value: [items]} from a describe_traffic_mirror_* call filtered on the server by
        filter_name (items matched back by their `key`), or None when the endpoint cannot
        tell (permission missing, API not implemented)."""
        found = {value: [] for value in values}
        try:
            for chunk in _chunks(_unique(values), MAX_FILTER_VALUES):
                result = _paginate(self.client("ec2"), operation, Filters=[{"Name": filter_name, "Values": chunk}])
                for item in result.get(result_key, []):
                    if item.get(key) in found:
                        found[item[key]].append(item)
        except ClientError as exc:
            if _error_code(exc) not in UNKNOWN_ERROR_CODES:
                raise
            self.warnings.append(
                f"ec2:{operation} failed with {_error_code(exc)}; cannot tell whether the ENIs "
                f"already carry sessions or are targets: {exc}"
            )
            return None
        return found

    def _own_target_ids(self, target, targets_by_eni):
        """The tmt- ids of the given target: given, found by its ENI in targets_by_eni (no
        extra call), or looked up by NLB ARN (one call)."""
        tmt_ids = set(target["tmt_ids"])
        if targets_by_eni is not None:
            for eni_id in target["eni_ids"]:
                tmt_ids.update(t["TrafficMirrorTargetId"] for t in targets_by_eni.get(eni_id, []))
        if target["nlb_arns"] and not target["tmt_ids"]:
            by_nlb = self._mirror_lookup(
                "describe_traffic_mirror_targets", "TrafficMirrorTargets", "network-load-balancer-arn",
                "NetworkLoadBalancerArn", sorted(target["nlb_arns"]),
            )
            for items in (by_nlb or {}).values():
                tmt_ids.update(t["TrafficMirrorTargetId"] for t in items)
        return tmt_ids

    # ---- target -----------------------------------------------------------------------

    def target_markers(self, target, lb_descs):
        """What identifies the target: its ENI ids, its load balancer's ENI description, its
        traffic mirror target id (when given) and its NLB ARN."""
        markers = {"eni_ids": set(), "descs": set(), "tmt_ids": set(), "nlb_arns": set()}
        if not target:
            return markers
        if ENI_ID_RE.match(target):
            markers["eni_ids"].add(target)
            return markers
        if TMT_ID_RE.match(target):
            result = _paginate(self.client("ec2"), "describe_traffic_mirror_targets", TrafficMirrorTargetIds=[target])
            targets = result.get("TrafficMirrorTargets", [])
            if not targets:
                raise ResolveError(f"target {target!r}: no such traffic mirror target")
            markers["tmt_ids"].add(target)
            if targets[0].get("NetworkInterfaceId"):
                markers["eni_ids"].add(targets[0]["NetworkInterfaceId"])
            if targets[0].get("NetworkLoadBalancerArn"):
                markers["descs"].add(lb_description(targets[0]["NetworkLoadBalancerArn"]))
            # A Gateway Load Balancer endpoint: its ENIs are never of type 'interface'.
            return markers
        desc = lb_descs.get(target)
        if desc is None:
            raise ResolveError(f"target {target!r}: no such load balancer (give an ENI id, tmt- id, NLB name or ARN)")
        markers["descs"].add(desc)
        markers["nlb_arns"].add(self.lb_arns[target])
        return markers

    # ---- the whole resolution ---------------------------------------------------------

    def resolve(self, params):
        self.build_requests(params)
        by_kind = {}
        for request in self.requests:
            by_kind.setdefault(request.kind, []).append(request)

        target = params.get("target")
        lb_inputs = [r.value for r in by_kind.get("load_balancer", [])]
        if target and not (ENI_ID_RE.match(target) or TMT_ID_RE.match(target)):
            if target.startswith("arn:") and not LB_ARN_RE.match(target):
                raise ResolveError(f"target {target!r}: not a load balancer ARN")
            lb_inputs.append(target)
        lb_descs = self.lb_descriptions(_unique(lb_inputs)) if lb_inputs else {}
        markers = self.target_markers(target, lb_descs)

        if by_kind.get("instance"):
            self.resolve_instances(by_kind["instance"], params.get("instance_interfaces") == "all")
        if by_kind.get("ecs_service"):
            self.resolve_ecs_services(by_kind["ecs_service"])
        for request in by_kind.get("network_interface", []):
            request.add([request.value])

        self._resolve_lb_enis(by_kind.get("load_balancer", []), lb_descs)
        self._resolve_id_enis()
        self._check_empty(params.get("allow_empty", False))
        return self._results(markers)

    def _resolve_lb_enis(self, requests, lb_descs):
        descs = [lb_descs[r.value] for r in requests if lb_descs.get(r.value)]
        if descs:
            self.describe_enis("description", descs)
        for request in requests:
            desc = lb_descs.get(request.value)
            if desc is None:
                request.empty_reason = "no such load balancer"
                continue
            request.add(sorted(e["NetworkInterfaceId"] for e in self.enis.values() if e.get("Description") == desc))
            if not request.eni_ids:
                request.empty_reason = f"no ENI has the description {desc!r}"

    def _resolve_id_enis(self):
        by_id = [r for r in self.requests if r.kind in ("instance", "ecs_service", "network_interface")]
        wanted = _unique(e for r in by_id for e in r.eni_ids if e not in self.enis)
        if wanted:
            self.describe_enis("network-interface-id", wanted)
        for request in by_id:
            missing = [e for e in request.eni_ids if e not in self.enis]
            request.eni_ids = [e for e in request.eni_ids if e in self.enis]
            if missing and request.kind == "network_interface":
                request.empty_reason = "no such ENI"
        self._fill_instance_types()

    def _check_empty(self, allow_empty):
        for request in self.requests:
            if request.eni_ids:
                continue
            message = f"{request.label} resolved to no ENI: {request.empty_reason or 'nothing found'}"
            if not allow_empty:
                raise ResolveError(message + " (set allow_empty=true to accept this)")
            self.warnings.append(message)

    def _results(self, target):
        seen = {}
        for request in self.requests:
            for eni_id in request.eni_ids:
                seen.setdefault(eni_id, request.label)
        eni_ids = list(seen)
        if not eni_ids:
            return []
        sessions = self._mirror_lookup(
            "describe_traffic_mirror_sessions", "TrafficMirrorSessions", "network-interface-id", "NetworkInterfaceId",
            eni_ids,
        )
        # The target's own ENI rides along in the same call, to learn its tmt- id.
        targets = self._mirror_lookup(
            "describe_traffic_mirror_targets", "TrafficMirrorTargets", "network-interface-id", "NetworkInterfaceId",
            eni_ids + sorted(target["eni_ids"] - set(eni_ids)),
        )
        own_target_ids = self._own_target_ids(target, targets)
        results = []
        for eni_id, label in seen.items():
            eni = self.enis[eni_id]
            instance_id = eni.get("Attachment", {}).get("InstanceId")
            results.append(
                describe_eligibility(
                    eni,
                    source=label,
                    instance_type=self.instance_types.get(instance_id) if instance_id else None,
                    is_target=eni_id in target["eni_ids"] or eni.get("Description") in target["descs"],
                    # Sessions to the given target are the ones a re-run updates in place:
                    # they do not use up the quota for this experiment.
                    sessions=None if sessions is None else [
                        s for s in sessions[eni_id] if s.get("TrafficMirrorTargetId") not in own_target_ids
                    ],
                    mirror_targets=None if targets is None else targets[eni_id],
                )
            )
        return results


def describe_eligibility(eni, source, instance_type, is_target, sessions, mirror_targets):
    """The module's output entry for one ENI. sessions: the ENI's sessions to other targets
    than the given one; sessions/mirror_targets None = unknown."""
    interface_type = eni.get("InterfaceType", "interface")
    instance_id = eni.get("Attachment", {}).get("InstanceId")
    reasons = []
    warnings = []
    if is_target:
        reasons.append("the ENI is the mirror target given in 'target'")
    if mirror_targets:
        ids = ", ".join(t["TrafficMirrorTargetId"] for t in mirror_targets)
        reasons.append(f"the ENI is already a traffic mirror target ({ids}); AWS does not allow it as a source")
    if interface_type != "interface":
        reasons.append(f"interface type {interface_type!r}: only type 'interface' can be a mirror source")
    if instance_type:
        supported, why = source_support(instance_type)
        if not supported:
            reasons.append(why)
    if sessions is not None and len(sessions) >= MAX_SESSIONS_PER_SOURCE:
        reasons.append(
            f"the ENI already carries {len(sessions)} traffic mirror sessions to other targets "
            f"(AWS allows {MAX_SESSIONS_PER_SOURCE} per source ENI)"
        )
    if sessions is None or mirror_targets is None:
        warnings.append("existing sessions and targets of this ENI could not be read; the 3-session limit is unchecked")
    if eni.get("RequesterManaged") and not reasons:
        warnings.append(_requester_managed_warning(eni))
    return {
        "id": eni["NetworkInterfaceId"],
        "private_ip": eni.get("PrivateIpAddress"),
        "subnet_id": eni.get("SubnetId"),
        "availability_zone": eni.get("AvailabilityZone"),
        "vpc_id": eni.get("VpcId"),
        "interface_type": interface_type,
        "requester_managed": bool(eni.get("RequesterManaged", False)),
        "description": eni.get("Description", ""),
        "instance_id": instance_id,
        "instance_type": instance_type,
        "source": source,
        "mirror_source": not reasons,
        "reason": "; ".join(reasons) or None,
        "warning": "; ".join(warnings) or None,
    }


def _requester_managed_warning(eni):
    description = eni.get("Description", "")
    if description.startswith("ELB "):
        owner = f"load balancer ({description})"
    elif ":ecs:" in description or "ECS" in description:
        owner = "ECS/Fargate task"
    else:
        owner = f"AWS service (requester {eni.get('RequesterId', 'unknown')})"
    return (
        f"requester-managed ENI of a {owner}: AWS documents mirroring of such ENIs "
        "inconsistently; CreateTrafficMirrorSession may refuse it"
    )
