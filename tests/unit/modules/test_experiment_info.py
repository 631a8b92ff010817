"""experiment_info as a module (AnsibleModule, argument spec, check mode) and through the role."""

import json
import sys

import pytest
import yaml


from ansible_collections.mirrorlab.vpc.plugins.modules import experiment_info

from conftest import ROOT, module_main, run


def call(args, check_mode=False):
    """Run the module's main() in-process; returns (exit code, result dict)."""
    if check_mode:
        args = dict(args, _ansible_check_mode=True)
    return module_main(experiment_info.main, args)[0]


def result_of(capsys, args, check_mode=False):
    code = call(args, check_mode)
    return code, json.loads(capsys.readouterr().out)


def test_defaults(capsys):
    code, result = result_of(capsys, {})
    assert code == 0 and result["changed"] is False
    assert result["experiment"]["filter"]["preset"] == "all_tcp"
    assert result["experiment"]["session"] == {"vni": 12345, "session_number": 1, "packet_length": None,
                                               "vni_per_eni": False, "extra": []}


def test_check_mode_returns_the_model(capsys):
    code, result = result_of(capsys, {"deployment": "demo"}, check_mode=True)
    assert code == 0 and result["experiment"]["stack_names"]["sample_service"] == "demo-sample-service"


def test_partial_mapping_keeps_other_defaults(capsys):
    code, result = result_of(capsys, {"session": {"vni": 7}, "network": {"vpc_cidr": "192.168.0.0/24"}})
    assert code == 0
    assert result["experiment"]["session"] == {"vni": 7, "session_number": 1, "packet_length": None,
                                               "vni_per_eni": False, "extra": []}
    assert result["experiment"]["network"]["import_prefix"] == "infra-vpc"


def test_failure_lists_every_problem(capsys):
    code, result = result_of(capsys, {"deployment": "X", "session": {"vni": 2 ** 24},
                                      "filter": {"rules": [{"direction": "ingress", "number": 1, "action": "accept",
                                                            "source_cidr": "0.0.0.0/0", "destination_cidr": "::/0"}]}})
    assert code == 1 and result["failed"] is True
    assert result["errors"] == [
        "mirrorlab_deployment: must be 1-23 characters: a lower-case letter, then lower-case letters, digits or '-', "
        "not ending in '-' (it prefixes CloudFormation stack names), got 'X': it starts with 'X', not a lower-case letter",
        "mirrorlab_filter.rules[0].destination_cidr: must be in the same IP family as source_cidr (IPv4), got IPv6",
        "mirrorlab_session.vni: must be an integer 0-16777215, got 16777216",
    ]
    assert result["msg"].startswith("The experiment model is invalid (3 problems):")
    for error in result["errors"]:
        assert error in result["msg"]


def test_documentation_defaults_match_the_argument_spec():
    doc = yaml.safe_load(experiment_info.DOCUMENTATION)
    spec = dict(experiment_info.argument_spec(), variable_names={"type": "list", "default": []})
    assert set(doc["options"]) == set(spec)
    for name, option in doc["options"].items():
        assert option["type"] == spec[name]["type"], name
        assert option.get("default") == spec[name]["default"], name


def test_documented_return_sample_is_what_the_module_returns(capsys):
    code, result = result_of(capsys, {})
    sample = yaml.safe_load(experiment_info.RETURN)["experiment"]["sample"]
    assert result["experiment"] == sample


PLAY = """
- name: The role validates and sets the experiment fact
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Include the experiment role
      ansible.builtin.include_role:
        name: mirrorlab.vpc.experiment
    - name: Write the fact out
      ansible.builtin.copy:
        content: "{{ experiment | to_nice_json }}"
        dest: "{{ out }}"
        mode: "0600"
"""


def test_role_sets_the_experiment_fact(tmp_path):
    play = tmp_path / "play.yml"
    play.write_text(PLAY)
    out = tmp_path / "experiment.json"
    extra = {"out": str(out), "ansible_python_interpreter": sys.executable, "mirrorlab_deployment": "rolecheck", "mirrorlab_filter": {"preset": "alb_target"},
             "mirrorlab_network": {"vpc_cidr": "10.20.0.0/16"}}
    run(["ansible-playbook", "-i", "localhost,", "-c", "local", str(play), "-e", json.dumps(extra)], cwd=ROOT)
    experiment = json.loads(out.read_text())
    assert experiment["deployment"] == "rolecheck"
    assert experiment["filter"]["rules"][0]["source_cidr"] == "10.20.0.0/16"
    # No mirrorlab_backend given (inventory "localhost,"): the documented default.
    assert experiment["backend"] == "lab"


def test_role_refuses_bad_input_before_anything_else(tmp_path):
    play = tmp_path / "play.yml"
    play.write_text(PLAY)
    out = tmp_path / "experiment.json"
    extra = {"out": str(out), "mirrorlab_session": {"vni": -5}, "mirrorlab_filter": {"rules": [{"direction": "in"}]}}
    proc = run(["ansible-playbook", "-i", "localhost,", "-c", "local", str(play), "-e", json.dumps(extra)],
               cwd=ROOT, check=False)
    assert proc.returncode != 0
    assert "mirrorlab_session.vni: must be an integer 0-16777215, got -5" in proc.stdout
    assert "mirrorlab_filter.rules[0].direction: must be ingress or egress" in proc.stdout
    assert "mirrorlab_filter.rules[0].number: is required" in proc.stdout
    assert not out.exists()


def test_role_refuses_type_mix_ups_naming_the_variable_not_a_python_class(tmp_path):
    """A mapping where a list belongs (and the like) reaches the model's own check: the role's and
    the module's argument specs are raw, so Ansible's coercion message never shows."""
    play = tmp_path / "play.yml"
    play.write_text(PLAY)
    out = tmp_path / "experiment.json"
    extra = {"out": str(out), "mirrorlab_sources": {"type": "sample_service"}, "mirrorlab_target": [1],
             "mirrorlab_network": "10.0.0.0/16", "mirrorlab_https": "maybe", "mirrorlab_deployment": None,
             "mirrorlab_session": {"vni": {"a": 1}}}
    proc = run(["ansible-playbook", "-i", "localhost,", "-c", "local", str(play), "-e", json.dumps(extra)],
               cwd=ROOT, check=False)
    text = " ".join(proc.stdout.split())
    assert proc.returncode != 0
    assert "<class" not in proc.stdout + proc.stderr and "unable to convert" not in text
    for expected in ("mirrorlab_sources: must be a non-empty list of sources",
                     "mirrorlab_target: must be a mapping with keys count, gwlb_endpoint_id, instance_type, spot, type",
                     "mirrorlab_network: must be a mapping with keys",
                     "mirrorlab_https: must be a boolean (true or false), got 'maybe'",
                     "mirrorlab_deployment: is null",
                     "mirrorlab_session.vni: must be an integer 0-16777215, got {'a': 1}"):
        assert expected in text, (expected, text[-3000:])
    assert not out.exists()


def test_role_argument_specs_document_every_variable():
    specs = yaml.safe_load((ROOT / "roles/experiment/meta/argument_specs.yml").read_text())
    options = specs["argument_specs"]["main"]["options"]
    assert set(options) == {"mirrorlab_" + name for name in experiment_info.argument_spec()}
    for name, option in options.items():
        assert option.get("description"), name
        assert option["type"] == experiment_info.argument_spec()[name[len("mirrorlab_"):]]["type"], name


def test_misspelled_variable_is_warned_about(tmp_path):
    play = tmp_path / "play.yml"
    play.write_text(PLAY)
    out = tmp_path / "experiment.json"
    extra = {"out": str(out), "ansible_python_interpreter": sys.executable,
             "mirrorlab_filters": {"preset": "alb_client"}, "mirrorlab_keep_captures": True}
    proc = run(["ansible-playbook", "-i", "localhost,", "-c", "local", str(play), "-e", json.dumps(extra)], cwd=ROOT)
    text = " ".join((proc.stdout + proc.stderr).split())
    assert "mirrorlab_filters is not a variable of the experiment model and is ignored; did you mean mirrorlab_filter?" in text
    assert "mirrorlab_keep_captures is not" not in text
    assert json.loads(out.read_text())["filter"]["preset"] == "all_tcp"


MULTI_HOST_PLAY = """
- name: Every host of the play gets the fact; the module runs once, on the controller
  hosts: all
  gather_facts: false
  tasks:
    - name: Include the experiment role
      ansible.builtin.include_role:
        name: mirrorlab.vpc.experiment
    - name: Write each host's fact out
      ansible.builtin.copy:
        content: "{{ experiment.session | to_json }}"
        dest: "{{ out }}/{{ inventory_hostname }}.json"
        mode: "0600"
      delegate_to: localhost
"""


def test_role_in_a_play_over_several_hosts(tmp_path):
    play = tmp_path / "play.yml"
    play.write_text(MULTI_HOST_PLAY)
    extra = {"out": str(tmp_path), "ansible_python_interpreter": sys.executable, "ansible_connection": "local",
             "mirrorlab_session": {"vni": 99}}
    proc = run(["ansible-playbook", "-i", "mlf-host-a,mlf-host-b,", str(play), "-e", json.dumps(extra), "-v"], cwd=ROOT)
    for host in ("mlf-host-a", "mlf-host-b"):
        assert json.loads((tmp_path / (host + ".json")).read_text())["vni"] == 99
    # run_once: one validation for the whole play
    assert proc.stdout.count("TASK [mirrorlab.vpc.experiment : Validate the experiment model]") == 1
    assert proc.stdout.count("ok: [mlf-host-a -> localhost]") >= 1
    assert "ok: [mlf-host-b -> localhost]" not in proc.stdout.split("TASK [mirrorlab.vpc.experiment : Publish")[0]


BAD_CAPTURE = {"rotate_seconds": -5, "tool": "wireshark", "rotate_second": 60, "max_total_mb": 150,
               "dir": "/var/lib/pcaps\nExecStart=/bin/sh"}
BAD_CAPTURE_ERRORS = [
    "mirrorlab_capture.rotate_second: unknown key (known: buffer_kib, dir, dstport, extra_vnis, filter, group, "
    "housekeeping_seconds, install_packages, interface, link_manager, link_name, max_total_mb, min_free_mb, mtu, "
    "rotate_mb, rotate_seconds, s3_bucket, s3_endpoint_url, s3_environment, s3_prefix, s3_region, snaplen, tool, "
    "user); did you mean rotate_seconds?",
    "mirrorlab_capture.rotate_seconds: must be an integer of at least 1, got -5",
    "mirrorlab_capture.tool: must be tcpdump or dumpcap, got 'wireshark'",
    "mirrorlab_capture.dir: must not contain a newline or another control character, got "
    "'/var/lib/pcaps\\nExecStart=/bin/sh'",
    "mirrorlab_capture.max_total_mb: must be at least 2 x mirrorlab_capture.rotate_mb x links (200), got 150: "
    "each link's open file counts too",
]


def test_bad_capture_settings_fail_the_module(capsys):
    code, result = result_of(capsys, {"capture": BAD_CAPTURE})
    assert code == 1 and result["failed"] is True
    assert result["errors"] == BAD_CAPTURE_ERRORS
    assert result["msg"].startswith("The experiment model is invalid (5 problems):")


def test_capture_vars_through_the_module(capsys):
    code, result = result_of(capsys, {"session": {"vni": 77}, "capture": {"tool": "dumpcap", "rotate_seconds": "60"}})
    assert code == 0
    assert result["experiment"]["capture_vars"] == {"capture_tool": "dumpcap", "capture_rotate_seconds": 60,
                                                    "capture_vni": 77}


def test_role_refuses_bad_capture_settings_before_anything_else(tmp_path):
    play = tmp_path / "play.yml"
    play.write_text(PLAY)
    out = tmp_path / "experiment.json"
    extra = {"out": str(out), "ansible_python_interpreter": sys.executable, "mirrorlab_capture": BAD_CAPTURE}
    proc = run(["ansible-playbook", "-i", "localhost,", "-c", "local", str(play), "-e", json.dumps(extra)],
               cwd=ROOT, check=False)
    assert proc.returncode != 0
    text = " ".join(proc.stdout.split())
    for piece in ("mirrorlab_capture.rotate_seconds: must be an integer of at least 1, got -5",
                  "user); did you mean rotate_seconds?",
                  "mirrorlab_capture.tool: must be tcpdump or dumpcap, got",
                  "mirrorlab_capture.dir: must not contain a newline or another control character",
                  "mirrorlab_capture.max_total_mb: must be at least 2 x mirrorlab_capture.rotate_mb x links (200), got 150"):
        assert piece in text, piece
    assert "Publish the normalized experiment model" not in proc.stdout
    assert not out.exists()


@pytest.mark.parametrize("playbook", ["playbooks/lab_site.yml", "playbooks/aws_site.yml"])
def test_site_validates_the_model_before_anything_is_created(playbook):
    """The first play of each backend's site playbook includes the experiment role before any
    task that creates something (only read-only pre-flight checks may come first)."""
    first_play = yaml.safe_load((ROOT / playbook).read_text())[0]
    for task in first_play["tasks"]:
        include = task.get("ansible.builtin.include_role") or {}
        if include.get("name") == "mirrorlab.vpc.experiment":
            break
        if task.get("ansible.builtin.meta") == "end_play":
            continue  # the backend gate of the entry playbook: ends the play, creates nothing
        assert include.get("tasks_from") == "preflight", "%s: %r runs before the model is validated" % (playbook, task)
    else:
        pytest.fail("%s does not include mirrorlab.vpc.experiment" % playbook)
