"""capture_target's failed systemctl start: tried once more after a pause (the first failure
recorded in the changes), and the final failure's message carries the journal of the units
and their links' units, as systemctl itself only says "see journalctl"."""

import pytest

from ansible_collections.mirrorlab.vpc.plugins.modules import capture_target

UNIT, LINK_UNIT = "mirrorlab-capture@capture0.service", "mirrorlab-capture-link@capture0.service"
JOURNAL = "Dec 04 capture0 mirrorlab-capture[12]: ip link add capture0 ...: RTNETLINK answers: File exists"


class Failed(Exception):
    pass


class FakeModule(object):
    check_mode = False
    params = {}

    def __init__(self, systemctl, journal=(0, JOURNAL + "\n", "")):
        self.systemctl = list(systemctl)  # the answers of the start or restart calls, in order
        self.journal = journal
        self.calls = []

    def run_command(self, args, environ_update=None):
        self.calls.append(args)
        if args[0] == "journalctl":
            return self.journal
        if args[1] == "reset-failed":
            return 0, "", ""
        return self.systemctl.pop(0)

    def fail_json(self, **result):
        raise Failed(result)


@pytest.fixture(autouse=True)
def no_pause(monkeypatch):
    monkeypatch.setattr(capture_target, "RETRY_PAUSE", 0)


def test_a_start_that_fails_twice_names_what_the_journal_says():
    failing = (1, "", "A dependency job for %s failed." % UNIT)
    module = FakeModule([failing, failing])
    with pytest.raises(Failed) as failed:
        capture_target.CaptureTarget(module).systemctl("restart", [UNIT], "restarted")
    result = failed.value.args[0]
    assert "A dependency job" in result["msg"] and "RTNETLINK answers: File exists" in result["msg"]
    journalctl = [c for c in module.calls if c[0] == "journalctl"][-1]
    assert journalctl[journalctl.index("-u"):] == ["-u", UNIT, "-u", LINK_UNIT]
    assert ["systemctl", "reset-failed", UNIT, LINK_UNIT] in module.calls
    assert result["changes"][0] == "restarted " + UNIT
    assert result["changes"][1].startswith("systemctl restart %s failed once (rc 1), retried: A dependency" % UNIT)


def test_a_start_that_fails_once_is_retried_and_recorded():
    module = FakeModule([(1, "", "A dependency job failed."), (0, "", "")])
    target = capture_target.CaptureTarget(module)
    target.systemctl("start", [UNIT], "started")
    assert target.changes[0] == "started " + UNIT and "failed once" in target.changes[1] and JOURNAL in target.changes[1]


def test_other_verbs_are_not_retried_and_without_a_journal_say_what_systemctl_said():
    module = FakeModule([(5, "", "Unit x.service not found.")], journal=(1, "", "no journal"))
    with pytest.raises(Failed) as failed:
        capture_target.CaptureTarget(module).systemctl("enable", ["x.service"], "enabled")
    assert failed.value.args[0]["msg"] == "systemctl enable x.service failed (rc 5): Unit x.service not found."
    assert [c for c in module.calls if c[0] == "systemctl"] == [["systemctl", "enable", "x.service"]]
