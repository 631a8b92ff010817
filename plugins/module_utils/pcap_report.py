# -*- coding: utf-8 -*-

# Copyright: mirrorlab developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Per-connection TLS and HTTP outcomes from pcap files (the module pcap_report and the
checkout's `./mirrorlab report`).

The packets are dissected by tshark (a maintained dissector; nothing here parses TLS):
the files are read as one time-ordered stream (more than one file: mergecap merges them by
time and gives each file its own interface id, so a connection split over two files is one
connection), handed to tshark in pieces of whole packets (a fresh tshark process for each
piece: tshark keeps state for every connection it has seen until it exits), and tshark's
`-T fields` output is read line by line and fed to one connection state machine, which
carries the connections across the pieces. A connection is emitted as soon as it is over (both FINs, or a RST, then a short
linger for the last ACKs) or idle for `idle_timeout` seconds of capture time, and then
dropped: memory is bounded by the connections open at one time, not by the file size.

Outcome rules (docs/report.md has the table of what TLS 1.2 and 1.3 show):
- handshake_ok: TLS <= 1.2: both sides sent ChangeCipherSpec (each side's Finished follows
  it encrypted); TLS 1.3: after the ServerHello the client sent an encrypted record longer
  than an alert (its Finished), and the server answered with more than an alert.
- alert: a TLS alert before the handshake completed: its description and sender when it is
  plaintext; "encrypted" (a best inference) for TLS 1.3 records of an alert's size sent
  after the ServerHello.
- reset: a TCP RST before the handshake completed (ended_by says who sent it).
- not_tls: the client sent data that is no TLS record to a TLS port (plain HTTP on 443).
- http: plaintext HTTP on a port that is not a TLS port (requests: method, path, status,
  latency).
- incomplete: none of those before the connection ended, went idle or the capture ended;
  `stage` says how far the handshake got.
"""

from __future__ import annotations

import collections
import datetime
import gzip
import hashlib
import io
import json
import os
import queue
import re
import resource
import shutil
import struct
import subprocess
import tempfile
import threading

OUTCOMES = ("handshake_ok", "alert", "reset", "incomplete", "not_tls", "http")

# TLS 1.3 encrypted records no longer than this are taken for alerts: an alert is 2 bytes,
# plus 1 byte of inner content type, plus the AEAD tag (16 bytes for AES-GCM and ChaCha20,
# 8 for AES-CCM-8): 19 or 11 bytes. A Finished is at least 32 + 4 + 1 + 16 = 53 bytes.
ALERT_RECORD_MAX = 24

DEFAULT_TLS_PORTS = (443,)
DEFAULT_IDLE_TIMEOUT = 300.0
# tshark keeps state for every connection of its input until it exits (about 7 kB each: 5 MB
# per MB of a capture of short connections; its `-M` reset leaks about 10 MB each time). So a
# fresh tshark reads every this many packets (docs/report.md, Measured): its memory is bounded
# by the piece, at the price of the TCP/TLS state of the connections open at a piece's border
# (the next tshark sees them mid-stream; the state machine here keeps what it saw). At most two
# tshark processes live at a time (one read, the next fed).
DEFAULT_PIECE_PACKETS = 100000
# Bytes read from a capture at a time when it is cut into pieces.
READ_SIZE = 1 << 22
PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"
PCAPNG_ORDER = {b"\x4d\x3c\x2b\x1a": "<", b"\x1a\x2b\x3c\x4d": ">"}
PCAPNG_PACKETS = (2, 3, 6)  # packet (obsolete), simple packet, enhanced packet blocks
GZIP_MAGIC = b"\x1f\x8b"
# After both FINs or a RST a connection stays this long (capture time) for its last ACKs.
CLOSE_LINGER = 5.0
# Summaries keyed by client, SNI or source keep at most this many keys (the rest: "(other)").
SUMMARY_MAX_KEYS = 10000
# HTTP requests kept per connection (a keep-alive connection can carry many).
HTTP_MAX = 100
PCAP_NAME = re.compile(r"\.(pcap|pcapng|cap)(\d*)(\.gz)?$")
VNI_NAME = re.compile(r"(?:^|[_-])vni(\d+)(?=[_.-])")
# The mapping file of VNIs to source ENIs, looked for next to the pcaps and one level up.
VNI_MAP_NAME = "vni-map.json"

# The tshark fields, in output order. The TLS/HTTP fields come last, so that a packet
# without any of them is recognised from the first split alone.
FIELDS = (
    "frame.time_epoch",
    "frame.interface_id",
    "frame.len",
    "frame.cap_len",
    "ip.src",
    "ip.dst",
    "ip.len",
    "ipv6.src",
    "ipv6.dst",
    "ipv6.plen",
    "tcp.srcport",
    "tcp.dstport",
    "tcp.flags",
    "tcp.len",
    "vxlan.vni",
    # application fields from here on (APP_FIRST)
    "tls.record.content_type",
    "tls.record.opaque_type",
    "tls.record.length",
    "tls.handshake.type",
    "tls.handshake.version",
    "tls.handshake.extensions.supported_version",
    "tls.handshake.ciphersuite",
    "tls.handshake.extensions_server_name",
    "tls.handshake.extensions_alpn_str",
    "tls.handshake.ja3",
    "tls.handshake.ja3s",
    "tls.alert_message.level",
    "tls.alert_message.desc",
    "http.request.method",
    "http.request.uri",
    "http.host",
    "http.response.code",
)
APP_FIRST = FIELDS.index("tls.record.content_type")
# Positions of the application fields in the part of a line from APP_FIRST on.
(A_CT, A_OPAQUE, A_RLEN, A_HS, A_HSVER, A_SUPVER, A_CIPHER, A_SNI, A_ALPN, A_JA3, A_JA3S, A_ALEVEL, A_ADESC,
 A_METHOD, A_URI, A_HOST, A_CODE) = range(len(FIELDS) - APP_FIRST)
A_JA4 = len(FIELDS) - APP_FIRST  # present when the tshark knows it (OPTIONAL_FIELDS)
# Fields that only newer tshark versions have (JA4 since Wireshark 4.2); used when present.
OPTIONAL_FIELDS = ("tls.handshake.ja4",)
# Value names taken from the installed tshark (`tshark -G values`).
NAMED_FIELDS = (
    "tls.handshake.ciphersuite",
    "tls.alert_message.desc",
    "tls.handshake.extensions.supported_version",
    "tls.handshake.version",
)
# Bump when FIELDS or OPTIONAL_FIELDS change (the cached tshark metadata depends on them).
FIELDS_VERSION = 1
# What tshark and mergecap say about a file that ends mid-packet (one still being written).
CUT_SHORT = "cut short in the middle of a packet"
SEP = "\x1f"  # occurrence separator (-E aggregator): never part of a field value

FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10
CT_CCS, CT_ALERT, CT_HANDSHAKE, CT_APP = "20", "21", "22", "23"


class ReportError(Exception):
    """A problem with the input or the tools, with a message for the user."""


# ---------------------------------------------------------------------------------------
# Input files, their sources (link, VNI, ENI) and the tshark pipeline
# ---------------------------------------------------------------------------------------

def is_pcap_name(name):
    return bool(PCAP_NAME.search(name))


def find_pcaps(paths):
    """Every capture file under the given files or directories, sorted by path (the capture
    role's names sort by start time); a path that does not exist is an error."""
    files = []
    for path in paths:
        if os.path.isdir(path):
            found = []
            for top, dirs, names in os.walk(path):
                dirs.sort()
                found.extend(os.path.join(top, n) for n in names if is_pcap_name(n))
            files.extend(sorted(found))
        elif os.path.isfile(path):
            files.append(path)
        else:
            raise ReportError("{0}: no such file or directory".format(path))
    seen = set()
    unique = []
    for name in files:
        key = os.path.realpath(name)
        if key not in seen:
            seen.add(key)
            unique.append(name)
    return unique


def load_vni_map(directory, cache):
    """The VNI map ({vni: {eni, zone, ...}}) of a capture directory: vni-map.json in the
    directory or its parent, else empty. Raises ReportError on a malformed file."""
    for where in (directory, os.path.dirname(directory)):
        path = os.path.join(where, VNI_MAP_NAME)
        if path in cache:
            return cache[path]
        if os.path.isfile(path):
            try:
                with open(path) as handle:
                    data = json.load(handle)
                vnis = data["vnis"]
                if not isinstance(vnis, dict) or not all(isinstance(v, dict) for v in vnis.values()):
                    raise ValueError("vnis must map each VNI to an object")
                cache[path] = {int(k): dict(v) for k, v in vnis.items()}
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise ReportError("{0}: not a VNI map ({{\"vnis\": {{\"<VNI>\": {{\"eni\": ...}}}}}}): {1}".format(path, exc))
            return cache[path]
    return {}


def file_source(path, vni_cache):
    """What a capture file's name and directory say about its source: the capture link
    (its directory, as the capture role writes <dir>/<link>/<link>-vni<VNI>-...pcap), the
    VNI, and the ENI and zone from a VNI map next to it."""
    name = os.path.basename(path)
    match = VNI_NAME.search(name)
    source = {"file": name, "link": None, "vni": None}
    if match:
        source["vni"] = vni = int(match.group(1))
        # <link>-vni<VNI>-...; fetched from S3: <host>_<link>_<link>-vni<VNI>-...
        source["link"] = name[:match.start()].rsplit("_", 1)[-1] or os.path.basename(os.path.dirname(path)) or None
        mapped = load_vni_map(os.path.dirname(os.path.abspath(path)), vni_cache).get(vni)
        if mapped:
            source.update({k: v for k, v in mapped.items() if k in ("eni", "zone", "description")})
    return source


def source_label(source):
    """"capture0 vni 12345 eni-0abc (eu-west-1a)" for the summary by source."""
    if not source:
        return "(unknown)"
    if source.get("link") is None and source.get("vni") is None and not source.get("outer_src"):
        return "file " + source.get("file", "?")
    parts = []
    if source.get("link"):
        parts.append(source["link"])
    if source.get("vni") is not None:
        parts.append("vni {0}".format(source["vni"]))
    if source.get("eni"):
        parts.append(source["eni"])
    if source.get("zone"):
        parts.append("({0})".format(source["zone"]))
    if source.get("outer_src"):
        parts.append("from {0}".format(source["outer_src"]))
    return " ".join(parts) or "(unknown)"


def _optional_fields(tshark):
    """The OPTIONAL_FIELDS this tshark knows (a display filter with an unknown field fails
    to compile; no capture is read)."""
    known = []
    for field in OPTIONAL_FIELDS:
        proc = subprocess.run([tshark, "-Y", field, "-r", os.devnull], capture_output=True, text=True, check=False)
        if "neither a field nor a protocol" not in proc.stderr and "is not a valid" not in proc.stderr:
            known.append(field)
    return known


def _value_names(tshark):
    """{field: {int value: name}} of NAMED_FIELDS, from the installed tshark's own tables."""
    proc = subprocess.run([tshark, "-G", "values"], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ReportError("tshark -G values failed: {0}".format(proc.stderr.strip()[-500:]))
    names = {field: {} for field in NAMED_FIELDS}
    for line in proc.stdout.splitlines():
        parts = line.split("\t")
        if len(parts) == 4 and parts[0] == "V" and parts[1] in names:
            try:
                names[parts[1]].setdefault(int(parts[2], 0), parts[3])
            except ValueError:
                continue
    return names


def tshark_metadata(tshark="tshark"):
    """(the fields to ask for, the value names) of the installed tshark. Asking tshark takes
    about a second, so the answer is kept in ~/.cache/mirrorlab (XDG_CACHE_HOME), keyed by
    the tshark binary's path, size and time (a package upgrade makes a new entry); without a
    writable cache it is asked every time."""
    binary = shutil.which(tshark)
    if not binary:
        raise ReportError("{0} not found: install the Debian package tshark".format(tshark))
    real = os.path.realpath(binary)
    st = os.stat(real)
    key = hashlib.sha1("{0}:{1}:{2}:{3}".format(real, st.st_size, st.st_mtime_ns, FIELDS_VERSION).encode()).hexdigest()[:16]
    cache_dir = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "mirrorlab")
    cache = os.path.join(cache_dir, "tshark-{0}.json".format(key))
    try:
        with open(cache) as handle:
            data = json.load(handle)
        values = {f: {int(k): v for k, v in table.items()} for f, table in data["values"].items()}
        return FIELDS + tuple(data["optional"]), values
    except (OSError, ValueError, KeyError, AttributeError):
        pass
    box = {}
    thread = threading.Thread(target=lambda: box.update(values=_value_names(binary)), daemon=True)
    thread.start()
    optional = _optional_fields(binary)
    thread.join()
    if "values" not in box:
        raise ReportError("tshark -G values failed")
    try:
        os.makedirs(cache_dir, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=".tshark-")
        with os.fdopen(fd, "w") as handle:
            json.dump({"optional": optional, "values": box["values"]}, handle)
        os.replace(tmp, cache)
    except OSError:
        pass
    return FIELDS + tuple(optional), box["values"]


def tshark_command(source, fields, tls_ports=DEFAULT_TLS_PORTS, keylog=None, tshark="tshark"):
    """The tshark command that writes one line of FIELDS per TCP packet of `source`."""
    cmd = [tshark, "-n", "-r", source, "-Y", "tcp", "-T", "fields",
           "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=" + SEP, "-E", "quote=n"]
    for port in tls_ports:
        cmd += ["-d", "tcp.port=={0},tls".format(int(port))]
    if keylog:
        cmd += ["-o", "tls.keylog_file:" + keylog]
    for field in fields:
        cmd += ["-e", field]
    return cmd


PCAP_MAGIC = {b"\xd4\xc3\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">", b"\x4d\x3c\xb2\xa1": "<", b"\xa1\xb2\x3c\x4d": ">"}


def _wire_length(frame):
    """The length the Ethernet frame had on the wire by its IPv4/IPv6 header, or None."""
    off = 12
    ethertype = frame[off:off + 2]
    while ethertype in (b"\x81\x00", b"\x88\xa8") and len(frame) >= off + 6:  # VLAN tags
        off += 4
        ethertype = frame[off:off + 2]
    off += 2
    if ethertype == b"\x08\x00" and len(frame) >= off + 4:
        return off + struct.unpack(">H", frame[off + 2:off + 4])[0]
    if ethertype == b"\x86\xdd" and len(frame) >= off + 6:
        return off + 40 + struct.unpack(">H", frame[off + 4:off + 6])[0]
    return None


def _pcap_records(handle):
    """(endian, header, iterator of (record header, data)) of a classic pcap file, or None."""
    header = handle.read(24)
    endian = PCAP_MAGIC.get(header[:4])
    if endian is None or len(header) < 24 or struct.unpack(endian + "I", header[20:24])[0] != 1:
        return None  # pcapng, compressed or not Ethernet: left as it is

    def records():
        while True:
            rec = handle.read(16)
            if len(rec) < 16:
                return
            incl = struct.unpack(endian + "I", rec[8:12])[0]
            yield rec, handle.read(incl)
    return endian, header, records()


def cut_on_the_wire(path, probe=2000):
    """True when the packets themselves were cut (AWS packet_length): the pcap's original
    length equals the captured one, but the IP header says the packet was longer. tshark then
    takes the cut packet for a whole one and finds no TLS records in it."""
    with open(path, "rb") as handle:
        parsed = _pcap_records(handle)
        if parsed is None:
            return False
        endian, _header, records = parsed
        for i, (rec, data) in enumerate(records):
            if i >= probe:
                break
            incl, orig = struct.unpack(endian + "II", rec[8:16])
            wire = _wire_length(data)
            if incl == orig and wire is not None and wire > orig and wire - orig > 4:
                return True
    return False


def restore_wire_lengths(path, dest):
    """Copy a pcap, setting each cut packet's original length to its IP header's: tshark then
    sees it as cut by a snap length and dissects the record headers that are there."""
    with open(path, "rb") as src, open(dest, "wb") as out:
        endian, header, records = _pcap_records(src)
        out.write(header)
        for rec, data in records:
            incl, orig = struct.unpack(endian + "II", rec[8:16])
            wire = _wire_length(data)
            if incl == orig and wire is not None and wire > orig:
                rec = rec[:12] + struct.pack(endian + "I", wire)
            out.write(rec)
            out.write(data)


def complete_length(path):
    """The length of a classic pcap up to its last complete packet (a capture's open file can
    end mid-packet: its writer buffers), or None for other formats."""
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        header = handle.read(24)
        endian = PCAP_MAGIC.get(header[:4])
        if endian is None or len(header) < 24:
            return None
        pos = 24
        while pos + 16 <= size:
            handle.seek(pos + 8)
            incl = struct.unpack(endian + "I", handle.read(4))[0]
            if pos + 16 + incl > size:
                break
            pos += 16 + incl
        return pos


def _raise_nofile(count):
    """Let mergecap open every input file at once (it merges them by time)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = count + 64
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))


class _Buffer:
    """Bytes of a stream, read in large blocks; `data[pos:]` is what is not yet consumed."""

    def __init__(self, handle):
        self.handle, self.data, self.pos = handle, b"", 0

    def fill(self, need):
        """Make at least `need` unconsumed bytes available; False at the end of the stream."""
        have = len(self.data) - self.pos
        if have >= need:
            return True
        parts = [self.data[self.pos:]]
        while have < need:
            more = self.handle.read(max(READ_SIZE, need - have))
            if not more:
                break
            parts.append(more)
            have += len(more)
        self.data, self.pos = b"".join(parts), 0
        return have >= need


class CaptureSplitter:
    """Cuts a pcap or pcapng stream into pieces of whole packets, each a valid capture by
    itself: a pcap piece starts with the file header, a pcapng piece with the section header
    and every other non-packet block seen so far (interface descriptions, name resolution,
    decryption secrets), so that interface ids and keys mean the same in every piece.

    pieces() yields ("start", preamble), ("data", bytes) and ("end", None) events. A stream
    that ends in the middle of a packet (a file still being written) ends the last piece at
    its last whole packet; `cut` is then True."""

    def __init__(self, handle, per_piece):
        self.buf = _Buffer(handle)
        self.per_piece = max(1, int(per_piece))
        self.cut = False

    def pieces(self):
        if not self.buf.fill(4):
            raise ReportError("an empty capture stream")
        magic = self.buf.data[:4]
        if magic in PCAP_MAGIC:
            return self._pieces(self._pcap_header(PCAP_MAGIC[magic]), 16, self._pcap_length, None)
        if magic == PCAPNG_SHB:
            return self._pieces([], 12, self._pcapng_length, self._pcapng_block)
        raise ReportError("not a pcap or pcapng stream (magic {0})".format(magic.hex()))

    def _pcap_header(self, endian):
        if not self.buf.fill(24):
            raise ReportError("a pcap stream shorter than its file header")
        self.record = struct.Struct(endian + "I")
        header = self.buf.data[self.buf.pos:self.buf.pos + 24]
        self.buf.pos += 24
        return [header]

    def _pcap_length(self, data, pos):
        return 16 + self.record.unpack_from(data, pos + 8)[0], True

    def _pcapng_length(self, data, pos):
        if data[pos:pos + 4] == PCAPNG_SHB:
            order = PCAPNG_ORDER.get(data[pos + 8:pos + 12])
            if order is None:
                raise ReportError("a pcapng section header with an unknown byte order")
            self.endian = order
            return struct.unpack_from(order + "I", data, pos + 4)[0], False
        kind, length = struct.unpack_from(self.endian + "II", data, pos)
        return length, kind in PCAPNG_PACKETS

    def _pcapng_block(self, preamble, block):
        """Keep a non-packet block for the pieces to come (a section header starts afresh)."""
        if block[:4] == PCAPNG_SHB:
            del preamble[:]
        preamble.append(block)

    def _pieces(self, preamble, head, length_at, keep):
        buf, count = self.buf, 0
        yield "start", b"".join(preamble)
        while True:
            data, pos, start = buf.data, buf.pos, buf.pos
            end = len(data)
            while pos + head <= end:
                length, packet = length_at(data, pos)
                if length < head or pos + length > end:
                    break
                if not packet:
                    keep(preamble, data[pos:pos + length])
                pos += length
                if packet:
                    count += 1
                    if count == self.per_piece:
                        yield "data", data[start:pos]
                        yield "end", None
                        yield "start", b"".join(preamble)
                        start, count = pos, 0
            if pos > start:
                yield "data", data[start:pos]
            buf.pos = pos
            need = head if pos + head > end else length_at(data, pos)[0]
            if need < head:
                raise ReportError("a capture block with an impossible length {0}".format(need))
            if not buf.fill(need):
                self.cut = len(buf.data) > buf.pos
                yield "end", None
                return


def _open_capture(path):
    """A file object of a capture's bytes (gzip-compressed ones uncompressed on the fly)."""
    handle = open(path, "rb")
    if handle.read(2) == GZIP_MAGIC:
        handle.close()
        return gzip.open(path, "rb")
    handle.seek(0)
    return handle


class PacketStream:
    """Runs mergecap (more than one file) and one tshark per piece of packets (see
    CaptureSplitter); lines() iterates over the tshark processes' lines in packet order."""

    def __init__(self, files, fields, tls_ports=DEFAULT_TLS_PORTS, keylog=None, tshark="tshark",
                 mergecap="mergecap", piece_packets=DEFAULT_PIECE_PACKETS):
        self.files = list(files)
        self.procs = []
        self.warnings = []
        self.error = None
        self.stopping = False
        if not self.files:
            raise ReportError("no capture files")
        self.cmd = tshark_command("-", fields, tls_ports, keylog, tshark)
        if len(self.files) == 1:
            source, self.name = _open_capture(self.files[0]), self.files[0]
        else:
            self.name = "mergecap's output"
            merge = subprocess.Popen([mergecap, "-I", "none", "-F", "pcapng", "-w", "-"] + self.files,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     preexec_fn=lambda: _raise_nofile(len(self.files)))
            self._watch(merge, "mergecap")
            source = merge.stdout
        self.splitter = CaptureSplitter(source, piece_packets)
        self.ready = queue.Queue()
        self.slots = threading.Semaphore(1)  # tshark processes alive at a time
        self.feeder = threading.Thread(target=self._feed, args=(source,), daemon=True)
        self.feeder.start()

    def _watch(self, proc, name):
        """Collect a process's stderr in the background (so that it never blocks on it)."""
        self.procs.append((name, proc))
        chunks = proc.stderr_lines = []  # this process's own (one tshark per piece)

        def drain():
            for line in iter(proc.stderr.readline, b""):
                if len(chunks) < 200:
                    chunks.append(line.decode("utf-8", "replace"))
        thread = threading.Thread(target=drain, daemon=True)
        thread.start()
        proc.stderr_thread = thread

    def _feed(self, source):
        """The feeder thread: start a tshark per piece and write the piece to its stdin."""
        proc = None
        try:
            for event, data in self.splitter.pieces():
                if self.stopping:
                    break
                if event == "start":
                    self.slots.acquire()
                    proc = subprocess.Popen(self.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                            stderr=subprocess.PIPE, bufsize=1 << 20)
                    self._watch(proc, "tshark")
                    self.ready.put(proc)
                    proc.stdin.write(data)
                elif event == "data":
                    proc.stdin.write(data)
                else:
                    proc.stdin.close()
        except (BrokenPipeError, ValueError):
            pass  # that tshark ended early: its exit status and message say why
        except Exception as exc:  # noqa: BLE001 - handed to the reading thread
            self.error = exc
        finally:
            if proc is not None and not proc.stdin.closed:
                try:
                    proc.stdin.close()
                except OSError:
                    pass
            source.close()
            if self.splitter.cut:
                self.warnings.append("the capture stream was {0}: read up to its last whole packet".format(CUT_SHORT))
            self.ready.put(None)

    def lines(self):
        while True:
            proc = self.ready.get()
            if proc is None:
                break
            yield from io.TextIOWrapper(proc.stdout, encoding="utf-8", errors="replace")
            proc.wait()
            self.slots.release()
        if self.error is not None:
            raise ReportError("{0}: {1}".format(self.name, self.error))

    def close(self, check=True):
        """Wait for the processes; raise ReportError when one of them failed. A file that ends
        in the middle of a packet (the capture's open file: its writer buffers) is no failure:
        every packet before that point was read, and the message is kept in `warnings`."""
        self.feeder.join()
        problems = []
        for name, proc in self.procs:
            if proc.stdout is not None and not proc.stdout.closed:
                proc.stdout.close()
            code = proc.wait()
            proc.stderr_thread.join(5)
            lines = [line.strip() for line in proc.stderr_lines
                     if line.strip() and "Running as user" not in line and "could be dangerous" not in line]
            cut = [line for line in lines if CUT_SHORT in line]
            self.warnings.extend(cut)
            rest = [line for line in lines if CUT_SHORT not in line]
            if code != 0 and check and (rest or not cut):
                problems.append("{0} exited {1}: {2}".format(name, code, " ".join(rest)[-1500:] or "(no message)"))
        if problems:
            raise ReportError("; ".join(problems))

    def kill(self):
        self.stopping = True
        for _name, proc in self.procs:
            if proc.poll() is None:
                proc.kill()
        while self.feeder.is_alive():  # unblock a feeder waiting for a slot
            self.slots.release()
            self.feeder.join(0.1)
        self.close(check=False)


# ---------------------------------------------------------------------------------------
# The connection state machine
# ---------------------------------------------------------------------------------------

def _ints(text):
    out = []
    for item in text.split(SEP):
        try:
            out.append(int(item, 0))
        except ValueError:
            continue
    return out


def _is_grease(value):
    return (value & 0x0F0F) == 0x0A0A and (value >> 8) == (value & 0xFF)


def _endpoint(ip, port):
    return "[{0}]:{1}".format(ip, port) if ":" in ip else "{0}:{1}".format(ip, port)


def iso(ts):
    if ts is None:
        return None
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Side:
    """What one side of a connection did."""

    __slots__ = ("fin", "rst", "ccs", "payload", "bytes", "packets", "opaque_after_hello",
                 "last_opaque_len", "alerts", "tls_records", "first_fin_ts", "first_rst_ts")

    def __init__(self):
        self.fin = self.rst = self.ccs = False
        self.payload = 0       # payload packets
        self.bytes = 0         # TCP payload bytes
        self.packets = 0
        self.opaque_after_hello = 0   # TLS 1.3 encrypted records after the ServerHello
        self.last_opaque_len = None
        self.alerts = 0
        self.tls_records = 0
        self.first_fin_ts = self.first_rst_ts = None


class Connection:
    """One TCP connection: the state machine fed packet by packet."""

    __slots__ = ("client_ip", "client_port", "server_ip", "server_port", "first", "last", "c", "s",
                 "syn", "synack", "partial", "client_hello", "server_hello", "version", "cipher",
                 "offered_versions", "offered_ciphers", "sni", "alpn", "ja3", "ja3s", "ja4",
                 "server_certificate", "alert", "enc_alert", "complete", "complete_confirmed",
                 "client_finished", "http", "pending_http", "non_tls_payload", "truncated",
                 "source", "closed_at", "ended_by", "end", "server_flight",
                 "client_data", "data_both_ways")

    def __init__(self, client_ip, client_port, server_ip, server_port, ts, source):
        self.client_ip, self.client_port = client_ip, client_port
        self.server_ip, self.server_port = server_ip, server_port
        self.first = self.last = ts
        self.c, self.s = Side(), Side()
        self.syn = self.synack = False
        self.partial = False
        self.client_hello = self.server_hello = False
        self.version = self.cipher = None
        self.offered_versions = self.offered_ciphers = None
        self.sni = self.alpn = self.ja3 = self.ja3s = self.ja4 = None
        self.server_certificate = False
        self.alert = None          # the first alert before completion: dict
        self.enc_alert = None      # (sender, ts) of a TLS 1.3 record of an alert's size
        self.complete = False
        self.complete_confirmed = False
        self.client_finished = False
        self.http = []
        self.pending_http = collections.deque()
        self.non_tls_payload = False
        self.truncated = 0
        self.source = source
        self.closed_at = None
        self.ended_by = None
        self.end = None
        self.server_flight = False
        self.client_data = False      # the client sent an application-data record longer than an alert
        self.data_both_ways = False   # ... and the server answered with one

    @property
    def tls13(self):
        return self.version == 0x0304


class Tracker:
    """Follows every connection; calls `emit(connection)` when one is over."""

    def __init__(self, emit, tls_ports=DEFAULT_TLS_PORTS, idle_timeout=DEFAULT_IDLE_TIMEOUT,
                 sources=None, server_ports=None):
        self.emit = emit
        self.tls_ports = {str(p) for p in tls_ports}
        self.server_ports = {str(p) for p in server_ports} if server_ports else None
        self.idle_timeout = float(idle_timeout)
        self.sources = sources or {}
        self.open = collections.OrderedDict()
        self.closing = collections.OrderedDict()
        self.now = 0.0
        self.next_sweep = 0.0
        self.packets = 0
        self.tcp_packets = 0
        self.max_open = 0

    # -- packets ------------------------------------------------------------------------

    def feed(self, line):
        self.packets += 1
        head = line.rstrip("\n").split("\t", APP_FIRST)
        if len(head) <= APP_FIRST - 1:
            return
        sport, dport = head[10], head[11]
        if not sport or not dport:
            return
        try:
            ts = float(head[0])
        except ValueError:
            return
        self.tcp_packets += 1
        if ts > self.now:
            self.now = ts
        ip_src, ip_dst = head[4], head[5]
        ip_len = head[6]
        if not ip_src:
            ip_src, ip_dst = head[7], head[8]
            ip_len = head[9]
            l3_extra = 40
        else:
            l3_extra = 0
        outer_src = None
        if SEP in ip_src:  # encapsulated (VXLAN): the outer source is the mirror source
            outer = ip_src.split(SEP)
            outer_src = outer[0]
            ip_src, ip_dst = outer[-1], ip_dst.split(SEP)[-1]
            ip_len = ip_len.split(SEP)[-1]
        key = (ip_src, sport, ip_dst, dport)
        conn = self.open.get(key) or self.closing.get(key)
        from_client = True
        if conn is not None:
            if conn.client_ip != ip_src or conn.client_port != sport:
                from_client = False
        else:
            rkey = (ip_dst, dport, ip_src, sport)
            conn = self.open.get(rkey) or self.closing.get(rkey)
            if conn is not None:
                from_client = False
                key = rkey
        flags = int(head[12], 16) if head[12] else 0
        if conn is not None and flags & SYN and not flags & ACK and from_client and (conn.closed_at or conn.c.fin or conn.c.rst):
            # a new connection on the same ports
            self._finish(key, conn, "client" if conn.ended_by is None else conn.ended_by)
            conn = None
        if conn is None:
            conn, from_client, key = self._new(ip_src, sport, ip_dst, dport, ts, flags, head, outer_src)
        side = conn.c if from_client else conn.s
        side.packets += 1
        conn.last = ts
        try:
            tcp_len = int(head[13]) if head[13] else 0
        except ValueError:
            tcp_len = 0
        # truncation: shorter than captured on the wire (snap length) or than the IP header says
        try:
            cap_len = int(head[3])
            if cap_len < int(head[2]) or (ip_len and cap_len < 14 + int(ip_len) + l3_extra and tcp_len):
                conn.truncated += 1
        except ValueError:
            pass
        if flags & SYN:
            if flags & ACK:
                conn.synack = True
            else:
                conn.syn = True
        if tcp_len:
            side.payload += 1
            side.bytes += tcp_len
        app = head[APP_FIRST] if len(head) > APP_FIRST else ""
        if app.strip("\t"):
            self._app(conn, from_client, ts, app.split("\t"), tcp_len)
        elif tcp_len and from_client and not conn.client_hello and not conn.http:
            conn.non_tls_payload = True
        if flags & RST:
            if not side.rst:
                side.rst = True
                side.first_rst_ts = ts
            if conn.ended_by is None:
                conn.ended_by = "client" if from_client else "server"
                conn.end = "reset"
        if flags & FIN and not side.fin:
            side.fin = True
            side.first_fin_ts = ts
            if conn.ended_by is None:
                conn.ended_by = "client" if from_client else "server"
                conn.end = "fin"
        if conn.closed_at is None and ((conn.c.fin and conn.s.fin) or conn.c.rst or conn.s.rst):
            conn.closed_at = ts
            self.open.pop(key, None)
            self.closing[key] = conn
        elif conn.closed_at is None:
            self.open.move_to_end(key)
        if ts >= self.next_sweep:
            self.sweep()

    def _new(self, ip_src, sport, ip_dst, dport, ts, flags, head, outer_src):
        """A connection seen for the first time: who is the client? The SYN's sender; the
        SYN-ACK's receiver; else (the capture started later) the side not on a TLS or
        server port, or the one with the higher port."""
        from_client = True
        if flags & SYN and flags & ACK:
            from_client = False
        elif not flags & SYN:
            known = self.tls_ports | (self.server_ports or set())
            if sport in known and dport not in known:
                from_client = False
            elif (sport in known) == (dport in known) and int(sport) < int(dport):
                from_client = False
        if from_client:
            client_ip, client_port, server_ip, server_port = ip_src, sport, ip_dst, dport
        else:
            client_ip, client_port, server_ip, server_port = ip_dst, dport, ip_src, sport
        try:
            iface = int(head[1]) if head[1] else 0
        except ValueError:
            iface = 0
        source = self.sources.get(iface) or self.sources.get(0) or {}
        vni = head[14].split(SEP)[0] if head[14] else ""
        if vni or outer_src:
            source = dict(source)
            if vni:
                source["vni"] = int(vni)
            if outer_src:
                source["outer_src"] = outer_src
        conn = Connection(client_ip, client_port, server_ip, server_port, ts, source)
        conn.partial = not flags & SYN
        key = (client_ip, client_port, server_ip, server_port)
        self.open[key] = conn
        if len(self.open) > self.max_open:
            self.max_open = len(self.open)
        return conn, from_client, key

    def _app(self, conn, from_client, ts, f, tcp_len):
        """The TLS records and HTTP messages of one packet (f: the fields from APP_FIRST on)."""
        if len(f) < A_JA4:
            f = f + [""] * (A_JA4 - len(f))
        types, opaque, hs_types, method, code = f[A_CT], f[A_OPAQUE], f[A_HS], f[A_METHOD], f[A_CODE]
        side = conn.c if from_client else conn.s
        if method:
            uris, hosts = f[A_URI].split(SEP), f[A_HOST].split(SEP)
            for i, m in enumerate(method.split(SEP)):
                entry = {"method": m, "path": uris[i] if i < len(uris) else "",
                         "host": hosts[i] if i < len(hosts) and hosts[i] else None, "status": None,
                         "latency_ms": None, "_ts": ts}
                if len(conn.http) < HTTP_MAX:
                    conn.http.append(entry)
                    conn.pending_http.append(entry)
            if not conn.client_hello:
                conn.non_tls_payload = True
        if code:
            for c in code.split(SEP):
                if conn.pending_http:
                    entry = conn.pending_http.popleft()
                    entry["status"] = int(c)
                    entry["latency_ms"] = round((ts - entry["_ts"]) * 1000.0, 3)
                elif len(conn.http) < HTTP_MAX:
                    conn.http.append({"method": None, "path": None, "host": None, "status": int(c),
                                      "latency_ms": None, "_ts": ts})
        if not (types or opaque):
            if tcp_len and from_client and not conn.client_hello and not method:
                conn.non_tls_payload = True
            return
        type_list = types.split(SEP) if types else []
        side.tls_records += len(type_list) + (opaque.count(SEP) + 1 if opaque else 0)
        hs = hs_types.split(SEP) if hs_types else ()
        if hs:
            if from_client:
                if "1" in hs:
                    self._client_hello(conn, f)
            else:
                if "2" in hs:
                    self._server_hello(conn, f)
                if "11" in hs:
                    conn.server_certificate = True
                if "14" in hs or "11" in hs or "12" in hs:
                    conn.server_flight = True
        if CT_CCS in type_list:
            side.ccs = True
        if CT_APP in type_list:
            lengths = _ints(f[A_RLEN])
            for i, kind in enumerate(type_list):
                if kind == CT_APP and i < len(lengths) and lengths[i] > ALERT_RECORD_MAX:
                    if from_client:
                        conn.client_data = True
                    elif conn.client_data:
                        conn.data_both_ways = True
            self._check_complete(conn)
        if CT_ALERT in type_list:
            self._alerts(conn, from_client, ts, type_list, f)
        if opaque:
            # TLS 1.3: the opaque records follow the plaintext ones in the frame
            for length in _ints(f[A_RLEN])[len(type_list):]:
                self._opaque(conn, from_client, side, length, ts)
        self._check_complete(conn)

    def _client_hello(self, conn, f):
        if conn.client_hello:  # a retransmission, or the second one after a HelloRetryRequest
            return
        conn.client_hello = True
        conn.non_tls_payload = False
        versions = [v for v in _ints(f[A_SUPVER]) if not _is_grease(v)]
        conn.offered_versions = versions or _ints(f[A_HSVER])[:1]
        conn.offered_ciphers = [c for c in _ints(f[A_CIPHER]) if not _is_grease(c)]
        conn.sni = f[A_SNI].split(SEP)[0] or None
        conn.alpn = f[A_ALPN].split(SEP) if f[A_ALPN] else None
        conn.ja3 = f[A_JA3].split(SEP)[0] or None
        if len(f) > A_JA4:
            conn.ja4 = f[A_JA4].split(SEP)[0] or None

    def _server_hello(self, conn, f):
        if conn.server_hello:  # the HelloRetryRequest came first: same version and cipher
            return
        conn.server_hello = True
        versions = _ints(f[A_SUPVER])
        legacy = _ints(f[A_HSVER])
        conn.version = versions[0] if versions else (legacy[0] if legacy else None)
        ciphers = _ints(f[A_CIPHER])
        conn.cipher = ciphers[0] if ciphers else None
        conn.ja3s = f[A_JA3S].split(SEP)[0] or None

    def _alerts(self, conn, from_client, ts, type_list, f):
        descs = _ints(f[A_ADESC])
        levels = _ints(f[A_ALEVEL])
        side = conn.c if from_client else conn.s
        side.alerts += type_list.count(CT_ALERT)
        if conn.complete or conn.alert is not None:
            return
        sender = "client" if from_client else "server"
        if descs:
            conn.alert = {"description": descs[0], "level": levels[0] if levels else None,
                          "sender": sender, "encrypted": False, "ts": ts}
        else:  # TLS <= 1.2 after ChangeCipherSpec: the alert is encrypted
            conn.alert = {"description": None, "level": None, "sender": sender, "encrypted": True, "ts": ts}

    def _opaque(self, conn, from_client, side, length, ts):
        if not conn.server_hello:
            return
        side.opaque_after_hello += 1
        side.last_opaque_len = length
        if from_client:
            if not conn.client_finished:
                if length <= ALERT_RECORD_MAX:
                    if conn.enc_alert is None and conn.alert is None:
                        conn.enc_alert = ("client", ts)
                else:
                    conn.client_finished = True
        elif conn.client_finished and length > ALERT_RECORD_MAX:
            conn.complete_confirmed = True
        elif conn.client_finished and length <= ALERT_RECORD_MAX and not conn.complete_confirmed:
            if conn.enc_alert is None and conn.alert is None:
                conn.enc_alert = ("server", ts)
        elif not conn.client_finished and length <= ALERT_RECORD_MAX and side.opaque_after_hello > 1:
            # the server's flight is EncryptedExtensions, Certificate, CertificateVerify, Finished
            # (one record each, or one coalesced): a later small record is an alert
            if conn.enc_alert is None and conn.alert is None:
                conn.enc_alert = ("server", ts)

    def _check_complete(self, conn):
        if conn.complete or conn.alert is not None or conn.enc_alert is not None:
            return
        if conn.server_hello and (conn.tls13 or (conn.version is None and conn.c.opaque_after_hello)):
            if conn.client_finished:
                conn.complete = True
                return
        elif conn.server_hello and conn.c.ccs and conn.s.ccs:
            conn.complete = True
            conn.complete_confirmed = True
            return
        if conn.data_both_ways:
            # application data both ways, the handshake messages themselves not seen (truncated
            # packets, a capture that started late, tshark's session reset): it completed
            conn.complete = True

    # -- timeouts and the end -----------------------------------------------------------

    def sweep(self):
        """Emit connections that are over: closed ones after the linger, idle ones after the
        idle timeout (of capture time)."""
        now = self.now
        while self.closing:
            key, conn = next(iter(self.closing.items()))
            if conn.closed_at + CLOSE_LINGER > now:
                break
            self._finish(key, conn, None)
        while self.open:
            key, conn = next(iter(self.open.items()))
            if conn.last + self.idle_timeout > now:
                break
            self._finish(key, conn, "timeout")
        self.next_sweep = now + 1.0

    def _finish(self, key, conn, why):
        self.open.pop(key, None)
        self.closing.pop(key, None)
        if why == "timeout" and conn.ended_by is None:
            conn.ended_by = "timeout"
        self.emit(conn)

    def finish_all(self):
        """The capture is over: emit everything still open."""
        for store in (self.closing, self.open):
            while store:
                key, conn = store.popitem(last=False)
                if conn.ended_by is None:
                    conn.ended_by = "capture_end"
                self.emit(conn)


# ---------------------------------------------------------------------------------------
# Outcome rules: a finished Connection -> its record
# ---------------------------------------------------------------------------------------

class Names:
    """Names of numeric TLS values, from the installed tshark."""

    def __init__(self, tables=None):
        tables = tables or {}
        self.ciphers = tables.get("tls.handshake.ciphersuite", {})
        self.alerts = tables.get("tls.alert_message.desc", {})
        self.versions = dict(tables.get("tls.handshake.version", {}))
        self.versions.update(tables.get("tls.handshake.extensions.supported_version", {}))

    def version(self, value):
        if value is None:
            return None
        return self.versions.get(value, "0x{0:04x}".format(value))

    def cipher(self, value):
        if value is None:
            return None
        return self.ciphers.get(value, "0x{0:04x}".format(value))

    def alert(self, value):
        if value is None:
            return None
        name = self.alerts.get(value)
        return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") if name else "alert_{0}".format(value)


STAGES = ("tcp", "client_hello", "server_hello", "server_flight", "client_finished", "complete")


def stage_of(conn):
    if conn.complete:
        return "complete"
    if conn.client_finished or (conn.c.ccs and conn.server_hello and not conn.tls13):
        return "client_finished"
    if conn.server_flight or conn.s.opaque_after_hello:
        return "server_flight"
    if conn.server_hello:
        return "server_hello"
    if conn.client_hello:
        return "client_hello"
    return "tcp"


def classify(conn, tls_ports):
    """(outcome, alert, inferred, reasons) of a finished connection."""
    reasons = []
    inferred = False
    alert = None
    tls_port = conn.server_port in tls_ports
    if conn.alert is not None:
        alert = dict(conn.alert)
        outcome = "alert"
        if alert["encrypted"]:
            inferred = True
            reasons.append("the alert was sent after ChangeCipherSpec: encrypted, its description is not visible")
    elif conn.enc_alert is not None:
        sender, ts = conn.enc_alert
        outcome = "alert"
        alert = {"description": None, "level": None, "sender": sender, "encrypted": True, "ts": ts}
        inferred = True
        if sender == "client":
            reasons.append("TLS 1.3: the client sent an encrypted record of an alert's size after the "
                           "server's encrypted Certificate instead of its Finished; most likely it rejected "
                           "the certificate (bad_certificate, unknown_ca, certificate_expired, ...)")
        else:
            reasons.append("TLS 1.3: the server sent an encrypted record of an alert's size before the "
                           "handshake completed (e.g. a client certificate or Finished it did not accept)")
    elif conn.complete:
        outcome = "handshake_ok"
        if not conn.server_hello or not (conn.c.ccs or conn.client_finished):
            inferred = True
            reasons.append("completion inferred from application data sent both ways (the handshake "
                           "messages themselves were not visible)")
        elif not conn.complete_confirmed:
            inferred = True
            reasons.append("TLS 1.3: completion inferred from the client's encrypted Finished-sized record "
                           "(the server sent nothing more before the end)")
    elif conn.client_hello or conn.server_hello:
        outcome = "reset" if conn.end == "reset" else "incomplete"
    elif conn.non_tls_payload or conn.http:
        outcome = "not_tls" if tls_port or not conn.http else "http"
    elif conn.end == "reset":
        outcome = "reset"
    elif conn.c.bytes == 0 and conn.s.bytes == 0:
        outcome = "reset" if conn.end == "reset" else "incomplete"
    else:
        outcome = "not_tls" if tls_port else ("http" if conn.http else "not_tls")
    if outcome == "incomplete":
        if conn.ended_by == "timeout":
            reasons.append("idle for the idle timeout without finishing the handshake")
        elif conn.ended_by == "capture_end":
            inferred = True
            reasons.append("still open when the capture ended")
        if not conn.client_hello and not conn.c.bytes:
            reasons.append("the client opened TCP and sent nothing")
    if conn.partial:
        inferred = True
        reasons.append("the capture started after the connection's SYN")
    if conn.truncated:
        inferred = True
        reasons.append("{0} packet(s) truncated (snap length or packet_length): some handshake fields "
                       "may be missing".format(conn.truncated))
    return outcome, alert, inferred, reasons


def record(conn, names, tls_ports):
    """The JSON-ready record of a finished connection."""
    outcome, alert, inferred, reasons = classify(conn, tls_ports)
    if alert is not None:
        alert = {"description": names.alert(alert["description"]) if alert["description"] is not None else "encrypted",
                 "code": alert["description"], "level": {1: "warning", 2: "fatal"}.get(alert["level"]),
                 "sender": alert["sender"], "encrypted": alert["encrypted"], "time": iso(alert["ts"])}
    http = []
    for entry in conn.http:
        entry = dict(entry)
        entry.pop("_ts", None)
        http.append(entry)
    rec = {
        "client": _endpoint(conn.client_ip, conn.client_port),
        "server": _endpoint(conn.server_ip, conn.server_port),
        "start": iso(conn.first),
        "end": iso(conn.last),
        "duration_ms": round((conn.last - conn.first) * 1000.0, 3),
        "sni": conn.sni,
        "alpn": conn.alpn,
        "offered_versions": [names.version(v) for v in conn.offered_versions] if conn.offered_versions is not None else [],
        "offered_ciphers": [names.cipher(c) for c in conn.offered_ciphers] if conn.offered_ciphers is not None else [],
        "ja3": conn.ja3,
        "ja3s": conn.ja3s,
        "ja4": conn.ja4,
        "version": names.version(conn.version),
        "cipher": names.cipher(conn.cipher),
        "outcome": outcome,
        "alert": alert,
        "stage": stage_of(conn),
        "ended_by": conn.ended_by,
        "end_how": conn.end,
        "inferred": inferred,
        "reasons": reasons,
        "truncated": conn.truncated > 0,
        "packets": {"client": conn.c.packets, "server": conn.s.packets},
        "bytes": {"client": conn.c.bytes, "server": conn.s.bytes},
        "http": http,
        "source": conn.source or {},
    }
    return rec


# ---------------------------------------------------------------------------------------
# The summary
# ---------------------------------------------------------------------------------------

class Timeline:
    """Outcomes per time bucket; the bucket width doubles whenever there are more than
    `max_buckets` (bounded memory, whatever the capture's duration)."""

    def __init__(self, max_buckets=240):
        self.width = 1.0
        self.max_buckets = max_buckets
        self.buckets = {}

    def add(self, ts, outcome):
        key = int(ts // self.width)
        if key not in self.buckets and len(self.buckets) >= self.max_buckets:
            while len(self.buckets) >= self.max_buckets:
                self.width *= 2
                merged = {}
                for start, counts in self.buckets.items():
                    merged.setdefault(start // 2, collections.Counter()).update(counts)
                self.buckets = merged
            key = int(ts // self.width)
        self.buckets.setdefault(key, collections.Counter())[outcome] += 1

    def result(self):
        return {"bucket_seconds": self.width,
                "buckets": [{"start": iso(k * self.width), "counts": dict(v)}
                            for k, v in sorted(self.buckets.items())]}


class BoundedCounter:
    """{key: Counter} with at most max_keys keys; later keys count as "(other)"."""

    def __init__(self, max_keys=SUMMARY_MAX_KEYS):
        self.max_keys = max_keys
        self.data = {}

    def add(self, key, sub):
        if key not in self.data and len(self.data) >= self.max_keys:
            key = "(other)"
        self.data.setdefault(key, collections.Counter())[sub] += 1

    def result(self, top=None):
        items = sorted(self.data.items(), key=lambda kv: (-sum(kv[1].values()), str(kv[0])))
        if top is not None and len(items) > top:
            rest = collections.Counter()
            for _k, counts in items[top:]:
                rest.update(counts)
            items = items[:top] + [("(other)", rest)]
        return {str(k): dict(sorted(v.items())) for k, v in items}


class Summary:
    def __init__(self):
        self.connections = 0
        self.by_outcome = collections.Counter()
        self.by_alert = collections.Counter()
        self.by_alert_sender = {"client": collections.Counter(), "server": collections.Counter()}
        self.by_version = collections.Counter()
        self.by_stage = collections.Counter()
        self.by_client = BoundedCounter()
        self.by_source = BoundedCounter()
        self.by_sni = BoundedCounter()
        self.timeline = Timeline()
        self.inferred = 0
        self.truncated = 0
        self.first = self.last = None
        self.http_requests = 0
        self.http_status = collections.Counter()

    def add(self, rec, first_ts):
        self.connections += 1
        outcome = rec["outcome"]
        self.by_outcome[outcome] += 1
        if rec["alert"]:
            desc = rec["alert"]["description"]
            self.by_alert[desc] += 1
            self.by_alert_sender[rec["alert"]["sender"]][desc] += 1
        if rec["version"]:
            self.by_version[rec["version"]] += 1
        if outcome in ("incomplete", "reset"):
            self.by_stage[rec["stage"]] += 1
        self.by_client.add(rec["client"].rsplit(":", 1)[0].strip("[]"), outcome)
        self.by_source.add(source_label(rec["source"]), outcome)
        if rec["sni"]:
            self.by_sni.add(rec["sni"], outcome)
        self.timeline.add(first_ts, outcome)
        self.inferred += rec["inferred"]
        self.truncated += rec["truncated"]
        self.first = rec["start"] if self.first is None or rec["start"] < self.first else self.first
        self.last = rec["end"] if self.last is None or rec["end"] > self.last else self.last
        for entry in rec["http"]:
            if entry["method"]:
                self.http_requests += 1
            if entry["status"] is not None:
                self.http_status[str(entry["status"])] += 1

    def result(self, **extra):
        out = {
            "connections": self.connections,
            "by_outcome": dict(sorted(self.by_outcome.items())),
            "by_alert": dict(sorted(self.by_alert.items())),
            "by_alert_sender": {k: dict(sorted(v.items())) for k, v in self.by_alert_sender.items()},
            "by_version": dict(sorted(self.by_version.items())),
            "by_stage": dict(sorted(self.by_stage.items())),
            "by_client": self.by_client.result(top=100),
            "by_source": self.by_source.result(top=100),
            "by_sni": self.by_sni.result(top=100),
            "inferred": self.inferred,
            "truncated": self.truncated,
            "first": self.first,
            "last": self.last,
            "http_requests": self.http_requests,
            "http_status": dict(sorted(self.http_status.items())),
            "timeline": self.timeline.result(),
        }
        out.update(extra)
        return out


# ---------------------------------------------------------------------------------------
# The whole report
# ---------------------------------------------------------------------------------------

def analyze(paths, sinks=(), tls_ports=DEFAULT_TLS_PORTS, idle_timeout=DEFAULT_IDLE_TIMEOUT,
            keylog=None, tshark="tshark", mergecap="mergecap", piece_packets=DEFAULT_PIECE_PACKETS,
            server_ports=None):
    """Read every capture file under `paths`, give each finished connection's record to each
    sink (an object with .add(record)), and return the summary."""
    files = find_pcaps(paths)
    if not files:
        raise ReportError("no capture files (*.pcap, *.pcapng, *.cap, optionally .gz) in {0}".format(", ".join(paths)))
    if keylog and not os.path.isfile(keylog):
        raise ReportError("{0}: no such key log file".format(keylog))
    vni_cache = {}
    sources = {i: file_source(name, vni_cache) for i, name in enumerate(files)}
    fields, tables = tshark_metadata(tshark)
    names = Names(tables)
    summary = Summary()
    ports = {str(p) for p in tls_ports}
    wanted = {str(p) for p in server_ports} if server_ports else None

    def emit(conn):
        if wanted and conn.server_port not in wanted:
            return
        rec = record(conn, names, ports)
        summary.add(rec, conn.first)
        for sink in sinks:
            sink.add(rec)

    tracker = Tracker(emit, tls_ports=tls_ports, idle_timeout=idle_timeout, sources=sources,
                      server_ports=server_ports)
    last_of_dir = {os.path.dirname(name): name for name in files}
    cut_warnings = []
    with tempfile.TemporaryDirectory(prefix="mirrorlab-report-") as tmp:
        inputs = []
        for i, name in enumerate(files):
            if len(files) > 1 and last_of_dir[os.path.dirname(name)] == name:
                # the newest file of a link may still be written: merge only its complete packets
                # (mergecap stops at a file cut short, and the other files' later packets with it)
                length = complete_length(name)
                if length is not None and length < os.path.getsize(name):
                    part = os.path.join(tmp, "{0}-complete-{1}".format(i, os.path.basename(name)))
                    with open(name, "rb") as src, open(part, "wb") as dst:
                        shutil.copyfileobj(_limited(src, length), dst)
                    cut_warnings.append("{0}: ends in the middle of a packet (still being written?); "
                                        "read up to its last complete packet".format(name))
                    name = part
            if cut_on_the_wire(name):
                fixed = os.path.join(tmp, "{0}-{1}".format(i, os.path.basename(name)))
                restore_wire_lengths(name, fixed)
                name = fixed
            inputs.append(name)
        warnings = cut_warnings + _run(tracker, inputs, fields, tls_ports, keylog, tshark, mergecap, piece_packets)
    tracker.finish_all()
    return summary.result(files=len(files), packets=tracker.tcp_packets, max_open=tracker.max_open, warnings=warnings,
                          idle_timeout=float(idle_timeout), tls_ports=sorted(int(p) for p in tls_ports))


class _limited:
    """A file object that reads at most `length` bytes of another."""

    def __init__(self, handle, length):
        self.handle, self.left = handle, length

    def read(self, size=-1):
        size = self.left if size is None or size < 0 else min(size, self.left)
        data = self.handle.read(size)
        self.left -= len(data)
        return data


def _run(tracker, files, fields, tls_ports, keylog, tshark, mergecap, piece_packets):
    stream = PacketStream(files, fields, tls_ports=tls_ports, keylog=keylog, tshark=tshark,
                          mergecap=mergecap, piece_packets=piece_packets)
    try:
        for line in stream.lines():
            tracker.feed(line)
    except BaseException:
        stream.kill()
        raise
    stream.close()
    return stream.warnings
