"""A small interpreter of the nftables subset the mirror compiler emits.

Written from nftables' documented semantics (nft(8), "PAYLOAD EXPRESSIONS", "META
EXPRESSIONS", "DUP STATEMENT", "VERDICT STATEMENT"), not from the compiler: it parses the
script text, applies it as one transaction (``table`` adds a table if missing, ``delete
table`` removes it, a ``table { }`` block defines it), and runs a packet through the base
chain hooked at the packet's direction on its device. Anything it does not know makes it
raise, so the compiler cannot silently emit something the tests do not understand.

Semantics implemented:
- base chain ``type filter hook ingress|egress device "D" priority P; policy accept|drop;``
- rules run in order; all match expressions of a rule must hold (a payload expression on a
  protocol the packet does not carry does not match, as nft's implicit dependencies make it);
  statements run left to right; ``accept``/``drop`` end the evaluation (also from a chain
  jumped to); ``jump <chain>`` runs a regular chain (no hook) and continues after it when it
  returns; ``return`` (or the end of a regular chain) goes back to the caller, and ends a
  base chain with its policy; at the end of a base chain, the policy.
- matches: ``meta protocol ip|ip6``, ``meta l4proto <name|number>``, ``ip|ip6 saddr|daddr
  <addr>[/len]``, ``ip protocol <name|number>``, ``tcp|udp sport|dport <n>|<n>-<m>``.
- statements: ``dup to "<dev>"``, ``counter``, ``comment "..."`` (ignored).
"""

import ipaddress
import re
import shlex

L4 = {"icmp": 1, "tcp": 6, "udp": 17, "gre": 47, "ipv6-icmp": 58, "icmpv6": 58}


class NftSyntaxError(ValueError):
    pass


class Chain:
    def __init__(self, name):
        self.name = name
        self.hook = None
        self.device = None
        self.policy = "accept"
        self.rules = []


def _strip_comment(line):
    # '#' starts a comment outside quotes
    out, quoted = [], False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        if ch == "#" and not quoted:
            break
        out.append(ch)
    return "".join(out).strip()


def parse(script, tables=None):
    """Apply an nft script to ``tables`` ({(family, name): {chain name: Chain}}); return it."""
    tables = {} if tables is None else tables
    staged = dict(tables)
    lines = [_strip_comment(line) for line in script.splitlines()]
    lines = [line for line in lines if line]
    i = 0
    while i < len(lines):
        words = shlex.split(lines[i])
        if words[:1] == ["table"] and words[-1] != "{":
            if len(words) != 3:
                raise NftSyntaxError(lines[i])
            staged.setdefault((words[1], words[2]), {})
            i += 1
        elif words[:2] == ["delete", "table"]:
            key = (words[2], words[3])
            if key not in staged:
                raise NftSyntaxError("delete of a missing table: %s" % lines[i])
            del staged[key]
            i += 1
        elif words[:1] == ["table"] and words[-1] == "{":
            key = (words[1], words[2])
            chains = staged.setdefault(key, {})
            i = _parse_table_block(lines, i + 1, chains)
        else:
            raise NftSyntaxError("unknown command: %s" % lines[i])
    tables.clear()
    tables.update(staged)
    return tables


def _parse_table_block(lines, i, chains):
    while i < len(lines):
        line = lines[i]
        words = shlex.split(line)
        if line == "}":
            return i + 1
        if words[0] == "comment":
            i += 1
        elif words[0] == "chain" and words[-1] == "{":
            chain = chains.setdefault(words[1], Chain(words[1]))
            i = _parse_chain_block(lines, i + 1, chain)
        else:
            raise NftSyntaxError("unknown table statement: %s" % line)
    raise NftSyntaxError("unterminated table")


_HOOK_RE = re.compile(
    r'^type filter hook (ingress|egress) device "?([^";\s]+)"? priority (-?\d+|filter);\s*policy (accept|drop);$'
)


def _parse_chain_block(lines, i, chain):
    while i < len(lines):
        line = lines[i]
        if line == "}":
            return i + 1
        match = _HOOK_RE.match(line)
        if match:
            chain.hook, chain.device, chain.policy = match.group(1), match.group(2), match.group(4)
        elif line.startswith("type "):
            raise NftSyntaxError("unsupported chain type: %s" % line)
        else:
            chain.rules.append(parse_rule(line))
        i += 1
    raise NftSyntaxError("unterminated chain")


def _port_range(text):
    if "-" in text:
        low, high = text.split("-")
        return int(low), int(high)
    return int(text), int(text)


def _l4(text):
    return L4[text] if text in L4 else int(text)


def parse_rule(line):
    """A rule as a list of ('match', fn) and ('stmt', kind, arg) items."""
    words = shlex.split(line)
    items = []
    i = 0
    while i < len(words):
        w = words[i]
        if w == "meta" and words[i + 1] == "protocol":
            fam = words[i + 2]
            if fam not in ("ip", "ip6"):
                raise NftSyntaxError(line)
            items.append(("match", lambda p, fam=fam: p["family"] == fam))
            i += 3
        elif w == "meta" and words[i + 1] == "l4proto":
            proto = _l4(words[i + 2])
            items.append(("match", lambda p, proto=proto: p["family"] in ("ip", "ip6") and p["protocol"] == proto))
            i += 3
        elif w in ("ip", "ip6") and words[i + 1] in ("saddr", "daddr"):
            net = ipaddress.ip_network(words[i + 2], strict=True)
            field = "src" if words[i + 1] == "saddr" else "dst"
            items.append(("match", lambda p, w=w, net=net, field=field:
                          p["family"] == w and ipaddress.ip_address(p[field]) in net))
            i += 3
        elif w == "ip" and words[i + 1] == "protocol":
            proto = _l4(words[i + 2])
            items.append(("match", lambda p, proto=proto: p["family"] == "ip" and p["protocol"] == proto))
            i += 3
        elif w in ("tcp", "udp") and words[i + 1] in ("sport", "dport"):
            low, high = _port_range(words[i + 2])
            proto = L4[w]
            field = words[i + 1]
            # The transport header exists only for that protocol (implicit dependency).
            items.append(("match", lambda p, proto=proto, field=field, low=low, high=high:
                          p["family"] in ("ip", "ip6") and p["protocol"] == proto and low <= p[field] <= high))
            i += 3
        elif w == "dup" and words[i + 1] == "to":
            items.append(("stmt", "dup", words[i + 2]))
            i += 3
        elif w in ("accept", "drop", "return"):
            items.append(("stmt", w, None))
            i += 1
        elif w == "jump":
            items.append(("stmt", "jump", words[i + 1]))
            i += 2
        elif w == "counter":
            i += 1
        elif w == "comment":
            i += 2
        else:
            raise NftSyntaxError("unknown expression %r in: %s" % (w, line))
    return items


def run_packet(tables, pkt, device):
    """Run ``pkt`` through every base chain on ``device`` at its direction's hook.

    ``pkt``: {direction, src, dst, protocol, sport, dport}. Returns (verdict, [dup devices]).
    """
    pkt = dict(pkt)
    pkt["family"] = "ip" if ipaddress.ip_address(pkt["src"]).version == 4 else "ip6"
    dups, verdict = [], "accept"
    for chains in tables.values():
        for chain in chains.values():
            if chain.hook != pkt["direction"] or chain.device != device:
                continue
            result = _run_chain(chain, pkt, dups, chains)
            if (result or chain.policy) == "drop":
                verdict = "drop"
    return verdict, dups


def _run_chain(chain, pkt, dups, chains, depth=0):
    """The chain's final verdict (accept/drop), or None when it returns (explicitly, or by
    running off the end): a base chain then applies its policy, a jumped-to chain goes back
    to the rule after the jump. accept/drop in a jumped-to chain end the whole evaluation."""
    if depth > 16:
        raise NftSyntaxError("jump loop or too deep at chain %s" % chain.name)
    for rule in chain.rules:
        for item in rule:
            if item[0] == "match":
                if not item[1](pkt):
                    break
            elif item[1] == "dup":
                dups.append(item[2])
            elif item[1] in ("accept", "drop"):
                return item[1]
            elif item[1] == "return":
                return None
            elif item[1] == "jump":
                target = chains.get(item[2])
                if target is None or target.hook is not None:
                    raise NftSyntaxError("jump to a missing or base chain: %s" % item[2])
                verdict = _run_chain(target, pkt, dups, chains, depth + 1)
                if verdict is not None:
                    return verdict
    return None
