#!/usr/bin/env python3
"""Write the parts of the collection that restate the experiment model, from model.py.

    .venv/bin/python scripts/model_docs.py          # rewrite them
    .venv/bin/python scripts/model_docs.py --check  # exit 1 and name every file that differs

Generated (whole files or the part between the marker lines):
  roles/experiment/meta/argument_specs.yml         the mirrorlab_* options
  roles/experiment/tasks/main.yml                  the module arguments (one per variable)
  plugins/modules/experiment_info.py               DOCUMENTATION's options
  docs/experiment.md                               the table of variables
  roles/capture/meta/argument_specs.yml            the capture_* options
  docs/capture.md                                  the table of variables
tests/unit/module_utils/test_model_docs.py fails when a committed file differs from what this
writes, and checks roles/capture/defaults/main.yml against the schema.
"""

import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / ".collections"))

from ansible_collections.mirrorlab.vpc.plugins.module_utils import model  # noqa: E402
from ansible_collections.mirrorlab.vpc.plugins.module_utils.validation import choices_text, int_rule  # noqa: E402

GENERATED = "generated from plugins/module_utils/model.py by scripts/model_docs.py: do not edit by hand"
MD_BEGIN = "<!-- BEGIN %s -->" % GENERATED
MD_END = "<!-- END generated -->"
YAML_BEGIN = "# BEGIN %s" % GENERATED
YAML_END = "# END generated"


class Dumper(yaml.SafeDumper):
    """Block sequences indented under their key, as yamllint (ansible-lint) wants them."""

    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)


def dump(data):
    return yaml.dump(data, Dumper=Dumper, sort_keys=False, width=100, allow_unicode=True)


# --- text ------------------------------------------------------------------------------------

def flow(value):
    """A value as YAML flow text, for tables and descriptions."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '""' if value == "" else value
    if isinstance(value, list):
        return "[%s]" % ", ".join(flow(v) for v in value)
    if isinstance(value, dict):
        return "{%s}" % ", ".join("%s: %s" % (k, flow(v)) for k, v in value.items())
    return str(value)


def ansible_markup(text):
    """Markdown `code` as Ansible's C(code)."""
    return re.sub(r"`([^`]+)`", r"C(\1)", text)


def quoted(values):
    return [f"`{v}`" for v in values]


def rule_summary(option):
    """What a valid value looks like, in a few words (Markdown)."""
    if option.choices is not None:
        return choices_text(tuple(quoted(option.choices)))
    if option.type == "int":
        return re.sub(r"^must be (an integer (of )?)?", "", int_rule(option))
    if option.type == "bool":
        return "true or false"
    if option.type == "list" and isinstance(option.elements, model.Option) and not option.rule:
        inner = rule_summary(option.elements)
        return "a list" + (f" of {option.elements.type}s {inner}" if inner else "")
    if option.rule:
        text = option.rule.replace(", got %r", "").replace(" or empty", "")
        text = re.sub(r"^must be ", "", text)
        text = re.sub(r"^must ", "", text)
        return text + ("; or empty" if option.allow_empty and "empty" not in text else "")
    return ""


def backend_text(backends):
    return {model.BOTH: "both", model.LAB: "lab", model.AWS: "AWS"}[tuple(backends)]


def variants_text(option):
    return "; ".join(f"`{name}`: {variant.doc}" + (" (AWS only)" if variant.backends == model.AWS else "")
                     for name, variant in option.variants.items())


def row_text(option, variant=None):
    parts = []
    if variant is not None:
        parts.append(f"`type: {variant}`")
    summary = rule_summary(option)
    if summary:
        parts.append(summary)
    if option.doc:
        parts.append(option.doc)
    return "; ".join(parts)


def rows(option, path):
    """(path, option, variant name) for an option and every key nested in it; the keys of a
    variant carry the variant's backends."""
    yield path, option, None
    if option.options is not None:
        inner = f"{path}[]" if option.type == "list" else path
        for sub in option.options:
            yield from rows(sub, f"{inner}.{sub.name}")
    if option.variants is not None:
        yield f"{path}[].type", model.Option("type", "str", choices=list(option.variants), doc=variants_text(option)), None
        for name, variant in option.variants.items():
            for sub in variant.options:
                yield f"{path}[].{sub.name}", model.Option(
                    sub.name, sub.type, sub.default, sub.doc, backends=variant.backends, choices=sub.choices,
                    pattern=sub.pattern, rule=sub.rule), name


# --- the experiment model -----------------------------------------------------------------

def nested_lines(option):
    """One description line per nested key (the keys are described, not declared as suboptions:
    experiment_info checks them and names the variable path in its messages)."""
    lines = []
    for path, sub, variant in list(rows(option, option.name))[1:]:
        key = path[len(option.name) + 1:] if path.startswith(option.name + ".") else path[len(option.name):]
        default = "" if sub.default is None and not sub.nullable else f" (default `{flow(sub.default)}`)"
        aws = " AWS only." if sub.backends == model.AWS and option.backends != model.AWS else ""
        lines.append(ansible_markup(f"`{key}`{default}: {row_text(sub, variant)}.{aws}"))
    return lines


TYPE_WORDS = {"str": "a string", "int": "an integer", "bool": "a boolean", "dict": "a mapping", "list": "a list",
              "path": "a path"}


def description(option, variable, typed=False):
    """``typed``: the spec says raw, so the first line names the declared type."""
    first = option.doc[0].upper() + option.doc[1:]
    kind = f", {TYPE_WORDS[option.type]}" if typed else ""
    lines = [ansible_markup(f"{first} (`{variable}`{kind})." + (" AWS only." if option.backends == model.AWS else ""))]
    summary = rule_summary(option)
    if summary and option.type != "bool":
        lines.append(ansible_markup(summary[0].upper() + summary[1:] + "."))
    return lines + nested_lines(option)


def spec_of(option, choices=True, raw=False):
    """The option's entry in an argument spec. ``choices=False`` for experiment_info, which checks
    them itself (its message names the variable); ``raw`` for the experiment's specs, whose types
    experiment_info checks (model.ARGSPEC_TYPE)."""
    spec = {"type": model.ARGSPEC_TYPE if raw else option.type}
    if option.type == "list" and not raw:
        spec["elements"] = option.elements.type if isinstance(option.elements, model.Option) else option.elements
    if option.choices is not None and choices:
        spec["choices"] = list(option.choices)
    spec["default"] = option.default
    return spec


def experiment_argument_specs():
    options = {}
    for option in model.EXPERIMENT:
        variable = model.PREFIX + option.name
        options[variable] = dict(description=description(option, variable, typed=True), **spec_of(option, raw=True))
    specs = {"argument_specs": {"main": {
        "short_description": "Validate the experiment model and set the `experiment` fact",
        "description": [
            "Validates the C(mirrorlab_*) variables with M(mirrorlab.vpc.experiment_info), on the controller, "
            "and sets the fact C(experiment), the normalized model of docs/experiment.md.",
            "Every problem is reported at once, each naming the variable path and the rule, before anything is "
            "created. Every option is optional; its default is the documented one.",
            "The nested keys are validated by the module (unknown keys are refused), so they are described here "
            "rather than declared as suboptions.",
        ],
        "author": ["mirrorlab developers"],
        "options": options,
    }}}
    return f"---\n# {GENERATED}\n" + dump(specs)


def module_options():
    options = {}
    for option in model.EXPERIMENT:
        options[option.name] = dict(description=description(option, model.PREFIX + option.name, typed=True),
                                    **spec_of(option, choices=False, raw=True))
    text = dump(options)
    return "".join("  " + line + "\n" if line else "\n" for line in text.splitlines())


def role_task_arguments():
    return "".join(f'    {option.name}: "{{{{ {model.PREFIX}{option.name} | default(omit) }}}}"\n'
                   for option in model.EXPERIMENT)


def markdown_table(header, table_rows):
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    for row in table_rows:
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
    return "\n".join(lines) + "\n"


def experiment_table():
    table_rows = []
    for top in model.EXPERIMENT:
        for path, option, variant in rows(top, model.PREFIX + top.name):
            default = "" if path.endswith("]") or "[]." in path and option.default is None else f"`{flow(option.default)}`"
            table_rows.append([f"`{path}`", default, backend_text(option.backends), row_text(option, variant)])
    return markdown_table(["variable", "default", "backend", "rule"], table_rows)


# --- the capture role ---------------------------------------------------------------------

def capture_argument_specs():
    options = {}
    for option in model.CAPTURE:
        variable = model.CAPTURE_PREFIX + option.name
        lines = [ansible_markup(option.doc[0].upper() + option.doc[1:] + ".")]
        summary = rule_summary(option)
        if summary and option.type != "bool" and option.choices is None:
            lines.append(ansible_markup(summary[0].upper() + summary[1:] + "."))
        options[variable] = dict(description=lines, **spec_of(option))
    specs = {"argument_specs": {"main": {
        "short_description": "Capture mirrored traffic: a persistent VXLAN link per VNI and a bounded, rotating "
                             "pcap capture",
        "description": [
            "Runs on the mirror target (Debian 12 or Amazon Linux 2023) over any connection (nsenter, SSM, ssh).",
            "Every variable is checked on the controller (the action M(mirrorlab.vpc.capture_vars)) before anything "
            "changes on the target; the rules are those of C(mirrorlab_capture).",
            "See docs/capture.md for the files, the status command and what differs between the distributions.",
        ],
        "author": ["mirrorlab developers"],
        "options": options,
    }, "drain": {
        "short_description": "Before a capture target goes: stop its capture tools and archive every file left",
        "description": [
            "Runs on the controller; each host of C(capture_drain_hosts) is reached by delegation over its own "
            "connection, with become (on AWS the capture step's SSM session and sudo).",
            "On each: C(mirrorlab-capture drain) stops the capture units, lists every pcap file with its final size "
            "and runs the housekeeping unit until each file is archived or C(capture_drain_seconds) have passed.",
            "Sets the fact C(capture_drain), the task results per host (the helper's JSON report in C(stdout); "
            "C(skipped) where the capture was never configured; no C(rc) where the host could not be reached).",
        ],
        "author": ["mirrorlab developers"],
        "options": {
            "capture_drain_hosts": {"description": ["Inventory names of the capture targets."], "type": "list",
                                    "elements": "str", "required": True},
            "capture_drain_seconds": {"description": ["Longest wait per target for the archive, in seconds "
                                                      "(the AWS teardown passes C(stacks_drain_seconds))."],
                                      "type": "int", "required": True},
        },
    }}}
    return f"---\n# {GENERATED}\n" + dump(specs)


def capture_table():
    table_rows = []
    for option in model.CAPTURE:
        settable = "`mirrorlab_capture." + option.name + "`" if option.settable is None else "no: " + option.settable
        table_rows.append([f"`{model.CAPTURE_PREFIX}{option.name}`", f"`{flow(option.default)}`", settable,
                           row_text(option)])
    return markdown_table(["variable", "default", "through the model", "rule"], table_rows)


# --- the files ----------------------------------------------------------------------------

def between(text, begin, end, body, where):
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start:
        raise SystemExit(f"{where}: the markers {begin!r} ... {end!r} are missing")
    head = text[:text.index("\n", start) + 1]
    return head + body + text[text.rindex("\n", 0, stop) + 1:]


def expected_files():
    """{path relative to the checkout: the text it must have}."""
    files = {
        "roles/experiment/meta/argument_specs.yml": experiment_argument_specs(),
        "roles/capture/meta/argument_specs.yml": capture_argument_specs(),
    }
    for path, begin, end, body in (
        ("roles/experiment/tasks/main.yml", YAML_BEGIN, YAML_END, role_task_arguments()),
        ("plugins/modules/experiment_info.py", YAML_BEGIN, YAML_END, module_options()),
        ("docs/experiment.md", MD_BEGIN, MD_END, experiment_table()),
        ("docs/capture.md", MD_BEGIN, MD_END, capture_table()),
    ):
        files[path] = between((ROOT / path).read_text(), begin, end, body, path)
    return files


def differences():
    return sorted(path for path, text in expected_files().items() if (ROOT / path).read_text() != text)


def main(argv):
    if "--check" in argv:
        stale = differences()
        for path in stale:
            print(f"{path} differs from the model; run scripts/model_docs.py", file=sys.stderr)
        return 1 if stale else 0
    for path, text in expected_files().items():
        if (ROOT / path).read_text() != text:
            (ROOT / path).write_text(text)
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
