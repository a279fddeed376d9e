"""Example arguments from a provider's own documentation.

A provider's Markdown pages (``docs/resources/*.md``, ``website/docs/r/*.markdown``) carry
HCL examples with realistic values (``region = "us-east"``) and show how resources point
at each other (``cluster_id = linode_lke_cluster.my-cluster.id``). This module reads the
``hcl`` / ``terraform`` code blocks with python-hcl2 and maps one ``resource`` block per
kind onto that kind's field tree:

* literals become the CR's values, coerced to the field's type;
* repeated blocks become lists, single-item blocks objects, object keys camelCase;
* ``<type>.<label>.<attribute>`` of a generated kind becomes ``<field>Ref`` naming the
  example of that kind, where the kind's configuration has a reference for the field;
  where it has none, a :class:`Proposal` is returned (the generator lists it; it never
  changes the configuration);
* every other expression (variables, functions, interpolation) becomes the placeholder
  the example would have had anyway, and sensitive arguments their SecretRef.

The documentation is third-party input: a block that does not parse is reported with
its file and line and skipped, never fatal.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jetgen.runtime.contract.tree import find
from jetgen.runtime.kinds import Field, Kind

PAGE_SUFFIXES = (".md", ".markdown")
FENCE = re.compile(r"^```[ \t]*(?:hcl|terraform|tf)[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S | re.I)
# Keys of a resource block that are Terraform's own, not the resource's arguments.
META_ARGUMENTS = frozenset(
    {"provider", "count", "for_each", "depends_on", "lifecycle", "provisioner", "connection"}
)
REFERENCE = re.compile(r"([a-z][a-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_-]*)(?:\[\d+\])?\.([a-z0-9_.]+)")
WHOLE_TEMPLATE = re.compile(r"\$\{([^{}]*)\}")


@dataclass(frozen=True)
class Expression:
    """An HCL expression that is not a literal (its source text)."""

    text: str


@dataclass
class DocResource:
    """One ``resource "<type>" "<label>"`` block of a documentation page."""

    type_name: str
    label: str
    body: dict[str, Any]
    page: Path
    line: int


@dataclass
class Docs:
    resources: list[DocResource] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    pages: int = 0

    def example_of(self, type_name: str, type_prefix: str) -> DocResource | None:
        """The first block of ``type_name``, preferring the resource's own page
        (``lke_cluster.md`` or ``postgresql_role.html.markdown``)."""
        blocks = [r for r in self.resources if r.type_name == type_name]
        own = [r for r in blocks if _page_type(r.page, type_prefix) == type_name]
        return next(iter(own or blocks), None)


@dataclass
class Proposal:
    """A reference the docs show that the kind's configuration lacks."""

    type_name: str
    path: str  # Terraform path of the argument, ``cluster_id`` or ``interface.subnet_id``
    target_type: str
    target_kind: str
    target_group: str
    attribute: str  # of the target: ``id``, ``name``, ...
    value_from: str | None  # None: the target's external name (its ``id``)
    where: str

    def text(self) -> str:
        value_from = f", valueFrom: {self.value_from}" if self.value_from else ""
        return (
            f"{self.where}: {self.type_name}.{self.path} is"
            f" {self.target_type}.<name>.{self.attribute} ({self.target_kind}) in the docs;"
            f" no reference is configured, consider resources.{self.type_name}.references:"
            f" [{{field: {self.path}, kind: {self.target_kind}, group: {self.target_group}"
            f"{value_from}}}]"
        )


# --- reading -------------------------------------------------------------------------


def read(directory: Path) -> Docs:
    """Every resource block of every page under ``directory`` (in path order)."""
    # Imported here: only a generation with docs needs the parser.
    import hcl2

    options = hcl2.SerializationOptions(with_comments=False, preserve_heredocs=False)
    docs = Docs()
    pages = sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix in PAGE_SUFFIXES)
    for page in pages:
        docs.pages += 1
        text = page.read_text(errors="replace")
        for match in FENCE.finditer(text):
            line = text.count("\n", 0, match.start(1)) + 1
            try:
                parsed = hcl2.loads(match.group(1), serialization_options=options)
            except Exception as exc:  # third-party text: any parser failure is a skip
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                docs.warnings.append(
                    f"{page}:{line}: HCL example does not parse ({reason}); not used"
                )
                continue
            docs.resources.extend(_resources(parsed, page, line))
    return docs


def _resources(parsed: dict[str, Any], page: Path, line: int) -> list[DocResource]:
    out = []
    for group in parsed.get("resource", []):
        for type_key, labelled in group.items():
            for label_key, body in labelled.items():
                out.append(DocResource(_unquote(type_key), _unquote(label_key), body, page, line))
    return out


def _page_type(page: Path, type_prefix: str) -> str:
    stem = page.name.split(".")[0]
    return stem if stem.startswith(f"{type_prefix}_") else f"{type_prefix}_{stem}"


def _unquote(key: str) -> str:
    return key[1:-1] if len(key) >= 2 and key[0] == key[-1] == '"' else key


def decode(raw: Any) -> Any:
    """python-hcl2's serialization -> Python literals and :class:`Expression` objects.

    hcl2 keeps string quotes (``'"us-east"'``) and writes other expressions as
    ``${...}`` (a bare name as itself), which tells the two apart."""
    if isinstance(raw, str):
        if len(raw) >= 2 and raw[0] == raw[-1] == '"':
            return _template(raw[1:-1])
        if raw.startswith("${") and raw.endswith("}"):
            return Expression(raw[2:-1].strip())
        return Expression(raw)
    if isinstance(raw, list):
        return [decode(v) for v in raw]
    if isinstance(raw, dict):
        return {_unquote(k): decode(v) for k, v in raw.items() if k != "__is_block__"}
    return raw


def _template(inner: str) -> Any:
    whole = WHOLE_TEMPLATE.fullmatch(inner)
    if whole:  # "${aws_x.y.id}" is the old spelling of the bare expression
        return Expression(whole.group(1).strip())
    escaped = inner.replace("$${", "").replace("%%{", "")
    if "${" in escaped or "%{" in escaped:
        return Expression(inner)  # interpolation: not a value we can know
    from hcl2.utils import process_escape_sequences

    text = process_escape_sequences(inner)
    return text.replace("$${", "${").replace("%%{", "%{")


# --- mapping -------------------------------------------------------------------------

Placeholder = Callable[[Field], Any]
SecretRef = Callable[[Field], dict[str, str]]


@dataclass
class Mapper:
    """Maps one documentation block onto one kind's ``forProvider`` values.

    ``kinds`` maps the Terraform type of every generated kind to the kind;
    ``ref_targets`` maps each referencing field (by ``id``) to the Terraform type and
    example name its configured reference points at: the docs show *that* a field refers
    to another resource, the configuration decides to which kind. ``placeholder`` and
    ``secret_ref`` are the placeholder example's own choices, so a value the docs do not
    give looks exactly as it would without docs."""

    kind: Kind
    kinds: dict[str, Kind]
    ref_targets: dict[int, tuple[str, str]]
    placeholder: Placeholder
    secret_ref: SecretRef
    where: str = ""
    resolved: int = 0
    proposals: list[Proposal] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)

    def arguments(self, body: dict[str, Any]) -> dict[str, Any]:
        """JSON name -> value for the arguments the block sets (meta-arguments dropped)."""
        values = {k: v for k, v in decode(body).items() if k not in META_ARGUMENTS}
        return self._object(self.kind.fields, values, "")

    def _object(
        self, fields: dict[str, Field], values: dict[str, Any], path: str
    ) -> dict[str, Any]:
        by_tf = {f.tf_name: (json_name, f) for json_name, f in fields.items()}
        out: dict[str, Any] = {}
        for tf_name, raw in values.items():
            if raw is None:
                continue
            if tf_name not in by_tf:
                self.unknown.append(path + tf_name)
                continue
            json_name, f = by_tf[tf_name]
            if not f.is_input:
                continue
            if f.secret_ref:
                out[f.secret_ref] = self.secret_ref(f)
            elif f.ref and id(f) in self.ref_targets:
                # The configuration references this field: the example points at the
                # target's example even where the docs show a literal ID of their account.
                target_type, name = self.ref_targets[id(f)]
                out[f.ref] = {"name": name}
                self.resolved += self._reference(raw) == target_type
            else:
                converted = self._value(f, raw, path + tf_name)
                if converted is not None:
                    out[json_name] = converted
        return in_field_order(fields, out)

    def _reference(self, raw: Any) -> str | None:
        """The Terraform type of a generated kind that ``raw`` points at, if any."""
        if not isinstance(raw, Expression):
            return None
        match = REFERENCE.fullmatch(raw.text)
        if match is None or match.group(1) not in self.kinds:
            return None
        return match.group(1)

    def _propose(self, raw: Expression, path: str) -> None:
        match = REFERENCE.fullmatch(raw.text)
        assert match is not None
        target = self.kinds[match.group(1)]
        attribute = match.group(3)
        found = find(target.fields, attribute)
        value_from = None
        if attribute != "id" and found is not None:
            value_from = f"status.atProvider.{found[1]}"
        proposal = Proposal(
            self.kind.terraform_type,
            path,
            target.terraform_type,
            target.kind,
            target.group,
            attribute,
            value_from,
            self.where,
        )
        if all((p.path, p.target_type) != (path, proposal.target_type) for p in self.proposals):
            self.proposals.append(proposal)

    def _value(self, f: Field, raw: Any, path: str, scalar_item: bool = False) -> Any:
        """``raw`` as a value of field ``f``; a placeholder where it is no literal.

        ``scalar_item``: ``f`` is the item of a list/set/map of scalars, which a reference
        cannot fill (the runtime resolves references of arguments and of block fields)."""
        if isinstance(raw, Expression):
            if self._reference(raw) is not None and f.type in ("string", "number"):
                if not scalar_item:
                    self._propose(raw, path)
            return self.placeholder(f)
        if f.type in ("string", "number", "bool"):
            return _scalar(f.type, raw, lambda: self.placeholder(f))
        if f.type == "dynamic":
            return _plain(raw)
        if f.type == "object":
            if isinstance(raw, list) and len(raw) == 1:  # a block (hcl2 lists every block)
                raw = raw[0] if raw else {}
            if not isinstance(raw, dict):
                return self.placeholder(f)
            children = f.fields or {}
            values = self._complete(children, self._object(children, raw, path + "."))
            return in_field_order(children, values)
        if f.type in ("list", "set") and f.item is not None:
            items = raw if isinstance(raw, list) else [raw]
            return [self._item(f.item, v, path) for v in items]
        if f.type == "map" and f.item is not None and isinstance(raw, dict):
            return {k: self._item(f.item, v, path) for k, v in raw.items()}
        if f.type == "tuple" and isinstance(raw, list):
            return [self._item(i, v, path) for i, v in zip(f.items or [], raw, strict=False)]
        return self.placeholder(f)

    def _item(self, f: Field, raw: Any, path: str) -> Any:
        value = self._value(f, raw, path, scalar_item=f.type != "object")
        return self.placeholder(f) if value is None else value

    def _complete(self, fields: dict[str, Field], out: dict[str, Any]) -> dict[str, Any]:
        """Required children the docs leave out get their placeholders (the CRD
        demands them)."""
        for json_name, f in fields.items():
            if not f.required or f.ref or json_name in out or (f.secret_ref or "") in out:
                continue
            if f.secret_ref:
                out[f.secret_ref] = self.secret_ref(f)
            else:
                out[json_name] = self.placeholder(f)
        return out


def in_field_order(fields: dict[str, Field], values: dict[str, Any]) -> dict[str, Any]:
    """``values`` in the order the CRD lists the fields (a reference or SecretRef where its
    field is)."""
    keys = (k for j, f in fields.items() for k in (f.ref, f.secret_ref, j) if k)
    return {k: values[k] for k in keys if k in values}


def _scalar(type_name: str, raw: Any, fallback: Callable[[], Any]) -> Any:
    if type_name == "string":
        if isinstance(raw, bool):
            return "true" if raw else "false"
        if isinstance(raw, int | float | str):
            return str(raw)
    elif type_name == "number":
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            return raw
        if isinstance(raw, str):
            try:
                return int(raw)
            except ValueError:
                try:
                    return float(raw)
                except ValueError:
                    pass
    elif isinstance(raw, bool):
        return raw
    elif raw in ("true", "false"):
        return raw == "true"
    return fallback()


def _plain(raw: Any) -> Any:
    """A dynamic value: literals as they are, expressions as the placeholder string."""
    if isinstance(raw, Expression):
        return "example"
    if isinstance(raw, list):
        return [_plain(v) for v in raw]
    if isinstance(raw, dict):
        return {k: _plain(v) for k, v in raw.items()}
    return raw
