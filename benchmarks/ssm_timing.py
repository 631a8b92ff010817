#!/usr/bin/env python3
"""The capture step over the SSM rig: SSM sessions, remote module executions and seconds.

    ./mirrorlab bench ssm_timing [--count 1]

Brings up the SSM rig of tests/ssm (tests/ssm/rig.py, docs/aws.md "The SSM rig": the real
amazon.aws.aws_ssm connection plugin, a stand-in session-manager-plugin, moto, lab machines as
the EC2 instances), deploys the AWS site.yml on it twice (cold, then a warm re-run that must
report changed=0 on the instances), runs teardown.yml and removes the rig. For each site.yml
run it prints, per instance:
  sessions     SSM sessions the plugin started for it (the rig logs every session)
  executions   remote module executions (-vvv output, benchmarks/_remote_count.py)
  capture s    seconds spent in the capture role (ansible.posix.profile_roles)
and the whole playbook's seconds. Goal (issue 12): at most 15 executions per instance in a
first run, at most 8 in a warm re-run. Results go to benchmarks/results/ssm_timing.json.
The rig's S3 and Session Manager are moto on this machine: the seconds are this machine's
(every session costs a process start, a pty, curl to moto), not AWS's (about 3 s a task).
"""

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(Path(__file__).resolve().parent), str(ROOT / "tests"), str(ROOT / "tests" / "ssm")]

from _remote_count import describe, module_executions, total  # noqa: E402
from rig import Deployment, Rig, recap  # noqa: E402  (the test rig, tests only)

EXECUTION_TARGETS = {"cold": 15, "warm": 8}
ROLE_LINE = re.compile(r"^(\S+) -+ (\d+\.\d+)s$", re.M)
# As the rig test deploys: a fast rotation, the rig's archive (its moto) by the playbook's default.
VARIABLES = {"mirrorlab_session": {"vni": 4242},
             "mirrorlab_capture": {"rotate_seconds": 2, "rotate_mb": 1, "max_total_mb": 64, "min_free_mb": 16}}


def role_seconds(stdout, role):
    return sum(float(s) for name, s in ROLE_LINE.findall(stdout) if name.split(".")[-1] == role)


def site(rig, deployment, label):
    before = len(rig.sessions())
    env = rig.env(ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_roles")
    started = time.monotonic()
    proc = rig.playbook("site.yml", "-vvv", "-e", f"@{deployment.vars_file}", env=env, check=False)
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        sys.exit(f"site.yml ({label}) failed ({proc.returncode}):\n{proc.stdout[-8000:]}\n{proc.stderr[-3000:]}")
    instances = deployment.outputs()["InstanceIds"].split(",")
    sessions = rig.sessions()[before:]
    counts = module_executions(proc.stdout)
    hosts = recap(proc.stdout)
    row = {"seconds": round(seconds, 1), "capture_role_s": round(role_seconds(proc.stdout, "capture"), 1),
           "instances": {}}
    for instance in instances:
        row["instances"][instance] = {
            "sessions": sum(1 for s in sessions if s["target"] == instance),
            "executions": total(counts.get(instance, {})),
            "modules": dict(counts.get(instance, {})),
            "changed": hosts.get(instance, {}).get("changed"),
        }
        print(f"{label}: {instance}: {row['instances'][instance]['sessions']} SSM sessions, remote module executions "
              f"{describe(counts.get(instance, {}))}, changed={row['instances'][instance]['changed']}", flush=True)
    print(f"{label}: site.yml {seconds:.1f} s, of which the capture role {row['capture_role_s']:.1f} s", flush=True)
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, choices=(1, 2), default=1, help="capture instances (target count)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("the SSM rig needs root (namespaces, systemd-nspawn)")
    load = [os.getloadavg()[0]]
    rig = Rig(args.count).up()
    try:
        deployment = Deployment(rig, "mlssmb", Path(tempfile.mkdtemp(prefix="ssm_timing-")), **VARIABLES,
                                **({"mirrorlab_target": {"count": 2}} if args.count == 2 else {}))
        runs = {"cold": site(rig, deployment, "cold"), "warm": site(rig, deployment, "warm")}
        load.append(os.getloadavg()[0])
        started = time.monotonic()
        rig.playbook("teardown.yml", "-e", f"@{deployment.vars_file}")
        runs["teardown_s"] = round(time.monotonic() - started, 1)
    finally:
        rig.down()
    ok = True
    print(f"\nSSM rig, {args.count} instance(s), 1-minute load {min(load):.2f}-{max(load):.2f}")
    print(f"{'run':<6} {'site.yml':>9} {'capture':>8} {'sessions':>9} {'executions':>11} {'target':>7}  verdict")
    for name, target in EXECUTION_TARGETS.items():
        row = runs[name]
        worst = max(i["executions"] for i in row["instances"].values())
        sessions = max(i["sessions"] for i in row["instances"].values())
        met = worst <= target and (name != "warm" or all(i["changed"] == 0 for i in row["instances"].values()))
        ok = ok and met
        row.update(executions_target=target, met=met)
        print(f"{name:<6} {row['seconds']:>8.1f}s {row['capture_role_s']:>7.1f}s {sessions:>9} {worst:>11} {target:>7}  "
              f"{'ok' if met else 'OVER'}")
    runs["load_1min"] = [round(v, 2) for v in load]
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "ssm_timing.json").write_text(json.dumps(runs, indent=2) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
