#!/usr/bin/env python3
"""Capture throughput: how much of the mirrored traffic the capture role's pipeline keeps.

    ./mirrorlab bench capture_throughput [--duration 2] [--rates-64 50k,100k,max] ...

Builds its own lab (namespaces, links and a systemd-nspawn machine named mlb-*): a client
namespace whose traffic enters the mirrored interface of a source namespace, where the lab's
mirror session (mirrorlab.vpc.lab_mirror_session: nftables netdev `dup` into VXLAN) copies it to
the target; the target is a Debian 12 machine configured by the mirrorlab.vpc.capture role
through community.docker.nsenter, exactly as the role configures it.

At every step (packet size x offered rate) it offers the traffic with trafgen (netsniff-ng) and
records, for each pipeline in the same run:
  - packets offered (trafgen) and received on capture0 (link counters, with the link's drops);
  - the role's capture service: packets its tool captured and the kernel drops it reports
    (its own statistics at stop, from the journal), and `capinfos -c` of the files it wrote;
  - the ceiling: the same traffic captured raw (VXLAN not decapsulated) on the target's
    underlay interface with a minimal capture (`tcpdump -i <underlay> -B 65536 -w FILE udp
    port 4789`);
  - the alternative tool (the role applied with the other capture_tool).
It prints a table, writes results JSON and a PNG plot to benchmarks/results/, removes
everything it created, and exits 0 (1 when the goal of issue 7 is missed, 2 on error).

Goal (issue 7): for both sizes, the role's pipeline keeps >= 99.9% of the offered packets at
every rate where the ceiling does; its highest loss-free rate is >= 90% of the ceiling's.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _mlb_lab as lab  # noqa: E402  (the benchmark's own helpers, next to this file)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
ROLE = "mirrorlab.vpc.capture"
KEEP = 0.999        # loss-free: at least 99.9% of the offered packets kept
GOAL_FRACTION = 0.9  # the role's loss-free rate must reach 90% of the ceiling's
MAX_PPS_HINT = 250_000  # packets per second trafgen's full speed is sized for (one CPU)

# What the benchmark tells the role whatever the configuration under test: the lab's underlay
# interface and VNI. The role's disk cap (capture_max_total_mb, 2048 by default) stays: a step
# writes at most ~750 MB (500,000 packets of 1514 bytes) and its files are deleted after it.
BASE_ROLE_VARS = {
    "capture_interface": lab.TGT_UNDERLAY,
    "capture_vni": 12345,
}

SIZES = (64, 1500)
CEILING_BUFFER_KIB = 65536


class Deadline(Exception):
    """--max-seconds reached."""


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def parse_rate(text):
    text = text.strip().lower()
    if text == "max":
        return None
    mult = 1
    if text.endswith("k"):
        mult, text = 1000, text[:-1]
    elif text.endswith("m"):
        mult, text = 1_000_000, text[:-1]
    value = int(float(text) * mult)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"a rate must be positive or 'max', got {text!r}")
    return value


def parse_rates(text):
    try:
        return [parse_rate(t) for t in text.split(",") if t.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"rates: comma-separated pps values (50k, 200000, max): {exc}")


def parse_config(text):
    """LABEL or LABEL:key=value,key=value (values are YAML scalars: 64, true, dumpcap, "0-1")."""
    import yaml

    label, _, rest = text.partition(":")
    if not re.fullmatch(r"[A-Za-z0-9_.+-]{1,24}", label):
        raise argparse.ArgumentTypeError(f"--config label must be 1-24 of [A-Za-z0-9_.+-], got {label!r}")
    values = {}
    for item in filter(None, rest.split(",")):
        key, sep, value = item.partition("=")
        if not sep or not re.fullmatch(r"capture_[a-z0-9_]+", key):
            raise argparse.ArgumentTypeError(f"--config {label}: expected capture_NAME=VALUE, got {item!r}")
        values[key] = yaml.safe_load(value)
    return {"label": label, "vars": values}


# --- generator -------------------------------------------------------------------------------

TRAFGEN_PACKET = ("{{ eth(da=02:00:00:00:00:02, sa=02:00:00:00:00:01), "
                  "ipv4(saddr=10.252.0.1, daddr=10.252.0.2, ttl=64), "
                  "tcp(sp=40000, dp=80, ack, psh, seq=1), fill(0x41, {payload}) }}\n")


def trafgen_config(tmp, size):
    """A TCP frame of `size` bytes: 64 = the minimum Ethernet frame, 1500 = a full-MTU IP packet."""
    payload = size - 14 - 20 - 20 if size < 1500 else size - 20 - 20
    path = os.path.join(tmp, f"tcp{size}.trafgen")
    with open(path, "w") as fh:
        fh.write(TRAFGEN_PACKET.format(payload=payload))
    return path


def offer(cfg, rate, duration):
    """Send rate*duration packets (or full speed for `duration` when rate is None).

    trafgen with one process pins itself to CPU 0; --no-sock-mem/--notouch-irq keep it from
    changing the shared machine's socket memory sysctls and IRQ affinities.
    """
    count = int((rate or MAX_PPS_HINT) * duration)
    argv = ["trafgen", "--no-sock-mem", "--notouch-irq", "-C", "-P", "1", "-o", lab.GEN_DEV, "-i", cfg,
            "-n", str(count)]
    if rate:
        argv += ["-b", f"{rate}pps"]
    start = time.monotonic()
    out = lab.sh(lab.in_ns(lab.NS_GEN, *argv), timeout=duration * 20 + 30)
    elapsed = time.monotonic() - start
    m = re.search(r"(\d+) packets outgoing", out)
    if not m:
        raise lab.CommandError(f"no packet count in trafgen's output: {out[-400:]}")
    return int(m.group(1)), elapsed


# --- pipelines ---------------------------------------------------------------------------------

class RoleService:
    """The capture service exactly as the role configured it (started/stopped with systemctl)."""

    def __init__(self, machine, unit, directory, tool):
        self.m = machine
        self.unit = unit
        self.dir = directory
        self.tool = tool
        self.invocation = None

    def files(self):
        """The capture files (the role's own lock and marker files are dot files: left alone)."""
        host_dir = self.m.machine_path(self.dir)
        return {os.path.join(host_dir, f) for f in os.listdir(host_dir)
                if re.search(r"\.pcap(ng)?\d*$", f) and os.path.isfile(os.path.join(host_dir, f))}

    def journal(self, lines=25):
        return lab.sh(self.m.machine_cmd("journalctl", "--no-pager", "-o", "cat", "-n", str(lines), "-u", self.unit),
                      check=False)

    def stop(self):
        lab.sh(self.m.machine_cmd("systemctl", "stop", self.unit))

    def start(self, dev_index):
        # The machine is the benchmark's own: empty the capture directory so that every file
        # in it at the end was written in this step, whatever the role's file names are.
        for path in self.files():
            os.unlink(path)
        before = lab.packet_sockets(lab.NS_TGT)
        try:
            lab.sh(self.m.machine_cmd("systemctl", "start", self.unit))
        except lab.CommandError as exc:
            raise lab.CommandError(f"{exc}\n{self.journal()}") from None
        self.invocation = lab.sh(self.m.machine_cmd("systemctl", "show", "-P", "InvocationID", self.unit)).strip()
        try:
            lab.wait_for_capture(lab.NS_TGT, dev_index, before)
        except lab.CommandError as exc:
            raise lab.CommandError(f"{self.unit} did not start capturing: {exc}\n{self.journal()}") from None

    def finish(self):
        self.stop()
        stats, text = None, ""
        for _ in range(40):  # the journal may trail the exit by a moment
            text = lab.sh(self.m.machine_cmd("journalctl", "--no-pager", "-o", "cat",
                                             f"_SYSTEMD_INVOCATION_ID={self.invocation}"), check=False)
            stats = lab.parse_tool_stats(text)
            if stats:
                break
            time.sleep(0.1)
        new = sorted(self.files())
        kept = lab.capinfos_count(new)
        for path in new:
            os.unlink(path)
        return {"tool_stats": stats, "kept": kept, "files": len(new),
                "tool_output_tail": None if stats else text[-500:]}


class RawCapture:
    """The ceiling: a minimal capture of the VXLAN packets on the target's underlay link.

    One tcpdump, no decapsulation, no service, no rotation, the whole packet, written to the
    target's file system. Its ring is 64 MiB (CEILING_BUFFER_KIB) so that it measures the machine
    and not libpcap's 2 MiB default: with the default, this raw capture itself lost 0.08-2.6% of
    1500-byte packets at 58-144 kpps here.
    """

    def __init__(self, machine):
        self.m = machine
        self.path = "/var/tmp/mlb-raw-ceiling.pcap"
        self.proc = None
        self.tool = "tcpdump"

    def start(self, dev_index):
        before = lab.packet_sockets(lab.NS_TGT)
        self.proc = subprocess.Popen(
            lab.in_ns(lab.NS_TGT, "tcpdump", "-i", lab.TGT_UNDERLAY, "-n", "-B", str(CEILING_BUFFER_KIB), "-w", self.m.machine_path(self.path),
                      "udp", "port", "4789"),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        lab.wait_for_capture(lab.NS_TGT, dev_index, before, proc=self.proc)

    def finish(self):
        self.proc.send_signal(signal.SIGTERM)
        _, err = self.proc.communicate(timeout=60)
        self.proc = None
        path = self.m.machine_path(self.path)
        kept = lab.capinfos_count([path])
        os.unlink(path)
        return {"tool_stats": lab.parse_tool_stats(err), "kept": kept, "files": 1}

    def close(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


# --- Ansible -------------------------------------------------------------------------------------

LAB_PLAY = """\
- name: The benchmark's target machine and mirror session, the lab's own way
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Debian 12 root file system (cached)
      mirrorlab.vpc.lab_rootfs: {{}}
      register: rootfs
      when: not rootfs_path

    - name: Boot the capture target in its namespace
      mirrorlab.vpc.lab_machine:
        name: {machine}
        rootfs: "{{{{ rootfs_path or rootfs.path }}}}"
        netns: {tgt_ns}
        state_dir: {state_dir}
      register: machine
      # lab_machine 3e8ae04 can report a first boot as failed at once while the machine is
      # still coming up; asking again waits for it (reported to the lead).
      until: machine is succeeded
      retries: 5
      delay: 2

    - name: The filter, all TCP both ways, normalized by the experiment model
      mirrorlab.vpc.experiment_info:
        filter: {{preset: all_tcp}}
      register: model

    - name: Mirror all TCP entering the source device to the target
      mirrorlab.vpc.lab_mirror_session:
        netns: {ns}
        source_device: {dev}
        local_ip: {src}
        target_ip: {tgt}
        vni: 12345
        vxlan_device: {vx}
        table: {table}
        rules: "{{{{ model.experiment.filter.rules }}}}"

    - name: Hand the machine's PID to the benchmark
      ansible.builtin.copy:
        content: "{{{{ {{'pid': machine.pid, 'root': machine.root, 'rootfs': rootfs_path or rootfs.path}} | to_json }}}}"
        dest: {facts}
        mode: "0600"
"""

UNLAB_PLAY = """\
- name: Remove the benchmark's target machine and mirror session
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Remove the machine and its state
      mirrorlab.vpc.lab_machine:
        name: {machine}
        state: absent
        state_dir: {state_dir}

    - name: Remove the mirror session
      mirrorlab.vpc.lab_mirror_session:
        state: absent
        netns: {ns}
        vxlan_device: {vx}
        table: {table}
"""

ROLE_PLAY = """\
- name: The capture role on the benchmark's target, as on a real capture instance
  hosts: {machine}
  gather_facts: true
  roles:
    - role: {role}
"""


class Ansible:
    def __init__(self, tmp):
        self.tmp = tmp
        self.state_dir = os.path.join(tmp, "machine")
        self.inventory = os.path.join(tmp, "inventory.json")
        self.inventory_for(None)
        self.env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                        ANSIBLE_STDOUT_CALLBACK="default")
        self.env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{self.env.get('PATH', '')}"

    def inventory_for(self, pid):
        """localhost, and the target machine reached with community.docker.nsenter once it runs."""
        hosts = {"localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}
        if pid:
            hosts[lab.MACHINE] = {"ansible_connection": "community.docker.nsenter", "ansible_nsenter_pid": pid,
                                  "ansible_python_interpreter": "/usr/bin/python3"}
        with open(self.inventory, "w") as fh:
            json.dump({"all": {"hosts": hosts}}, fh)

    def playbook(self, name, text, extra_vars=None):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as fh:
            fh.write(text)
        argv = ["ansible-playbook", "-i", self.inventory, path]
        if extra_vars:
            vars_path = os.path.join(self.tmp, f"{name}.vars.json")
            with open(vars_path, "w") as fh:
                json.dump(extra_vars, fh)
            argv += ["-e", f"@{vars_path}"]
        proc = subprocess.run(argv, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise lab.CommandError(f"ansible-playbook {name} failed ({proc.returncode}):\n{proc.stdout[-6000:]}"
                                   f"\n{proc.stderr[-2000:]}")
        return proc.stdout

    def lab_up(self, rootfs):
        """Boot the target (lab_rootfs, lab_machine) and create the mirror session; the machine's PID."""
        facts = os.path.join(self.tmp, "machine.json")
        self.playbook("lab.yml", LAB_PLAY.format(
            machine=lab.MACHINE, tgt_ns=lab.NS_TGT, state_dir=self.state_dir, ns=lab.NS_SRC,
            dev=lab.SRC_DEV, src=lab.SRC_IP, tgt=lab.TGT_IP, vx=lab.VXLAN_DEV, table=lab.NFT_TABLE, facts=facts),
            {"rootfs_path": rootfs or ""})
        lab.Lab.offloads_off(lab.NS_SRC, lab.VXLAN_DEV)
        with open(facts) as fh:
            return json.load(fh)

    def lab_down(self):
        self.playbook("unlab.yml", UNLAB_PLAY.format(
            machine=lab.MACHINE, state_dir=self.state_dir, ns=lab.NS_SRC, vx=lab.VXLAN_DEV, table=lab.NFT_TABLE))

    def capture_role(self, role, role_vars):
        self.playbook("capture.yml", ROLE_PLAY.format(machine=lab.MACHINE, role=role), role_vars)


def discover_service(machine, link="capture0"):
    """The capture unit the role installed for `link`, its output directory and its tool.

    Read from the machine (the units' ExecStart), so the benchmark follows the role's naming.
    """
    listed = lab.sh(machine.machine_cmd("systemctl", "list-units", "--all", "--plain", "--no-legend",
                                        "--type=service", "mirrorlab-capture*"))
    units = [line.split()[0] for line in listed.splitlines() if line.strip()]
    for unit in units:
        exec_start = lab.sh(machine.machine_cmd("systemctl", "show", "-P", "ExecStart", unit), check=False)
        # systemd prints { path=... ; argv[]=TOOL ARGS ; ... }; the path may be relative
        m = re.search(r"argv\[\]=(?:\S*/)?(tcpdump|dumpcap)\s", exec_start)
        tool = m.group(1) if m else None
        if tool and re.search(rf"-i {re.escape(link)}\b", exec_start):
            m = re.search(r"-w\s+(\S+)", exec_start)
            if not m:
                raise lab.CommandError(f"{unit}: no -w in its command: {exec_start}")
            argv = re.search(r"argv\[\]=([^;]*)", exec_start)
            return unit, os.path.dirname(m.group(1)), tool, (argv.group(1).strip() if argv else exec_start)
    raise lab.CommandError(f"no capture unit for {link} among {units or 'no mirrorlab-capture* units'}")


# --- measuring -----------------------------------------------------------------------------------

def measure(pipeline, machine, cfg, rate, duration, dev_index):
    cap0_before = lab.link_counters(lab.NS_TGT, "capture0")
    under_before = lab.link_counters(lab.NS_TGT, lab.TGT_UNDERLAY)
    pipeline.start(dev_index)
    offered, elapsed = offer(cfg, rate, duration)
    # TPACKET_V3 hands a block to the tool when it is full or its timeout (libpcap: the
    # tool's read timeout, 1 s for tcpdump and dumpcap) expires; a tool stopped earlier loses
    # the packets of its last block. Wait past it so the counts are the tool's steady state.
    time.sleep(1.5)
    result = pipeline.finish()
    cap0_after = lab.link_counters(lab.NS_TGT, "capture0")
    under_after = lab.link_counters(lab.NS_TGT, lab.TGT_UNDERLAY)
    result.update(
        offered=offered,
        offered_pps=offered / elapsed if elapsed else 0.0,
        capture0_rx=cap0_after["rx_packets"] - cap0_before["rx_packets"],
        capture0_dropped=cap0_after["rx_dropped"] - cap0_before["rx_dropped"],
        underlay_rx=under_after["rx_packets"] - under_before["rx_packets"],
        ratio=result["kept"] / offered if offered else 0.0,
    )
    return result


def step_rate(step):
    """The rate of a step: the mean of the rates the generator reached for each pipeline in it.

    Both pipelines are judged on the same rates, so generator noise (a shared machine) does not
    make one look worse than the other.
    """
    rates = [step[k]["offered_pps"] for k in ("pipeline", "ceiling") if step.get(k)]
    return sum(rates) / len(rates)


def loss_free_rate(steps, key):
    """Highest step rate up to which every step (in offered order) kept >= 99.9% (0 if none)."""
    best = 0.0
    for step in steps:
        if step[key]["ratio"] < KEEP:
            break
        best = max(best, step_rate(step))
    return best


def summarize(results):
    """Per configuration and size: loss-free rates of the pipeline and of its ceiling, goal met?"""
    summary = []
    for cfg in results["configs"]:
        for size in results["sizes"]:
            steps = [s for s in results["steps"] if s["config"] == cfg["label"] and s["size"] == size
                     and s.get("pipeline") and s.get("ceiling")]
            if not steps:
                continue
            lf_pipe, lf_raw = loss_free_rate(steps, "pipeline"), loss_free_rate(steps, "ceiling")
            # the rule: at every step where the ceiling keeps >= 99.9%, the pipeline does too
            missed = [s["rate"] for s in steps if s["ceiling"]["ratio"] >= KEEP and s["pipeline"]["ratio"] < KEEP]
            summary.append({
                "config": cfg["label"], "tool": cfg.get("tool"), "size": size,
                "loss_free_pps": round(lf_pipe), "ceiling_loss_free_pps": round(lf_raw),
                "fraction": (lf_pipe / lf_raw) if lf_raw else None,
                "steps_lost_where_ceiling_kept": ["max" if r is None else r for r in missed],
                "goal_met": lf_raw > 0 and lf_pipe >= GOAL_FRACTION * lf_raw,
            })
    return summary


def pct(x):
    return f"{100 * x:7.3f}%"


def print_table(results, summary):
    head = (f"{'config':<10} {'tool':<7} {'size':>4} {'target':>7} {'offered':>8} {'kpps':>6} {'capture0':>8} "
            f"{'c0drop':>6} {'tool.cap':>8} {'tool.drop':>9} {'pcap':>8} {'kept/off':>9} | "
            f"{'raw.pcap':>8} {'raw.drop':>8} {'raw k/o':>9}")
    print(head)
    print("-" * len(head))
    for s in results["steps"]:
        p, c = s.get("pipeline") or {}, s.get("ceiling") or {}
        ts, rs = p.get("tool_stats") or {}, c.get("tool_stats") or {}
        target = "max" if s["rate"] is None else f"{s['rate'] // 1000}k"
        print(f"{s['config']:<10} {s['tool']:<7} {s['size']:>4} {target:>7} {p.get('offered', 0):>8} "
              f"{p.get('offered_pps', 0) / 1000:>6.1f} {p.get('capture0_rx', 0):>8} {p.get('capture0_dropped', 0):>6} "
              f"{ts.get('captured', '?'):>8} {ts.get('dropped', '?'):>9} {p.get('kept', 0):>8} "
              f"{pct(p.get('ratio', 0)):>9} | {c.get('kept', 0):>8} {rs.get('dropped', '?'):>8} {pct(c.get('ratio', 0)):>9}")
    print()
    for cfg in results["configs"]:
        if cfg.get("error"):
            print(f"{cfg['label']}: the role's capture did not run: {cfg['error'].splitlines()[0][:300]}")
    print(f"{'config':<10} {'tool':<7} {'size':>4} {'loss-free kpps':>14} {'ceiling kpps':>12} {'fraction':>8}  goal")
    for row in summary:
        frac = "-" if row["fraction"] is None else f"{100 * row['fraction']:.0f}%"
        print(f"{row['config']:<10} {row['tool'] or '?':<7} {row['size']:>4} {row['loss_free_pps'] / 1000:>14.1f} "
              f"{row['ceiling_loss_free_pps'] / 1000:>12.1f} {frac:>8}  "
              f"{'met' if row['goal_met'] else 'MISSED'}"
              + (f" (lost where the ceiling kept: {row['steps_lost_where_ceiling_kept']})"
                 if row["steps_lost_where_ceiling_kept"] else ""))


def plot(results, summary, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results["sizes"]), figsize=(6.2 * len(results["sizes"]), 5.2), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, size in zip(axes[0], results["sizes"]):
        lows, xmax = [100.0], 1.0
        for i, cfg in enumerate(results["configs"]):
            steps = sorted((s for s in results["steps"] if s["config"] == cfg["label"] and s["size"] == size
                            and s.get("pipeline")), key=lambda s: s["pipeline"]["offered_pps"])
            if not steps:
                continue
            color = colors[i % len(colors)]
            xs = [s["pipeline"]["offered_pps"] / 1000 for s in steps]
            ys = [100 * s["pipeline"]["ratio"] for s in steps]
            ax.plot(xs, ys, "o-", color=color, label=f"{cfg['label']} ({cfg.get('tool')}): role's service")
            raw = [s for s in steps if s.get("ceiling")]
            ax.plot([s["ceiling"]["offered_pps"] / 1000 for s in raw], [100 * s["ceiling"]["ratio"] for s in raw],
                    "s--", color=color, alpha=0.55, markersize=4,
                    label=f"{cfg['label']}: raw ceiling (tcpdump on underlay)")
            lows += ys + [100 * s["ceiling"]["ratio"] for s in raw]
            xmax = max([xmax] + xs + [s["ceiling"]["offered_pps"] / 1000 for s in raw])
        low = min(lows)
        ax.set_ylim(max(0.0, min(99.0, low - 0.5 * (100 - low) - 0.2)), 100.3)
        ax.set_xlim(0, xmax * 1.08)
        ax.axhline(100 * KEEP, color="grey", linewidth=0.8, linestyle=":")
        ax.text(xmax * 0.01, 100 * KEEP, "99.9%", color="grey", va="top", fontsize=8)
        ax.set_title(f"{size}-byte packets")
        ax.set_xlabel("offered rate (kpps, measured at the generator)")
        ax.set_ylabel("kept / offered (%)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="lower left")
    m = results["machine"]
    fig.suptitle("mirrorlab capture throughput: packets kept in pcap / packets offered", fontsize=12)
    fig.text(0.5, 0.01, f"{m['cores']} cores ({m['cpu']}), Linux {m['kernel']}, {m['when']}; "
             f"{results['duration']} s per step, trafgen on CPU 0; shared machine: compare within a run",
             ha="center", fontsize=8)
    fig.tight_layout(rect=(0, 0.04, 1, 0.95))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def machine_info():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as fh:
            m = re.search(r"model name\s*:\s*(.+)", fh.read())
            cpu = m.group(1).strip() if m else "?"
    except OSError:
        pass
    return {"cores": os.cpu_count(), "cpu": re.sub(r"\s+", " ", cpu), "kernel": platform.release(),
            "when": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


# --- main ----------------------------------------------------------------------------------------

def measure_config(args, cfg, ansible, the_lab, raw, cfgs, results, deadline):
    """Apply the role with one configuration and measure every step against the ceiling."""
    role_vars = dict(BASE_ROLE_VARS, **cfg["vars"])
    log(f"[{cfg['label']}] applying {args.role} with {cfg['vars'] or 'its defaults'}")
    ansible.capture_role(args.role, role_vars)
    unit, directory, tool, exec_start = discover_service(the_lab)
    cfg.update(tool=tool, unit=unit, directory=directory, exec_start=exec_start)
    log(f"[{cfg['label']}] {unit}: {exec_start}")
    service = RoleService(the_lab, unit, directory, tool)
    service.stop()
    cap_index = lab.ifindex(lab.NS_TGT, "capture0")
    under_index = lab.ifindex(lab.NS_TGT, lab.TGT_UNDERLAY)
    n = 0
    for size in args.sizes:
        for rate in (args.rates_64 if size == 64 else args.rates_1500):
            if time.monotonic() > deadline:
                results["incomplete"] = True
                log(f"--max-seconds {args.max_seconds} reached: stopping with what was measured")
                raise Deadline
            step = {"config": cfg["label"], "tool": tool, "size": size, "rate": rate}
            # alternate the order so neither pipeline always runs on a warmer (or colder) machine
            order = [("pipeline", service, cap_index), ("ceiling", raw, under_index)]
            if n % 2:
                order.reverse()
            try:
                for key, pipe, idx in order:
                    step[key] = measure(pipe, the_lab, cfgs[size], rate, args.duration, idx)
            finally:
                service.stop()
            n += 1
            p, c = step["pipeline"], step["ceiling"]
            log(f"[{cfg['label']}] {size:>4} B {('max' if rate is None else rate):>7}: offered "
                f"{p['offered']} ({p['offered_pps'] / 1000:.1f} kpps) kept {pct(p['ratio'])} "
                f"(tool drops {(p['tool_stats'] or {}).get('dropped')}); ceiling {pct(c['ratio'])}")
            results["steps"].append(step)


def run(args):
    results = {"machine": machine_info(), "duration": args.duration, "sizes": args.sizes,
               "configs": [], "steps": [], "incomplete": False}
    deadline = time.monotonic() + args.max_seconds
    the_lab = lab.Lab()
    tmp = tempfile.mkdtemp(prefix=f"{lab.PREFIX}-bench-")
    ansible = Ansible(tmp)
    raw = None
    machine_up = False

    def interrupted(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)
    try:
        log("creating namespaces and links (mlb-*)")
        the_lab.create_network()
        log(f"booting {lab.MACHINE} (lab_rootfs, lab_machine) and the mirror session (lab_mirror_session)")
        machine_up = True
        facts = ansible.lab_up(args.rootfs)
        the_lab.attach_machine(facts["pid"])
        ansible.inventory_for(the_lab.pid)
        log(f"machine runs from {facts['rootfs']}; its systemd is PID {the_lab.pid}")
        cfgs = {size: trafgen_config(tmp, size) for size in args.sizes}
        raw = RawCapture(the_lab)
        configs = list(args.config) or [{"label": "role", "vars": {}}]
        alt_added = False
        index = 0
        while index < len(configs):
            cfg = configs[index]
            index += 1
            results["configs"].append(cfg)
            try:
                measure_config(args, cfg, ansible, the_lab, raw, cfgs, results, deadline)
            except lab.CommandError as exc:
                # A configuration the role cannot run is a result too: record it, go on.
                cfg["error"] = str(exc)
                log(f"[{cfg['label']}] FAILED: {str(exc)[:2000]}")
            if args.alt and not alt_added and cfg.get("tool"):
                other = "tcpdump" if cfg["tool"] == "dumpcap" else "dumpcap"
                configs.insert(index, {"label": f"{cfg['label']}-alt", "vars": dict(cfg["vars"], capture_tool=other)})
                alt_added = True
    except Deadline:
        pass
    finally:
        if raw is not None:
            raw.close()
        log("cleaning up")
        errors = []
        if machine_up:
            try:
                ansible.lab_down()
            except (lab.CommandError, subprocess.TimeoutExpired) as exc:
                errors.append(str(exc))
        errors += the_lab.close()
        shutil.rmtree(tmp, ignore_errors=True)
        for err in errors:
            log(f"cleanup: {err}")
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=2.0, help="seconds of traffic per step (default 2)")
    parser.add_argument("--rates-64", type=parse_rates, default=parse_rates("50k,100k,150k,200k,max"),
                        help="offered rates for 64-byte packets, pps (k/m suffix) or max")
    parser.add_argument("--rates-1500", type=parse_rates, default=parse_rates("50k,100k,150k,200k,max"),
                        help="offered rates for 1500-byte packets")
    parser.add_argument("--sizes", type=lambda t: [int(x) for x in t.split(",")], default=list(SIZES),
                        help="packet sizes (64 and/or 1500)")
    parser.add_argument("--config", type=parse_config, action="append", default=[],
                        help="LABEL[:capture_x=V,...]: a role configuration to measure (repeatable); "
                             "default: the role's defaults")
    parser.add_argument("--no-alt", dest="alt", action="store_false",
                        help="do not measure the alternative tool (the first config with the other capture_tool)")
    parser.add_argument("--role", default=ROLE, help=f"the capture role, a name or path (default {ROLE})")
    parser.add_argument("--rootfs", default="",
                        help="Debian 12 root file system of the target (default: mirrorlab.vpc.lab_rootfs's cache)")
    parser.add_argument("--max-seconds", type=int, default=600, help="stop measuring after this many seconds")
    parser.add_argument("--out", default=str(RESULTS), help="directory for the JSON and PNG results")
    args = parser.parse_args(argv)
    for name in ("rates_64", "rates_1500"):  # ascending, full speed last
        setattr(args, name, sorted(set(getattr(args, name)), key=lambda r: float("inf") if r is None else r))
    for size in args.sizes:
        if size not in SIZES:
            parser.error(f"--sizes: 64 and/or 1500, got {size}")
    if os.geteuid() != 0:
        parser.error("needs root (network namespaces, systemd-nspawn)")
    for tool in ("trafgen", "tcpdump", "capinfos", "systemd-nspawn", "nsenter", "debootstrap"):
        if not shutil.which(tool):
            parser.error(f"{tool} is missing: ./mirrorlab installs scripts/apt-packages.txt")

    try:
        results = run(args)
    except (lab.CommandError, subprocess.TimeoutExpired, KeyboardInterrupt) as exc:
        log(f"error: {exc}")
        return 2
    summary = summarize(results)
    results["summary"] = summary
    print_table(results, summary)
    os.makedirs(args.out, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    json_path = os.path.join(args.out, f"capture_throughput-{stamp}.json")
    png_path = os.path.join(args.out, f"capture_throughput-{stamp}.png")
    with open(json_path, "w") as fh:
        json.dump(results, fh, indent=1)
    plot(results, summary, png_path)
    print(f"\nresults: {json_path}\nplot:    {png_path}")
    if results["incomplete"]:
        print("incomplete: --max-seconds was reached before every step ran")
    if not results["configs"] or results["configs"][0].get("error"):
        return 2
    met = summary and all(row["goal_met"] for row in summary if row["config"] == results["configs"][0]["label"])
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
