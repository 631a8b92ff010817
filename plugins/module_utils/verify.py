# -*- coding: utf-8 -*-

# Copyright: Contributors to the mirrorlab project
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The rules of ``./mirrorlab verify`` (playbooks/verify.yml, docs/verify.md): did every
session of every source ENI deliver both directions of the probe traffic to the capture
target(s), and if not, the likely cause.

Input: the mirrored copies captured on the targets' links during the probe (read from the
pcaps by tshark: inner addresses, ports, lengths, and the VNI from the file name), the link
counters before and after, the sources (each ENI's addresses and its sessions with their
filter rules, session numbers, VNIs and whether the session is deployed) and the probe's
outcome.

Attribution: a copy whose inner destination is one of an ENI's addresses is that ENI's
ingress, one whose inner source is, its egress (AWS's directions). A packet that passes two
mirrored ENIs (the ALB's request to a mirrored backend) is mirrored by both, so one copy of it
does not show which ENI sent it: a session's direction is *proven* by a packet only when every
copy the experiment expects of that packet on that VNI arrived (the reference evaluator of the
filter rules, filter_rules.mirroring_session, says which session of each ENI mirrors it).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import json
import os
import subprocess

from ansible_collections.mirrorlab.vpc.plugins.module_utils import filter_rules, pcap_report

DIRECTIONS = filter_rules.DIRECTIONS  # ("ingress", "egress")
ETHERNET_HEADER = 14
# AWS's encapsulation overhead, which packets larger than the target MTU minus it lose (AWS docs,
# "Traffic Mirroring limitations and quotas"); docs/filters.md.
OVERHEAD = {4: 54, 6: 74}

TSHARK_FIELDS = (
    "frame.time_epoch", "frame.len", "ip.src", "ip.dst", "ip.len", "ip.id", "ip.proto",
    "ipv6.src", "ipv6.dst", "ipv6.plen", "ipv6.nxt", "tcp.srcport", "tcp.dstport", "udp.srcport",
    "udp.dstport", "tcp.seq_raw", "tcp.ack_raw", "tcp.flags", "http.request.uri",
)


class VerifyError(Exception):
    pass


# --------------------------------------------------------------------------- reading the pcaps


def _int(value):
    return int(value, 0) if value not in (None, "") else None


def parse_tshark_line(line, vni, target="", link=""):
    """One mirrored copy from a line of TSHARK_FIELDS; None for a frame without IP."""
    values = dict(zip(TSHARK_FIELDS, line.rstrip("\n").split("\t")))
    if values.get("ip.src"):
        src, dst, version = values["ip.src"], values["ip.dst"], 4
        proto, ip_len = _int(values.get("ip.proto")), _int(values.get("ip.len"))
    elif values.get("ipv6.src"):
        src, dst, version = values["ipv6.src"], values["ipv6.dst"], 6
        proto = _int(values.get("ipv6.nxt"))
        plen = _int(values.get("ipv6.plen"))
        ip_len = plen + 40 if plen is not None else None
    else:
        return None
    sport = _int(values.get("tcp.srcport")) or _int(values.get("udp.srcport"))
    dport = _int(values.get("tcp.dstport")) or _int(values.get("udp.dstport"))
    copy = {
        "time": float(values["frame.time_epoch"]), "len": int(values["frame.len"]), "version": version,
        "src": src, "dst": dst, "proto": proto, "sport": sport, "dport": dport, "ip_len": ip_len,
        "vni": vni, "target": target, "link": link, "uri": values.get("http.request.uri") or None,
    }
    # The same packet seen on two ENIs (or twice on one link) has the same key; the TTL, which a
    # router between the ENIs changes, is not part of it.
    copy["key"] = (src, dst, proto, sport, dport, values.get("ip.id") or "", values.get("tcp.seq_raw") or "",
                   values.get("tcp.ack_raw") or "", values.get("tcp.flags") or "", ip_len)
    return copy


def vni_of_file(path):
    match = pcap_report.VNI_NAME.search(os.path.basename(path))
    return int(match.group(1)) if match else None


def read_copies(path, target="", link="", tshark="tshark"):
    """Every IP packet of one capture file as a copy (see parse_tshark_line). The VNI comes from
    the file name; a file still being written may end mid-packet (tshark reads up to there)."""
    vni = vni_of_file(path)
    if vni is None:
        raise VerifyError("%s: not a capture file of the capture role (<link>-vni<VNI>-<start>.pcap)" % path)
    cmd = [tshark, "-n", "-r", path, "-T", "fields", "-E", "separator=/t", "-E", "occurrence=f"]
    for field in TSHARK_FIELDS:
        cmd += ["-e", field]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0 and "cut short in the middle of a packet" not in proc.stderr:
        raise VerifyError("tshark could not read %s: %s" % (path, proc.stderr.strip()[-400:]))
    copies = []
    for line in proc.stdout.splitlines():
        copy = parse_tshark_line(line, vni, target, link)
        if copy is not None:
            copies.append(copy)
    return copies


def link_counters(ip_json):
    """{link name: {"vni", "rx_packets", "rx_bytes", "mtu"}} of the VXLAN links in the output of
    ``ip -d -j -s link show type vxlan``."""
    links = {}
    for link in json.loads(ip_json or "[]"):
        data = (link.get("linkinfo") or {}).get("info_data") or {}
        stats = link.get("stats64") or link.get("stats") or {}
        rx = stats.get("rx") or {}
        links[link["ifname"]] = {"vni": data.get("id"), "rx_packets": rx.get("packets", 0),
                                 "rx_bytes": rx.get("bytes", 0), "mtu": link.get("mtu")}
    return links


def counter_deltas(before, after):
    """Per target and link: VNI, packets and bytes received between two link_counters readings."""
    deltas = []
    for target in sorted(after):
        for name, now in sorted(after[target].items()):
            then = before.get(target, {}).get(name, {})
            deltas.append({"target": target, "link": name, "vni": now["vni"], "mtu": now["mtu"],
                           "rx_packets": now["rx_packets"] - then.get("rx_packets", 0),
                           "rx_bytes": now["rx_bytes"] - then.get("rx_bytes", 0)})
    return deltas


# --------------------------------------------------------------------------- the sources


def _session(number, vni, rules, packet_length, present, filter_name=""):
    return {"session_number": number, "vni": vni, "rules": rules, "packet_length": packet_length or 0,
            "present": bool(present), "filter": filter_name}


def experiment_sessions(session, rules, vni, present):
    """The sessions the experiment asks for on one source ENI: the first with the experiment's
    filter (``rules``) and the ENI's VNI, then mirrorlab_session.extra; ``present(number)``
    says whether that session exists."""
    sessions = [_session(session["session_number"], vni, rules, session.get("packet_length"),
                         present(session["session_number"]), "mirrorlab_filter")]
    for index, extra in enumerate(session.get("extra") or []):
        sessions.append(_session(extra["session_number"], extra["vni"], extra["filter"]["rules"],
                                 extra.get("packet_length"), present(extra["session_number"]),
                                 "mirrorlab_session.extra[%d].filter" % index))
    return sessions


def lab_sources(lab_sessions, eni_vnis, session, rules, tables):
    """The lab's sources: each mirrored interface (lab_plan's sessions) with its sessions.
    ``tables``: the results of ``nft list table netdev <table>`` per session (roles/lab/tasks/
    verify.yml's loop: ``lab_session`` and ``rc``); a missing table is a missing session (one
    table holds all of a source's sessions)."""
    present_tables = set(r["lab_session"]["table"] for r in tables if r.get("rc") == 0)
    sources = []
    for slot in lab_sessions:
        present = slot["table"] in present_tables
        sources.append({"eni": slot["eni_id"], "addresses": [slot["address"]],
                        "label": "%s (%s)" % (slot["node"], slot["qualified_interface"]),
                        "where": "nftables table netdev %s in %s" % (slot["table"], slot["netns"]),
                        "sessions": experiment_sessions(session, rules, eni_vnis[slot["eni_id"]],
                                                        lambda number, present=present: present)})
    return sources


def aws_sources(enis, eni_vnis, session, rules, deployed):
    """AWS's sources: each source ENI the experiment's sources resolve to now (the eligible
    ones of mirrorlab.vpc.mirror_eni_info: ``id``, ``private_ip``, ``description``,
    ``availability_zone``), with the sessions the experiment asks for; a session is present when
    the deployment has one of its number on the ENI (``deployed``: mirrorlab.vpc.traffic_mirror_info's
    sessions), and then the VNI it carries is the deployed one."""
    live = dict(((s["network_interface_id"], s["session_number"]), s) for s in deployed)
    sources = []
    for eni in enis:
        wanted = experiment_sessions(session, rules, eni_vnis[eni["id"]],
                                     lambda number, eni=eni: (eni["id"], number) in live)
        for want in wanted:
            have = live.get((eni["id"], want["session_number"]))
            if have is not None:
                want["vni"] = have["virtual_network_id"]
                want["packet_length"] = have.get("packet_length") or 0
        label = ", ".join(x for x in (eni.get("description"), eni.get("availability_zone")) if x)
        sources.append({"eni": eni["id"], "addresses": [eni["private_ip"]] if eni.get("private_ip") else [],
                        "label": "%s (%s)" % (eni["id"], label) if label else eni["id"],
                        "where": "traffic mirror session number %s on %s" % (
                            "/".join(str(w["session_number"]) for w in wanted), eni["id"]),
                        "sessions": wanted})
    return sources


# --------------------------------------------------------------------------- the analysis


def _direction(source, copy):
    addresses = source["_addresses"]
    src_in, dst_in = copy["src"] in addresses, copy["dst"] in addresses
    if dst_in and not src_in:
        return "ingress"
    if src_in and not dst_in:
        return "egress"
    return None


def _winner(source, direction, copy):
    pkt = filter_rules.packet(direction, copy["src"], copy["dst"], copy["proto"], copy["sport"], copy["dport"])
    return filter_rules.mirroring_session(source["sessions"], pkt)


def _reverse(copy):
    return dict(copy, src=copy["dst"], dst=copy["src"], sport=copy["dport"], dport=copy["sport"])


def _describe(copy):
    proto = filter_rules.protocol_name(copy["proto"]) if copy["proto"] is not None else "?"
    if copy["sport"] is not None:
        return "%s %s:%s -> %s:%s" % (proto, copy["src"], copy["sport"], copy["dst"], copy["dport"])
    return "%s %s -> %s" % (proto, copy["src"], copy["dst"])


def _why_filtered(source, direction, copy):
    """Why no session of the source mirrors this packet: per session its deciding rule."""
    pkt = filter_rules.packet(direction, copy["src"], copy["dst"], copy["proto"], copy["sport"], copy["dport"])
    parts = []
    for session in sorted(source["sessions"], key=lambda s: s["session_number"]):
        rule = filter_rules.matching_rule(session["rules"], pkt)
        if rule is None:
            parts.append("session %d (%s): no %s rule matches it" % (session["session_number"], session["filter"], direction))
        else:
            parts.append("session %d (%s): %s rule %d rejects it"
                         % (session["session_number"], session["filter"], direction, rule["number"]))
    return "; ".join(parts)


def _filtered_probe(sources, flows):
    """When the probe's own packets (``flows``: [{client, server, port}], the request from an
    ephemeral port and its answer) pass mirrored ENIs and no session of theirs mirrors any of
    them: why, for the first such packet; else an empty string."""
    why = []
    for flow in flows:
        request = {"src": flow["client"], "dst": flow["server"], "proto": 6, "sport": 49152, "dport": int(flow["port"])}
        for pkt in (request, _reverse(request)):
            for source in sources:
                direction = _direction(source, pkt)
                if direction is None:
                    continue
                if _winner(source, direction, pkt) is not None:
                    return ""
                why.append("%s %s %s (%s)" % (source["eni"], direction, _describe(pkt),
                                              _why_filtered(source, direction, pkt)))
    return why[0] if why else ""


def _new_result(source, session):
    return {"eni": source["eni"], "source": source["label"], "session_number": session["session_number"],
            "vni": session["vni"], "present": session["present"], "filter": session["filter"],
            "ingress": {"packets": 0, "bytes": 0, "expected": 0, "state": "not_probed"},
            "egress": {"packets": 0, "bytes": 0, "expected": 0, "state": "not_probed"},
            "truncated": {}, "ok": True, "causes": []}


def analyse(sources, copies, deltas, probe, window):
    """The verdict (see the module's docstring): {"ok", "causes", "sessions", "enis", "links",
    "probe"}. ``window`` = (start, end) epoch seconds of the probe plus its settling time: copies
    outside it are other traffic."""
    start, end = window
    copies = [c for c in copies if start <= c["time"] <= end]
    for source in sources:
        source["_addresses"] = set(str(ipaddress.ip_address(a)) for a in source["addresses"])
    observed = {}  # (key, vni) -> copies
    packets = {}  # key -> one copy
    for copy in copies:
        observed.setdefault((copy["key"], copy["vni"]), []).append(copy)
        packets.setdefault(copy["key"], copy)
    # Which source and session each packet is for, and how many copies of it each VNI should get.
    expected = {}  # (key, vni) -> count
    assigned = {}  # (eni, session number, direction) -> [key]
    touching = {}  # (eni, direction) -> [key]: packets of the ENI whatever the filter says
    for key, copy in packets.items():
        for source in sources:
            direction = _direction(source, copy)
            if direction is None:
                continue
            touching.setdefault((source["eni"], direction), []).append(key)
            session = _winner(source, direction, copy)
            if session is not None:
                expected[(key, session["vni"])] = expected.get((key, session["vni"]), 0) + 1
                assigned.setdefault((source["eni"], session["session_number"], direction), []).append(key)

    nothing_arrived = not copies
    counters_moved = sum(d["rx_packets"] for d in deltas)
    causes = []
    if not probe.get("answered"):
        causes.append("the probes got no answer (%s): nothing went through the service to mirror; is it up "
                      "(the ALB's targets healthy, the URL right)?" % (probe.get("error") or "no response"))
    elif nothing_arrived and _filtered_probe(sources, probe.get("flows") or []):
        causes.append("nothing arrived, and no session's filter mirrors the probe's packets: %s"
                      % _filtered_probe(sources, probe["flows"]))
    elif nothing_arrived and not counters_moved:
        causes.append("nothing arrived at any capture link of %s during the probe (no link counter moved): the "
                      "mirrored VXLAN packets (UDP 4789) do not reach the target: on AWS its security group or the "
                      "subnet's network ACL must allow UDP 4789 from the sources, the route between them, and the "
                      "target's ENI (or NLB); in the lab UDP 4789 to the target is dropped or the senders are gone"
                      % (", ".join(sorted(set(d["target"] for d in deltas))) or "the targets"))
    elif nothing_arrived:
        causes.append("the capture links received %d packet(s) during the probe but none is in the pcap files: "
                      "the capture service is not writing (./mirrorlab status)" % counters_moved)

    results, enis = [], []
    for source in sources:
        eni_result = {"eni": source["eni"], "source": source["label"], "ingress": False, "egress": False,
                      "ok": True, "causes": []}
        session_results = []
        for session in sorted(source["sessions"], key=lambda s: s["session_number"]):
            result = _new_result(source, session)
            for direction in DIRECTIONS:
                keys = assigned.get((source["eni"], session["session_number"], direction), [])
                part = result[direction]
                part["expected"] = len(keys)
                proven = [k for k in keys if len(observed.get((k, session["vni"]), [])) >= expected[(k, session["vni"])]]
                got = [observed[(k, session["vni"])][0] for k in proven]
                # Packets known to have arrived from this session (one copy each, its bytes).
                part["packets"] = len(got)
                part["bytes"] = sum(c["len"] for c in got)
                if proven:
                    part["state"] = "ok"
                    eni_result[direction] = True
                elif keys:
                    part["state"] = "missing"
                for copy in got:
                    if copy["ip_len"] is not None and copy["len"] < copy["ip_len"] + ETHERNET_HEADER:
                        cut = result["truncated"].setdefault(direction, {"packets": 0, "max_len": 0})
                        cut["packets"] += 1
                        cut["max_len"] = max(cut["max_len"], copy["len"])
                        cut["version"] = copy["version"]
            session_results.append(result)
        _diagnose_source(source, session_results, eni_result, touching, packets, deltas, nothing_arrived, causes)
        results.extend(session_results)
        enis.append(eni_result)

    ok = not causes and all(e["ok"] for e in enis) and all(r["ok"] for r in results)
    return {"ok": ok, "causes": causes, "enis": enis, "sessions": results,
            "links": deltas, "probe": probe, "copies": len(copies)}


def _diagnose_source(source, session_results, eni_result, touching, packets, deltas, nothing_arrived, causes):
    """Name the likely cause of each failed check of one source ENI (into eni_result/results)."""
    missing_sessions = [s for s in source["sessions"] if not s["present"]]
    for result in session_results:
        if not result["present"]:
            result["ok"] = False
            result["causes"].append("session missing: no %s (re-run site.yml to create it)" % source["where"])
        for direction in DIRECTIONS:
            if result[direction]["state"] == "missing" and result["present"]:
                result["ok"] = False
        for direction, cut in sorted(result["truncated"].items()):
            session = [s for s in source["sessions"] if s["session_number"] == result["session_number"]][0]
            if session["packet_length"] and cut["max_len"] <= session["packet_length"]:
                result["causes"].append("note: %d %s copies cut to %d bytes, as mirrorlab_session packet_length %d asks"
                                        % (cut["packets"], direction, cut["max_len"], session["packet_length"]))
            else:
                result["ok"] = False
                mtu = max([d["mtu"] or 0 for d in deltas] or [0])
                result["causes"].append(
                    "fewer bytes than sent: %d %s copies arrived cut to at most %d bytes: packets larger than the "
                    "target's MTU minus %d bytes (IPv%d encapsulation) are truncated by AWS; raise the target's MTU "
                    "(9001) or lower the sources' MTU%s" % (cut["packets"], direction, cut["max_len"],
                                                            OVERHEAD[cut.get("version", 4)], cut.get("version", 4),
                                                            (" (capture link MTU %d)" % mtu) if mtu else ""))
    if nothing_arrived and causes:
        eni_result["ok"] = False
        eni_result["causes"].append("see above: nothing arrived at all")
        for result in session_results:
            result["ok"] = False
        return
    if not eni_result["ingress"] and not eni_result["egress"]:
        eni_result["ok"] = False
        if missing_sessions:
            eni_result["causes"].append("nothing for this ENI: its session is missing (no %s)" % source["where"])
        else:
            seen = [(d, k) for d in DIRECTIONS for k in touching.get((source["eni"], d), [])]
            filtered = [(d, k) for d, k in seen if _winner(source, d, packets[k]) is None]
            if seen and len(filtered) == len(seen):
                direction, key = filtered[0]
                eni_result["causes"].append(
                    "nothing for this ENI: its packets were mirrored by other sources' sessions, but its own filter "
                    "accepts none of them, e.g. %s %s (%s)" % (direction, _describe(packets[key]),
                                                               _why_filtered(source, direction, packets[key])))
            else:
                eni_result["causes"].append(
                    "nothing for this ENI: its session exists, but no mirrored packet came from it: the ENI is not "
                    "eligible as a source (instance type: see mirror_eni_info's reason), the session points to "
                    "another target, or the probes do not pass it")
        return
    for direction in DIRECTIONS:
        if eni_result[direction]:
            continue
        eni_result["ok"] = False
        other = "egress" if direction == "ingress" else "ingress"
        seen = touching.get((source["eni"], other), [])
        sample = _reverse(packets[seen[0]]) if seen else None
        if sample is not None and _winner(source, direction, sample) is None:
            why = _why_filtered(source, direction, sample)
            eni_result["causes"].append("one direction only: no %s copy arrived, only %s; the filter does not mirror %s "
                                        "traffic such as %s (%s)" % (direction, other, direction, _describe(sample), why))
        else:
            eni_result["causes"].append("one direction only: no %s copy arrived, only %s, although the filter accepts "
                                        "%s packets such as %s: they were lost on the way (a session deployed "
                                        "with other rules than the experiment's? re-run site.yml)"
                                        % (direction, other, direction, _describe(sample) if sample else "the replies"))


# --------------------------------------------------------------------------- output


def result_lines(verdict):
    """The human summary: one line per session and direction, then the causes."""
    probe = verdict["probe"]
    lines = ["verify: %s, %d probe request(s) to %s, %d answered; %d mirrored copies in the window"
             % ("OK" if verdict["ok"] else "FAILED", probe.get("requests", 0), ", ".join(probe.get("urls", [])),
                probe.get("answered", 0), verdict["copies"])]
    for cause in verdict["causes"]:
        lines.append("  cause: " + cause)
    for result in verdict["sessions"]:
        parts = []
        for direction in DIRECTIONS:
            part = result[direction]
            parts.append("%s %s (%d pkts, %d B)" % (direction, part["state"], part["packets"], part["bytes"]))
        mark = "ok  " if result["ok"] else "FAIL"
        missing = "" if result["present"] else ", session missing"
        lines.append("%s %s session %d vni %s: %s%s"
                     % (mark, result["eni"], result["session_number"], result["vni"], ", ".join(parts), missing))
        for cause in result["causes"]:
            lines.append("      " + cause)
    for eni in verdict["enis"]:
        for cause in eni["causes"]:
            lines.append("  %s %s: %s" % (eni["eni"], eni["source"], cause))
    return lines
