"""lab_rootfs and lab_machine on this host: a real systemd-nspawn machine in its own netns."""

import json
import os
import subprocess

import pytest

from conftest import ansible_env, run

pytestmark = [pytest.mark.lab, pytest.mark.slow]

NAME = "mlzmach"


def module(module_name, **args):
    """Run one module with ansible's ad-hoc command and return its JSON result."""
    env = ansible_env(ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json")
    cmd = ["ansible", "localhost", "-m", "mirrorlab.vpc." + module_name] + (["-a", json.dumps(args)] if args else [])
    proc = run(cmd, env=env, check=False)
    result = json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    assert not result.get("failed"), result
    return result


def processes_naming(needle):
    out = subprocess.run(["pgrep", "-af", needle], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "pgrep" not in line]


@pytest.fixture(scope="module")
def rootfs():
    return module("lab_rootfs")["path"]


@pytest.fixture
def netns():
    subprocess.run(["ip", "netns", "add", NAME], check=True)
    try:
        yield NAME
    finally:
        module("lab_machine", name=NAME, state="absent")
        subprocess.run(["ip", "netns", "del", NAME], check=False)


def test_rootfs_is_cached(rootfs):
    again = module("lab_rootfs")
    assert again["path"] == rootfs and not again["changed"]
    assert os.path.isfile(os.path.join(rootfs, "usr", "bin", "dumpcap"))


def test_machine_lifecycle(rootfs, netns):
    state_dir = "/var/lib/mirrorlab/machines/" + NAME
    first = module("lab_machine", name=NAME, rootfs=rootfs, netns=netns)
    assert first["changed"] and first["system_state"] in ("running", "degraded")
    pid = first["pid"]
    # The machine runs in the namespace it was given, as its own host.
    ns_of_machine = os.stat(f"/proc/{pid}/ns/net").st_ino
    assert ns_of_machine == os.stat(f"/run/netns/{netns}").st_ino
    hostname = subprocess.run(["nsenter", "-t", str(pid), "-u", "hostname"], capture_output=True, text=True).stdout
    assert hostname.strip() == NAME

    again = module("lab_machine", name=NAME, rootfs=rootfs, netns=netns)
    assert not again["changed"] and again["pid"] == pid

    # A file written inside persists across a reboot (overlay upper layer), and the
    # supervisor brings the machine back by itself.
    subprocess.run(["nsenter", "-t", str(pid), "-m", "touch", "/root/kept"], check=True)
    subprocess.run(["nsenter", "-t", str(pid), "-m", "-p", "systemctl", "reboot"], check=False)
    back = module("lab_machine", name=NAME, rootfs=rootfs, netns=netns)
    assert back["pid"] != pid and back["system_state"] in ("running", "degraded")
    assert os.path.exists(os.path.join(back["root"], "root", "kept"))
    assert not os.path.exists(os.path.join(rootfs, "root", "kept")), "the cached tree must stay untouched"

    stopped = module("lab_machine", name=NAME, state="stopped")
    assert stopped["changed"] and not processes_naming(state_dir)
    assert os.path.isdir(state_dir)

    gone = module("lab_machine", name=NAME, state="absent")
    assert gone["changed"] and not os.path.exists(state_dir)
    with open("/proc/self/mountinfo") as mounts:
        assert state_dir not in mounts.read()
    assert not module("lab_machine", name=NAME, state="absent")["changed"]


def test_check_mode_changes_nothing(rootfs, netns):
    env = ansible_env()
    proc = run(
        ["ansible", "localhost", "--check", "-m", "mirrorlab.vpc.lab_machine", "-a", f"name={NAME} rootfs={rootfs}"],
        env=env,
    )
    assert "CHANGED" in proc.stdout
    assert not processes_naming("/var/lib/mirrorlab/machines/" + NAME)


def test_missing_namespace_is_a_clear_error(rootfs):
    env = ansible_env()
    proc = run(["ansible", "localhost", "-m", "mirrorlab.vpc.lab_machine", "-a", f"name=mlznons rootfs={rootfs}"], env=env, check=False)
    assert proc.returncode != 0
    assert "network namespace mlznons does not exist" in proc.stdout
    module("lab_machine", name="mlznons", state="absent")
