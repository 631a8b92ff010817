#!/usr/bin/env python3
"""Time the local lab: cold start (root file system cached), warm re-run, teardown.

    ./mirrorlab bench lab_timing [--runs N] [--deployment NAME] [--target-count N]

Uses its own deployment (default `mlbench`), never the user's lab. Before timing, the root
file system is built or found in the cache (mirrorlab.vpc.lab_rootfs, untimed) and any
previous lab of the deployment is removed. Each run then times, with wall-clock time:
  cold start   ansible-playbook site.yml on a host without the lab (everything created,
               the capture machine booted and configured, the mirroring set up)
  warm re-run  the same again (nothing to change: changed=0 is checked)
  teardown     ansible-playbook teardown.yml
Targets (issue 6): start < 60 s, re-run < 20 s, teardown < 15 s; issue 12: the warm re-run
<= 10 s on an idle machine, and the capture step makes at most 15 remote module executions
on the capture machine in a cold start and at most 8 in a warm re-run. The playbooks run
with -vvv, from whose output the executions on each host are counted (benchmarks/
_remote_count.py: every module copied to the machine, AnsiballZ_<module>.py); -vvv only adds
printing on the controller. With --target-count N (mirrorlab_target.count) the lab has N
capture machines behind the NLB stand-in; the execution targets then hold per machine. Results
are printed and written to benchmarks/results/lab_timing.json (lab_timing_count<N>.json).
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _remote_count import describe, module_executions, total  # noqa: E402  (next to this file)

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"cold_start": 60.0, "warm_rerun": 20.0, "teardown": 15.0}
# Remote module executions on the capture machine per run (issue 12).
EXECUTION_TARGETS = {"cold_start": 15, "warm_rerun": 8}
WARM_GOAL_S = 10.0
LOCAL_HOSTS = {"localhost", "127.0.0.1"}


def env():
    e = dict(os.environ)
    e["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    e["ANSIBLE_NOCOLOR"] = "1"
    e["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{e.get('PATH', '')}"
    return e


def ansible_playbook(playbook, deployment, target_count=1):
    variables = {"mirrorlab_deployment": deployment}
    if target_count > 1:
        variables["mirrorlab_target"] = {"count": target_count}
    start = time.monotonic()
    proc = subprocess.run(["ansible-playbook", "-vvv", playbook, "-e", json.dumps(variables)],
                          cwd=ROOT, env=env(), capture_output=True, text=True)
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        sys.exit(f"{playbook} failed ({proc.returncode}):\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}")
    changed = sum(int(n) for n in re.findall(r"changed=(\d+)", proc.stdout[proc.stdout.rfind("PLAY RECAP"):]))
    # The remote hosts: the capture machine(s); localhost runs the lab's own modules.
    remote = {host: c for host, c in module_executions(proc.stdout).items() if host not in LOCAL_HOSTS}
    return elapsed, changed, remote


def ensure_rootfs():
    proc = subprocess.run(["ansible", "localhost", "-m", "mirrorlab.vpc.lab_rootfs"], cwd=ROOT, env=env(),
                          capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"building the root file system failed:\n{proc.stdout[-4000:]}{proc.stderr[-2000:]}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--deployment", default="mlbench")
    parser.add_argument("--target-count", type=int, default=1, help="capture machines (mirrorlab_target.count)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("the lab needs root")

    ensure_rootfs()
    ansible_playbook("teardown.yml", args.deployment)
    times = {name: [] for name in TARGETS}
    executions = {name: [] for name in EXECUTION_TARGETS}
    load = [os.getloadavg()[0]]
    for run in range(1, args.runs + 1):
        cold, _, cold_remote = ansible_playbook("site.yml", args.deployment, args.target_count)
        warm, changed, warm_remote = ansible_playbook("site.yml", args.deployment, args.target_count)
        down, _, _ = ansible_playbook("teardown.yml", args.deployment)
        load.append(os.getloadavg()[0])
        times["cold_start"].append(cold)
        times["warm_rerun"].append(warm)
        times["teardown"].append(down)
        print(f"run {run}: cold start {cold:.1f} s, warm re-run {warm:.1f} s (changed={changed}), "
              f"teardown {down:.1f} s", flush=True)
        for name, remote in (("cold_start", cold_remote), ("warm_rerun", warm_remote)):
            # Per capture machine: the most any machine had.
            executions[name].append(max((total(c) for c in remote.values()), default=0))
            for host, counter in sorted(remote.items()):
                print(f"  {name}: remote module executions on {host}: {describe(counter)}", flush=True)
        if changed:
            print(f"  warning: the re-run reported changed={changed}, expected 0")

    print(f"\nlab timing, deployment {args.deployment}, {args.target_count} capture machine(s), {args.runs} run(s), "
          f"{os.cpu_count()} CPUs, "
          f"1-minute load {min(load):.2f}-{max(load):.2f} (before and after each run)")
    print(f"{'phase':<12} {'median':>8} {'min':>8} {'max':>8} {'target':>8}  verdict")
    summary = {}
    for name, values in times.items():
        median = statistics.median(values)
        ok = median < TARGETS[name]
        summary[name] = {"median_s": round(median, 2), "min_s": round(min(values), 2), "max_s": round(max(values), 2),
                         "target_s": TARGETS[name], "met": ok, "runs": [round(v, 2) for v in values]}
        print(f"{name:<12} {median:>7.1f}s {min(values):>7.1f}s {max(values):>7.1f}s {TARGETS[name]:>7.0f}s  "
              f"{'ok' if ok else 'OVER'}")
    warm = summary["warm_rerun"]["median_s"]
    summary["warm_rerun"]["goal_s"] = WARM_GOAL_S
    print(f"{'':<12} warm re-run goal of issue 12: <= {WARM_GOAL_S:.0f} s on an idle machine: "
          f"{'ok' if warm <= WARM_GOAL_S else 'OVER'} ({warm:.1f} s)")
    print(f"\n{'remote module executions on the capture machine':<50} {'max':>5} {'target':>7}  verdict")
    for name, values in executions.items():
        ok = max(values) <= EXECUTION_TARGETS[name]
        summary[name].update(remote_executions=values, remote_executions_target=EXECUTION_TARGETS[name],
                             remote_executions_met=ok)
        print(f"{name:<50} {max(values):>5} {EXECUTION_TARGETS[name]:>7}  {'ok' if ok else 'OVER'}")
    summary["load_1min"] = [round(v, 2) for v in load]
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    name = "lab_timing.json" if args.target_count == 1 else f"lab_timing_count{args.target_count}.json"
    summary["target_count"] = args.target_count
    (out / name).write_text(json.dumps(summary, indent=2) + "\n")
    met = [s["met"] and s.get("remote_executions_met", True) for s in summary.values() if isinstance(s, dict)]
    return 0 if all(met) else 1


if __name__ == "__main__":
    sys.exit(main())
