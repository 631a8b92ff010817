"""The pcap report on small real captures (tests/data/report, made by make_pcaps.py there with
the lab's own TLS clients against nginx with the lab's TLS policy): every client kind, TLS 1.2
and 1.3, plain HTTP, truncated packets, a connection split over two files, VXLAN-encapsulated
packets; the state machine's bounded memory; bad input."""

import io
import json
import shutil

import pytest

from conftest import ROOT
from ansible_collections.mirrorlab.vpc.plugins.module_utils import pcap_report, tls_clients

DATA = ROOT / "tests" / "data" / "report"
CLIENT, SERVER = "198.51.100.10", "10.0.0.10"

pytestmark = pytest.mark.skipif(shutil.which("tshark") is None or shutil.which("mergecap") is None,
                                reason="needs tshark and mergecap")


class Collect:
    def __init__(self):
        self.records = []

    def add(self, rec):
        self.records.append(rec)


def report(*paths, **kwargs):
    sink = Collect()
    summary = pcap_report.analyze([str(p) for p in paths], sinks=[sink], **kwargs)
    return sink.records, summary


@pytest.mark.parametrize("kind", sorted(tls_clients.KINDS))
def test_each_client_kind_gives_its_outcome(kind):
    outcome, desc, sender = tls_clients.KINDS[kind]
    records, summary = report(DATA / f"{kind}.pcap")
    count = 2 if kind == "old_tls" else 1
    assert [r["outcome"] for r in records] == [outcome] * count, records
    assert summary["by_outcome"] == {outcome: count}
    for rec in records:
        assert rec["client"].startswith(CLIENT + ":") and rec["server"] == f"{SERVER}:443"
        if desc:
            assert rec["alert"]["description"] == desc and rec["alert"]["sender"] == sender
            assert rec["alert"]["encrypted"] is False and rec["inferred"] is False
        else:
            assert rec["alert"] is None
    if desc:
        assert summary["by_alert_sender"][sender] == {desc: count}


def test_tls13_handshake():
    (rec,), _ = report(DATA / "good.pcap")
    assert rec["version"] == "TLS 1.3" and rec["cipher"].startswith("TLS_AES_")
    assert rec["offered_versions"][0] == "TLS 1.3" and "TLS 1.2" in rec["offered_versions"]
    assert "TLS_AES_128_GCM_SHA256" in rec["offered_ciphers"]
    assert rec["sni"] == "alb.lab.test"
    assert len(rec["ja3"]) == 32 and len(rec["ja3s"]) == 32
    assert rec["stage"] == "complete" and rec["inferred"] is False
    assert rec["packets"]["client"] > 3 and rec["bytes"]["server"] > 500


def test_tls12_handshake():
    (rec,), _ = report(DATA / "good_tls12.pcap")
    assert rec["version"] == "TLS 1.2" and rec["offered_versions"] == ["TLS 1.2"]
    assert rec["cipher"].startswith("TLS_ECDHE_ECDSA_WITH_AES_")  # the policy's choice for an ECDSA certificate
    assert rec["outcome"] == "handshake_ok" and not rec["inferred"]


def test_old_versions_are_named():
    records, _ = report(DATA / "old_tls.pcap")
    assert sorted(r["offered_versions"][0] for r in records) == ["TLS 1.0", "TLS 1.1"]
    assert all(r["version"] is None and r["stage"] == "client_hello" for r in records)


def test_no_cipher_offers_only_rsa_key_exchange():
    (rec,), _ = report(DATA / "no_cipher.pcap")
    assert rec["offered_ciphers"] and all("_RSA_WITH_" in c for c in rec["offered_ciphers"] if "SCSV" not in c)


def test_client_rejecting_the_certificate_alerts_after_the_servers_flight():
    (rec,), _ = report(DATA / "bad_cert.pcap")
    # OpenSSL (curl) sends its alert before switching to the handshake keys: plaintext, even with TLS 1.3
    assert rec["version"] == "TLS 1.3" and rec["stage"] == "server_flight"
    assert rec["alert"]["level"] == "fatal"


def test_cut_short_connections_say_how_far_they_got():
    (silent,), _ = report(DATA / "silent.pcap")
    assert silent["stage"] == "tcp" and silent["ended_by"] == "client" and silent["end_how"] == "fin"
    assert any("sent nothing" in r for r in silent["reasons"])
    (abort,), _ = report(DATA / "abort.pcap")
    assert abort["stage"] in ("server_hello", "server_flight") and abort["ended_by"] == "client"
    assert abort["end_how"] == "fin" and abort["version"] == "TLS 1.3"
    (reset,), _ = report(DATA / "reset.pcap")
    assert reset["ended_by"] == "client" and reset["end_how"] == "reset" and reset["stage"] != "tcp"


def test_plain_http_to_the_tls_port():
    (rec,), summary = report(DATA / "plain_http.pcap")
    assert rec["http"][0]["method"] == "GET" and rec["http"][0]["path"] == "/"
    assert rec["http"][0]["status"] == 400  # nginx: "The plain HTTP request was sent to HTTPS port"
    assert summary["http_status"] == {"400": 1}


def test_plaintext_http_requests_method_path_status_latency():
    (rec,), summary = report(DATA / "http.pcap")
    assert rec["outcome"] == "http" and rec["server"] == f"{SERVER}:80"
    assert [(h["method"], h["path"], h["status"]) for h in rec["http"]] == [("GET", "/one?a=1,2", 200), ("GET", "/two", 200)]
    assert all(h["latency_ms"] is not None and 0 <= h["latency_ms"] < 1000 for h in rec["http"])
    assert summary["http_requests"] == 2


@pytest.mark.parametrize("name", ["truncated_snap.pcap", "truncated_wire.pcap"])
def test_truncated_packets_are_flagged_and_the_outcome_inferred(name):
    (rec,), summary = report(DATA / name)
    assert rec["truncated"] is True and rec["inferred"] is True
    assert any("truncated" in r for r in rec["reasons"])
    assert summary["truncated"] == 1
    # 96 bytes still hold the record headers: the handshake's course is visible
    assert rec["outcome"] == "handshake_ok"


def test_a_connection_split_over_two_files_is_one_connection():
    files = sorted((DATA / "split" / "capture0").glob("*.pcap"))
    assert len(files) == 2
    records, summary = report(DATA / "split")
    assert len(records) == 1 and summary["files"] == 2
    (rec,) = records
    assert rec["outcome"] == "handshake_ok" and rec["version"] == "TLS 1.3" and not rec["inferred"]
    assert rec["source"]["link"] == "capture0" and rec["source"]["vni"] == 12345
    assert rec["source"]["eni"] == "eni-0123456789abcdef0" and rec["source"]["zone"] == "eu-west-1a"
    assert list(summary["by_source"]) == ["capture0 vni 12345 eni-0123456789abcdef0 (eu-west-1a)"]
    # the second file alone starts mid-connection: a best inference
    late, _ = report(files[1])
    assert late and all(r["inferred"] and any("after the connection" in x for x in r["reasons"]) for r in late)


def test_vxlan_encapsulated_packets_give_the_vni_and_the_mirror_source():
    (rec,), summary = report(DATA / "vxlan.pcap")
    assert rec["outcome"] == "handshake_ok" and rec["client"].startswith(CLIENT)
    assert rec["source"]["vni"] == 777 and rec["source"]["outer_src"] == SERVER
    assert "vni 777" in list(summary["by_source"])[0]


def test_summary_of_every_kind_is_what_the_clients_were_meant_to_make():
    counts = {kind: 2 if kind == "old_tls" else 1 for kind in tls_clients.KINDS}
    outcomes, alerts = tls_clients.expected(counts)
    records, summary = report(*(DATA / f"{kind}.pcap" for kind in tls_clients.KINDS))
    assert summary["by_outcome"] == outcomes
    got = {(s, d): n for s, descs in summary["by_alert_sender"].items() for d, n in descs.items()}
    assert got == alerts
    assert summary["connections"] == len(records) == sum(counts.values())
    assert sum(sum(b["counts"].values()) for b in summary["timeline"]["buckets"]) == len(records)


def _line(ts, src, sport, dst, dport, flags, tcp_len=0):
    fields = [""] * len(pcap_report.FIELDS)
    fields[0], fields[2], fields[3], fields[4], fields[5] = f"{ts:.6f}", "66", "66", src, dst
    fields[6], fields[10], fields[11], fields[12], fields[13] = "52", str(sport), str(dport), hex(flags), str(tcp_len)
    return "\t".join(fields) + "\n"


def test_finished_connections_are_emitted_and_dropped_and_idle_ones_time_out():
    """The state machine on tshark-shaped lines: 5000 connections one after the other never
    hold more than a few open; an idle one is closed by the timeout of capture time."""
    out = []
    tracker = pcap_report.Tracker(out.append, idle_timeout=30)
    t = 1000.0
    for i in range(5000):
        port = 10000 + i % 50000
        tracker.feed(_line(t, CLIENT, port, SERVER, 443, 0x002))
        tracker.feed(_line(t + 0.001, SERVER, 443, CLIENT, port, 0x012))
        tracker.feed(_line(t + 0.002, CLIENT, port, SERVER, 443, 0x011))
        tracker.feed(_line(t + 0.003, SERVER, 443, CLIENT, port, 0x011))
        t += 0.5
    assert tracker.max_open <= 20 and len(out) >= 4980
    tracker.feed(_line(t, "192.0.2.1", 5555, SERVER, 443, 0x002))  # opens and goes idle
    tracker.feed(_line(t + 100, CLIENT, 4444, SERVER, 443, 0x002))
    idle = [c for c in out if c.client_ip == "192.0.2.1"]
    assert idle and idle[0].ended_by == "timeout"
    tracker.finish_all()
    assert out[-1].ended_by == "capture_end" and not tracker.open and not tracker.closing


def test_a_new_syn_on_the_same_ports_is_a_new_connection():
    out = []
    tracker = pcap_report.Tracker(out.append)
    for t in (10.0, 11.0):
        tracker.feed(_line(t, CLIENT, 40000, SERVER, 443, 0x002))
        tracker.feed(_line(t + 0.1, SERVER, 443, CLIENT, 40000, 0x004))
    tracker.finish_all()
    assert len(out) == 2 and all(c.end == "reset" and c.ended_by == "server" for c in out)


def test_timeline_buckets_stay_bounded():
    timeline = pcap_report.Timeline(max_buckets=10)
    for i in range(1000):
        timeline.add(1000.0 + i, "handshake_ok")
    result = timeline.result()
    assert len(result["buckets"]) <= 10 and result["bucket_seconds"] >= 100
    assert sum(b["counts"]["handshake_ok"] for b in result["buckets"]) == 1000


def test_bounded_counter_folds_keys_beyond_the_limit():
    counter = pcap_report.BoundedCounter(max_keys=3)
    for i in range(10):
        counter.add(f"10.0.0.{i}", "alert")
    result = counter.result()
    assert len(result) == 4 and result["(other)"] == {"alert": 7}


def test_file_names_give_link_and_vni(tmp_path):
    link = tmp_path / "capv777"
    link.mkdir()
    (tmp_path / "vni-map.json").write_text(json.dumps({"vnis": {"777": {"eni": "eni-1", "zone": "z"}}}))
    tcpdump = pcap_report.file_source(str(link / "capv777-vni777-20261201T000000Z.pcap3"), {})
    assert tcpdump == {"file": "capv777-vni777-20261201T000000Z.pcap3", "link": "capv777", "vni": 777, "eni": "eni-1", "zone": "z"}
    dumpcap = pcap_report.file_source(str(tmp_path / "capture0-vni12345_00001_20261201000000.pcap"), {})
    assert dumpcap["link"] == "capture0" and dumpcap["vni"] == 12345 and "eni" not in dumpcap
    fetched = pcap_report.file_source("/x/i-0abc_capture0_capture0-vni12345-20261201T000000Z.pcap", {})
    assert fetched["link"] == "capture0" and fetched["vni"] == 12345
    assert pcap_report.file_source("/x/other.pcap", {}) == {"file": "other.pcap", "link": None, "vni": None}


def test_bad_input_is_refused_with_the_reason(tmp_path):
    with pytest.raises(pcap_report.ReportError, match="no such file"):
        report(tmp_path / "missing.pcap")
    with pytest.raises(pcap_report.ReportError, match="no capture files"):
        report(tmp_path)
    bad = tmp_path / "cap"
    bad.mkdir()
    shutil.copy(DATA / "good.pcap", bad / "capture0-vni5-x.pcap")
    (bad / "vni-map.json").write_text("[1, 2]")
    with pytest.raises(pcap_report.ReportError, match="vni-map.json: not a VNI map"):
        report(bad)
    (tmp_path / "junk.pcap").write_text("not a capture")
    with pytest.raises(pcap_report.ReportError, match="junk.pcap: not a pcap or pcapng stream"):
        report(tmp_path / "junk.pcap")


def test_a_file_still_being_written_is_read_up_to_its_last_complete_packet(tmp_path):
    """The capture's open file ends mid-packet (its writer buffers): alone (tshark) or merged
    with others (mergecap), every complete packet counts and the report warns."""
    live = tmp_path / "capture0"
    live.mkdir()
    cut = live / "capture0-vni12345-20261201T000000Z.pcap"
    cut.write_bytes((DATA / "good.pcap").read_bytes()[:-7])
    records, summary = report(cut)
    assert [r["outcome"] for r in records] == ["handshake_ok"] and summary["warnings"]
    records, summary = report(cut, DATA / "http.pcap")
    assert sorted(r["outcome"] for r in records) == ["handshake_ok", "http"]
    assert any("middle of a packet" in w for w in summary["warnings"])


def _pieces_of(handle, per_piece):
    """The pieces CaptureSplitter makes, each as the bytes of one capture."""
    pieces, current = [], None
    splitter = pcap_report.CaptureSplitter(handle, per_piece)
    for event, data in splitter.pieces():
        if event == "start":
            current = [data]
        elif event == "data":
            current.append(data)
        else:
            pieces.append(b"".join(current))
    return pieces, splitter


def _frames(path):
    import subprocess
    out = subprocess.run(["tshark", "-n", "-r", str(path), "-T", "fields", "-e", "frame.time_epoch",
                          "-e", "frame.interface_id", "-e", "frame.len"],
                         capture_output=True, text=True, check=True).stdout
    return out.splitlines()


@pytest.mark.parametrize("fmt", ["pcap", "pcapng", "gzip"])
def test_the_capture_is_cut_into_valid_pieces_of_whole_packets(tmp_path, fmt):
    """Every piece is a capture tshark reads by itself; together they hold every packet in
    order, with the same interface ids (pcapng: the interface blocks start every piece)."""
    import gzip
    import subprocess
    whole = tmp_path / f"whole.{fmt}"
    if fmt == "pcap":
        shutil.copy(DATA / "good_tls12.pcap", whole)
    else:
        merged = tmp_path / "merged.pcapng"
        subprocess.run(["mergecap", "-I", "none", "-F", "pcapng", "-w", str(merged),
                        str(DATA / "good.pcap"), str(DATA / "reset.pcap"), str(DATA / "http.pcap")], check=True)
        if fmt == "gzip":
            whole.write_bytes(gzip.compress(merged.read_bytes()))
        else:
            shutil.copy(merged, whole)
    expected = _frames(whole)
    assert len(expected) > 10 and (fmt == "pcap" or {line.split("\t")[1] for line in expected} == {"0", "1", "2"})
    got = []
    pieces, splitter = _pieces_of(pcap_report._open_capture(str(whole)), 7)
    for i, piece in enumerate(pieces):
        part = tmp_path / f"piece{i}.{fmt}"
        part.write_bytes(piece)
        frames = _frames(part)
        assert 1 <= len(frames) <= 7
        got += frames
    assert got == expected and len(pieces) == -(-len(expected) // 7) and not splitter.cut


def test_a_stream_ending_mid_packet_ends_its_last_piece_at_the_last_whole_packet(tmp_path):
    data = (DATA / "good.pcap").read_bytes()
    pieces, splitter = _pieces_of(io.BytesIO(data[:-7]), 1000)
    (tmp_path / "p.pcap").write_bytes(pieces[0])
    assert len(pieces) == 1 and splitter.cut
    assert len(_frames(tmp_path / "p.pcap")) == len(_frames(DATA / "good.pcap")) - 1


def test_pieces_give_the_same_report_as_one_tshark():
    """The state machine carries connections across tshark processes: a piece every few
    packets (connections cut mid-handshake) reports what one tshark for everything does."""
    paths = sorted(str(p) for p in DATA.glob("*.pcap") if "truncated" not in p.name)
    whole, whole_summary = report(*paths, piece_packets=10 ** 9)
    small, small_summary = report(*paths, piece_packets=5)
    assert len(whole) > 10
    assert small_summary["by_outcome"] == whole_summary["by_outcome"]
    assert small_summary["packets"] == whole_summary["packets"]
    def outcomes(records):
        return sorted((r["client"], r["start"], r["outcome"], r["version"], (r["alert"] or {}).get("description"))
                      for r in records)
    assert outcomes(small) == outcomes(whole)
