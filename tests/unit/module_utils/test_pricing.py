"""The price table and the cost estimate (module_utils/pricing.py): every expected figure is
computed here by hand from the stored table, never a hard-coded total."""

import datetime

import pytest

from ansible_collections.mirrorlab.vpc.plugins.module_utils import pricing
from ansible_collections.mirrorlab.vpc.plugins.module_utils.experiment import build_experiment


def experiment(region, count=1, **values):
    values.setdefault("backend", "aws")
    values.update(region=region, target={"count": count, "instance_type": values.pop("instance_type", "t3.small")})
    model, errors = build_experiment(values)
    assert not errors, errors
    return model


def usd(region, key, instance_type=None):
    return pricing.PRICES[region]["instance"][instance_type]["usd"] if instance_type else pricing.PRICES[region][key]["usd"]


def test_every_price_names_its_page_its_date_and_whether_it_was_confirmed():
    datetime.date.fromisoformat(pricing.READ)
    for region, table in pricing.PRICES.items():
        entries = [table[k] for k in table if k != "instance"] + list(table["instance"].values())
        for entry in entries:
            assert entry["page"].startswith("https://aws.amazon.com/")
            assert entry["read"] == pricing.READ and entry["unit"]
            assert isinstance(entry["confirmed"], bool)
            if entry["usd"] is None:
                assert entry["seen_on"] is None  # unknown: nothing claims to have seen it
            else:
                assert entry["usd"] > 0 and entry["seen_on"], (region, entry)


def by_item(result):
    return dict((item["item"].split(" (")[0], item) for item in result["items"])


@pytest.mark.parametrize("count", [1, 3])
def test_us_east_1_by_hand(count):
    result = pricing.estimate(experiment("us-east-1", count))
    items = by_item(result)
    r = "us-east-1"
    zones = pricing.DEFAULT_ZONES  # the imported network: two public subnets, an ALB ENI in each
    expected = {
        "mirror sessions": zones * usd(r, "mirror_session_hour"),
        "capture instances": count * usd(r, None, "t3.small"),
        "application load balancer": usd(r, "alb_hour"),
        "Fargate vCPU": 0.25 * usd(r, "fargate_vcpu_hour"),
        "Fargate memory": 0.5 * usd(r, "fargate_gb_hour"),
        "public IPv4 addresses": zones * usd(r, "public_ipv4_hour"),
    }
    if count > 1:
        expected["network load balancer"] = usd(r, "nlb_hour")
    for name, hourly in expected.items():
        assert items[name]["hourly_usd"] == pytest.approx(hourly), name
    # The gp3 price was not found: unknown, left out of the totals, and said so.
    assert items["capture root volumes"]["hourly_usd"] is None
    assert result["unknown"] == ["capture root volumes (gp3, 30 GiB each)"] and not result["complete"]
    assert result["hourly_usd"] == pytest.approx(sum(expected.values()))
    assert result["daily_usd"] == pytest.approx(24 * sum(expected.values()))
    assert ("network load balancer" in items) == (count > 1)
    assert any(line.startswith("  unknown prices") for line in result["lines"])
    assert result["lines"][0].count("at least") == 2


@pytest.mark.parametrize("count", [1, 3])
def test_eu_west_1_by_hand_with_the_unknowns_shown_as_unknown(count):
    result = pricing.estimate(experiment("eu-west-1", count))
    items = by_item(result)
    r = "eu-west-1"
    expected = usd(r, "alb_hour") + pricing.DEFAULT_ZONES * usd(r, "public_ipv4_hour")
    assert result["hourly_usd"] == pytest.approx(expected)
    for name in ("mirror sessions", "capture instances", "Fargate vCPU", "Fargate memory"):
        assert items[name]["hourly_usd"] is None and items[name]["unit_usd"] is None
    if count > 1:
        assert items["network load balancer"]["hourly_usd"] is None
    assert len(result["unknown"]) == (6 if count > 1 else 5)
    text = "\n".join(result["lines"])
    assert "unknown" in text and "$0.0000" not in text


def test_deployed_sessions_replace_the_guess_and_a_given_vpc_adds_public_addresses():
    model = experiment("us-east-1", 3, network={"vpc_id": "vpc-0123456789abcdef0",
                                                "subnet_ids": ["subnet-01234567", "subnet-89abcdef", "subnet-0a0b0c0d"]})
    guessed = by_item(pricing.estimate(model))
    deployed = by_item(pricing.estimate(model, sessions=5))
    assert guessed["mirror sessions"]["quantity"] == 3 and not guessed["mirror sessions"]["note"]
    assert deployed["mirror sessions"]["hourly_usd"] == pytest.approx(5 * usd("us-east-1", "mirror_session_hour"))
    # 3 ALB ENIs + the Fargate task + 3 capture instances with their own address
    assert deployed["public IPv4 addresses"]["quantity"] == 3 + 1 + 3


def test_an_unknown_region_or_type_is_unknown_not_made_up():
    result = pricing.estimate(experiment("ap-south-2", 1, instance_type="m5.large"))
    assert result["hourly_usd"] is None and result["daily_usd"] is None and all(item["hourly_usd"] is None for item in result["items"])
    assert len(result["unknown"]) == len(result["items"])
    assert pricing.price("us-east-1", "instance", "m5.large")["usd"] is None
    assert "unknown per hour" in result["lines"][0]


def test_lifetime_is_the_hourly_total_times_the_hours():
    result = pricing.estimate(experiment("us-east-1", 1), hours=12)
    assert result["lifetime_usd"] == pytest.approx(12 * result["hourly_usd"])
    assert "over its 12 hours" in result["lines"][0]
    assert pricing.estimate(experiment("us-east-1", 1), hours=0)["lifetime_usd"] is None


def test_estimated_session_counts_say_they_are_estimates():
    model = experiment("us-east-1", 1, sources=[{"type": "sample_service"}, {"type": "instance", "id": "i-0123456789abcdef0"}])
    count, exact = pricing.source_enis(model)
    assert (count, exact) == (pricing.DEFAULT_ZONES + 1, False)
    assert "estimated" in by_item(pricing.estimate(model))["mirror sessions"]["note"]


def test_expire_after_is_hours_0_to_720():
    assert experiment("us-east-1", 1)["expire_after"] == 0
    assert build_experiment({"backend": "aws", "expire_after": 12})[0]["expire_after"] == 12
    for bad in (-1, 721):
        dummy, errors = build_experiment({"backend": "aws", "expire_after": bad})
        assert errors == ["mirrorlab_expire_after: must be 0 (never) or an integer 1-720, got %d" % bad]


def test_unit_prices_are_shown_as_the_table_has_them():
    lines = "\n".join(pricing.estimate(experiment("us-east-1", 1))["lines"])
    assert "x $%g per vCPU-hour" % usd("us-east-1", "fargate_vcpu_hour") in lines
    assert pricing.unit_money(0.04048) == "$0.04048" and pricing.unit_money(1.0) == "$1" and pricing.unit_money(None) == "unknown"


def test_a_gwlb_endpoint_target_costs_no_capture_instance():
    """mirrorlab makes no capture instance, volume, NLB or bucket for an endpoint target; the
    endpoint and its appliances are the user's and are named as not estimated."""
    model, errors = build_experiment({"backend": "aws", "region": "us-east-1", "network": {
        "vpc_id": "vpc-0123456789abcdef0", "subnet_ids": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]},
        "target": {"type": "gateway_load_balancer_endpoint", "gwlb_endpoint_id": "vpce-0123456789abcdef0"}})
    assert not errors, errors
    assert model["capture_instances"] == 0
    result = pricing.estimate(model)
    items = by_item(result)
    r = "us-east-1"
    assert not [name for name in items if "capture" in name or "network load balancer" in name], sorted(items)
    # With a given VPC the Fargate task has a public address; no capture instance adds one.
    assert items["public IPv4 addresses"]["quantity"] == 2 + pricing.SAMPLE_TASK["count"]  # two ALB zones, the task
    expected = sum(items[name]["hourly_usd"] for name in ("mirror sessions", "application load balancer", "Fargate vCPU",
                                                          "Fargate memory", "public IPv4 addresses"))
    assert result["hourly_usd"] == pytest.approx(expected)
    assert items["mirror sessions"]["hourly_usd"] == pytest.approx(2 * usd(r, "mirror_session_hour"))
    notes = [note["item"] for note in result["notes"]]
    assert any("Gateway Load Balancer endpoint" in n and "not estimated" in n for n in notes), notes
    assert not any("pcap files archived" in n for n in notes), notes
