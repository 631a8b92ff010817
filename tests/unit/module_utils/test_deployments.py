"""Grouping, orphans, cost and labs of `status --all` (module_utils/deployments.py)."""

import datetime

import pytest

from ansible_collections.mirrorlab.vpc.plugins.module_utils import deployments, pricing

NOW = datetime.datetime(2026, 12, 2, 12, 0, tzinfo=datetime.timezone.utc)


def stack(name, deployment, hours_ago, outputs=None, parameters=None):
    return {"name": name, "status": "CREATE_COMPLETE", "created": NOW - datetime.timedelta(hours=hours_ago),
            "tags": {deployments.TAG: deployment} if deployment else {}, "outputs": outputs or {},
            "parameters": parameters or {}}


def test_deployments_are_grouped_by_tag_with_age_expiry_and_cost_of_what_runs():
    stacks = [
        stack("a-sample-service", "a", 3), stack("a-mirroring", "a", 2),
        stack("a-target-instance", "a", 3, {"TargetCount": "3", "ExpiresAt": "2026-12-02T15:00:00"},
              {"InstanceType": "t3.small", "PublicSubnetIds": ""}),
        stack("b-target-instance", "b", 1, {"TargetCount": "1"}, {"InstanceType": "t3.small"}),
        stack("foreign", None, 5),
    ]
    found = deployments.aws_deployments("us-east-1", stacks, {"a": 2}, NOW)
    assert [d["deployment"] for d in found] == ["a", "b"]
    a, b = found
    assert a["age_hours"] == 3 and a["expires_at"] == "2026-12-02T15:00:00" and b["expires_at"] is None
    table = pricing.PRICES["us-east-1"]
    by_hand_a = (2 * table["mirror_session_hour"]["usd"] + 3 * table["instance"]["t3.small"]["usd"]
                 + table["nlb_hour"]["usd"] + table["alb_hour"]["usd"]
                 + 0.25 * table["fargate_vcpu_hour"]["usd"] + 0.5 * table["fargate_gb_hour"]["usd"]
                 + pricing.DEFAULT_ZONES * table["public_ipv4_hour"]["usd"])
    assert a["hourly_usd"] == pytest.approx(by_hand_a)
    assert a["so_far_usd"] == pytest.approx(3 * by_hand_a)
    # b has only its target stack: one instance, nothing of the sample service or the mirroring
    assert b["hourly_usd"] == pytest.approx(table["instance"]["t3.small"]["usd"])
    assert b["unknown_prices"] == ["capture root volumes (gp3, 30 GiB each)"]
    text = deployments.lines(found, [])
    assert "expires 2026-12-02T15:00:00 UTC" in text[0] and "no expiry" in text[1]


def test_orphans_are_tagged_resources_in_no_live_stack_with_their_removal_command():
    tagged = [
        {"kind": "traffic-mirror-session", "id": "tms-1", "deployment": "a"},
        {"kind": "traffic-mirror-session", "id": "tms-2", "deployment": "a"},
        {"kind": "bucket", "id": "a-bucket", "deployment": "a"},
        {"kind": "instance", "id": "i-9", "deployment": "gone"},
    ]
    found = deployments.orphans("eu-west-1", tagged, ["tms-1", "a-bucket"])
    assert [(o["kind"], o["id"]) for o in found] == [("traffic-mirror-session", "tms-2"), ("instance", "i-9")]
    assert found[0]["remove"] == "aws ec2 delete-traffic-mirror-session --traffic-mirror-session-id tms-2 --region eu-west-1"
    assert found[1]["remove"] == "aws ec2 terminate-instances --instance-ids i-9 --region eu-west-1"
    assert "ORPHAN instance i-9 of deployment gone" in deployments.lines([], found)[1]


def test_labs_are_found_by_their_router_namespace_with_their_pcap_bytes(tmp_path):
    capture = tmp_path / "ml-a" / "machine" / "overlay" / "var" / "lib" / "mirrorlab" / "capture" / "capture0"
    capture.mkdir(parents=True)
    (capture / "one.pcap").write_bytes(b"x" * 100)
    (capture / "two.pcap.gz").write_bytes(b"y" * 50)
    (capture / "notes.txt").write_bytes(b"z" * 1000)
    names = ["ml-a-router", "ml-a-client", "ml-a-b-router", "ml-a-b-alb", "other", "ml-c-client"]
    found = deployments.lab_deployments(names, str(tmp_path))
    assert [(d["deployment"], d["namespaces"]) for d in found] == [
        ("a", ["ml-a-client", "ml-a-router"]), ("a-b", ["ml-a-b-alb", "ml-a-b-router"])]
    assert found[0]["pcap_bytes"] == 150 and found[0]["machine_dir"] == str(tmp_path / "ml-a")
    assert found[1]["pcap_bytes"] == 0 and found[1]["machine_dir"] is None
    assert deployments.lines([], []) == ["No mirrorlab deployment found."]
