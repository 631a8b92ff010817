# -*- coding: utf-8 -*-

# Copyright: Contributors to the mirrorlab project
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Every mirrorlab deployment that exists, on AWS (by the tag ``mirrorlab:deployment``) and in
the local lab (by the names ``ml-<deployment>-*``), for ``./mirrorlab status --all``.

Plain functions over data the module gathered (stacks with their tags, outputs, parameters
and resources; tagged resources; namespace and machine directory names), so that the grouping,
the orphan rule and the cost arithmetic are unit tested without AWS or root.

An orphan is a resource that carries a deployment's tag but belongs to none of the live stacks
(a stack deleted with resources retained or failing to delete, a resource made by hand): it
is still billed and no teardown of a stack will remove it. Each comes with the AWS CLI command
that removes it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.mirrorlab.vpc.plugins.module_utils import pricing

TAG = "mirrorlab:deployment"
STACK_SUFFIXES = ("sample-service", "target-instance", "mirroring")
LAB_PREFIX = "ml-"
LAB_ROUTER = "-router"

# kind -> (the CLI command that removes one, its id option)
REMOVE = {
    "traffic-mirror-session": "aws ec2 delete-traffic-mirror-session --traffic-mirror-session-id %s --region %s",
    "traffic-mirror-target": "aws ec2 delete-traffic-mirror-target --traffic-mirror-target-id %s --region %s",
    "traffic-mirror-filter": "aws ec2 delete-traffic-mirror-filter --traffic-mirror-filter-id %s --region %s",
    "instance": "aws ec2 terminate-instances --instance-ids %s --region %s",
    "bucket": "aws s3 rb s3://%s --force --region %s",
}


def tag_dict(tags):
    return dict((t["Key"], t["Value"]) for t in tags or [])


def hours_between(start, end):
    return max(0.0, (end - start).total_seconds() / 3600.0)


def experiment_of(region, target_stack, sessions):
    """The parts of an experiment model the estimate needs, read back from a deployed target
    stack's parameters and outputs (the model itself is not stored in the account)."""
    params = target_stack.get("parameters", {}) if target_stack else {}
    outputs = target_stack.get("outputs", {}) if target_stack else {}
    subnets = [s for s in (params.get("PublicSubnetIds") or "").split(",") if s]
    return {
        "region": region,
        "network": {"vpc_id": params.get("VpcId", ""), "subnet_ids": subnets},
        "sources": [],
        "target": {"type": "gateway_load_balancer_endpoint" if params.get("GatewayLoadBalancerEndpointId") else "instance",
                   "count": int(outputs.get("TargetCount") or 1),
                   "instance_type": params.get("InstanceType") or "t3.small",
                   "spot": params.get("Spot") == "true"},
    }


def aws_deployments(region, stacks, sessions_by_deployment, now):
    """Group the live tagged stacks by deployment: their stacks, age, expiry, cost per hour and
    so far. ``stacks``: [{name, status, created (datetime), tags, outputs, parameters}]."""
    grouped = {}
    for stack in stacks:
        deployment = stack["tags"].get(TAG)
        if deployment:
            grouped.setdefault(deployment, []).append(stack)
    result = []
    for deployment in sorted(grouped):
        members = sorted(grouped[deployment], key=lambda s: s["name"])
        target = next((s for s in members if s["name"] == "%s-target-instance" % deployment), None)
        sessions = sessions_by_deployment.get(deployment, 0)
        est = pricing.estimate(experiment_of(region, target, sessions), sessions=sessions)
        # Only what the live stacks run (a half-removed deployment costs less).
        present = set(s["name"][len(deployment) + 1:].replace("-", "_") for s in members)
        items = [i for i in est["items"] if i["stack"] in present]
        known = [i["hourly_usd"] for i in items if i["hourly_usd"] is not None]
        hourly = sum(known) if known else None
        created = min(s["created"] for s in members)
        age = hours_between(created, now)
        result.append({
            "deployment": deployment,
            "backend": "aws",
            "region": region,
            "stacks": dict((s["name"], s["status"]) for s in members),
            "created": created.isoformat(),
            "age_hours": round(age, 2),
            "expires_at": (target or {}).get("outputs", {}).get("ExpiresAt") or None,
            "sessions": sessions,
            "hourly_usd": hourly,
            "so_far_usd": None if hourly is None else hourly * age,
            "unknown_prices": [i["item"] for i in items if i["hourly_usd"] is None],
        })
    return result


def orphans(region, tagged, stack_resources):
    """Tagged resources that no live stack holds. ``tagged``: [{kind, id, deployment}];
    ``stack_resources``: the physical ids of every live stack's resources."""
    held = set(stack_resources)
    found = []
    for item in sorted(tagged, key=lambda i: (i["deployment"], i["kind"], i["id"])):
        if item["id"] not in held:
            found.append(dict(item, region=region, remove=REMOVE[item["kind"]] % (item["id"], region)))
    return found


def lab_deployments(namespaces, machine_root):
    """The labs on this machine: deployments with a router namespace ``ml-<deployment>-router``,
    their namespaces, their machine directory and the bytes of pcap files under it."""
    result = []
    names = sorted(namespaces)
    for router in [n for n in names if n.startswith(LAB_PREFIX) and n.endswith(LAB_ROUTER)]:
        deployment = router[len(LAB_PREFIX):-len(LAB_ROUTER)]
        prefix = "%s%s-" % (LAB_PREFIX, deployment)
        machine_dir = os.path.join(machine_root, LAB_PREFIX + deployment)
        result.append({
            "deployment": deployment,
            "backend": "lab",
            "namespaces": [n for n in names if n.startswith(prefix)],
            "machine_dir": machine_dir if os.path.isdir(machine_dir) else None,
            "pcap_bytes": pcap_bytes(machine_dir),
            "hourly_usd": 0.0,
        })
    # Namespaces sharing a prefix (deployment "a" and "a-b") belong to the longest match.
    for lab in result:
        others = [o["deployment"] for o in result if o is not lab and o["deployment"].startswith(lab["deployment"] + "-")]
        lab["namespaces"] = [n for n in lab["namespaces"]
                             if not any(n.startswith("%s%s-" % (LAB_PREFIX, o)) for o in others)]
    return sorted(result, key=lambda lab: lab["deployment"])


def pcap_bytes(directory):
    """Bytes of the pcap files (``*.pcap``, ``*.pcap.gz``, ``*.pcapng``) below ``directory``."""
    total = 0
    for root, dummy, files in os.walk(directory):
        for name in files:
            if ".pcap" in name:
                try:
                    total += os.lstat(os.path.join(root, name)).st_size
                except OSError:
                    pass
    return total


def lines(deployments, orphan_list):
    out = []
    for d in deployments:
        if d["backend"] == "aws":
            out.append("aws %s (%s): %s; up %.1f h, %s, %d session(s), %s per hour, %s so far%s"
                       % (d["deployment"], d["region"], ", ".join("%s %s" % kv for kv in sorted(d["stacks"].items())),
                          d["age_hours"], "expires %s UTC" % d["expires_at"] if d["expires_at"] else "no expiry",
                          d["sessions"], pricing.money(d["hourly_usd"]), pricing.money(d["so_far_usd"]),
                          " (at least: unknown prices for %s)" % ", ".join(d["unknown_prices"]) if d["unknown_prices"] else ""))
        else:
            out.append("lab %s: %d namespace(s), machine %s, %d bytes of pcaps, nothing billed"
                       % (d["deployment"], len(d["namespaces"]), d["machine_dir"] or "none", d["pcap_bytes"]))
    for o in orphan_list:
        out.append("ORPHAN %s %s of deployment %s (in no stack, still billed): %s"
                   % (o["kind"], o["id"], o["deployment"], o["remove"]))
    if not out:
        out.append("No mirrorlab deployment found.")
    return out
