#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the mirrorlab.vpc collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: capture_archive_check
short_description: Check the capture archive in S3 against what each drained capture instance listed
version_added: 0.4.0
description:
  - Part of the AWS teardown, after the entry point C(drain) of the role M(mirrorlab.vpc.capture)
    stopped each instance's capture and archived its files.
  - For each instance whose drain reported its files (name, S3 key, final size), lists the archive
    under the report's prefix (a paginated C(ListObjectsV2)) and names every file the archive lacks
    or holds with another size.
  - An instance that could not be reached, or that never had a capture, is reported and does not
    count as a gap; the archive holds what it holds.
  - With O(require_complete=true) the module fails, naming the files, when a reached instance has a
    file the archive lacks or could not drain at all; its instance must not be deleted yet.
author:
  - mirrorlab developers (@mirrorlab)
options:
  results:
    description:
      - The drain task's results, one per instance (the role's fact C(capture_drain)); each is a
        task result with C(item) (the instance), and C(stdout), C(rc), C(skipped), C(unreachable),
        C(failed), C(msg) as Ansible sets them.
    type: list
    elements: dict
    required: true
  require_complete:
    description: Fail when a reached instance's files are not all in the archive.
    type: bool
    default: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
attributes:
  check_mode:
    support: full
    description: Reads only, in check mode or not.
seealso:
  - module: mirrorlab.vpc.capture_files
"""

EXAMPLES = r"""
- name: Stop the capture instances' capture and archive every file left
  ansible.builtin.include_role:
    name: mirrorlab.vpc.capture
    tasks_from: drain
  vars:
    capture_drain_hosts: "{{ groups['mirrorlab_capture'] }}"

- name: Check the archive against each instance's list
  mirrorlab.vpc.capture_archive_check:
    region: eu-west-1
    results: "{{ capture_drain }}"
  register: archive_check
"""

RETURN = r"""
instances:
  description: One per result, with C(instance), C(state) (C(drained), C(unreachable), C(not configured),
    C(failed)), C(files), C(bytes), C(archive) and C(gaps) (the files the archive lacks).
  returned: always
  type: list
  elements: dict
  sample:
    - {instance: i-0123456789abcdef0, state: drained, files: 3, bytes: 123456,
       archive: s3://demo-capture-bucket/pcap/i-0123456789abcdef0/, gaps: []}
complete:
  description: True when every reached instance's files are all in the archive.
  returned: always
  type: bool
lines:
  description: One line per instance for the teardown's output.
  returned: always
  type: list
  elements: str
"""

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.mirrorlab.vpc.plugins.module_utils import captures


def archived_sizes(s3, archive):
    """{key: size} of the archive's objects under the report's prefix."""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=archive["bucket"], Prefix=archive["prefix"])
    return dict((o["Key"], o["Size"]) for page in pages for o in page.get("Contents", []))


def check(module, s3, result):
    instance = result.get("item", "?")  # the drain's loop item: the instance's inventory name
    state, detail = captures.drain_outcome(result)
    entry = {"instance": instance, "state": state, "files": 0, "bytes": 0, "archive": None, "gaps": []}
    if state != "drained":
        entry["reason"] = detail
        return entry, captures.drain_summary(instance, state, detail)
    entry.update(files=len(detail["files"]), bytes=sum(f["bytes"] for f in detail["files"]),
                 archive=captures.archive_url(detail))
    archived = {}
    if detail.get("archive"):
        try:
            archived = archived_sizes(s3, detail["archive"])
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            module.fail_json_aws(e, msg="Cannot list the capture archive {0}".format(entry["archive"]))
    entry["gaps"] = captures.archive_gaps(detail, archived)
    return entry, captures.drain_summary(instance, state, detail, entry["gaps"])


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            results=dict(type="list", elements="dict", required=True),
            require_complete=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    s3 = module.client("s3")
    instances, lines = [], []
    for result in module.params["results"]:
        entry, line = check(module, s3, result)
        instances.append(entry)
        lines.append(line)
    complete = not any(e["gaps"] or e["state"] == "failed" for e in instances)
    if module.params["require_complete"] and not complete:
        module.fail_json(
            msg="The capture is not all archived: {0}. The instances are kept (the mirroring is gone, nothing more is "
                "captured): fix what stopped the upload (the housekeeping journal on the instance: journalctl -u "
                "mirrorlab-capture-housekeeping) and run teardown.yml again, or give up these files with "
                "mirrorlab_discard_captures: true.".format("; ".join(
                    line for line, e in zip(lines, instances) if e["gaps"] or e["state"] == "failed")),
            instances=instances, lines=lines, complete=False)
    module.exit_json(changed=False, instances=instances, complete=complete, lines=lines)


if __name__ == "__main__":
    main()
