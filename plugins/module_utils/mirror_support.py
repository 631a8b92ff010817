# -*- coding: utf-8 -*-

# Copyright: Contributors to the mirrorlab project
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Which EC2 instance types AWS documents as usable Traffic Mirroring sources.

The whole documented rule lives in SOURCE_INSTANCE_SUPPORT, with the page it was read from
and the date it was read. When AWS changes the page, change this one structure (and the
date); the resolver and its tests read everything from here.

The page states the rule as exclusions, not as a list of every supported type:
  * virtualized Nitro types: supported, except the families listed under
    "not available on the following virtualized Nitro instance types";
  * bare metal: not supported;
  * non-Nitro (Xen) types: only the families listed (C4, D2, G3, G3s, H1, I3, M4, P2, P3, R4,
    X1, X1e; "this does not include T2 instances").

The page does not say which families are Xen-based; `xen_families` is the list of Xen-based
(previous generation) families: the families that the EC2 documentation on instances built on
the Nitro System (`xen_families_from`) does not list. A family in neither list is a current
Nitro family and therefore supported: every family AWS has launched since 2018 runs on Nitro,
and new families only appear on the page when they are excluded.

`xen_families` is the project's one list of Xen families: the experiment model refuses them as
capture instance types (traffic mirroring targets are built for Nitro) from here too.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


SOURCE_INSTANCE_SUPPORT = {
    "url": "https://docs.aws.amazon.com/vpc/latest/mirroring/traffic-mirroring-network-limitations.html",
    "also_on": "https://docs.aws.amazon.com/vpc/latest/mirroring/traffic-mirroring-sessions.html",
    "section": "Traffic Mirroring limitations > General limitations > Instance types",
    # The page carries no "last updated" date; this is the day its text was read and copied
    # here (the version that lists M8g, C8g, R8g and X8g among the exclusions).
    "retrieved": "2026-11-27",
    "unsupported_nitro_families": frozenset(
        [
            # General purpose
            "m8g", "m6a", "m6i", "m6id", "m6idn", "m6in", "m7a", "m7g", "m7gd", "m7i", "m7i-flex",
            # Compute optimized
            "c8g", "c6a", "c6gd", "c6gn", "c6i", "c6id", "c6in", "c7a", "c7g", "c7gd", "c7gn", "c7i",
            # Memory optimized
            "r8g", "r6a", "r6i", "r6id", "r6idn", "r6in", "r7a", "r7g", "r7gd", "r7i", "r7iz",
            "x8g", "x2idn", "x2iedn", "x2iezn",
            # Storage optimized
            "i4g", "i4i", "im4gn", "is4gen",
            # Accelerated computing
            "inf2", "p5", "trn1", "trn1n",
            # High-performance computing
            "hpc6a", "hpc6id", "hpc7a", "hpc7g",
        ]
    ),
    "bare_metal_supported": False,
    "supported_xen_families": frozenset(
        ["c4", "d2", "g3", "g3s", "h1", "i3", "m4", "p2", "p3", "r4", "x1", "x1e"]
    ),
    "xen_families_from": "https://docs.aws.amazon.com/ec2/latest/instancetypes/ec2-nitro-instances.html",
    "xen_families": frozenset(
        [
            "c1", "c3", "c4", "cc2", "cg1", "cr1", "d2", "f1", "g2", "g3", "g3s", "h1", "hi1", "hs1",
            "i2", "i3", "m1", "m2", "m3", "m4", "p2", "p3", "r3", "r4", "t1", "t2", "x1", "x1e",
        ]
    ),
}


def split_instance_type(instance_type):
    """'m5.large' -> ('m5', 'large'). Raises ValueError for a string that is not a type."""
    family, sep, size = (instance_type or "").strip().lower().partition(".")
    if not sep or not family or not size:
        raise ValueError(f"{instance_type!r} is not an EC2 instance type (family.size)")
    return family, size


def source_support(instance_type, support=None):
    """Whether an instance type can be a mirror source: (True, None) or (False, reason)."""
    support = support or SOURCE_INSTANCE_SUPPORT
    family, size = split_instance_type(instance_type)
    where = f"(AWS Traffic Mirroring limitations, read {support['retrieved']})"
    if size.startswith("metal") and not support["bare_metal_supported"]:
        return False, f"instance type {instance_type} is bare metal, not supported as a mirror source {where}"
    if family in support["xen_families"]:
        if family in support["supported_xen_families"]:
            return True, None
        return False, (
            f"instance type {instance_type} is a non-Nitro type that is not supported as a mirror "
            f"source {where}"
        )
    if family in support["unsupported_nitro_families"]:
        return False, f"instance family {family} is not supported as a mirror source {where}"
    return True, None
