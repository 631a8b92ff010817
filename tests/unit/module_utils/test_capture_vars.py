"""mirrorlab_capture checked against the capture role's variables (model.CAPTURE), through
build_experiment, and the same rules applied to the role's own capture_* variables."""

import pytest
from model_cases import assert_refused, case_ids

from ansible_collections.mirrorlab.vpc.plugins.module_utils import model
from ansible_collections.mirrorlab.vpc.plugins.module_utils.capture_vars import check_role_variables
from ansible_collections.mirrorlab.vpc.plugins.module_utils.experiment import build_experiment
from ansible_collections.mirrorlab.vpc.plugins.module_utils.validation import Errors


def capture(**values):
    return {"capture": values}


# (mirrorlab_* values, the message's variable path, a piece of the rule it states)
BAD = [
    (capture(rotate_seconds=-5), "mirrorlab_capture.rotate_seconds", "must be an integer of at least 1, got -5"),
    (capture(rotate_seconds=0), "mirrorlab_capture.rotate_seconds", "at least 1, got 0"),
    (capture(rotate_seconds="often"), "mirrorlab_capture.rotate_seconds", "at least 1, got 'often'"),
    (capture(rotate_mb=0), "mirrorlab_capture.rotate_mb", "at least 1"),
    (capture(tool="wireshark"), "mirrorlab_capture.tool", "must be tcpdump or dumpcap, got 'wireshark'"),
    (capture(rotate_second=60), "mirrorlab_capture.rotate_second", "unknown key (known: "),
    (capture(rotate_second=60), "mirrorlab_capture.rotate_second", "did you mean rotate_seconds?"),
    (capture(maxtotal_mb=60), "mirrorlab_capture.maxtotal_mb", "did you mean max_total_mb?"),
    (capture(max_total_mb=150), "mirrorlab_capture.max_total_mb",
     "must be at least 2 x mirrorlab_capture.rotate_mb x links (200), got 150"),
    (capture(max_total_mb=250, rotate_mb=50, extra_vnis=[7, 8]), "mirrorlab_capture.max_total_mb",
     "must be at least 2 x mirrorlab_capture.rotate_mb x links (300), got 250"),
    (capture(dir="/var/lib/pcaps\n[Service]"), "mirrorlab_capture.dir", "must not contain a newline or another control character"),
    (capture(dir="/srv/pcaps\t"), "mirrorlab_capture.dir", "control character"),
    (capture(dir="relative/dir"), "mirrorlab_capture.dir", "absolute path"),
    (capture(dir="/var/lib/my pcaps"), "mirrorlab_capture.dir", "without spaces"),
    (capture(dir="/tmp"), "mirrorlab_capture.dir", "a directory of its own"),
    (capture(dir="/srv/pcaps/"), "mirrorlab_capture.dir", "absolute path"),
    (capture(link_name="cap\n0"), "mirrorlab_capture.link_name", "control character"),
    (capture(link_name="capture-link-too-long"), "mirrorlab_capture.link_name", "must be 1-15 characters"),
    (capture(link_name="capv777"), "mirrorlab_capture.link_name", "not look like capv<VNI>"),
    (capture(filter="tcp\nport 80"), "mirrorlab_capture.filter", "control character"),
    (capture(filter=["tcp"]), "mirrorlab_capture.filter", "one line of BPF"),
    (capture(extra_vnis=[12345]), "mirrorlab_capture.extra_vnis",
     "must not repeat a VNI or mirrorlab_session.vni (12345): one link per VNI"),
    (capture(extra_vnis=[7, 7]), "mirrorlab_capture.extra_vnis", "must not repeat a VNI"),
    (capture(extra_vnis=[16777216]), "mirrorlab_capture.extra_vnis[0]", "must be an integer 0-16777215"),
    (capture(extra_vnis="777"), "mirrorlab_capture.extra_vnis", "must be a list"),
    (capture(vni=7), "mirrorlab_capture.vni", "is the session's VNI: set mirrorlab_session.vni"),
    (capture(state="absent"), "mirrorlab_capture.state", "is set by the playbooks"),
    (capture(purge_files=True), "mirrorlab_capture.purge_files", "is set by the playbooks"),
    (capture(mtu=60), "mirrorlab_capture.mtu", "must be 0 (the underlay's MTU - 50) or an integer 68-65535"),
    (capture(dstport=0), "mirrorlab_capture.dstport", "1-65535"),
    (capture(snaplen=262145), "mirrorlab_capture.snaplen", "0-262144"),
    (capture(buffer_kib=32), "mirrorlab_capture.buffer_kib", "at least 64"),
    (capture(housekeeping_seconds=0), "mirrorlab_capture.housekeeping_seconds", "at least 1"),
    (capture(min_free_mb=-1), "mirrorlab_capture.min_free_mb", "at least 0"),
    (capture(link_manager="systemd"), "mirrorlab_capture.link_manager", "must be one of auto, networkd, unit"),
    (capture(user="root"), "mirrorlab_capture.user", "not root"),
    (capture(group="Bad Group"), "mirrorlab_capture.group", "system group name"),
    (capture(interface="eth0\n"), "mirrorlab_capture.interface", "control character"),
    (capture(interface="a-very-long-interface-name"), "mirrorlab_capture.interface", "at most 15 characters"),
    (capture(s3_bucket="Bad_Bucket"), "mirrorlab_capture.s3_bucket", "S3 bucket name"),
    (capture(s3_prefix="/pcap/"), "mirrorlab_capture.s3_prefix", "not start with /"),
    (capture(s3_prefix="pcap\n/"), "mirrorlab_capture.s3_prefix", "control character"),
    (capture(s3_region="moon-1"), "mirrorlab_capture.s3_region", "AWS region name"),
    (capture(s3_endpoint_url="ftp://x"), "mirrorlab_capture.s3_endpoint_url", "http(s) URL"),
    (capture(s3_environment={"AWS KEY": "x"}), "mirrorlab_capture.s3_environment.AWS KEY", "environment variable name"),
    (capture(s3_environment={"AWS_KEY": "x\ny"}), "mirrorlab_capture.s3_environment.AWS_KEY", "without newlines"),
    (capture(s3_environment=["AWS_KEY=x"]), "mirrorlab_capture.s3_environment", "mapping of environment variables"),
    (capture(install_packages="sometimes"), "mirrorlab_capture.install_packages", "boolean"),
    ({"capture": "dumpcap"}, "mirrorlab_capture", "must be a mapping"),
]


@pytest.mark.parametrize("values,path,message", BAD, ids=case_ids(BAD))
def test_bad_capture_settings_are_refused_naming_the_key(values, path, message):
    assert_refused(values, path, message)


def test_every_capture_problem_at_once_with_the_rest_of_the_model():
    dummy, errors = build_experiment({
        "session": {"vni": -1},
        "capture": {"rotate_seconds": -5, "tool": "wireshark", "rotate_secs": 1, "dir": "/x\n"},
    })
    assert sorted(e.split(": ")[0] for e in errors) == [
        "mirrorlab_capture.dir", "mirrorlab_capture.rotate_seconds", "mirrorlab_capture.rotate_secs",
        "mirrorlab_capture.tool", "mirrorlab_session.vni"]


def test_capture_vars_are_the_normalized_settings_with_the_sessions_vni():
    experiment, errors = build_experiment({
        "session": {"vni": "42"},
        "capture": {"tool": "dumpcap", "rotate_seconds": "60", "extra_vnis": ["777"], "install_packages": "no",
                    "s3_environment": {"AWS_REGION": "eu-west-1"}},
    })
    assert errors == []
    assert experiment["capture_vars"] == {
        "capture_extra_vnis": [777], "capture_install_packages": False, "capture_rotate_seconds": 60,
        "capture_s3_environment": {"AWS_REGION": "eu-west-1"}, "capture_tool": "dumpcap", "capture_vni": 42,
    }
    # experiment.capture: every settable key, the given ones normalized, the others the role's defaults
    assert experiment["capture"]["rotate_seconds"] == 60 and experiment["capture"]["rotate_mb"] == 100
    assert experiment["capture"]["dir"] == "/var/lib/mirrorlab/capture"
    assert set(experiment["capture"]) == set(o.name for o in model.CAPTURE if o.settable is None)


def test_good_edge_values_pass():
    experiment, errors = build_experiment(capture(mtu=0, snaplen=262144, max_total_mb=400, rotate_mb=100,
                                                  extra_vnis=[1], min_free_mb=0, dir="/srv/pcap-1", filter=""))
    assert errors == [], errors
    assert experiment["capture_vars"]["capture_max_total_mb"] == 400


def role_errors(**variables):
    errors = Errors(model.CAPTURE_PREFIX)
    links = check_role_variables(dict(("capture_" + k, v) for k, v in variables.items()), errors)
    return links, errors.messages


def test_the_role_gets_its_links():
    links, errors = role_errors()
    assert errors == [] and links == [{"name": "capture0", "vni": 12345}]
    links, errors = role_errors(vni="42", link_name="mirror", extra_vnis=[777, "778"])
    assert errors == []
    assert links == [{"name": "mirror", "vni": 42}, {"name": "capv777", "vni": 777}, {"name": "capv778", "vni": 778}]


@pytest.mark.parametrize("variables,message", [
    ({"vni": 16777216}, "capture_vni: must be an integer 0-16777215, got 16777216"),
    ({"extra_vnis": [12345]}, "capture_extra_vnis: must not repeat a VNI or capture_vni (12345): one link per VNI"),
    ({"rotate_seconds": -5}, "capture_rotate_seconds: must be an integer of at least 1, got -5"),
    ({"max_total_mb": 100, "rotate_mb": 100},
     "capture_max_total_mb: must be at least 2 x capture_rotate_mb x links (200), got 100: each link's open file counts too"),
    ({"dir": "/var/lib/x\ny"}, "capture_dir: must not contain a newline or another control character, got '/var/lib/x\\ny'"),
    ({"state": "gone"}, "capture_state: must be present or absent, got 'gone'"),
    ({"user": "root"}, "capture_user: must be a system account name (not root), got 'root'"),
])
def test_the_role_refuses_bad_variables_naming_them(variables, message):
    links, errors = role_errors(**variables)
    assert links is None and message in errors
