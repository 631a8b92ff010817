# -*- coding: utf-8 -*-

# Copyright: Contributors to the mirrorlab project
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What an AWS deployment of mirrorlab costs: the price table and the estimate.

Every price is one entry of PRICES: per region, the figure in USD, its unit, the AWS pricing
page that publishes it (``page``), where the figure itself was read (``seen_on``), whether
that was AWS's own page (``confirmed``) and the date it was read (READ). AWS's pricing pages
render their tables with JavaScript; where the stored copy of the AWS page did not show the
figure, the figure was read from the third-party page named in ``seen_on`` and is marked
``confirmed: False``. A figure that was found nowhere is None: the estimate shows it as
"unknown", never a guessed number. When AWS changes a price, change the entry and READ; the
estimate, the summaries, ``status --all`` and the tests all read from here.

``estimate(experiment, ...)`` turns the normalized experiment model (experiment_info) into
line items (what runs, how many, at which unit price), an hourly and a daily total of the
known items, and the items whose price is unknown. It is arithmetic over this table only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.mirrorlab.vpc.plugins.module_utils.experiment import capture_instances

READ = "2026-12-02"
CURRENCY = "USD"
HOURS_PER_DAY = 24

PAGES = {
    "vpc": "https://aws.amazon.com/vpc/pricing/",
    "ec2": "https://aws.amazon.com/ec2/pricing/on-demand/",
    "elb": "https://aws.amazon.com/elasticloadbalancing/pricing/",
    "fargate": "https://aws.amazon.com/fargate/pricing/",
    "s3": "https://aws.amazon.com/s3/pricing/",
    "ebs": "https://aws.amazon.com/ebs/pricing/",
    "scheduler": "https://aws.amazon.com/eventbridge/pricing/",
    "ipv4": "https://aws.amazon.com/vpc/pricing/",
}

# Where the figures were read (third-party pages; AWS's own tables were not readable here).
SEEN = {
    "issue16": "mirrorlab issue 16 (quoting the AWS VPC pricing page; not re-read here)",
    "cloud-horizons": "https://cloud-horizons.com/blog/alb-the-line-item-nobody-watches/ (2026-05-08)",
    "calculator-city": "https://cal53.calculator.city/aws-alb-cost-calculator/",
    "vantage-fargate": "https://www.vantage.sh/blog/fargate-pricing",
    "wring-fargate": "https://www.wring.co/blog/aws-fargate-pricing-guide (2026-03-10)",
    "cloud-bench": "https://cloud-bench.com/blog/aws-t3-micro-vs-t3-small",
    "cloud-bench-t2": "https://cloud-bench.com/blog/aws-t2-micro-vs-t3-micro",
    "ipv4-blog": "https://vishalvyas.com/understand-aws-public-ipv4-address-usage-and-pricing/",
    "cloudburn-eventbridge": "https://cloudburn.io/blog/amazon-eventbridge-pricing (2026-03-13)",
    "kindatechnical": "https://kindatechnical.com/aws-vpc/understanding-vpc-costs.html",
}


def _price(usd, unit, page, seen_on=None, confirmed=False):
    return {"usd": usd, "unit": unit, "page": PAGES[page], "seen_on": SEEN.get(seen_on),
            "confirmed": confirmed, "read": READ}


UNKNOWN = None

# PRICES[region][key]; instance types under PRICES[region]["instance"][type].
PRICES = {
    "us-east-1": {
        # Billed per source ENI with a session, per hour (DESIGN: "sessions are billed until deleted").
        "mirror_session_hour": _price(0.015, "session-hour", "vpc", "issue16"),
        "alb_hour": _price(0.0225, "ALB-hour", "elb", "cloud-horizons"),
        "alb_lcu_hour": _price(0.008, "LCU-hour", "elb", "cloud-horizons"),
        "nlb_hour": _price(0.0225, "NLB-hour", "elb", "calculator-city"),
        "nlb_lcu_hour": _price(UNKNOWN, "NLCU-hour", "elb"),
        "fargate_vcpu_hour": _price(0.04048, "vCPU-hour (Linux/x86)", "fargate", "vantage-fargate"),
        "fargate_gb_hour": _price(0.004445, "GB-hour (Linux/x86)", "fargate", "vantage-fargate"),
        "public_ipv4_hour": _price(0.005, "public IPv4 address-hour", "ipv4", "ipv4-blog"),
        "ebs_gp3_gb_month": _price(UNKNOWN, "GB-month (gp3)", "ebs"),
        "s3_standard_gb_month": _price(UNKNOWN, "GB-month (S3 Standard)", "s3"),
        "data_transfer_out_gb": _price(0.09, "GB out to the internet (first tier)", "ec2", "kindatechnical"),
        "scheduler_million": _price(1.00, "million invocations after 14 million free per month", "scheduler",
                                    "cloudburn-eventbridge"),
        "instance": {
            "t3.micro": _price(0.0104, "instance-hour (Linux, on demand)", "ec2", "cloud-bench"),
            "t3.small": _price(0.0208, "instance-hour (Linux, on demand)", "ec2", "cloud-bench"),
        },
    },
    "eu-west-1": {
        "mirror_session_hour": _price(UNKNOWN, "session-hour", "vpc"),
        "alb_hour": _price(0.0252, "ALB-hour", "elb", "calculator-city"),
        "alb_lcu_hour": _price(UNKNOWN, "LCU-hour", "elb"),
        "nlb_hour": _price(UNKNOWN, "NLB-hour", "elb"),
        "nlb_lcu_hour": _price(UNKNOWN, "NLCU-hour", "elb"),
        "fargate_vcpu_hour": _price(UNKNOWN, "vCPU-hour (Linux/x86)", "fargate"),
        "fargate_gb_hour": _price(UNKNOWN, "GB-hour (Linux/x86)", "fargate"),
        # The charge is the same in every commercial region (AWS announcement, quoted on ipv4-blog).
        "public_ipv4_hour": _price(0.005, "public IPv4 address-hour", "ipv4", "ipv4-blog"),
        "ebs_gp3_gb_month": _price(UNKNOWN, "GB-month (gp3)", "ebs"),
        "s3_standard_gb_month": _price(UNKNOWN, "GB-month (S3 Standard)", "s3"),
        "data_transfer_out_gb": _price(UNKNOWN, "GB out to the internet (first tier)", "ec2"),
        "scheduler_million": _price(UNKNOWN, "million invocations after the free tier", "scheduler"),
        "instance": {
            "t3.micro": _price(0.0114, "instance-hour (Linux, on demand)", "ec2", "cloud-bench-t2"),
            "t3.small": _price(UNKNOWN, "instance-hour (Linux, on demand)", "ec2"),
        },
    },
}

# What the templates run, read from them (roles/stacks/files/sample-service.yml,
# roles/stacks/templates/target-instance.yml.j2): the Fargate task size and count, the capture
# instances' root volume, the zones of the default network (two subnets).
SAMPLE_TASK = {"vcpu": 0.25, "memory_gb": 0.5, "count": 1}
ROOT_VOLUME_GB = 30
DEFAULT_ZONES = 2
GB_MONTH_HOURS = 730  # AWS prices GB-month figures over 730 hours a month


def price(region, key, instance_type=None):
    """The entry of ``key`` (or of ``instance_type``) in ``region``; an entry with usd None
    when the region, the key or the type is not in the table."""
    table = PRICES.get(region) or {}
    entry = (table.get("instance") or {}).get(instance_type) if key == "instance" else table.get(key)
    if entry is None:
        return {"usd": None, "unit": key if key != "instance" else "instance-hour", "page": None,
                "seen_on": None, "confirmed": False, "read": READ}
    return entry


def source_enis(experiment, sessions=None):
    """How many source ENIs get a session: the deployed count when known (``sessions``), else
    the estimate from the sources. Returns (count, exact)."""
    if sessions is not None:
        return int(sessions), True
    zones = len(experiment["network"].get("subnet_ids") or []) or DEFAULT_ZONES
    count, exact = 0, True
    for source in experiment["sources"]:
        if source["type"] in ("sample_service", "load_balancer"):
            count += zones  # an ALB has one ENI per zone
            exact = exact and source["type"] == "sample_service" and bool(experiment["network"].get("subnet_ids"))
        else:
            count += 1  # at least one: an instance may have more ENIs, a service more tasks
            exact = exact and source["type"] == "network_interface"
    return count, exact


def public_addresses(experiment):
    """Public IPv4 addresses the stacks hold: the internet-facing ALB one per zone; with a given
    VPC (no private subnets), the Fargate task and each capture instance one too."""
    zones = len(experiment["network"].get("subnet_ids") or []) or DEFAULT_ZONES
    addresses = zones
    if experiment["network"].get("vpc_id"):
        addresses += SAMPLE_TASK["count"] + capture_instances(experiment["target"])
    return addresses


def _item(stack, name, quantity, entry, hours_factor=1.0, note=""):
    usd = entry["usd"]
    hourly = None if usd is None else quantity * usd * hours_factor
    return {"stack": stack, "item": name, "quantity": quantity, "unit": entry["unit"], "unit_usd": usd, "hourly_usd": hourly,
            "confirmed": entry["confirmed"], "page": entry["page"], "seen_on": entry["seen_on"], "note": note}


def estimate(experiment, sessions=None, hours=None):
    """Line items and totals of what the deployment of ``experiment`` runs in its region.

    ``sessions``: the deployed number of mirror sessions (after deploying); None = estimated
    from the sources. ``hours``: the planned lifetime (mirrorlab_expire_after); 0 or None = no
    end. Usage-based charges (LCUs, data transfer, S3 storage and requests) are not in the
    totals; they are listed in ``notes`` with their unit price.
    """
    region = experiment["region"]
    target = experiment["target"]
    count = capture_instances(target)
    enis, exact = source_enis(experiment, sessions)
    items = [
        _item("mirroring", "mirror sessions", enis, price(region, "mirror_session_hour"),
              note="" if exact else "estimated: the source ENIs are known after deploying"),
    ]
    if count:  # none with a Gateway Load Balancer endpoint target
        items += [
            _item("target_instance", "capture instances (%s)" % target["instance_type"], count,
                  price(region, "instance", target["instance_type"]),
                  note="spot: at most this (the on-demand price)" if target.get("spot") else ""),
            _item("target_instance", "capture root volumes (gp3, %d GiB each)" % ROOT_VOLUME_GB, count * ROOT_VOLUME_GB,
                  price(region, "ebs_gp3_gb_month"), 1.0 / GB_MONTH_HOURS),
        ]
    items += [
        _item("sample_service", "application load balancer", 1, price(region, "alb_hour")),
        _item("sample_service", "Fargate vCPU (%g vCPU x %d task)" % (SAMPLE_TASK["vcpu"], SAMPLE_TASK["count"]),
              SAMPLE_TASK["vcpu"] * SAMPLE_TASK["count"], price(region, "fargate_vcpu_hour")),
        _item("sample_service", "Fargate memory (%g GB x %d task)" % (SAMPLE_TASK["memory_gb"], SAMPLE_TASK["count"]),
              SAMPLE_TASK["memory_gb"] * SAMPLE_TASK["count"], price(region, "fargate_gb_hour")),
        _item("sample_service", "public IPv4 addresses", public_addresses(experiment), price(region, "public_ipv4_hour")),
    ]
    if count > 1:
        items.append(_item("target_instance", "network load balancer (scale-out target)", 1, price(region, "nlb_hour")))
    known = [item for item in items if item["hourly_usd"] is not None]
    # Nothing known is unknown, not $0.
    hourly = sum(item["hourly_usd"] for item in known) if known else None
    usage = [("alb_lcu_hour", "ALB capacity units used")]
    if count > 1:
        usage.append(("nlb_lcu_hour", "NLB capacity units used"))
    usage.append(("data_transfer_out_gb", "data sent to the internet (responses of the sample service)"))
    if count:
        usage.append(("s3_standard_gb_month", "pcap files archived in S3 (and its requests)"))
    notes = []
    for key, what in usage:
        entry = price(region, key)
        notes.append({"item": what, "unit": entry["unit"], "unit_usd": entry["usd"], "confirmed": entry["confirmed"],
                      "page": entry["page"]})
    if not count:
        notes.append({"item": "the Gateway Load Balancer endpoint and the appliances behind it (yours, not estimated)",
                      "unit": "endpoint-hour and GB", "unit_usd": None, "confirmed": False, "page": PAGES["vpc"]})
    result = {
        "region": region,
        "currency": CURRENCY,
        "read": READ,
        "items": items,
        "hourly_usd": hourly,
        "daily_usd": None if hourly is None else hourly * HOURS_PER_DAY,
        "unknown": [item["item"] for item in items if item["hourly_usd"] is None],
        "unconfirmed": [item["item"] for item in known if not item["confirmed"]],
        "complete": len(known) == len(items),
        "notes": notes,
        "hours": hours or 0,
        "lifetime_usd": hourly * hours if hours and hourly is not None else None,
    }
    result["lines"] = summary_lines(result)
    return result


def money(usd):
    return "unknown" if usd is None else "$%.4f" % usd


def unit_money(usd):
    """A unit price as the table has it (up to 6 decimals): $0.04048, not $0.0405."""
    return "unknown" if usd is None else "$" + ("%.6f" % usd).rstrip("0").rstrip(".")


def summary_lines(result):
    """The estimate as lines for a playbook summary."""
    lower = "" if result["complete"] or result["hourly_usd"] is None else "at least "
    lines = ["What this costs on AWS (%s, prices read %s, not a quote): %s%s per hour, %s%s per day%s."
             % (result["region"], result["read"], lower, money(result["hourly_usd"]), lower,
                money(result["daily_usd"]),
                "" if not result["lifetime_usd"] else ", %s%s over its %d hours until it expires"
                % (lower, money(result["lifetime_usd"]), result["hours"]))]
    for item in result["items"]:
        lines.append("  %s: %g x %s per %s = %s per hour%s%s"
                     % (item["item"], item["quantity"], unit_money(item["unit_usd"]), item["unit"],
                        money(item["hourly_usd"]), "" if item["confirmed"] or item["unit_usd"] is None
                        else " (price not confirmed on the AWS page)", "; " + item["note"] if item["note"] else ""))
    for note in result["notes"]:
        lines.append("  plus by use: %s, %s per %s" % (note["item"], unit_money(note["unit_usd"]), note["unit"]))
    if result["unknown"]:
        lines.append("  unknown prices (not in the table for %s, not in the totals): %s"
                     % (result["region"], ", ".join(result["unknown"])))
    return lines
