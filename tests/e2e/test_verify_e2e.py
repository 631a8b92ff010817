"""./mirrorlab verify in the lab, with real packets: green on a healthy lab, and the right cause
on each lab broken on purpose (issue 15 item 6).

One deployment (`mlver`) mirroring the ALB's two interfaces (zones a and b) and the backend's:

1. healthy: exit 0, every session ok in both directions (`--json`);
2. UDP 4789 dropped at the target (an nftables rule in its namespace, as a security group
   would): nothing arrives at all, no link counter moved;
3. one session removed (the backend's nftables table deleted out of band): that ENI has
   nothing and its session is missing, the ALB's is still ok;
4. a one-direction filter (ingress rules only): each ENI lacks egress, and the cause names the
   filter (no egress rule matches).
"""

import json
import os
import subprocess

import pytest

from conftest import ROOT, ansible_env
from labtools import leftovers, playbook

from ansible_collections.mirrorlab.vpc.plugins.modules.lab_plan import eni_id, short_id

pytestmark = [
    pytest.mark.slow,
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
]

DEPLOYMENT = "mlver"
ANY = "0.0.0.0/0"
ALB_ENI, ALB_B_ENI, BACKEND_ENI = eni_id(DEPLOYMENT, "alb"), eni_id(DEPLOYMENT, "alb_b"), eni_id(DEPLOYMENT, "backend")


def experiment(captures, **more):
    return {"mirrorlab_deployment": DEPLOYMENT, "mirrorlab_captures_dir": str(captures),
            "mirrorlab_sources": [{"type": "sample_service"}, {"type": "ecs_service", "cluster": "lab", "service": "backend"}],
            **more}


def verify(captures, **more):
    """./mirrorlab verify --json: (exit status, the verdict)."""
    proc = subprocess.run([str(ROOT / "mirrorlab"), "verify", "--json", "-e", json.dumps(experiment(captures, **more))],
                          capture_output=True, text=True, env=ansible_env(), cwd=ROOT, timeout=300)
    try:
        verdict = json.loads(proc.stdout)
    except ValueError:
        pytest.fail(f"verify printed no JSON (rc {proc.returncode}): {proc.stdout[-3000:]} {proc.stderr[-3000:]}")
    return proc.returncode, verdict


def by_eni(verdict):
    return {e["eni"]: e for e in verdict["enis"]}


def sessions(verdict):
    return {s["eni"]: s for s in verdict["sessions"]}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    captures = tmp_path_factory.mktemp("captures")
    playbook(ROOT / "site.yml", experiment(captures))
    yield captures
    playbook(ROOT / "teardown.yml", {"mirrorlab_deployment": DEPLOYMENT, "mirrorlab_discard_captures": True,
                                     "mirrorlab_captures_dir": str(captures)}, check=False)
    assert leftovers(DEPLOYMENT, "ml" + short_id(DEPLOYMENT)) == {}


def test_verify_is_green_on_a_healthy_lab(lab):
    rc, verdict = verify(lab)
    assert rc == 0 and verdict["ok"], verdict
    # 5 requests to each ALB interface (one per zone).
    assert verdict["probe"]["answered"] == verdict["probe"]["requests"] == 10
    assert set(by_eni(verdict)) == {ALB_ENI, ALB_B_ENI, BACKEND_ENI}
    for eni in by_eni(verdict).values():
        assert eni["ingress"] and eni["egress"] and not eni["causes"], eni
    for session in verdict["sessions"]:
        assert session["vni"] == 12345 and session["present"]
        for direction in ("ingress", "egress"):
            assert session[direction]["state"] == "ok" and session[direction]["packets"] > 0, session
    assert {link["link"] for link in verdict["links"]} == {"capture0"}
    assert sum(link["rx_packets"] for link in verdict["links"]) >= verdict["copies"] > 0


def test_udp_4789_dropped_at_the_target_means_nothing_arrives(lab):
    netns = f"ml-{DEPLOYMENT}-target"
    script = ("table inet mltest_drop {\n chain input {\n  type filter hook input priority -10; policy accept;\n"
              "  udp dport 4789 drop\n }\n}\n")
    subprocess.run(["ip", "netns", "exec", netns, "nft", "-f", "-"], input=script, text=True, check=True)
    try:
        rc, verdict = verify(lab)
    finally:
        subprocess.run(["ip", "netns", "exec", netns, "nft", "delete", "table", "inet", "mltest_drop"], check=True)
    assert rc != 0 and not verdict["ok"]
    assert verdict["copies"] == 0 and sum(link["rx_packets"] for link in verdict["links"]) == 0
    assert len(verdict["causes"]) == 1 and "nothing arrived at any capture link" in verdict["causes"][0]
    assert "security group" in verdict["causes"][0] and "UDP 4789" in verdict["causes"][0]
    assert all(not e["ok"] for e in verdict["enis"])


def test_a_removed_session_is_named(lab):
    subprocess.run(["ip", "netns", "exec", f"ml-{DEPLOYMENT}-backend", "nft", "delete", "table", "netdev",
                    f"ml_{DEPLOYMENT}_backend"], check=True)
    try:
        rc, verdict = verify(lab)
    finally:
        playbook(ROOT / "site.yml", experiment(lab))  # puts the session back
    assert rc != 0 and not verdict["ok"] and not verdict["causes"]
    enis, per_session = by_eni(verdict), sessions(verdict)
    assert enis[ALB_ENI]["ok"] and enis[ALB_ENI]["ingress"] and enis[ALB_ENI]["egress"] and enis[ALB_B_ENI]["ok"]
    assert not enis[BACKEND_ENI]["ok"] and not enis[BACKEND_ENI]["ingress"] and not enis[BACKEND_ENI]["egress"]
    assert enis[BACKEND_ENI]["causes"] == [
        f"nothing for this ENI: its session is missing (no nftables table netdev ml_{DEPLOYMENT}_backend in "
        f"ml-{DEPLOYMENT}-backend)"]
    assert not per_session[BACKEND_ENI]["present"] and per_session[ALB_ENI]["present"]
    # The healthy lab is back: verify is green again.
    rc, verdict = verify(lab)
    assert rc == 0 and verdict["ok"], verdict


def test_a_one_direction_filter_is_named(lab):
    ingress_only = {"rules": [{"direction": "ingress", "number": 100, "action": "accept", "protocol": "tcp",
                               "source_cidr": ANY, "destination_cidr": ANY}]}
    playbook(ROOT / "site.yml", experiment(lab, mirrorlab_filter=ingress_only))
    rc, verdict = verify(lab, mirrorlab_filter=ingress_only)
    assert rc != 0 and not verdict["ok"] and not verdict["causes"]
    for eni in verdict["enis"]:
        assert eni["ingress"] and not eni["egress"], eni
        assert len(eni["causes"]) == 1, eni
        cause = eni["causes"][0]
        assert cause.startswith("one direction only: no egress copy arrived, only ingress; the filter does not mirror "
                                "egress traffic such as tcp "), cause
        assert cause.endswith("(session 1 (mirrorlab_filter): no egress rule matches it)"), cause
    for session in verdict["sessions"]:
        assert session["ingress"]["state"] == "ok" and session["egress"]["packets"] == 0
