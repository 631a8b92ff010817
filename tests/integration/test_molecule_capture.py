"""The capture role's molecule scenario (molecule/capture) on this machine, end to end.

`molecule test -s capture` from the checkout: a Debian 12 systemd-nspawn target in namespace
mlm-target, two mirrored sources with VNI 12345 and one with VNI 777 (nftables netdev `dup`
into VXLAN), a moto S3 server in namespace mlm-s3; converge, idempotence, verify with real
packets (payload, sources, no own packets, privileges and modes, rotation and cap, SIGKILL,
reboot, status command, S3 archive) and destroy. Every assertion lives in the scenario's
verify playbooks; this test fails when any of them, or any other step, fails.
"""

import os
import re
import shutil
import sys

import pytest

from conftest import ROOT, ansible_env, run

pytestmark = [pytest.mark.slow, pytest.mark.lab]


def leftovers():
    netns = os.listdir("/run/netns") if os.path.isdir("/run/netns") else []
    with open("/proc/self/mountinfo") as f:
        mounts = [line.split()[4] for line in f if "/machines/mlm-" in line]
    return sorted(n for n in netns if n.startswith("mlm-")), mounts


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces, systemd-nspawn)")
def test_molecule_capture_scenario():
    molecule = shutil.which("molecule", path=os.path.dirname(sys.executable))
    assert molecule, "molecule is not installed in the virtual environment"
    proc = run([molecule, "test", "-s", "capture"], env=ansible_env(ANSIBLE_FORCE_COLOR="0"), timeout=1200, check=False)
    out = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)
    assert proc.returncode == 0, out[-20000:]
    # The scenario really ran every step and verify asserted something.
    for step in ("create", "prepare", "converge", "idempotence", "verify", "destroy"):
        assert re.search(rf"capture ➜ {step}: Executed: Successful", out), f"{step} did not run:\n{out[-5000:]}"
    assert "Every datagram is there once" in out
    assert "Every closed file is in the bucket" in out
    # destroy removed the namespaces and the machine's overlay.
    assert leftovers() == ([], [])
    assert (ROOT / "molecule" / "capture" / "molecule.yml").is_file()
