# -*- coding: utf-8 -*-

# Copyright: Contributors to the mirrorlab project
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Which VNI each source ENI's sessions carry, and the VNI map file (docs/report.md).

The one rule of ``mirrorlab_session.vni_per_eni``: the source ENIs sorted by id, the i-th
gets ``mirrorlab_session.vni + i``; without the option every ENI's first session carries
``mirrorlab_session.vni``. Further sessions (``mirrorlab_session.extra``) carry their own VNI
on every ENI. ``vni_map`` gives the content of ``vni-map.json``: per VNI the ENI (when one VNI
is one ENI), its zone, description and source, and the session number.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.mirrorlab.vpc.plugins.module_utils import model

VNI_MAP_NAME = "vni-map.json"


def eni_vnis(session, eni_ids):
    """{ENI id: VNI of its first session}. Raises ValueError when a VNI would exceed the maximum."""
    enis = sorted(set(eni_ids))
    if not session.get("vni_per_eni"):
        return dict((eni, session["vni"]) for eni in enis)
    last = session["vni"] + len(enis) - 1
    if last > model.VNI_MAX:
        raise ValueError("mirrorlab_session.vni_per_eni: %d source ENIs from VNI %d need VNIs up to %d, above the "
                         "maximum %d; lower mirrorlab_session.vni" % (len(enis), session["vni"], last, model.VNI_MAX))
    return dict((eni, session["vni"] + index) for index, eni in enumerate(enis))


def _entry(eni, session_number):
    entry = {"eni": eni["id"], "session_number": session_number}
    for key in ("zone", "description", "source"):
        if eni.get(key) not in (None, ""):
            entry[key] = eni[key]
    return entry


def vni_map(session, enis):
    """The VNI map of the sessions on ``enis`` (dicts with ``id`` and optionally ``zone``,
    ``description``, ``source``): {"vnis": {"<VNI>": {...}}}. A VNI shared by several ENIs
    names them all in ``enis`` (its ``eni`` is then left out: it is not one ENI)."""
    by_id = dict((eni["id"], eni) for eni in enis)
    carriers = {}  # VNI -> [(ENI id, session number)]
    for eni, vni in sorted(eni_vnis(session, by_id).items()):
        carriers.setdefault(vni, []).append((eni, session["session_number"]))
    for extra in session.get("extra") or []:
        for eni in sorted(by_id):
            carriers.setdefault(extra["vni"], []).append((eni, extra["session_number"]))
    vnis = {}
    for vni, users in sorted(carriers.items()):
        if len(users) == 1:
            eni, number = users[0]
            vnis[str(vni)] = _entry(by_id[eni], number)
        else:
            vnis[str(vni)] = {"enis": sorted(set(eni for eni, dummy in users)),
                              "session_numbers": sorted(set(number for dummy, number in users))}
    return {"vnis": vnis}


def other_vnis(session, vnis_by_eni):
    """Every VNI the sessions carry besides mirrorlab_session.vni, sorted (one more capture link
    each): the per-ENI VNIs of vni_per_eni and the further sessions' VNIs."""
    vnis = set(vnis_by_eni.values()) | set(extra["vni"] for extra in session.get("extra") or [])
    return sorted(vnis - set([session["vni"]]))


def extra_sessions(session):
    """The further sessions as the mirroring template takes them (mirroring_extra_sessions)."""
    return [{"session_number": extra["session_number"], "vni": extra["vni"], "packet_length": extra["packet_length"],
             "rules": extra["filter"]["rules"]} for extra in session.get("extra") or []]


def dumps(data):
    return json.dumps(data, indent=2, sort_keys=True) + "\n"
