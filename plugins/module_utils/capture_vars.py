# -*- coding: utf-8 -*-

# Copyright: Contributors to the mirrorlab project
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The capture role's variables (model.CAPTURE) checked, normalized and turned into links.

Two callers, one set of rules:

* ``experiment_info`` checks ``mirrorlab_capture`` (keys without the ``capture_`` prefix, the
  VNI from ``mirrorlab_session``) and returns the ready ``capture_*`` variables
  (``experiment.capture_vars``); messages name ``mirrorlab_capture.<key>``.
* the capture role checks its own ``capture_*`` variables on the controller (the action plugin
  ``mirrorlab.vpc.capture_vars``) and gets ``capture_links``; messages name ``capture_<key>``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.mirrorlab.vpc.plugins.module_utils import model
from ansible_collections.mirrorlab.vpc.plugins.module_utils.validation import (
    check,
    has_control_characters,
    join,
    unknown_keys,
)

OPTIONS = model.by_name(model.CAPTURE)
SETTABLE = [option for option in model.CAPTURE if option.settable is None]
EXTRA_LINK_PREFIX = "capv"
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_environment(option, value, path, errors):
    """Environment variables for an EnvironmentFile: names, and one-line values."""
    for key in sorted(value, key=str):
        if not isinstance(key, str) or not ENV_NAME_RE.match(key):
            errors.add(join(path, str(key)), "must be an environment variable name (letters, digits, _), got %r" % (key,))
        elif not isinstance(value[key], (str, int)) or isinstance(value[key], bool) or has_control_characters(str(value[key])):
            errors.add(join(path, key), "must be a string or number without newlines or other control characters")
    return value


HOOKS = {"environment": check_environment}


def links(link_name, vni, extra_vnis):
    """The capture links: the session's (``link_name``) and one ``capv<VNI>`` per extra VNI."""
    return [{"name": link_name, "vni": vni}] + [{"name": "%s%d" % (EXTRA_LINK_PREFIX, v), "vni": v} for v in extra_vnis]


def check_settings(values, errors, path, name_of, vni, vni_name):
    """Check the settings ``values`` (keys without prefix); returns them normalized.

    ``name_of(key)`` is how a message names another key; ``vni``/``vni_name`` are the session's
    VNI and its variable (``mirrorlab_session.vni``; None: ``values["vni"]``). The cross-field rules
    use each key's value, or its default when it is not in ``values``.
    """
    normalized = {}
    for key in values:
        if key in OPTIONS:
            normalized[key] = check(OPTIONS[key], values[key], join(path, key), errors, HOOKS)
    effective = dict(model.default_of(model.CAPTURE), **dict((k, v) for k, v in normalized.items()))
    if vni is None:
        vni = normalized.get("vni")
    extra = effective["extra_vnis"]
    if isinstance(extra, list) and None not in extra and vni is not None:
        if len(set([vni] + extra)) != len(extra) + 1:
            errors.add(join(path, "extra_vnis"), "must not repeat a VNI or %s (%s): one link per VNI" % (vni_name, vni))
    total, rotate = effective["max_total_mb"], effective["rotate_mb"]
    if total is not None and rotate is not None and isinstance(extra, list):
        need = 2 * rotate * (len(extra) + 1)
        if total < need:
            errors.add(join(path, "max_total_mb"),
                       "must be at least 2 x %s x links (%d), got %d: each link's open file counts too"
                       % (name_of("rotate_mb"), need, total))
    return normalized


def check_mirrorlab_capture(value, errors, session_vni):
    """``mirrorlab_capture`` checked. Returns (settings, capture_vars) or (None, None):
    ``settings`` every settable key (defaults filled in), ``capture_vars`` the ``capture_*``
    variables of the keys the user set plus ``capture_vni`` (the session's VNI)."""
    before = len(errors)
    known = [option.name for option in SETTABLE]
    for key in sorted(value, key=str):
        if key in OPTIONS and OPTIONS[key].settable is not None:
            errors.add("capture.%s" % key, OPTIONS[key].settable)
    unknown_keys(errors, "capture", dict((k, v) for k, v in value.items() if k not in OPTIONS), known)
    given = dict((k, v) for k, v in value.items() if k in OPTIONS and OPTIONS[k].settable is None)
    normalized = check_settings(given, errors, "capture", lambda key: "%scapture.%s" % (model.PREFIX, key),
                                session_vni, "%ssession.vni" % model.PREFIX)
    if len(errors) > before:
        return None, None
    settings = dict((option.name, normalized.get(option.name, option.default)) for option in SETTABLE)
    capture_vars = dict((model.CAPTURE_PREFIX + key, normalized[key]) for key in sorted(normalized))
    if session_vni is not None:
        capture_vars[model.CAPTURE_PREFIX + "vni"] = session_vni
    return settings, capture_vars


def check_role_variables(variables, errors):
    """The capture role's own variables (``capture_<key>``: value) checked; returns the links,
    or None when a variable is invalid. A variable not given takes its default."""
    values = dict((option.name, variables.get(model.CAPTURE_PREFIX + option.name, option.default))
                  for option in model.CAPTURE)
    before = len(errors)
    normalized = check_settings(values, errors, "", lambda key: model.CAPTURE_PREFIX + key,
                                None, model.CAPTURE_PREFIX + "vni")
    if len(errors) > before:
        return None
    return links(normalized["link_name"], normalized["vni"], normalized["extra_vnis"])
