"""The contract's one validator: everything the runtime relies on in kinds.json.

``jetgen generate`` runs :func:`check` on the model before writing anything (a fault is
reported against jetgen.yaml), and the controller runs it at start-up on the kinds.json it
reads (exit status 2): both see the same rules, so what generates also starts.  Checked:

* names: kinds, groups, versions, plurals, Terraform types and attribute names, Secret
  keys, environment variables, modules -- each by the rule of the place it goes (no
  ``..``, ``${``, spaces or line breaks where a request, a file or Terraform reads it);
* the field tree: known types, with the children each type needs;
* every Terraform path a kind configures (references, connection details, late-init
  ignores, initProvider-only fields, the external-name argument) names a field;
* references: an argument with its Ref/Selector names, a target kind that exists, a
  ``valueFrom`` the runtime can read;
* connection-detail transforms and their ``python:<module>:<function>`` form;
* operation timeouts, by the parser the reconciler uses (:mod:`.durations`);
* the driver of each kind (``plugin`` or ``cli``);
* external-name templates: only ``{argument}`` and ``{external_name}`` placeholders.

Each fault is a :class:`ContractError` with the key it is about; the first one found is
raised.  Pure: nothing is imported or read (the controller imports hooks afterwards).
"""

from __future__ import annotations

import re
import string
from typing import Any, get_args

from jetgen.runtime import names, transforms
from jetgen.runtime.config import ExternalName, Reference
from jetgen.runtime.contract import durations, tree
from jetgen.runtime.contract.errors import ContractError, join, shown
from jetgen.runtime.kinds import DRIVERS, Field, FieldType, Kind, ProviderInfo

SCOPES = ("Namespaced", "Cluster")
EXTERNAL_NAME_STRATEGIES = ("identifier_from_provider", "argument", "template")
TYPES: tuple[str, ...] = get_args(FieldType)
OPERATIONS = ("create", "update", "delete")
# What a reference's valueFrom may read besides the external name: the target object's
# metadata, spec or status (the spec and status parts by the target's JSON names).
VALUE_FROM_ROOTS = ("metadata", "spec", "status")

_KIND = re.compile(r"[A-Z][A-Za-z0-9]{0,58}")  # + "List" fits a 63-character label
_VERSION = re.compile(r"v[1-9][0-9]*((alpha|beta)[1-9][0-9]*)?")
_DNS1035 = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
# A resource type names the resource in main.tf.json and its address on tofu's command
# line: no spaces, control characters, quotes or template characters (odd but harmless
# ones such as ``x_A.b`` or ``9prov_thing`` are accepted, as the generator does).
# Attribute names may be anything but empty: main.tf.json escapes every key.
_TERRAFORM_TYPE = re.compile(r'[^\s\x00-\x1f\x7f-\x9f$%{}"\\]+')
# A credential argument goes into ``${var.jetgen_credential_<argument>}``: an HCL
# identifier (letters, Unicode ones too, digits, '_' and '-'; no digit first).
_IDENTIFIER = re.compile(r"[^\W\d][\w-]*")
_ENV = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MODULE = re.compile(r"[^\W\d]\w*(\.[^\W\d]\w*)*")
# [hostname/]namespace/type, as in required_providers: no spaces, control characters,
# quotes or template characters in any part.
_PART = r'[^/\s\x00-\x1f\x7f$%{}"\\]+'
_SOURCE = re.compile(rf"({_PART}/)?{_PART}/{_PART}")
_CONSTRAINT = re.compile(r"[-0-9A-Za-z.,<>=~!+ ]*")  # a version or version constraint


def check(info: ProviderInfo) -> None:
    """Raise :class:`ContractError` for the first fault of ``info``."""
    _provider(info)
    for index, kind in enumerate(info.kinds):
        try:
            _kind(kind, info)
        except ContractError as exc:
            raise exc.in_kind(index) from None
    _unique(info.kinds)


def _unique(kinds: list[Kind]) -> None:
    """The runtime finds a kind by API version and kind, and its objects by group and
    plural: two kinds must not share either."""
    first: dict[tuple[str, ...], int] = {}
    for index, kind in enumerate(kinds):
        for key, identity in (
            ("kind", (kind.group, kind.version, kind.kind)),
            ("plural", (kind.group, kind.plural)),
        ):
            other = first.setdefault((key, *identity), index)
            if other != index:
                raise ContractError(key, f"{'/'.join(identity)} is also kinds[{other}]", index)


# --- provider ----------------------------------------------------------------------------


def _provider(info: ProviderInfo) -> None:
    _match("name", info.name, _DNS1035, "a DNS-1035 label (a-z, 0-9, '-', <= 63)")
    _match("source", info.source, _SOURCE, "a Terraform source address ([host/]namespace/type)")
    _match("version", info.version, _CONSTRAINT, "a version or version constraint")
    _rule("config_group", info.config_group, names.OBJECT_NAME)
    _match("config_version", info.config_version, _VERSION, "a Kubernetes API version (v1beta1)")
    _one_of("scope", info.scope, SCOPES)
    for i, credential in enumerate(info.credentials):
        at = join("credentials", i)
        _secret_key(join(at, "key"), credential.key)
        if credential.env is None and credential.argument is None:
            raise ContractError(at, "sets neither env nor argument: the value would go nowhere")
        if credential.env is not None:
            _match(join(at, "env"), credential.env, _ENV, "an environment variable name")
        if credential.argument is not None:
            _match(join(at, "argument"), credential.argument, _IDENTIFIER, "an argument name")
    _fields("provider_fields", info.provider_fields)
    if info.hooks_module is not None:
        _match("hooks_module", info.hooks_module, _MODULE, "a dotted Python module name")


# --- one kind ----------------------------------------------------------------------------


def _kind(kind: Kind, info: ProviderInfo) -> None:
    _match("kind", kind.kind, _KIND, "a kind ([A-Z][A-Za-z0-9]*, <= 59 characters)")
    _rule("group", kind.group, names.OBJECT_NAME)
    _match("version", kind.version, _VERSION, "a Kubernetes API version (v1alpha1)")
    _rule("plural", kind.plural, names.NAMESPACE)
    if kind.singular:
        _rule("singular", kind.singular, names.NAMESPACE)
    _one_of("scope", kind.scope, SCOPES)
    _one_of("driver", kind.driver, DRIVERS)
    _match("terraform_type", kind.terraform_type, _TERRAFORM_TYPE, "a Terraform resource type")
    _fields("fields", kind.fields)
    _external_name(kind)
    for i, reference in enumerate(kind.references):
        _reference(join("references", i), reference, kind, info)
    _connection_details(kind)
    for knob in ("late_init_ignore", "init_provider_only"):
        for i, path in enumerate(getattr(kind, knob)):
            _path(join(knob, i), kind.fields, path)
    for operation in OPERATIONS:
        try:
            durations.seconds(getattr(kind.timeouts, operation))
        except durations.DurationError as exc:
            raise ContractError(join("timeouts", operation), str(exc)) from None


def _connection_details(kind: Kind) -> None:
    keys: set[str] = set()
    for i, detail in enumerate(kind.connection_details):
        at = join("connection_details", i)
        _secret_key(join(at, "key"), detail.key)
        if detail.key in keys:
            raise ContractError(join(at, "key"), f"{shown(detail.key)} is used twice")
        keys.add(detail.key)
        _text(join(at, "attribute"), detail.attribute)
        if tree.state_field(kind.fields, detail.attribute) is None:
            raise ContractError(
                join(at, "attribute"),
                f"no attribute {shown(detail.attribute)} in the state (after a list, set or"
                " single block comes an item index: block.0.attribute)",
            )
        try:
            transforms.check_spec(detail.transform)
        except transforms.TransformError as exc:
            raise ContractError(join(at, "transform"), str(exc)) from None


def _external_name(kind: Kind) -> None:
    en: ExternalName = kind.external_name
    _one_of("external_name.strategy", en.strategy, EXTERNAL_NAME_STRATEGIES)
    # The runtime reads the argument and the template's names from the resource's
    # top-level attributes (Terraform names).
    top = {f.tf_name for f in kind.fields.values()}
    if en.strategy == "argument":
        _text("external_name.argument", en.argument)
        if en.argument not in top:
            raise ContractError(
                "external_name.argument",
                f"no top-level attribute {shown(en.argument)} (strategy argument names one)",
            )
    if en.strategy == "template" and not en.template:
        raise ContractError("external_name.template", "not set (strategy template needs one)")
    for name in ("template", "import_id"):
        value = getattr(en, name)
        if value is not None:
            _template(join("external_name", name), value, top)


def _template(key: str, template: Any, arguments: set[str]) -> None:
    """A Python format string whose placeholders are plain names the runtime passes:
    the top-level arguments and ``external_name`` (no ``{0}``, ``{a.b}``, ``{a[0]}``)."""
    _text(key, template)
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ContractError(key, f"{shown(template)} is not a format string: {exc}") from None
    allowed = arguments | {"external_name"}
    for _, placeholder, _, _ in parts:
        if placeholder is None:
            continue
        if placeholder == "" or placeholder.isdigit() or "." in placeholder or "[" in placeholder:
            what = "is not a plain name (no positions, attributes or indexes)"
            raise ContractError(key, f"placeholder {{{placeholder}}} {what}")
        if placeholder not in allowed:
            what = "is not a top-level argument or external_name"
            raise ContractError(key, f"placeholder {{{placeholder}}} {what}")


def _reference(at: str, reference: Reference, kind: Kind, info: ProviderInfo) -> None:
    _text(join(at, "field"), reference.field)
    steps = _path(join(at, "field"), kind.fields, reference.field)
    leaf = steps[-1][1]
    if not leaf.is_input:
        raise ContractError(join(at, "field"), f"{shown(reference.field)} is not an argument")
    if not (leaf.ref and leaf.selector):
        raise ContractError(join(at, "field"), "the field has no Ref/Selector names")
    _text(join(at, "kind"), reference.kind)
    if reference.group is not None:
        _rule(join(at, "group"), reference.group, names.OBJECT_NAME)
    target = tree.kind_named(info.kinds, reference.kind, reference.group)
    if target is None:
        in_group = f" in group {reference.group}" if reference.group else ""
        raise ContractError(join(at, "kind"), f"no kind {shown(reference.kind)}{in_group}")
    _value_from(join(at, "value_from"), reference.value_from, target)


def _value_from(key: str, value_from: Any, target: Kind) -> None:
    _text(key, value_from)
    if value_from == "external_name":
        return
    parts = value_from.split(".")
    if parts[0] not in VALUE_FROM_ROOTS or "" in parts or len(parts) < 2:
        raise ContractError(
            key,
            f"{shown(value_from)} is neither external_name nor a dotted path into the"
            " referenced object (metadata..., spec..., status...)",
        )
    if parts[:2] in (["status", "atProvider"], ["spec", "forProvider"]) and len(parts) > 2:
        if parts[2] not in target.fields:
            raise ContractError(key, f"{target.kind} has no field {shown(parts[2])}")


# --- fields ------------------------------------------------------------------------------


def _fields(key: str, fields: dict[str, Field]) -> None:
    for json_name, f in fields.items():
        _field(join(key, json_name), json_name, f)


def _field(key: str, json_name: str, f: Field) -> None:
    if not json_name:
        raise ContractError(key, "an empty JSON name")
    _text(join(key, "tf_name"), f.tf_name)
    _one_of(join(key, "type"), f.type, TYPES)
    if f.type in ("list", "set", "map") and f.item is None:
        raise ContractError(join(key, "item"), f"missing (a {f.type} needs its item)")
    if f.type == "tuple" and f.items is None:
        raise ContractError(join(key, "items"), "missing (a tuple needs its items)")
    if f.single and (f.type != "object" or f.mode not in ("list", "set")):
        raise ContractError(join(key, "single"), "only an object with mode list or set")
    if f.secret_ref is not None and not f.sensitive:
        raise ContractError(join(key, "secret_ref"), "set on a field that is not sensitive")
    if f.fields:
        _fields(join(key, "fields"), f.fields)
    if f.item is not None:
        _field(join(key, "item"), json_name, f.item)
    for i, item in enumerate(f.items or []):
        _field(join(join(key, "items"), i), json_name, item)


def _path(key: str, fields: dict[str, Field], tf_path: Any) -> list[tree.Step]:
    _text(key, tf_path)
    steps = tree.resolve(fields, tf_path)
    if steps is None:
        raise ContractError(key, f"no attribute {shown(tf_path)}")
    return steps


# --- values ------------------------------------------------------------------------------


def _text(key: str, value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise ContractError(key, f"expected a non-empty string, got {shown(value)}")


def _match(key: str, value: Any, pattern: re.Pattern[str], what: str) -> None:
    if not isinstance(value, str) or pattern.fullmatch(value) is None:
        raise ContractError(key, f"{shown(value)} is not {what}")


def _rule(key: str, value: Any, rule: names.Rule) -> None:
    if not rule.ok(value):
        raise ContractError(key, f"{shown(value)} is not {rule.what}")


def _secret_key(key: str, value: Any) -> None:
    try:
        names.secret_key(key, value)
    except names.InvalidName as exc:
        raise ContractError(key, str(exc).removeprefix(f"{key}: ")) from None


def _one_of(key: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ContractError(key, f"{shown(value)} is not one of {', '.join(allowed)}")
