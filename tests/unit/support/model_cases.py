"""Shared by the experiment model's tests: bad-input tables and their one assertion."""

from ansible_collections.mirrorlab.vpc.plugins.module_utils.experiment import build_experiment


def case_ids(cases):
    """pytest ids for (values, path, message) rows: their number and variable path."""
    return ["%02d-%s" % (index, case[1]) for index, case in enumerate(cases)]


def assert_refused(values, path, message):
    """build_experiment refuses ``values`` with an error for ``path`` that states ``message``."""
    experiment, errors = build_experiment(values)
    assert experiment is None
    matching = [e for e in errors if e.startswith(path + ": ")]
    assert matching, "no error for %s in %r" % (path, errors)
    assert any(message in e for e in matching), "%r not in %r" % (message, matching)
