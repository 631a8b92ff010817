"""What restates the model agrees with model.py: the argument specs, experiment_info's
DOCUMENTATION, the experiment role's module arguments and the tables in docs/experiment.md and
docs/capture.md are what scripts/model_docs.py generates from the schema; the capture role's
defaults are the schema's. A new key is one entry in model.py (plus its use)."""

import copy
import importlib.util

import pytest
import yaml

from ansible_collections.mirrorlab.vpc.plugins.module_utils import model
from ansible_collections.mirrorlab.vpc.plugins.module_utils.experiment import build_experiment
from ansible_collections.mirrorlab.vpc.plugins.modules import experiment_info

from conftest import ROOT


def load_generator():
    spec = importlib.util.spec_from_file_location("model_docs", ROOT / "scripts" / "model_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GENERATED = [
    "roles/experiment/meta/argument_specs.yml",
    "roles/experiment/tasks/main.yml",
    "plugins/modules/experiment_info.py",
    "docs/experiment.md",
    "roles/capture/meta/argument_specs.yml",
    "docs/capture.md",
]
# How the descriptions name a declared type (the specs themselves say raw).
TYPE_WORDS = {"str": "a string", "int": "an integer", "bool": "a boolean", "dict": "a mapping", "list": "a list"}


@pytest.fixture(scope="module")
def generator():
    return load_generator()


@pytest.mark.parametrize("path", GENERATED)
def test_committed_file_is_what_the_model_generates(generator, path):
    expected = generator.expected_files()[path]
    assert (ROOT / path).read_text() == expected, (
        "%s disagrees with plugins/module_utils/model.py: run .venv/bin/python scripts/model_docs.py" % path)


def test_every_generated_file_is_checked(generator):
    assert sorted(generator.expected_files()) == sorted(GENERATED)


def test_the_argument_specs_declare_the_schema():
    """Independently of the generator: names, types and defaults of both roles' argument specs."""
    experiment = yaml.safe_load((ROOT / "roles/experiment/meta/argument_specs.yml").read_text())
    options = experiment["argument_specs"]["main"]["options"]
    assert list(options) == [model.PREFIX + o.name for o in model.EXPERIMENT]
    for option in model.EXPERIMENT:
        spec = options[model.PREFIX + option.name]
        # raw: experiment_info checks the declared type (named in the description) itself
        assert (spec["type"], spec["default"]) == (model.ARGSPEC_TYPE, option.default), option.name
        assert TYPE_WORDS[option.type] in spec["description"][0], option.name
        assert spec.get("choices") == (list(option.choices) if option.choices else None), option.name
    capture = yaml.safe_load((ROOT / "roles/capture/meta/argument_specs.yml").read_text())
    options = capture["argument_specs"]["main"]["options"]
    assert list(options) == [model.CAPTURE_PREFIX + o.name for o in model.CAPTURE]
    for option in model.CAPTURE:
        spec = options[model.CAPTURE_PREFIX + option.name]
        assert (spec["type"], spec["default"]) == (option.type, option.default), option.name


def test_module_documentation_and_argument_spec_follow_the_schema():
    doc = yaml.safe_load(experiment_info.DOCUMENTATION)["options"]
    spec = experiment_info.argument_spec()
    assert list(spec) == [o.name for o in model.EXPERIMENT]
    for option in model.EXPERIMENT:
        assert doc[option.name]["type"] == spec[option.name]["type"] == model.ARGSPEC_TYPE
        assert TYPE_WORDS[option.type] in doc[option.name]["description"][0], option.name
        assert doc[option.name]["default"] == spec[option.name]["default"] == option.default
        assert model.PREFIX + option.name in " ".join(doc[option.name]["description"])


def test_the_experiment_role_passes_every_variable():
    task = yaml.safe_load((ROOT / "roles/experiment/tasks/main.yml").read_text())[0]
    args = task["mirrorlab.vpc.experiment_info"]
    for option in model.EXPERIMENT:
        assert args[option.name] == "{{ %s%s | default(omit) }}" % (model.PREFIX, option.name)


def test_the_docs_table_names_every_key_and_its_default():
    text = (ROOT / "docs/experiment.md").read_text()
    for option in model.EXPERIMENT:
        assert "| `%s%s` |" % (model.PREFIX, option.name) in text
        for sub in option.options or ():
            assert "| `%s%s.%s` |" % (model.PREFIX, option.name, sub.name) in text
    assert "| `mirrorlab_session.vni` | `12345` | both | 0-16777215;" in text
    capture = (ROOT / "docs/capture.md").read_text()
    for option in model.CAPTURE:
        assert "| `%s%s` |" % (model.CAPTURE_PREFIX, option.name) in capture


def test_capture_role_defaults_are_the_schemas():
    defaults = yaml.safe_load((ROOT / "roles/capture/defaults/main.yml").read_text())
    assert defaults == dict((model.CAPTURE_PREFIX + o.name, o.default) for o in model.CAPTURE)


def test_the_check_fails_on_a_stale_file(generator, tmp_path, monkeypatch):
    """--check reports a file that no longer matches the model (a changed default)."""
    changed = copy.deepcopy(model.EXPERIMENT)
    for option in changed:
        if option.name == "session":
            option.option("vni").default = 4242
            option.default["vni"] = 4242
    monkeypatch.setattr(model, "EXPERIMENT", changed)
    stale = generator.differences()
    assert "docs/experiment.md" in stale and "roles/experiment/meta/argument_specs.yml" in stale
    assert "plugins/modules/experiment_info.py" in stale
    assert generator.main(["--check"]) == 1


def test_a_new_key_is_one_schema_entry(generator, monkeypatch):
    """An option added to the schema alone is validated, normalized, returned, documented and
    passed by the role: a hypothetical mirrorlab_linger_hours (hours, AWS)."""
    extended = model.EXPERIMENT + [
        model.Option("linger_hours", "int", 0, "hours the deployment lingers; 0 = never",
                     backends=model.AWS, minimum=0, maximum=720),
    ]
    monkeypatch.setattr(model, "EXPERIMENT", extended)
    experiment, errors = build_experiment({"linger_hours": "12"})
    assert errors == [] and experiment["linger_hours"] == 12
    assert build_experiment({})[0]["linger_hours"] == 0
    dummy, errors = build_experiment({"linger_hours": -1})
    assert errors == ["mirrorlab_linger_hours: must be an integer 0-720, got -1"]
    assert experiment_info.argument_spec()["linger_hours"] == {"type": model.ARGSPEC_TYPE, "default": 0}
    files = generator.expected_files()
    assert "| `mirrorlab_linger_hours` | `0` | AWS | 0-720; hours the deployment lingers" in files["docs/experiment.md"]
    assert 'linger_hours: "{{ mirrorlab_linger_hours | default(omit) }}"' in files["roles/experiment/tasks/main.yml"]
    specs = yaml.safe_load(files["roles/experiment/meta/argument_specs.yml"])
    assert specs["argument_specs"]["main"]["options"]["mirrorlab_linger_hours"]["type"] == model.ARGSPEC_TYPE
    module_doc = files["plugins/modules/experiment_info.py"]
    assert "  linger_hours:\n" in module_doc


def test_a_list_of_mappings_with_their_own_keys_is_one_entry(monkeypatch):
    """Several sessions per source, each with its own filter preset and VNI (a later issue):
    a list of mappings declared once is checked key by key, with the path of each item."""
    sessions = model.Option("sessions", "list", [], "extra sessions per source", elements="dict", options=[
        model.Option("vni", "int", 12345, "VNI", minimum=model.VNI_MIN, maximum=model.VNI_MAX),
        model.Option("preset", "str", "all_tcp", "filter preset", choices=model.PRESETS),
    ])
    monkeypatch.setattr(model, "EXPERIMENT", model.EXPERIMENT + [sessions])
    experiment, errors = build_experiment({"sessions": [{"vni": "7"}, {"preset": "alb_client"}]})
    assert errors == []
    assert experiment["sessions"] == [{"vni": 7, "preset": "all_tcp"}, {"vni": 12345, "preset": "alb_client"}]
    dummy, errors = build_experiment({"sessions": [{"vni": -1, "presets": "x"}]})
    assert errors == [
        "mirrorlab_sessions[0].presets: unknown key (known: preset, vni); did you mean preset?",
        "mirrorlab_sessions[0].vni: must be an integer 0-16777215, got -1",
    ]


def test_every_option_is_documented_and_names_its_backend():
    def walk(options):
        for option in options:
            yield option
            yield from walk(option.options or ())
            for variant in (option.variants or {}).values():
                yield from walk(variant.options)

    for option in walk(model.EXPERIMENT + model.CAPTURE):
        assert option.doc, option.name
        assert set(option.backends) <= set(model.BACKENDS) and option.backends, option.name


def test_limits_name_their_source():
    for url in model.PAGES.values():
        assert url.startswith("https://")
    assert model.READ.count("-") == 2
    assert (model.VNI_MIN, model.VNI_MAX) == (0, 2 ** 24 - 1)
    assert (model.SESSION_NUMBER_MIN, model.SESSION_NUMBER_MAX) == (1, 32766)
    assert model.SESSIONS_PER_SOURCE_ENI == 3 and model.RULES_PER_FILTER == 10 and model.SOURCES_PER_ENI_TARGET == 10
    assert model.PACKET_LENGTH_MAX == 8500
