"""Names: Terraform snake_case -> Kubernetes camelCase, kinds, groups and plurals.

Rules (documented in docs/generator.md):

* JSON field names are lowerCamelCase of the Terraform name (``ip_v4`` -> ``ipV4``).
  When several Terraform names of one object map to the same camelCase name, the name
  whose snake_case spelling round-trips keeps it and the others keep their Terraform
  spelling (``ip_v_4``); a numeric suffix resolves anything left.  Names are assigned in
  sorted order, so the result never depends on the schema's key order.
* Kind and short group come from the resource type: the provider prefix is dropped, the
  next word is the group and the rest the kind (``linode_lke_cluster`` -> ``lke`` /
  ``Cluster``).  A type with a single word after the prefix (``random_password``) has no
  service word: its kind lives in the provider's base group (``random.m.jetgen.dev``),
  next to ProviderConfig.
"""

from __future__ import annotations

import hashlib
import json
import keyword
import re
from collections.abc import Iterable

_WORD = re.compile(r"[A-Za-z0-9]+")


def camel(tf_name: str) -> str:
    """``ip_v4`` -> ``ipV4``; ``IPAddress`` stays ``iPAddress`` only by first-letter rule."""
    words = [w for w in tf_name.split("_") if w]
    if not words:
        return tf_name
    head, rest = words[0], words[1:]
    return head[0].lower() + head[1:] + "".join(w[0].upper() + w[1:] for w in rest)


def snake(json_name: str) -> str:
    """Inverse of :func:`camel` for names it produced: ``ipV4`` -> ``ip_v4``."""
    return re.sub(r"(?<!^)([A-Z])", r"_\1", json_name).lower()


def pascal(words: Iterable[str]) -> str:
    return "".join(w[:1].upper() + w[1:] for w in words)


def assign_json_names(tf_names: Iterable[str], taken: Iterable[str] = ()) -> dict[str, str]:
    """Map every Terraform name of one object to a distinct JSON name.

    ``taken`` are names already used in the object (they are never handed out).
    """
    used = set(taken)
    by_camel: dict[str, list[str]] = {}
    for name in sorted(set(tf_names)):
        by_camel.setdefault(camel(name), []).append(name)
    result: dict[str, str] = {}
    # Names that round-trip claim their camelCase spelling first.
    for wanted, names in sorted(by_camel.items()):
        owner = next((n for n in names if snake(wanted) == n), names[0])
        if wanted not in used:
            result[owner] = wanted
            used.add(wanted)
    for _wanted, names in sorted(by_camel.items()):
        for name in names:
            if name not in result:
                result[name] = unique(name, used)
    return result


def unique(wanted: str, used: set[str]) -> str:
    """``wanted`` or ``wanted2``, ``wanted3``... whichever is free; records the choice."""
    name, n = wanted, 1
    while name in used:
        n += 1
        name = f"{wanted}{n}"
    used.add(name)
    return name


# --- Kubernetes and Python limits ------------------------------------------------------
#
# Every name the generator derives from input passes through here, so the rules the
# apiserver and Python enforce are kept in one place:
#
# * kind / listKind: ``[A-Z][A-Za-z0-9]*`` (a Python class name too; lowercased it is a
#   DNS-1035 label), at most 63 characters with ``List`` appended, so a kind has 59;
# * plural, singular, categories: DNS-1035 labels (``[a-z]([-a-z0-9]*[a-z0-9])?``, <= 63);
# * group labels: DNS-1123 labels; a group is at most 253 characters and so is the CRD
#   name ``<plural>.<group>`` (kept well below, file names hold it and a suffix);
# * label values: <= 63, alphanumerics with ``-_.`` inside;
# * Python modules and packages: ASCII identifiers, no keywords.
#
# A name that is too long keeps a readable prefix and ends in a short hash of the whole
# name, so the result is stable and two long names sharing a prefix stay distinct.

LABEL_MAX = 63
KIND_MAX = LABEL_MAX - len("List")
GROUP_MAX = 253
CRD_NAME_MAX = 240  # 253 allowed; files are named <group>_<plural>.yaml (<= 255 bytes)
HASH_LEN = 8

_DNS1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?\Z")
_DNS1123 = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
_KIND = re.compile(r"[A-Z][A-Za-z0-9]*\Z")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?\Z")


class NoName(ValueError):
    """Nothing in the input to derive a name from."""


def stable_hash(text: str, length: int = HASH_LEN) -> str:
    """A short hex digest of ``text`` (surrogates allowed: they are hashed as escapes)."""
    data = text.encode("utf-8", "backslashreplace")
    return hashlib.sha256(data).hexdigest()[:length]


def shorten(name: str, limit: int, key: str | None = None) -> str:
    """``name`` if it fits, else its first characters and a hash of ``key or name``."""
    if len(name) <= limit:
        return name
    return name[: limit - HASH_LEN] + stable_hash(key or name)


def is_dns1035(name: str) -> bool:
    return len(name) <= LABEL_MAX and bool(_DNS1035.match(name))


def is_dns1123_label(name: str) -> bool:
    return len(name) <= LABEL_MAX and bool(_DNS1123.match(name))


def is_dns1123_subdomain(name: str) -> bool:
    return len(name) <= GROUP_MAX and all(is_dns1123_label(p) for p in name.split("."))


def is_kind(name: str) -> bool:
    return len(name) <= KIND_MAX and bool(_KIND.match(name))


def is_label_value(value: str) -> bool:
    return len(value) <= LABEL_MAX and bool(_LABEL_VALUE.match(value))


def words(text: str) -> list[str]:
    """The ASCII letter/digit runs of a Terraform name: ``x_x_-`` -> ``["x", "x"]``."""
    return _WORD.findall(text)


def dns_label(text: str, fallback: str = "x") -> str:
    """A DNS-1035 label for ``text``: lowercase words joined by ``-``, starting with a
    letter, shortened with a hash; ``Prov`` -> ``prov``, ``p_q`` -> ``p-q``,
    ``9prov`` -> ``x9prov``."""
    label = "-".join(w.lower() for w in words(text)) or fallback
    if not label[0].isalpha():
        label = fallback + label
    return shorten(label, LABEL_MAX, key=text)


def kind_name(text: str, limit: int = KIND_MAX) -> str:
    """A valid kind from a PascalCase candidate: non-alphanumerics dropped, a leading
    letter ensured, shortened with a hash."""
    kind = "".join(words(text))
    kind = kind[:1].upper() + kind[1:]
    if not kind[:1].isalpha():
        kind = "X" + kind
    return shorten(kind, limit, key=text)


def python_identifier(text: str, fallback: str = "x") -> str:
    """An ASCII identifier that is no keyword: ``9prov`` -> ``x9prov``, ``class`` ->
    ``class_``."""
    ident = "_".join(words(text)) or fallback
    if ident[0].isdigit():
        ident = fallback + ident
    if keyword.iskeyword(ident) or keyword.issoftkeyword(ident):
        ident += "_"
    return ident


def class_name(text: str) -> str:
    """A Python class name for a JSON property (``~x`` -> ``X``, ``2x`` -> ``X2x``)."""
    name = pascal(words(text)) or "Field"
    if not name[0].isalpha():
        name = "X" + name
    if keyword.iskeyword(name):
        name += "Model"
    return shorten(name, 80, key=text)


# --- kinds and groups ----------------------------------------------------------------


def split_type(resource_type: str, provider: str) -> tuple[str | None, str]:
    """Return (short group or None for the base group, Kind) of a resource type.

    Words are the ASCII letter/digit runs between underscores; the group word becomes a
    DNS label and the kind a valid kind (:func:`kind_name`), so a hostile type name
    (``x_x_-``, ``a.b``) still gives names the apiserver accepts.  A type with no word at
    all (``""``, ``_``) raises :class:`NoName`: there is nothing to name its kind after."""
    group, candidate = natural_kind(resource_type, provider)
    return group, kind_name(candidate)


def natural_kind(resource_type: str, provider: str) -> tuple[str | None, str]:
    """(short group, the kind before Kubernetes limits): ``PascalCase`` of the words."""
    parts = [w for w in resource_type.split("_") if words(w)]
    if len(parts) > 1 and parts[0] == provider:
        parts = parts[1:]
    if not parts:
        raise NoName("has no letters or digits to name a kind after")
    if len(parts) == 1:
        group = None
        candidate = pascal(["".join(words(parts[0]))])
    else:
        group = dns_label(parts[0])
        candidate = pascal("".join(words(p)) for p in parts[1:])
    if not candidate[:1].isalpha():  # "aws_s3_2fa": a kind must start with a letter
        candidate = pascal(words(group or provider)) + candidate
    return group, candidate


def disambiguate(kind: str, key: str) -> str:
    """Another valid kind for ``kind`` when its name is taken in its group: a short hash
    of ``key`` (the Terraform type) appended, stable whatever else the schema holds."""
    return kind_name(kind[: KIND_MAX - 6] + "X" + stable_hash(key, 5))


def plural(kind: str) -> str:
    """Lowercase English plural: policy -> policies, address -> addresses, key -> keys.

    Other words ending in "s" are taken to be plural already (``Settings``,
    ``AccessControls``) and kept.
    """
    word = kind.lower()
    if word.endswith(("ss", "us", "as", "is", "x", "z", "ch", "sh")):
        return word + "es"
    if word.endswith("s"):
        return word
    if word.endswith("y") and len(word) > 1 and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def group_name(short: str | None, provider: str, suffix: str, namespaced: bool) -> str:
    """``lke`` + ``linode`` -> ``lke.linode.m.jetgen.dev`` (namespaced, Crossplane v2)."""
    base = f"{provider}.m.{suffix}" if namespaced else f"{provider}.{suffix}"
    return f"{short}.{base}" if short else base


def provider_name(source_name: str) -> str:
    """The provider's Kubernetes name (groups, labels, categories): a DNS-1035 label."""
    return source_name if is_dns1035(source_name) else dns_label(source_name, fallback="p")


def snake_kind(kind: str) -> str:
    """``NodeBalancerConfig`` -> ``node_balancer_config`` (module and file names)."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", kind).lower()


# --- CEL -----------------------------------------------------------------------------

# Kubernetes escapes these property names in CEL expressions (apiextensions docs).
CEL_RESERVED = frozenset(
    "true false null in as break const continue else for function if import let loop "
    "package namespace return var void while".split()
)
# Only names of this shape are visible to CEL at all (others are left out of the type).
_CEL_ACCESSIBLE = re.compile(r"[a-zA-Z_.\-/][a-zA-Z0-9_.\-/]*\Z")


def cel_accessible(name: str) -> bool:
    """Whether CEL can name property ``name`` (``2x``, ``~x``, names with spaces: no)."""
    return bool(_CEL_ACCESSIBLE.match(name))


def cel_property(name: str) -> str:
    """How CEL spells access to property ``name`` (``namespace`` -> ``__namespace__``).

    Only for names where :func:`cel_accessible` holds."""
    if name in CEL_RESERVED:
        return f"__{name}__"
    return (
        name.replace("__", "__underscores__")
        .replace(".", "__dot__")
        .replace("-", "__dash__")
        .replace("/", "__slash__")
    )


def message_text(text: str) -> str:
    """``text`` fit for a validation message or a one-line error: line breaks and other
    control characters escaped (JSON style), never raw."""
    return _UNPRINTABLE.sub(lambda m: json.dumps(m.group())[1:-1], text)


_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def package_name(provider: str) -> str:
    """The generated Python package of a provider: ``linode`` -> ``linode_provider``."""
    return python_identifier(provider) + "_provider"
