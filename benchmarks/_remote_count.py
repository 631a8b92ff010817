"""Remote module executions per host, counted from ansible-playbook's -vvv output.

Every module that runs on a host is first copied there as AnsiballZ_<module>.py (neither
community.docker.nsenter nor amazon.aws.aws_ssm pipelines), and with -vvv both connection
plugins print each copy as ``<host> PUT <local file> TO|to <remote path>``. Counting the copies
whose remote name is an AnsiballZ payload counts the module executions on that host, whatever
the connection; files an action copies besides (template sources) are not counted.
"""

import collections
import re

PUT = re.compile(r"^<(?P<host>[^>]+)> PUT \S+ (?:TO|to) (?P<dest>\S+)\s*$", re.M)
PAYLOAD = re.compile(r"/AnsiballZ_(?P<module>\w+)\.py$")


def module_executions(output):
    """{host: Counter({module: executions})} of one -vvv run's output."""
    counts = collections.defaultdict(collections.Counter)
    for match in PUT.finditer(output):
        payload = PAYLOAD.search(match.group("dest").strip("'\""))
        if payload:
            counts[match.group("host")][payload.group("module")] += 1
    return dict(counts)


def total(counter):
    return sum(counter.values())


def describe(counter):
    """'2 (capture_target_info 1, capture_target 1)': the total and the modules, most first."""
    parts = ", ".join(f"{name} {n}" for name, n in counter.most_common())
    return f"{total(counter)} ({parts})" if parts else "0"
