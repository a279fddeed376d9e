"""Hypothesis strategies for `terraform providers schema -json` documents.

``schemas()`` builds valid documents from the format's grammar: every type expression
(primitives, list/set/map, object with optional members, tuple), attributes with
``type`` or ``nested_type`` (every nesting mode), blocks of every nesting mode with
bounds, sensitive and write-only anywhere, names picked to collide (case, underscores,
``x`` / ``x_list``), to be Kubernetes and Crossplane words, long, and odd (control
characters, non-ASCII, dots, dashes, leading digits).  ``corrupted()`` takes a real
document and breaks one spot of it.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import strategies as st

# Words that mean something to Kubernetes, Crossplane, CEL, Python or the generator.
SPECIAL = [
    "id",
    "name",
    "namespace",
    "metadata",
    "spec",
    "status",
    "kind",
    "api_version",
    "description",
    "conditions",
    "for_provider",
    "init_provider",
    "at_provider",
    "management_policies",
    "provider_config_ref",
    "write_connection_secret_to_ref",
    "deletion_policy",
    "password",
    "password_secret_ref",
    "in",
    "true",
    "null",
    "self",
    "class",
    "none",
    "list",
    "items",
    "properties",
    "type",
    "default",
    "value",
    "x_value",
    "x_value_list",
    "ip_v4",
    "ipv4",
    "ip_v_4",
    "a__b",
    "A_b",
    "a.b",
    "a-b",
    "a/b",
    "2x",
    "~x",
    "_",
    "__",
    "tab\there",
    "new\nline",
    "del\x7f",
    "c1\x85\x9f",
    "sep\u2028\u2029",
    "ünïcode",
    "emoji😀",
    "x" * 70,
    "very_long_" * 12,
]

plain_names = st.text(alphabet="abcx_", min_size=1, max_size=6).filter(lambda s: s.strip("_"))
odd_names = st.text(min_size=1, max_size=10)
long_names = st.text(alphabet="abcdefghij_", min_size=55, max_size=140)
names = st.one_of(st.sampled_from(SPECIAL), plain_names, plain_names, odd_names, long_names).filter(
    bool
)
descriptions = st.one_of(
    st.just(""),
    st.text(max_size=40),
    st.sampled_from(["a\x7fb", "c\x85d\u2028e\u2029", "\x00\x1b[31m", "line\r\nbreak", "\ufeff"]),
)
counts = st.one_of(st.integers(0, 3), st.sampled_from([2**31, 2**63 - 1, 2**63, 2**64 + 7]))

PRIMITIVES = ["string", "number", "bool", "dynamic"]


def type_exprs(max_leaves: int = 8) -> st.SearchStrategy[Any]:
    def extend(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.one_of(
            st.tuples(st.sampled_from(["list", "set", "map"]), inner).map(list),
            st.dictionaries(names, inner, max_size=3).flatmap(
                lambda attrs: st.builds(
                    lambda optional: (
                        ["object", attrs, optional] if optional is not None else ["object", attrs]
                    ),
                    st.one_of(st.none(), st.lists(st.sampled_from(sorted(attrs) or ["-"]))).map(
                        lambda o: None if o is None else sorted({n for n in o if n in attrs})
                    ),
                )
            ),
            st.lists(inner, max_size=3).map(lambda elements: ["tuple", elements]),
        )

    return st.recursive(st.sampled_from(PRIMITIVES), extend, max_leaves=max_leaves)


FLAGS = [
    {"required": True},
    {"optional": True},
    {"computed": True},
    {"optional": True, "computed": True},
]


@st.composite
def attributes(draw: st.DrawFn, depth: int) -> dict[str, Any]:
    attr: dict[str, Any] = dict(draw(st.sampled_from(FLAGS)))
    if depth > 0 and draw(st.integers(0, 4)) == 0:
        low, high = sorted([draw(counts), draw(counts)])
        attr["nested_type"] = {
            "nesting_mode": draw(st.sampled_from(["single", "list", "set", "map"])),
            "attributes": draw(st.dictionaries(names, attributes(depth - 1), max_size=3)),
            "min_items": low,
            "max_items": draw(st.sampled_from([high, 0, 1])),
        }
        if attr["nested_type"]["max_items"] and low > attr["nested_type"]["max_items"]:
            attr["nested_type"]["min_items"] = 0
    else:
        attr["type"] = draw(type_exprs())
    for flag in ("sensitive", "write_only", "deprecated"):
        if draw(st.integers(0, 5)) == 0:
            attr[flag] = True
    description = draw(descriptions)
    if description:
        attr["description"] = description
    return attr


@st.composite
def blocks(draw: st.DrawFn, depth: int) -> dict[str, Any]:
    attrs = draw(st.dictionaries(names, attributes(depth), max_size=4))
    block: dict[str, Any] = {"attributes": attrs}
    if depth > 0:
        block_types = {}
        for name in draw(st.lists(names, max_size=2, unique=True)):
            if name in attrs:
                continue
            low = draw(st.integers(0, 2))
            high = draw(st.sampled_from([0, 1, max(low, 1), max(low, 3)]))
            block_types[name] = {
                "nesting_mode": draw(st.sampled_from(["single", "group", "list", "set", "map"])),
                "block": draw(blocks(depth - 1)),
                "min_items": low if not high or low <= high else 0,
                "max_items": high,
            }
        block["block_types"] = block_types
    description = draw(descriptions)
    if description:
        block["description"] = description
    if draw(st.integers(0, 9)) == 0:
        block["deprecated"] = True
    return block


PROVIDERS = ["x", "prov", "Prov", "p_q", "9prov", "ünï", "a-b", "p" * 70, "random"]


@st.composite
def resource_types(draw: st.DrawFn, provider: str) -> list[str]:
    """Type names that share words, differ by case or underscores, end in List, are
    long, or are odd."""
    stem = st.sampled_from(["thing", "value_weight", "x_thing", "Thing", "policy", "settings"])
    made = [
        draw(
            st.one_of(
                stem.map(lambda s: f"{provider}_{s}"),
                stem.map(lambda s: f"{provider}_{s}_list"),
                stem.map(lambda s: f"{provider}__{s}"),
                names.map(lambda s: f"{provider}_{s}"),
                long_names.map(lambda s: f"{provider}_svc_{s}"),
                names,
            )
        )
        for _ in range(draw(st.integers(1, 4)))
    ]
    return sorted(set(made))


@st.composite
def schemas(draw: st.DrawFn, max_depth: int = 3) -> dict[str, Any]:
    provider = draw(st.sampled_from(PROVIDERS))
    resources = {
        name: {"version": 0, "block": draw(blocks(draw(st.integers(0, max_depth))))}
        for name in draw(resource_types(provider))
    }
    return {
        "format_version": "1.0",
        "provider_schemas": {
            f"registry.terraform.io/example/{provider}": {
                "provider": {"version": 0, "block": draw(blocks(1))},
                "resource_schemas": resources,
            }
        },
    }


# --- corruptions of real documents ---------------------------------------------------

json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(allow_nan=False),
        st.text(max_size=8),
        st.sampled_from(PRIMITIVES + ["list", "object", "tuple", "single", "\ud800"]),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


def _spots(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _spots(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _spots(value, (*path, i))
    return out


PLACEHOLDER = "@@deep@@"


@st.composite
def corrupted(draw: st.DrawFn, document: dict[str, Any]) -> str:
    """The text of ``document`` with one spot replaced, removed, renamed or nested very
    deep (as type expressions or plain arrays, up to 1,200 levels); or cut short."""
    spots = _spots(document)
    path = draw(st.sampled_from(spots[1:]))
    how = draw(st.sampled_from(["replace", "remove", "rename", "deep", "truncate"]))
    if how == "truncate":
        text = json.dumps(document)
        return text[: draw(st.integers(0, len(text) - 1))]
    doc = copy.deepcopy(document)
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    if how == "replace":
        parent[key] = draw(json_values)
    elif how == "remove":
        del parent[key]
    elif how == "rename" and isinstance(parent, dict):
        parent[draw(names | st.just("\ud800"))] = parent.pop(key)
    elif how == "deep":
        levels = draw(st.sampled_from([40, 400, 1200]))
        opening = '["list", ' if draw(st.booleans()) else "["
        inner = json.dumps(parent[key])
        parent[key] = PLACEHOLDER
        deep = opening * levels + inner + "]" * levels
        return json.dumps(doc).replace(json.dumps(PLACEHOLDER), deep, 1)
    return json.dumps(doc)
