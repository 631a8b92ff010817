"""The collection as users get it: built, installed into a clean directory, and run from there.

`ansible-galaxy collection build` of the checkout, `ansible-galaxy collection install` into a
temporary directory that holds nothing of the checkout (no ansible.cfg, no inventory, no
playbook), then `ansible-playbook mirrorlab.vpc.site` brings the lab up and
`ansible-playbook mirrorlab.vpc.teardown` removes it, with only ANSIBLE_COLLECTIONS_PATH
pointing at the installed copy (the ansible package's own collections come from the virtual
environment as usual). Neither run may print a warning or a deprecation warning, except the
two notices ansible-core's command line prints for every run without an inventory, before it
reads any playbook (INVENTORY_UNPARSED_WARNING, LOCALHOST_WARNING). Nothing is left after
the teardown.
"""

import os
import subprocess

import pytest

from conftest import build_collection, install_collection, installed_env
from labtools import ROOT, leftovers, module, run

pytestmark = [
    pytest.mark.slow,
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
]

DEPLOYMENT = "mlinst"
ALB = "10.0.0.10"
# ansible-core's own notices for a run with no inventory (only the implicit localhost).
NO_INVENTORY_NOTICES = {
    "[WARNING]: No inventory was parsed, only implicit localhost is available",
    "[WARNING]: provided hosts list is empty, only localhost is available. Note that the implicit localhost does not match 'all'",
}


def warnings_of(proc):
    """Every warning and deprecation warning line of a run but the no-inventory notices."""
    lines = (proc.stdout + proc.stderr).splitlines()
    return [line for line in lines
            if ("[WARNING]" in line or "[DEPRECATION WARNING]" in line) and line.strip() not in NO_INVENTORY_NOTICES]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(installed collection directory, environment, clean working directory)."""
    base = tmp_path_factory.mktemp("installed")
    tarball = build_collection(base / "dist")
    work = base / "work"
    work.mkdir()
    collection = install_collection(tarball, base / "collections", cwd=work)
    yield collection, installed_env(base / "collections"), work
    # Whatever happened, leave nothing behind (with the checkout, which is the same collection).
    run(["ansible-playbook", str(ROOT / "teardown.yml"), "-e", f"mirrorlab_deployment={DEPLOYMENT}"], check=False)


def test_site_and_teardown_from_the_installed_collection(installed):
    collection, env, work = installed
    assert sorted(p.name for p in work.iterdir()) == []
    prefix = module("lab_plan", {"deployment": DEPLOYMENT})["lab"]["prefix"]

    site = run(["ansible-playbook", "mirrorlab.vpc.site", "-e", f"mirrorlab_deployment={DEPLOYMENT}"],
               env=env, cwd=work, timeout=900)
    # The installed copy ran, not the checkout.
    assert f"{collection}/roles/" in site.stdout and str(ROOT) not in site.stdout
    assert f"Lab '{DEPLOYMENT}' is up" in site.stdout
    # The lab answers, and the capture target was configured (the capture play ran on it).
    answer = subprocess.run(["ip", "netns", "exec", f"ml-{DEPLOYMENT}-client", "curl", "-sf", "--max-time", "5",
                             "-o", "/dev/null", "-w", "%{http_code}", f"http://{ALB}/"],
                            capture_output=True, text=True, check=False)
    assert answer.stdout == "200", answer
    assert f"ml-{DEPLOYMENT}-target" in site.stdout[site.stdout.rfind("PLAY RECAP"):]
    # No AWS play did anything (they end at once on the lab backend).
    assert "Validate the experiment model" in site.stdout and "Ask AWS who we are" not in site.stdout

    teardown = run(["ansible-playbook", "mirrorlab.vpc.teardown", "-e", f"mirrorlab_deployment={DEPLOYMENT}"],
                   env=env, cwd=work, timeout=600)
    assert leftovers(DEPLOYMENT, prefix) == {}
    assert sorted(p.name for p in work.iterdir()) == []

    problems = {"site": warnings_of(site), "teardown": warnings_of(teardown)}
    assert problems == {"site": [], "teardown": []}, problems
