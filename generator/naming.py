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


# --- kinds and groups ----------------------------------------------------------------


def split_type(resource_type: str, provider: str) -> tuple[str | None, str]:
    """Return (short group or None for the base group, Kind) of a resource type."""
    words = [w for w in resource_type.split("_") if w]
    if len(words) > 1 and words[0] == provider:
        words = words[1:]
    if len(words) == 1:
        kind = pascal(words)
        group = None
    else:
        group, kind = words[0].lower(), pascal(words[1:])
    if not kind[:1].isalpha():  # "aws_s3_2fa": a kind must start with a letter
        kind = pascal([group or provider]) + kind
    return group, kind


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


def snake_kind(kind: str) -> str:
    """``NodeBalancerConfig`` -> ``node_balancer_config`` (module and file names)."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", kind).lower()


# --- CEL -----------------------------------------------------------------------------

# Kubernetes escapes these property names in CEL expressions (apiextensions docs).
CEL_RESERVED = frozenset(
    "true false null in as break const continue else for function if import let loop "
    "package namespace return var void while".split()
)


def cel_property(name: str) -> str:
    """How CEL spells access to property ``name`` (``namespace`` -> ``__namespace__``)."""
    if name in CEL_RESERVED:
        return f"__{name}__"
    return (
        name.replace("__", "__underscores__")
        .replace(".", "__dot__")
        .replace("-", "__dash__")
        .replace("/", "__slash__")
    )


def package_name(provider: str) -> str:
    """The generated Python package of a provider: ``linode`` -> ``linode_provider``."""
    return re.sub(r"\W", "_", provider) + "_provider"
