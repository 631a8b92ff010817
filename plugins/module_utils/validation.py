# -*- coding: utf-8 -*-

# Copyright: Contributors to the mirrorlab project
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Checks a value against its declaration in model.py and returns it normalized.

``check(option, value, path, errors, hooks)`` applies what an ``Option`` declares (type,
choices, range, pattern, nested keys, list items, variants) and reports every problem to
``errors`` as ``"<prefix><path>: <rule>"``; it never stops at the first one. An option's
``kind`` names a check the declaration cannot express (``hooks[kind]``); for a mapping or a
list the generic part is then only "is it a mapping / a list" and the hook does the rest.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import re

from ansible_collections.mirrorlab.vpc.plugins.module_utils.model import Option

_INT_RE = re.compile(r"^\s*-?\d+\s*$")
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")
EMPTY = (None, "", {}, [])


class Errors(object):
    """Collects "<prefix><path>: <rule>" messages."""

    def __init__(self, prefix=""):
        self.prefix = prefix
        self.messages = []

    def add(self, path, message):
        self.messages.append("%s%s: %s" % (self.prefix, path, message))

    def __len__(self):
        return len(self.messages)


def join(path, name):
    return "%s.%s" % (path, name) if path else name


def is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def as_int(value):
    """An int from an int or a decimal string (Ansible often passes strings); else None."""
    if is_int(value):
        return value
    if isinstance(value, str) and _INT_RE.match(value):
        return int(value)
    return None


def edit_distance(a, b):
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def nearest(name, known, limit=None):
    """The known name closest to ``name`` if it is close enough to be a typing mistake, else None.

    Close enough: at most ``limit`` edits, by default 2 or a third of the name, whichever is more."""
    if not isinstance(name, str) or not known:
        return None
    limit = max(2, len(name) // 3) if limit is None else limit
    distance, best = min((edit_distance(name, k), k) for k in known)
    return best if distance <= limit else None


def unknown_keys(errors, path, value, known, what="unknown key"):
    """Report every key of ``value`` that is not ``known``, suggesting the nearest known one."""
    for key in sorted(set(value) - set(known), key=str):
        close = nearest(key, known)
        errors.add(join(path, key), "%s (known: %s)%s" % (
            what, ", ".join(sorted(known)), "; did you mean %s?" % close if close else ""))


def has_control_characters(text):
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


def choices_text(choices):
    if len(choices) == 2:
        return "%s or %s" % choices
    return "one of %s" % ", ".join(choices)


def int_rule(option):
    """The rule an integer option states when a value breaks it."""
    null = " or null" if option.nullable else ""
    if option.zero:
        return "must be 0 (%s) or an integer %d-%d%s" % (option.zero, option.minimum, option.maximum, null)
    if option.maximum is None:
        return "must be an integer of at least %d%s" % (option.minimum, null)
    return "must be an integer %d-%d%s" % (option.minimum, option.maximum, null)


def _rule(option, value, fallback):
    text = option.rule or fallback
    return text % (value,) if "%r" in text else text


def check(option, value, path, errors, hooks=None, top=False):
    """``value`` checked against ``option``: the normalized value, or None when it is invalid
    (the problems are in ``errors``). ``top``: null means the default (a variable not set)."""
    hooks = hooks or {}
    if value is None and (top or option.none_is_default):
        value = copy.deepcopy(option.default)
        if value is None:
            return None
    if value is None and option.nullable:
        return None
    kind = option.type
    if option.choices is not None and value not in option.choices:
        errors.add(path, "must be %s, got %r" % (choices_text(option.choices), value))
        return None
    if kind in ("str", "path"):
        # A hook marked checks_pattern checks the option's pattern itself (to say what breaks it).
        value = _check_str(option, value, path, errors,
                           pattern=not getattr(hooks.get(option.kind), "checks_pattern", False))
    elif kind == "int":
        value = _check_int(option, value, path, errors)
    elif kind == "bool":
        value = check_bool(errors, path, value)
    elif kind == "dict":
        value = _check_dict(option, value, path, errors, hooks)
        if value is None or option.kind in hooks:
            return _hook(option, value, path, errors, hooks)
        return value
    elif kind == "list":
        value = _check_list(option, value, path, errors, hooks)
        if value is None or option.kind in hooks:
            return _hook(option, value, path, errors, hooks)
        return value
    else:  # pragma: no cover - a declaration mistake
        raise ValueError("%s: unknown type %r" % (option.name, kind))
    return _hook(option, value, path, errors, hooks)


def _hook(option, value, path, errors, hooks):
    if value is None or option.kind not in hooks:
        return value
    return hooks[option.kind](option, value, path, errors)


def _check_str(option, value, path, errors, pattern=True):
    if not isinstance(value, str):
        errors.add(path, _rule(option, value, "must be a string, got %r"))
        return None
    if has_control_characters(value):
        errors.add(path, "must not contain a newline or another control character, got %r" % (value,))
        return None
    if value == "" and option.allow_empty:
        return value
    if pattern and option.pattern is not None and not re.match(option.pattern, value) or value in option.not_in:
        errors.add(path, _rule(option, value, "must match %s, got %%r" % option.pattern))
        return None
    return value


def _check_int(option, value, path, errors):
    number = as_int(value)
    if number is None or not (
        (number == 0 and option.zero)
        or (option.minimum is None or number >= option.minimum) and (option.maximum is None or number <= option.maximum)
    ):
        errors.add(path, "%s, got %r" % (int_rule(option), value))
        return None
    return number


def check_bool(errors, path, value):
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _TRUE + _FALSE:
        return value.lower() in _TRUE
    errors.add(path, "must be a boolean (true or false), got %r" % (value,))
    return None


def _check_dict(option, value, path, errors, hooks):
    if not isinstance(value, dict):
        if option.options is not None and not option.rule:
            errors.add(path, "must be a mapping with keys %s" % ", ".join(sorted(o.name for o in option.options)))
        else:
            errors.add(path, _rule(option, value, "must be a mapping"))
        return None
    if option.options is None:
        return copy.deepcopy(value)
    known = [o.name for o in option.options]
    unknown_keys(errors, path, value, known)
    merged = dict((o.name, copy.deepcopy(o.default)) for o in option.options)
    merged.update(dict((k, v) for k, v in value.items() if k in known))
    if option.kind in hooks:
        return merged
    return dict((o.name, check(o, merged[o.name], join(path, o.name), errors, hooks)) for o in option.options)


def _check_list(option, value, path, errors, hooks):
    if not isinstance(value, list) or (option.min_items and len(value) < option.min_items):
        errors.add(path, _rule(option, value, "must be a list"))
        return None
    if option.kind in hooks:
        return value
    if option.variants is not None:
        return [item for dummy, item in check_variant_items(option, value, path, errors, hooks)]
    if option.elements == "dict" and option.options is not None:
        item = Option(option.name, "dict", options=option.options)
        return [check(item, v, "%s[%d]" % (path, i), errors, hooks) for i, v in enumerate(value)]
    if not isinstance(option.elements, Option):
        return copy.deepcopy(value)
    item = option.elements
    items = [check(item, v, "%s[%d]" % (path, i), errors, hooks) for i, v in enumerate(value)]
    if option.unique and len(set(map(str, value))) != len(value):
        errors.add(path, option.unique if isinstance(option.unique, str) else "must not list an item twice")
    return items


def _a(word):
    return ("an " if word[0] in "aeiou" else "a ") + word


def check_variant_items(option, value, path, errors, hooks=None):
    """The valid items of a list of mappings told apart by ``type``, as [(index, item)]: each item
    with its variant's keys only, exactly one key of each group given, every value checked.
    Empty values (null, "") are dropped from the items."""
    names = sorted(option.variants)
    valid = []
    for index, item in enumerate(value):
        item_path = "%s[%d]" % (path, index)
        if not isinstance(item, dict):
            errors.add(item_path, "must be a mapping with a type (%s)" % ", ".join(names))
            continue
        kind = item.get("type")
        if kind not in option.variants:
            errors.add(item_path + ".type", "must be one of %s, got %r" % (", ".join(names), kind))
            continue
        variant = option.variants[kind]
        allowed = ["type"] + [o.name for o in variant.options]
        before = len(errors)
        unknown_keys(errors, item_path, item, allowed, what="unknown key for %s %s" % (_a(kind), option.item))
        for group in variant.groups:
            given = [k for k in group if item.get(k) not in EMPTY]
            if not given:
                errors.add(item_path, "%s %s needs %s" % (_a(kind), option.item, " or ".join(group)))
            elif len(given) > 1:
                errors.add(item_path, "%s %s takes only one of %s" % (_a(kind), option.item, ", ".join(group)))
        for sub in variant.options:
            if item.get(sub.name) not in (None, ""):
                check(sub, item[sub.name], join(item_path, sub.name), errors, hooks)
        if len(errors) == before:
            valid.append((index, dict((k, v) for k, v in item.items() if v not in (None, ""))))
    return valid
