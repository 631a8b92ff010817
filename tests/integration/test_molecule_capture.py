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



def leftovers():
    netns = os.listdir("/run/netns") if os.path.isdir("/run/netns") else []
    with open("/proc/self/mountinfo") as f:
        mounts = [line.split()[4] for line in f if "/machines/mlm-" in line]
    return sorted(n for n in netns if n.startswith("mlm-")), mounts


@pytest.mark.slow
@pytest.mark.lab
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces, systemd-nspawn)")
def test_molecule_capture_scenario():
    molecule = shutil.which("molecule", path=os.path.dirname(sys.executable))
    assert molecule, "molecule is not installed in the virtual environment"
    proc = run([molecule, "test", "-s", "capture"], env=ansible_env(ANSIBLE_FORCE_COLOR="0"), timeout=1200, check=False)
    out = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)
    assert proc.returncode == 0, out[-20000:]
    # The scenario really ran every step and verify asserted something.
    for step in ("create", "prepare", "converge", "idempotence", "verify", "destroy"):
        assert re.search(rf"capture (➜|>) {step}: Executed: Successful", out), f"{step} did not run:\n{out[-5000:]}"
    assert "Every datagram is there once" in out
    assert "Every closed file is in the bucket" in out
    # destroy removed the namespaces and the machine's overlay.
    assert leftovers() == ([], [])
    assert (ROOT / "molecule" / "capture" / "molecule.yml").is_file()


BAD_VALUES = [
    ({"capture_vni": 16777216}, "capture_vni: must be an integer 0-16777215"),
    ({"capture_extra_vnis": [12345]}, "capture_extra_vnis: must not repeat a VNI"),
    ({"capture_link_name": "capture-link-too-long"}, "capture_link_name: must be 1-15 characters"),
    ({"capture_tool": "wireshark"}, "capture_tool"),
    ({"capture_max_total_mb": 100, "capture_rotate_mb": 100}, "capture_max_total_mb: must be at least 2 x capture_rotate_mb x links (200)"),
    ({"capture_s3_bucket": "Bad_Bucket"}, "capture_s3_bucket: must be empty"),
    ({"capture_dir": "/var"}, "capture_dir: must be an absolute path"),
    ({"capture_dir": "/var/lib/pcaps\nExecStart=/bin/sh"}, "capture_dir: must not contain a newline"),
    ({"capture_rotate_seconds": -5}, "capture_rotate_seconds: must be an integer of at least 1, got -5"),
]


@pytest.mark.parametrize("bad,message", BAD_VALUES, ids=[next(iter(b)) for b, _ in BAD_VALUES])
def test_bad_input_fails_before_anything(tmp_path, bad, message):
    """A bad variable stops the role on its first tasks, naming the variable, on any host."""
    import json

    playbook = tmp_path / "play.yml"
    playbook.write_text(
        "- hosts: localhost\n  gather_facts: false\n  connection: local\n"
        "  tasks:\n    - ansible.builtin.include_role:\n        name: mirrorlab.vpc.capture\n"
    )
    proc = run(["ansible-playbook", "-i", "localhost,", "--check", str(playbook), "-e", json.dumps(bad)],
               env=ansible_env(), check=False, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert message in out, out[-4000:]
    # Nothing ran past validation.
    assert "Install the capture tools" not in out
