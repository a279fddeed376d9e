"""Field-tree helpers: the one way to walk a kind's fields, to resolve a Terraform
attribute path to its field, and to find a kind by name and group.

A *Terraform path* is dotted attribute names (``pool.autoscaler.min``) as jetgen.yaml
writes them; it runs through objects and through the items of lists, sets and maps (a
reference on ``interface.subnet_id`` applies to every interface).  A *state path*
(connection details) addresses one value of Terraform's state, so it names the item:
``kube_config.0.host``, ``tags.<key>``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from jetgen.runtime.kinds import Field, Kind

Step = tuple[str, Field]  # (JSON name, field)


def walk(fields: dict[str, Field]) -> Iterator[Field]:
    """Every field of a tree, depth first (list, set and map items and tuple elements
    included)."""
    for f in fields.values():
        yield from _walk_one(f)


def _walk_one(f: Field) -> Iterator[Field]:
    yield f
    if f.fields:
        yield from walk(f.fields)
    if f.item:
        yield from _walk_one(f.item)
    for item in f.items or []:
        yield from _walk_one(item)


def resolve(fields: dict[str, Field], tf_path: str) -> list[Step] | None:
    """Each (JSON name, field) along ``tf_path``; None when a name is not there."""
    steps: list[Step] = []
    current: dict[str, Field] | None = fields
    for part in tf_path.split("."):
        step = _named(current or {}, part)
        if step is None:
            return None
        steps.append(step)
        current = step[1].object_fields()
    return steps


def find(fields: dict[str, Field], tf_path: str) -> tuple[dict[str, Field], str] | None:
    """(the object holding the path's last field, its JSON name), or None."""
    steps = resolve(fields, tf_path)
    if steps is None:
        return None
    parent = fields if len(steps) == 1 else steps[-2][1].object_fields()
    assert parent is not None  # resolve went through it
    return parent, steps[-1][0]


def field_at(fields: dict[str, Field], tf_path: str) -> Field | None:
    """The field ``tf_path`` names, or None."""
    steps = resolve(fields, tf_path)
    return steps[-1][1] if steps else None


def json_name(fields: dict[str, Field], tf_name: str) -> str | None:
    """The JSON name of the field called ``tf_name`` in Terraform, in one object."""
    step = _named(fields, tf_name)
    return step[0] if step else None


def _named(fields: dict[str, Field], tf_name: str) -> Step | None:
    return next(((j, f) for j, f in fields.items() if f.tf_name == tf_name), None)


def state_field(fields: dict[str, Field], state_path: str) -> Field | None:
    """The field of one value of Terraform's state, or None when the path cannot name
    one: after a list, set, tuple or single nested block (a one-item list in state)
    comes an index, after a map any key, after an object an attribute name."""
    head, *rest = state_path.split(".")
    step = _named(fields, head)
    current = step[1] if step else None
    for part in rest:
        if current is None:
            return None
        current = _state_step(current, part)
    return current


def _state_step(f: Field, part: str) -> Field | None:
    if f.single:  # one item in state, then its attributes
        return Field(tf_name=f.tf_name, type="object", fields=f.fields) if part == "0" else None
    if f.type in ("list", "set"):
        return f.item if part.isdigit() else None
    if f.type == "tuple":
        items = f.items or []
        return items[int(part)] if part.isdigit() and int(part) < len(items) else None
    if f.type == "map":
        return f.item
    if f.type == "object":
        step = _named(f.fields or {}, part)
        return step[1] if step else None
    if f.type == "dynamic":
        return f  # any JSON: the schema says nothing about its parts
    return None  # a primitive has no parts


def kind_named(kinds: Iterable[Kind], name: str, group: str | None) -> Kind | None:
    """The first kind called ``name``, in ``group`` when one is given: how a reference
    finds its target."""
    return next((k for k in kinds if k.kind == name and group in (None, k.group)), None)
