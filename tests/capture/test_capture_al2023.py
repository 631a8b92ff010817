"""The capture role's Amazon Linux 2023 branches, short of booting AL2023 (which this host
cannot): `os_family: RedHat` (the package map, dnf's list) and systemd-networkd managing the
underlay (amazon-ec2-net-utils' /run/systemd/network/70-<ENI>.network). docs/aws.md lists
which branches run only there.

The role's own action, mirrorlab.vpc.capture_target, renders the networkd branch with AL2023's
values and runs its module here in check mode with --diff (it changes nothing on this host and
reports every file it would write, with its content, owner and mode); the files are then
parsed and their keys checked against systemd-networkd 252's own key tables (AL2023 ships
systemd 252, as Debian 12). The choice of networkd from `networkctl status` output is checked
on the rule itself (module_utils/capture_target.py).
"""

import configparser
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, ansible_env, run

from ansible_collections.mirrorlab.vpc.plugins.module_utils.capture_target import choose_manager, network_file

ROLE = ROOT / "roles" / "capture"
NETWORKD = Path("/lib/systemd/systemd-networkd")
UNDERLAY, NETWORK_FILE, MTU = "ens5", "/run/systemd/network/70-ens5.network", 9001
NETWORKD_DIR = "/etc/systemd/network"
# What each command the role runs on the target is packaged as, per family (AL2023: the
# Amazon Linux 2023 package names).
PROVIDERS = {
    "ip": {"Debian": "iproute2", "RedHat": "iproute"},
    "ethtool": {"Debian": "ethtool", "RedHat": "ethtool"},
    "tcpdump": {"Debian": "tcpdump", "RedHat": "tcpdump"},
    "dumpcap": {"Debian": "wireshark-common", "RedHat": "wireshark-cli"},
    "python3": {"Debian": "python3", "RedHat": "python3"},
    "sysctl": {"Debian": "procps", "RedHat": "procps-ng"},
}
# networkctl status of an AL2023 ENI (systemd 252's format).
NETWORKCTL_STATUS = """\
● 2: ens5
                     Link File: /usr/lib/systemd/network/99-default.link
                  Network File: /run/systemd/network/70-ens5.network
                         State: routable (configured)
"""


def role_yaml(*parts):
    return yaml.safe_load((ROLE.joinpath(*parts)).read_text())


def task(tasks, name):
    return next(t for t in tasks if t.get("name") == name)


def al2023_vars():
    """The role's variables on an AL2023 instance whose ENI networkd manages, two VNIs."""
    return {"ansible_facts": {"os_family": "RedHat"}, "capture_vni": 4242, "capture_extra_vnis": [777]}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """The networkd branch planned in check mode, written out below out/; (out, packages, result)."""
    out = tmp_path_factory.mktemp("al2023")
    for part in ("templates", "files"):  # the action finds the role's templates beside the play
        (out / part).symlink_to(ROLE / part)
    install = task(role_yaml("tasks", "present.yml"), "Install the capture tools")["ansible.builtin.package"]["name"]
    tasks = [{"name": "Plan the capture on AL2023", "mirrorlab.vpc.capture_target": {
        "state": "present", "links": [{"name": "capture0", "vni": 4242}, {"name": "capv777", "vni": 777}],
        "underlay": UNDERLAY, "mtu": MTU - 50, "manager": "networkd", "network_file": NETWORKD_FILE_FOUND},
        "register": "planned", "check_mode": True, "diff": True}]
    tasks.append({"name": "Keep the plan", "ansible.builtin.copy": {
        "dest": str(out / "planned.json"), "mode": "0644", "content": "{{ planned | to_json }}"}, "check_mode": False})
    for bucket, name in (("", "packages"), ("pcap-bucket", "packages-archive")):
        tasks.append({"name": f"The package list ({name})", "ansible.builtin.copy": {
            "dest": str(out / f"{name}.json"), "mode": "0644", "content": "{{ (" + install.strip()[2:-2] + ") | to_json }}"},
            "vars": {"capture_s3_bucket": bucket}})
    play = [{"name": "AL2023 branches of mirrorlab.vpc.capture, planned here", "hosts": "localhost",
             "connection": "local", "gather_facts": False,
             "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"},
             "vars_files": [str(ROLE / "defaults" / "main.yml"), str(ROLE / "vars" / "main.yml")],
             "tasks": tasks}]
    playbook = out / "render.yml"
    playbook.write_text(yaml.safe_dump(play, sort_keys=False))
    extra = out / "vars.json"
    extra.write_text(json.dumps(al2023_vars()))  # extra vars: above the role's vars/main.yml
    run(["ansible-playbook", "-i", "localhost,", str(playbook), "-e", f"@{extra}"], env=ansible_env())
    packages = {name: json.loads((out / f"{name}.json").read_text()) for name in ("packages", "packages-archive")}
    result = json.loads((out / "planned.json").read_text())
    # Every file it would write, under out/ at its path on the target.
    for diff in result["diff"]:
        path = out / diff["after_header"].lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(diff["after"])
    return out, packages, result


NETWORKD_FILE_FOUND = network_file(NETWORKCTL_STATUS)


def test_networkctl_status_chooses_networkd():
    assert NETWORKD_FILE_FOUND == NETWORK_FILE
    assert choose_manager("auto", NETWORKD_FILE_FOUND, UNDERLAY) == ("networkd", None)
    assert choose_manager("auto", network_file("● 2: eth0\n  State: routable (unmanaged)\n"), "eth0") == ("unit", None)
    manager, problem = choose_manager("networkd", "", "eth0")
    assert not manager and problem.startswith("capture_link_manager is networkd but systemd-networkd does not manage eth0")


def unit_file(path):
    """systemd's INI dialect: repeated keys allowed, '#' comments; {section: {key: [values]}}."""
    parser = configparser.ConfigParser(strict=False, interpolation=None, dict_type=dict)
    parser.optionxform = str
    sections, current = {}, None
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
        else:
            key, value = line.split("=", 1)
            current.setdefault(key, []).append(value)
    return sections


def networkd_keys():
    """Section.Key names systemd-networkd accepts (its compiled gperf tables)."""
    if not NETWORKD.exists():
        pytest.skip(f"{NETWORKD} (systemd 252) is not installed here")
    out = subprocess.run(["strings", str(NETWORKD)], capture_output=True, text=True, check=True).stdout
    return {line for line in out.splitlines() if "." in line and line.split(".")[0].isalpha() and " " not in line}


def test_redhat_package_map_installs_what_the_role_runs(rendered):
    _, packages, _ = rendered
    assert packages["packages"] == role_yaml("vars", "main.yml")["capture_packages_by_family"]["RedHat"]
    assert packages["packages-archive"] == packages["packages"] + ["python3-boto3"]
    text = "\n".join(p.read_text() for p in ROLE.rglob("*") if p.is_file())
    for command, providers in PROVIDERS.items():
        assert command in text, f"the role no longer runs {command}: update PROVIDERS"
        assert providers["RedHat"] in packages["packages"], command
    debian = role_yaml("vars", "main.yml")["capture_packages_by_family"]["Debian"]
    for command, providers in PROVIDERS.items():
        assert providers["Debian"] in debian, command
        if command != "python3" and shutil.which("dpkg"):  # the Debian names checked against dpkg here
            owners = {subprocess.run(["dpkg", "-S", f"{d}/{command}"], capture_output=True, text=True).stdout.split(":")[0]
                      for d in ("/bin", "/sbin", "/usr/bin", "/usr/sbin")} - {""}
            assert owners <= {providers["Debian"]} and (owners or not shutil.which(command)), (command, owners)


def test_networkd_files_describe_the_links_as_aws_mirroring_needs(rendered):
    out, _, result = rendered
    netdir = out / NETWORKD_DIR.lstrip("/")
    assert sorted(p.name for p in netdir.iterdir()) == [
        "50-mirrorlab-capture0.netdev", "50-mirrorlab-capture0.network", "50-mirrorlab-capv777.netdev",
        "50-mirrorlab-capv777.network", "70-ens5.network.d"]
    for name, vni in (("capture0", 4242), ("capv777", 777)):
        netdev = unit_file(netdir / f"50-mirrorlab-{name}.netdev")
        assert netdev["NetDev"] == {"Name": [name], "Kind": ["vxlan"], "MTUBytes": [str(MTU - 50)]}
        # UDP 4789 explicitly (networkd's default is 8472), no Remote= (every source ENI), no learning.
        assert netdev["VXLAN"] == {"VNI": [str(vni)], "DestinationPort": ["4789"], "MacLearning": ["no"]}
        network = unit_file(netdir / f"50-mirrorlab-{name}.network")
        assert network["Match"] == {"Name": [name]}
        assert network["Link"]["ARP"] == ["no"] and network["Link"]["MTUBytes"] == [str(MTU - 50)]
        assert network["Network"]["LinkLocalAddressing"] == ["no"] and network["Network"]["IPv6AcceptRA"] == ["no"]
        assert "Address" not in network["Network"]
    # The drop-in beside amazon-ec2-net-utils' file for the ENI (networkd reads NAME.network.d/
    # from /etc for a .network in /run) attaches both links to the underlay.
    dropin = netdir / "70-ens5.network.d" / "50-mirrorlab-capture.conf"
    assert unit_file(dropin) == {"Network": {"VXLAN": ["capture0", "capv777"]}}
    planned = {f["path"]: f for f in result["files"]}
    for path in [dropin, *netdir.glob("50-*")]:
        spec = planned["/" + str(path.relative_to(out))]
        # root's, 0644, and a change reloads networkd and reconfigures the ENI.
        assert (spec["owner"], spec["group"], spec["mode"], spec["effect"]) == ("root", "root", "0644", "networkd")
    # In check mode it changes nothing here, and says what it would do.
    assert result["changed"] and f"file {NETWORKD_DIR}/50-mirrorlab-capture0.netdev written" in result["changes"]
    assert not Path(NETWORKD_DIR, "50-mirrorlab-capture0.netdev").exists()


def test_networkd_files_use_only_keys_systemd_252_knows(rendered):
    out, _, _ = rendered
    known = networkd_keys()
    used = set()
    for path in (out / NETWORKD_DIR.lstrip("/")).rglob("*"):
        if path.is_file():
            used |= {f"{section}.{key}" for section, keys in unit_file(path).items() for key in keys}
    assert used and used <= known, sorted(used - known)


def test_capture_unit_waits_for_networkd_not_for_a_link_unit(rendered):
    out, _, result = rendered
    unit = unit_file(out / "etc/systemd/system/mirrorlab-capture@.service")
    assert "systemd-networkd.service" in unit["Unit"]["After"][0].split()
    assert "Requires" not in unit["Unit"]
    paths = [f["path"] for f in result["files"]]
    assert "/etc/systemd/system/mirrorlab-capture-link@.service" not in paths
    assert "/etc/systemd/system/mirrorlab-capture@capv777.service.d/50-capture.conf" in paths
    # s3.env may hold credentials: planned, never shown.
    assert "/etc/mirrorlab/capture/s3.env" in paths
    assert all("s3.env" not in d["after_header"] or d["after"].startswith("(not shown") for d in result["diff"])
