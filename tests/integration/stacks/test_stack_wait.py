"""mirrorlab.vpc.stack_wait (an action plugin) in a playbook against a moto server with the
mirrorlab emulation, whose stacks take seconds to create and delete as on AWS: it follows
background jobs of amazon.aws.cloudformation, prints each stack's status and newest events
while it waits, reports a failed stack instead of failing, returns at once for settled stacks,
and fails with the stacks' status on a timeout (the assertions are in wait.yml)."""

import pytest

from conftest import ROOT, ansible_env, moto_ext_server, run

pytestmark = pytest.mark.moto

PLAYBOOK = ROOT / "tests" / "integration" / "stacks" / "wait.yml"


def test_stack_wait_follows_jobs_and_reports(tmp_path):
    # deletions take 15 s: the timeout-0 wait must still see DELETE_IN_PROGRESS on a loaded machine
    with moto_ext_server(2, 15) as url:
        env = ansible_env(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_REGION="us-east-1",
                          AWS_DEFAULT_REGION="us-east-1", AWS_URL=url, AWS_ENDPOINT_URL=url)
        proc = run(["ansible-playbook", str(PLAYBOOK)], env=env, timeout=600)
    out = proc.stdout
    # Progress while waiting: status and time per stack, then the newest events.
    assert "mlwait-good: CREATE_IN_PROGRESS, 0 s" in out and "mlwait-bad: CREATE_IN_PROGRESS, 0 s" in out
    assert "(AWS::CloudFormation::Stack) CREATE_IN_PROGRESS: User Initiated" in out
    assert "mlwait-good: done (changed)" in out and "mlwait-bad: failed: " in out
    assert "mlwait-none: no stack (yet/any more), 0 s" in out
    assert "mlwait-good: DELETE_IN_PROGRESS" in out
    assert "failed=0" in out.splitlines()[-1] + out[out.rfind("PLAY RECAP"):]
