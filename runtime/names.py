"""The rules for every name a user writes, checked before it goes near a request.

Names in a spec become URL path segments (Secret and ProviderConfig names, referenced
objects), label selectors and Secret data keys.  The generated CRDs carry the same rules
as ``pattern`` / ``maxLength`` (the :class:`Rule` constants here are their one source,
see generator/openapi.py), so the apiserver normally refuses a bad name first; the runtime
checks again because a CRD can be old or edited, and a pass must never build a request
from an unchecked name.

Each rule is Kubernetes' own: object names are DNS-1123 subdomains, namespaces DNS-1123
labels, Secret keys ``[-._a-zA-Z0-9]+`` (not ``.`` or ``..``), label keys and values the
label syntax.  A namespaced object reaches only its own namespace.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from jetgen.runtime.errors import ReconcileError


class InvalidName(ReconcileError):
    """A name in a spec breaks its rule; the message names the field."""


@dataclass(frozen=True)
class Rule:
    pattern: str  # RE2 and Python agree on these (anchored, no look-around)
    max_length: int
    what: str  # for messages

    def ok(self, value: object) -> TypeGuard[str]:
        return (
            isinstance(value, str)
            and 0 < len(value) <= self.max_length
            and re.fullmatch(self.pattern, value) is not None
        )


_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_QUALIFIED = r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_NAME = r"([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]"  # a qualified name of <= 63

OBJECT_NAME = Rule(
    rf"^{_LABEL}(\.{_LABEL})*$",
    253,
    "a DNS-1123 subdomain: lowercase letters, digits, '-' and '.', at most 253 characters",
)
NAMESPACE = Rule(
    rf"^{_LABEL}$",
    63,
    "a DNS-1123 label: lowercase letters, digits and '-', at most 63 characters",
)
# Kubernetes also refuses '.', '..' and a leading '..' (see secret_key).
SECRET_KEY = Rule(
    r"^[-._a-zA-Z0-9]+$",
    253,
    "a Secret key: letters, digits, '-', '_' and '.', not '.' or '..' or starting with '..',"
    " at most 253 characters",
)
LABEL_VALUE = Rule(
    rf"^({_QUALIFIED})?$",
    63,
    "a label value: at most 63 letters, digits, '-', '_' and '.', beginning and ending"
    " with a letter or digit",
)
LABEL_KEY = Rule(
    rf"^({_LABEL}(\.{_LABEL})*/)?{_LABEL_NAME}$",
    317,  # a 253-character prefix, '/', a 63-character name
    "a label key: an optional DNS subdomain prefix and '/', then at most 63 letters,"
    " digits, '-', '_' and '.'",
)
LABEL_NAME_MAX = 63
LABEL_PREFIX_MAX = 253


def _fail(field: str, value: Any, rule: Rule) -> InvalidName:
    shown = repr(value) if not isinstance(value, str) or len(value) <= 64 else repr(value[:64])
    suffix = "..." if isinstance(value, str) and len(value) > 64 else ""
    return InvalidName(f"{field}: {shown}{suffix} is not {rule.what}")


def check(field: str, value: Any, rule: Rule) -> str:
    """``value`` if it follows ``rule``; else :class:`InvalidName` naming ``field``."""
    if not rule.ok(value):
        raise _fail(field, value, rule)
    return value


def object_name(field: str, value: Any) -> str:
    return check(field, value, OBJECT_NAME)


def namespace(field: str, value: Any) -> str:
    return check(field, value, NAMESPACE)


def secret_key(field: str, value: Any) -> str:
    # A CRD pattern cannot say "not '.'" without look-ahead; the runtime can.
    if isinstance(value, str) and (value == "." or value.startswith("..")):
        raise _fail(field, value, SECRET_KEY)
    return check(field, value, SECRET_KEY)


def label_key(field: str, value: Any) -> str:
    key = check(field, value, LABEL_KEY)
    prefix, _, name = key.rpartition("/")
    if len(name) > LABEL_NAME_MAX or len(prefix) > LABEL_PREFIX_MAX:
        raise _fail(field, key, LABEL_KEY)
    return key


def label_value(field: str, value: Any) -> str:
    if value == "":
        return ""
    return check(field, value, LABEL_VALUE)


def match_labels(field: str, labels: Any) -> dict[str, str]:
    """A selector's ``matchLabels``, every key and value checked."""
    if not isinstance(labels, Mapping):
        raise InvalidName(f"{field}: must be a map of label keys to values")
    for key, value in labels.items():
        label_key(f"{field} key", key)
        label_value(f"{field}[{key}]", value)
    return dict(labels)


def own_namespace(field: str, requested: Any, own: str | None) -> str | None:
    """The namespace a reference may reach: a namespaced object (``own`` set) only its
    own -- naming another is refused, not ignored, so the user sees why; a cluster-scoped
    object the one it names."""
    if requested in (None, ""):
        return own
    name = namespace(field, requested)
    if own is not None and name != own:
        raise InvalidName(
            f"{field}: {name!r} is another namespace; a namespaced object may only"
            f" refer to its own namespace ({own!r})"
        )
    return name
