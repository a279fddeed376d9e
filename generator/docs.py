"""One Markdown reference page per kind, plus an index, rendered with Jinja.

The template only lays out rows computed here from the field tree: field paths, types,
required flags and notes (sensitive, write-only, deprecated, references).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jetgen.generator import templating, yamltext
from jetgen.generator.openapi import visible
from jetgen.runtime.kinds import Field, Kind, ProviderInfo


@dataclass
class Row:
    path: str
    type: str
    required: bool
    notes: str
    description: str


def kind_page(kind: Kind, example: dict[str, Any], notes: list[str] | None = None) -> str:
    """``notes``: what the generator changed to meet Kubernetes limits (names, size)."""
    return templating.render(
        "kind.md.j2",
        kind=kind,
        notes=notes or [],
        example_yaml=yamltext.dumps(example),
        inputs=rows(kind.fields, "for"),
        outputs=rows(kind.fields, "at"),
        secret_keys=secret_keys(kind),
        external_name=_external_name(kind),
        references=kind.references,
        timeouts=[(op, v) for op, v in vars(kind.timeouts).items() if v],
    )


def index_page(info: ProviderInfo, pages: list[tuple[Kind, str]]) -> str:
    return templating.render("index.md.j2", info=info, kinds=pages)


def rows(fields: dict[str, Field], view: str, prefix: str = "") -> list[Row]:
    out: list[Row] = []
    for json_name, f in fields.items():
        if not visible(f, view):
            continue
        name = f.secret_ref if (f.secret_ref and view == "for") else json_name
        path = f"{prefix}{name}"
        out.append(
            Row(
                path=path,
                type=type_text(f, secret=name != json_name),
                required=f.required and not f.ref and view == "for",
                notes=_notes(f, view),
                description=_cell(f.description),
            )
        )
        if name != json_name:
            continue  # a SecretRef has no children to list
        children, suffix = _children(f)
        if children:
            out.extend(rows(children, view, f"{path}{suffix}."))
    return out


def _children(f: Field) -> tuple[dict[str, Field] | None, str]:
    suffix = ""
    while f.item is not None:
        suffix += "{}" if f.type == "map" else "[]"
        f = f.item
    return f.fields, suffix


def type_text(f: Field, secret: bool = False) -> str:
    if secret:
        return "Secret key reference"
    if f.type in ("list", "set", "map") and f.item is not None:
        return f"{f.type} of {type_text(f.item)}"
    if f.type == "bool":
        return "boolean"
    if f.type == "dynamic":
        return "any JSON"
    if f.type == "tuple":
        return "tuple (" + ", ".join(type_text(i) for i in f.items or []) + ")"
    return f.type


def _notes(f: Field, view: str) -> str:
    notes = []
    if f.immutable:
        notes.append("immutable")
    if f.write_only:
        notes.append("write-only")
    if f.sensitive:
        notes.append("sensitive")
    if f.ref and view == "for":
        notes.append(f"or `{f.ref}` / `{f.selector}`")
    return "".join(f"*{n}* " for n in notes)


def _cell(text: str) -> str:
    """A description fit for one table cell (``<x>`` would read as an HTML tag)."""
    return " ".join(text.split()).replace("|", "\\|").replace("<", "&lt;")


def secret_keys(kind: Kind) -> list[tuple[str, str]]:
    """Connection Secret keys: ``attribute.<path>`` per sensitive output + configured keys."""
    keys = [(f"attribute.{p}", "sensitive attribute, as text") for p in _sensitive(kind.fields)]
    for cd in kind.connection_details:
        how = f" ({cd.transform})" if cd.transform else ""
        keys.append((cd.key, f"attribute `{cd.attribute}`{how}"))
    return keys


def _sensitive(fields: dict[str, Field], prefix: str = "") -> list[str]:
    paths = []
    for f in fields.values():
        path = prefix + f.tf_name
        if f.write_only:
            continue
        if f.sensitive:
            paths.append(path)
            continue
        node, suffix = f, ""
        if f.single:
            suffix = ".0"
        while node.item is not None:
            suffix += ".<key>" if node.type == "map" else ".<index>"
            node = node.item
        if node.fields:
            paths.extend(_sensitive(node.fields, f"{path}{suffix}."))
    return paths


def _external_name(kind: Kind) -> str:
    en = kind.external_name
    if en.strategy == "argument":
        return f"the argument `{en.argument}`"
    if en.strategy == "template":
        return f"built from `{en.template}`"
    return "chosen by the provider: the Terraform `id`"
