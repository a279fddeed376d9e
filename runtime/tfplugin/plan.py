"""What Terraform core computes itself around a provider's plan.

Pure functions over schema blocks (the `providers schema -json` shape) and plain values:

- `complete_config`: a configuration as Terraform decodes it from HCL: every attribute
  present (null when not set), absent nested blocks as their empty value (an absent
  list/set/map block is an empty collection, not null).
- `proposed_new_state`: the "proposed new state" sent with PlanResourceChange: the config,
  except that a computed attribute left null in the config keeps its prior value. Sending
  the bare config instead makes every optional+computed attribute (defaults filled in by the
  provider) look changed on every plan: a perpetual diff.
- `equal`, `plan_action`: cty's notion of "unchanged" (sets are unordered).
- `replacing_paths`: of the attribute paths a provider says "require replacement", the ones
  whose value really changes. Providers list every path with a requires-replace rule
  (hashicorp/time's `rfc3339` on any update, for instance); Terraform keeps only those that
  differ between prior and planned state, and so must we or an update becomes a replace.

On create the prior is "all null", so computed attributes are null (not unknown) in the
proposal; the provider itself marks them unknown in its planned state, as it does under
Terraform. Nested blocks and nested attributes are matched to their prior counterpart by
index (lists), key (maps) or content (sets), as Terraform does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jetgen.runtime.tfplugin.cty import UNKNOWN, CtyType, contains_unknown

# An attribute path: attribute names and map keys as str, list indexes as int.
AttributePath = tuple[str | int, ...]

Block = dict[str, Any]


def empty_block_value(block: Block) -> dict[str, Any]:
    """The value of a block written with no arguments: attributes null, no nested blocks."""
    value: dict[str, Any] = {name: None for name in block.get("attributes", {})}
    for name, nested in block.get("block_types", {}).items():
        value[name] = _empty_nested_block(nested)
    return value


def _empty_nested_block(nested: dict[str, Any]) -> Any:
    mode = nested["nesting_mode"]
    if mode in ("list", "set"):
        return []
    if mode == "map":
        return {}
    if mode == "group":  # a group block always exists, with its attributes null
        return empty_block_value(nested["block"])
    return None  # single


def complete_config(block: Block, config: dict[str, Any] | None) -> dict[str, Any] | None:
    """`config` with every attribute and nested block the schema has (see module doc)."""
    if not isinstance(config, dict):  # null, unknown, or a mistake the encoder will name
        return config
    out: dict[str, Any] = {}
    for name, attr in block.get("attributes", {}).items():
        value = config.get(name)
        if "nested_type" in attr:
            value = _complete_nested(attr["nested_type"]["nesting_mode"], value, attr)
        out[name] = value
    for name, nested in block.get("block_types", {}).items():
        value = config.get(name)
        if value is None:
            out[name] = _empty_nested_block(nested)
            continue
        out[name] = _complete_nested(nested["nesting_mode"], value, nested)
    # Names the schema does not know are kept, so that encoding reports them as errors.
    out.update({k: v for k, v in config.items() if k not in out})
    return out


def _complete_nested(mode: str, value: Any, schema: dict[str, Any]) -> Any:
    if "block" in schema:
        inner = schema["block"]
    else:
        inner = {"attributes": schema["nested_type"]["attributes"]}
    if value is None or value is UNKNOWN:
        return value
    if mode in ("single", "group"):
        return complete_config(inner, value)
    if mode in ("list", "set"):
        return [complete_config(inner, v) for v in value]
    if mode == "map":
        return {k: complete_config(inner, v) for k, v in value.items()}
    raise ValueError(f"unknown nesting mode {mode!r}")


# --- proposed new state ------------------------------------------------------------------


def proposed_new_state(block: Block, prior: Any, config: Any) -> Any:
    """Terraform's proposed new state for a resource, from its prior state and its config.

    Both are complete values (see `complete_config`); `None` for a prior means create, for
    a config means destroy.
    """
    if config is None and prior is None:
        return None
    if prior is None:
        prior = empty_block_value(block)
    return _proposed_block(block, prior, config)


def _proposed_block(block: Block, prior: dict[str, Any], config: Any) -> Any:
    if config is None or config is UNKNOWN:
        return prior
    out = _proposed_attributes(block.get("attributes", {}), prior, config)
    for name, nested in block.get("block_types", {}).items():
        out[name] = _proposed_nested_block(nested, prior.get(name), config.get(name))
    return out


def _proposed_attributes(
    attributes: dict[str, Any], prior: dict[str, Any] | None, config: dict[str, Any]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, attr in attributes.items():
        prior_v = prior.get(name) if prior else None
        config_v = config.get(name)
        if attr.get("computed") and config_v is None:
            out[name] = prior_v
            # An optional nested attribute whose prior holds values the provider cannot have
            # computed was set by the user before: its absence now means "remove it".
            nested = attr.get("nested_type")
            if attr.get("optional") and nested and _has_user_value(nested, prior_v):
                out[name] = None
        elif "nested_type" in attr:
            out[name] = _proposed_nested_attribute(attr["nested_type"], prior_v, config_v)
        else:
            out[name] = config_v
    return out


def _proposed_nested_block(nested: dict[str, Any], prior: Any, config: Any) -> Any:
    if config is UNKNOWN:
        return config
    block = nested["block"]
    mode = nested["nesting_mode"]
    if mode == "single" and config is None:
        return None
    if mode in ("single", "group"):
        return proposed_new_state(block, prior, config)

    def merge(p: Any, c: Any) -> Any:
        return proposed_new_state(block, p, c)

    def matches(p: Any, c: Any) -> bool:
        return _could_be_prior(block, p, c)

    return _proposed_collection(mode, prior, config, merge, matches)


def _proposed_nested_attribute(nested: dict[str, Any], prior: Any, config: Any) -> Any:
    if config is UNKNOWN or config is None:
        return config
    attributes = nested["attributes"]

    def merge(p: Any, c: Any) -> Any:
        return None if c is None else _proposed_attributes(attributes, p, c)

    if nested["nesting_mode"] == "single":
        return merge(prior, config)

    def matches(p: Any, c: Any) -> bool:
        return _could_be_prior({"attributes": attributes}, p, c)

    return _proposed_collection(nested["nesting_mode"], prior, config, merge, matches)


def _proposed_collection(
    mode: str,
    prior: Any,
    config: Any,
    merge: Callable[[Any, Any], Any],
    matches: Callable[[Any, Any], bool],
) -> Any:
    if not config:  # null or empty: nothing to carry over
        return config
    if mode == "list":
        priors = prior if isinstance(prior, list) else []
        return [merge(priors[i], c) if i < len(priors) else c for i, c in enumerate(config)]
    if mode == "map":
        by_key = prior if isinstance(prior, dict) else {}
        return {k: merge(by_key[k], c) if k in by_key else c for k, c in config.items()}
    if mode == "set":
        # Set elements have no identity: pair each config element with the first unused
        # prior element that differs from it only in computed attributes it left null.
        unused = list(prior) if isinstance(prior, list) else []
        out = []
        for c in config:
            match = next((p for p in unused if matches(p, c)), None)
            if match is not None:
                unused.remove(match)
            out.append(merge(match, c))
        return out
    raise ValueError(f"unknown nesting mode {mode!r}")


def _could_be_prior(schema: Block, prior: Any, config: Any) -> bool:
    """Could `prior` be what `config` became after apply (set element matching)?"""
    if prior == config or prior is None:
        return True
    if not isinstance(prior, dict) or not isinstance(config, dict):
        return False
    for name, attr in schema.get("attributes", {}).items():
        p, c = prior.get(name), config.get(name)
        if p == c:
            continue
        if "nested_type" in attr:
            nested = attr["nested_type"]
            inner = {"attributes": nested["attributes"]}
            if not _could_be_prior_nested(nested["nesting_mode"], inner, p, c):
                return False
        elif not attr.get("computed") or c is not None:
            return False
    for name, nested in schema.get("block_types", {}).items():
        p, c = prior.get(name), config.get(name)
        if p != c and not _could_be_prior_nested(nested["nesting_mode"], nested["block"], p, c):
            return False
    return True


def _could_be_prior_nested(mode: str, schema: Block, prior: Any, config: Any) -> bool:
    if prior is None:
        return True
    if config is None or mode == "set":  # sets must be equal, checked by the caller
        return False
    if mode in ("single", "group"):
        return _could_be_prior(schema, prior, config)
    if mode == "list":
        return len(prior) <= len(config) and all(
            _could_be_prior(schema, p, c) for p, c in zip(prior, config, strict=False)
        )
    if mode == "map":
        return all(k in config and _could_be_prior(schema, p, config[k]) for k, p in prior.items())
    return False


def _has_user_value(nested: dict[str, Any], value: Any) -> bool:
    """Does a nested attribute value hold a non-null value for a non-computed attribute?"""
    if value is None or value is UNKNOWN:
        return False
    mode = nested["nesting_mode"]
    objects = [value] if mode == "single" else value.values() if mode == "map" else value
    for obj in objects:
        if not isinstance(obj, dict):
            continue
        for name, attr in nested["attributes"].items():
            v = obj.get(name)
            if v is None:
                continue
            if not attr.get("computed"):
                return True
            if "nested_type" in attr and _has_user_value(attr["nested_type"], v):
                return True
    return False


# --- comparing states ----------------------------------------------------------------------

_MISSING = object()


def equal(ty: CtyType, a: Any, b: Any, *, null_is_empty: bool = False) -> bool:
    """cty equality of two values of type `ty`: sets compare regardless of order, and an
    unknown value equals nothing (it may still turn out different).

    Plain `==` is not enough: the same set can come back from a provider in another order
    (tofu's stored state sorts set elements, the plugin framework keeps config order).

    With `null_is_empty`, a null list, set or map equals an empty one, at any depth: the
    same value to a provider on the legacy SDK (PlanResourceChange's
    `legacy_type_system`), which cannot tell them apart.
    """
    if a is UNKNOWN or b is UNKNOWN:
        return False
    if null_is_empty and (a is None) != (b is None) and _collection(ty):
        return not (a if b is None else b)
    if a is None or b is None or isinstance(ty, str):
        return a == b and not contains_unknown(a)

    def same(t: CtyType, x: Any, y: Any) -> bool:
        return equal(t, x, y, null_is_empty=null_is_empty)

    kind, inner = ty
    if kind == "object":
        return a.keys() == b.keys() and all(same(inner.get(k, "dynamic"), a[k], b[k]) for k in a)
    if kind == "map":
        return a.keys() == b.keys() and all(same(inner, a[k], b[k]) for k in a)
    if len(a) != len(b):
        return False
    if kind == "tuple":
        return all(same(t, x, y) for t, x, y in zip(inner, a, b, strict=True))
    if kind == "list":
        return all(same(inner, x, y) for x, y in zip(a, b, strict=True))
    unmatched = list(b)  # set: pair every element with an equal, not yet used one
    for x in a:
        match = next((i for i, y in enumerate(unmatched) if same(inner, x, y)), None)
        if match is None:
            return False
        unmatched.pop(match)
    return True


def _collection(ty: CtyType) -> bool:
    return not isinstance(ty, str) and ty[0] in ("list", "set", "map")


def plan_action(ty: CtyType, prior: Any, planned: Any, replacing: list[AttributePath]) -> str:
    """ "create", "delete", "noop", "replace" or "update", decided as Terraform does."""
    if prior is None:
        return "create" if planned is not None else "noop"
    if planned is None:
        return "delete"
    if equal(ty, prior, planned):
        return "noop"
    return "replace" if replacing else "update"


def replacing_paths(
    ty: CtyType, prior: Any, planned: Any, paths: list[AttributePath]
) -> list[AttributePath]:
    """The `paths` (steps: attribute names / map keys as str, list indexes as int) whose
    value differs between `prior` and `planned`, or is unknown in the plan.

    Raises ValueError for a path that exists in neither value (a provider bug, which
    Terraform reports as an invalid plan).
    """
    if prior is None:  # a create replaces nothing
        return []
    changed = []
    for path in paths:
        before, after = _value_at(prior, path), _value_at(planned, path)
        if before is _MISSING and after is _MISSING:
            raise ValueError(f"requires-replace path {list(path)} exists in neither state")
        before = None if before is _MISSING else before
        after = None if after is _MISSING else after
        if not equal(_type_at(ty, path), before, after):
            changed.append(path)
    return changed


def _value_at(value: Any, path: AttributePath) -> Any:
    for step in path:
        if isinstance(value, dict) and isinstance(step, str) and step in value:
            value = value[step]
        elif isinstance(value, list) and isinstance(step, int) and 0 <= step < len(value):
            value = value[step]
        else:
            return _MISSING
    return value


def _type_at(ty: CtyType, path: AttributePath) -> CtyType:
    for step in path:
        if isinstance(ty, str):
            return "dynamic"  # values below carry their own type: compare them plainly
        kind, inner = ty
        if kind == "object":
            ty = inner.get(step, "dynamic")
        elif kind == "tuple":
            ty = inner[step] if isinstance(step, int) and step < len(inner) else "dynamic"
        else:
            ty = inner
    return ty
