#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the mirrorlab.vpc collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: lab_rootfs
short_description: Build and cache a Debian root file system for the lab's capture machines
version_added: 0.1.0
description:
  - Builds a Debian root file system with C(debootstrap) into a cache directory keyed by the
    suite and the package list, so that every lab machine boots from the same tree and a
    second call costs nothing.
  - The tree is built in a temporary directory beside the cache entry and renamed into place
    only when C(debootstrap) succeeded, so a half-built tree is never used.
  - The lab's capture target has no network of its own, so every package the
    M(mirrorlab.vpc.capture) role installs on Debian must be in O(packages).
author:
  - mirrorlab developers (@mirrorlab)
options:
  suite:
    description: Debian suite (release code name).
    type: str
    default: bookworm
  mirror:
    description: Debian mirror C(debootstrap) downloads from.
    type: str
    default: http://deb.debian.org/debian
  packages:
    description:
      - Packages installed on top of the C(minbase) variant.
      - Part of the cache key, so changing the list builds a new tree.
    type: list
    elements: str
    default: [acl, ca-certificates, curl, dbus, ethtool, iproute2, iputils-ping, libcap2-bin,
              nftables, procps, python3, python3-apt, python3-boto3, systemd, systemd-sysv,
              tcpdump, wireshark-common]
  cache_dir:
    description: Directory that holds the cached trees.
    type: path
    default: /var/cache/mirrorlab/rootfs
  state:
    description:
      - C(present) builds the tree unless it is cached; C(absent) deletes this tree from the cache.
    type: str
    choices: [present, absent]
    default: present
notes:
  - Needs root and C(debootstrap) on the host.
  - Supports check mode.
"""

EXAMPLES = r"""
- name: Build (or reuse) the lab's Debian 12 root file system
  mirrorlab.vpc.lab_rootfs:
  register: rootfs

- name: Boot a machine from it
  mirrorlab.vpc.lab_machine:
    name: mlcap
    rootfs: "{{ rootfs.path }}"
"""

RETURN = r"""
path:
  description: The root file system (read it as the lower layer of an overlay; do not write to it).
  returned: always
  type: str
  sample: /var/cache/mirrorlab/rootfs/bookworm-3f2a9c1e5b7d
key:
  description: The cache key (suite and a hash of the package list).
  returned: always
  type: str
  sample: bookworm-3f2a9c1e5b7d
"""

import hashlib
import os
import shutil

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mirrorlab.vpc.plugins.module_utils.lab_host import fail_command, run, start_time

MARKER = ".mirrorlab-rootfs"


def cache_key(suite, packages):
    digest = hashlib.sha256("\n".join(sorted(set(packages))).encode()).hexdigest()[:12]
    return "{0}-{1}".format(suite, digest)


def is_built(path):
    return os.path.isfile(os.path.join(path, MARKER)) and os.path.isfile(os.path.join(path, "etc", "os-release"))


def remove_stale_builds(path):
    """Delete temporary trees of earlier runs that died (their PID is gone)."""
    parent, base = os.path.split(path)
    for entry in os.listdir(parent):
        if not entry.startswith(base + ".build-"):
            continue
        pid = entry.rsplit("-", 1)[-1]
        if pid.isdigit() and start_time(pid) is None:
            shutil.rmtree(os.path.join(parent, entry), ignore_errors=True)


def build(module, path, suite, mirror, packages):
    """Run debootstrap into a temporary sibling and rename it into place."""
    remove_stale_builds(path)
    tmp = "{0}.build-{1}".format(path, os.getpid())
    shutil.rmtree(tmp, ignore_errors=True)
    cmd = [
        module.get_bin_path("debootstrap", required=True),
        "--variant=minbase",
        "--include=" + ",".join(sorted(set(packages))),
        suite,
        tmp,
        mirror,
    ]
    rc, out, err = run(module, cmd, check=False)
    if rc != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        fail_command(module, cmd, rc, out, err)
    prepare(tmp)
    with open(os.path.join(tmp, MARKER), "w") as marker:
        marker.write("\n".join(sorted(set(packages))) + "\n")
    try:
        os.rename(tmp, path)
    except OSError:
        # Another run finished the same tree first: keep theirs.
        shutil.rmtree(tmp, ignore_errors=True)
        if not is_built(path):
            raise


def prepare(root):
    """Make the tree a clean template: every machine gets its own machine id at first boot."""
    machine_id = os.path.join(root, "etc", "machine-id")
    if os.path.exists(machine_id):
        with open(machine_id, "w"):
            pass
    # No fixed host name: systemd-nspawn then names each machine after itself.
    hostname = os.path.join(root, "etc", "hostname")
    if os.path.exists(hostname):
        os.remove(hostname)
    dbus_id = os.path.join(root, "var", "lib", "dbus", "machine-id")
    if os.path.lexists(dbus_id):
        os.remove(dbus_id)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            suite=dict(type="str", default="bookworm"),
            mirror=dict(type="str", default="http://deb.debian.org/debian"),
            packages=dict(
                type="list",
                elements="str",
                default=[
                    "acl", "ca-certificates", "curl", "dbus", "ethtool", "iproute2", "iputils-ping",
                    "libcap2-bin", "nftables", "procps", "python3", "python3-apt", "python3-boto3",
                    "systemd", "systemd-sysv", "tcpdump", "wireshark-common",
                ],
            ),
            cache_dir=dict(type="path", default="/var/cache/mirrorlab/rootfs"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    key = cache_key(params["suite"], params["packages"])
    path = os.path.join(params["cache_dir"], key)
    result = dict(changed=False, path=path, key=key)

    if params["state"] == "absent":
        if os.path.exists(path):
            result["changed"] = True
            if not module.check_mode:
                shutil.rmtree(path)
        module.exit_json(**result)

    if not is_built(path):
        result["changed"] = True
        if not module.check_mode:
            os.makedirs(params["cache_dir"], exist_ok=True)
            shutil.rmtree(path, ignore_errors=True)
            build(module, path, params["suite"], params["mirror"], params["packages"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
