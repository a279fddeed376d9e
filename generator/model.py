"""Schema + configuration -> the intermediate model every emitter reads.

The model *is* the runtime contract (:class:`jetgen.runtime.kinds.ProviderInfo`), so
what the CRDs show and what the runtime converts can never disagree: emitters only
render it, they decide no names.

Decisions made here (see docs/generator.md):

* every attribute and block becomes a :class:`Field` keyed by a collision-free
  lowerCamelCase JSON name (:func:`naming.assign_json_names`);
* list/set blocks (and nested types) with ``max_items == 1`` become objects
  (``single=True``, ``mode`` = the Terraform collection);
* sensitive inputs get a ``<field>SecretRef`` name; configured references get
  ``<field>Ref`` / ``<field>Selector`` names, all unique within their object;
* the top-level ``id`` is the external name, never an input.
"""

from __future__ import annotations

import json
import re

from jetgen.generator import naming
from jetgen.generator.schema import (
    Attribute,
    Block,
    BlockType,
    NestedType,
    Nesting,
    ProviderSchema,
    Resource,
    SchemaError,
    TypeExpr,
    child,
)
from jetgen.runtime.config import ConfigError, Credential, ProviderConfiguration, ResourceConfig
from jetgen.runtime.contract import rules, tree
from jetgen.runtime.contract.errors import ContractError
from jetgen.runtime.kinds import DEFAULT_DRIVER, DRIVERS, Field, Kind, ProviderInfo

DEFAULT_VERSION = "v1alpha1"
CONFIG_KINDS = ("ProviderConfig", "ClusterProviderConfig")
SCOPES = rules.SCOPES
# Keys of a kind that come from its resources.<type> entry in jetgen.yaml (or the hooks);
# the rest of a kind comes from the schema.
CONFIGURED = (
    "external_name", "references", "connection_details", "late_init_ignore",
    "init_provider_only", "timeouts", "driver", "pure_plan",
)  # fmt: skip


def build(
    schema: ProviderSchema,
    config: ProviderConfiguration,
    config_file: str = "jetgen.yaml",
    schema_file: str = "schema.json",
) -> ProviderInfo:
    """The whole provider: ProviderConfig facts plus one Kind per selected resource."""
    _check_configured_resources(schema, config, config_file)
    _check_drivers(config, config_file)
    _check_pure_plans(config, config_file)
    if config.scope not in SCOPES:
        raise ConfigError(f"{config_file}: scope: {config.scope!r} is not one of {SCOPES}")
    name = _provider_name(schema, config, config_file)
    namespaced = config.scope != "Cluster"
    info = ProviderInfo(
        name=name,
        source=config.source or schema.source,
        version=config.version,
        config_group=naming.group_name(None, name, config.group_suffix, namespaced),
        config_version=DEFAULT_VERSION,
        scope=config.scope,
        credentials=list(config.credentials),
        provider_fields=_without_credentials(block_fields(schema.provider), config.credentials),
        hooks_module=config.hooks_module,
    )
    for type_name, resource in schema.resources.items():
        if config.selects(type_name):
            rc = config.resources.get(type_name, ResourceConfig())
            where = f"{config_file}: resources.{type_name}"
            try:
                kind = build_kind(resource, rc, config, name, schema.name, where)
            except naming.NoName as exc:  # a type name nothing can be derived from
                path = child(
                    child(child("$.provider_schemas", schema.source), "resource_schemas"), type_name
                )
                raise SchemaError(
                    f"{schema_file}: {path}: resource type {json.dumps(type_name)} {exc};"
                    f" skip it or set resources.<type>.kind in {config_file}"
                ) from None
            info.kinds.append(kind)
    _resolve_plural_clashes(info)
    _make_names_unique(info, config, config_file)
    if config.trim_descriptions:
        for fields in [info.provider_fields, *(k.fields for k in info.kinds)]:
            for f in tree.walk(fields):
                f.description = ""
    try:
        rules.check(info)  # what the runtime will check at start-up, checked now
    except ContractError as exc:
        raise ConfigError(
            f"{_source_of(exc, info, config, config_file, schema_file)}: {exc.message}"
        ) from None
    return info


def _source_of(
    exc: ContractError,
    info: ProviderInfo,
    config: ProviderConfiguration,
    config_file: str,
    schema_file: str,
) -> str:
    """Where a contract fault came from: a configured key, as jetgen.yaml spells it, or
    the schema (field trees and Terraform names)."""
    head = re.split(r"[.\[]", exc.key)[0]
    if exc.kind is None:
        if head == "provider_fields" or (head == "source" and not config.source):
            return f"{schema_file}: provider: kinds.json {exc.key}"
        return f"{config_file}: {_camel_key(exc.key)}"
    type_name = info.kinds[exc.kind].terraform_type
    if head in CONFIGURED:
        return f"{config_file}: resources.{type_name}.{_camel_key(exc.key)}"
    return f"{schema_file}: resource {type_name}: kinds.json {exc.key}"


def _camel_key(key: str) -> str:
    """``connection_details[0].transform`` -> ``connectionDetails[0].transform``."""
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), key)


def _without_credentials(
    provider_fields: dict[str, Field], credentials: list[Credential]
) -> dict[str, Field]:
    """The provider block's arguments a ProviderConfig may set in plain ``configuration``.

    An argument that a credential fills (by ``argument``, or one named like its Secret key,
    as Linode's ``token`` -> ``LINODE_TOKEN``) comes only from the Secret: a schema does
    not always mark such an argument sensitive, and a plain field would invite storing the
    credential in the ProviderConfig's spec."""
    taken = {c.argument or c.key for c in credentials} | {c.key for c in credentials}
    return {name: f for name, f in provider_fields.items() if f.tf_name not in taken}


def _check_configured_resources(
    schema: ProviderSchema, config: ProviderConfiguration, config_file: str
) -> None:
    for type_name in sorted(config.resources):
        if type_name not in schema.resources:
            raise ConfigError(
                f"{config_file}: resources.{type_name}: no such resource in the provider schema"
            )


def _check_drivers(config: ProviderConfiguration, config_file: str) -> None:
    """``driver`` (provider-wide) and ``resources.<type>.driver``: plugin or cli."""
    settings = [("driver", config.driver)]
    settings += [(f"resources.{t}.driver", rc.driver) for t, rc in sorted(config.resources.items())]
    for key, value in settings:
        if value is not None and value not in DRIVERS:  # YAML may hold any type here
            raise ConfigError(
                f"{config_file}: {key}: {naming.message_text(repr(value))} is not one of"
                f" {', '.join(DRIVERS)}"
            )


def _check_pure_plans(config: ProviderConfiguration, config_file: str) -> None:
    """``resources.<type>.pure_plan``: true or false."""
    for type_name, rc in sorted(config.resources.items()):
        if not isinstance(rc.pure_plan, bool):  # YAML may hold any type here
            raise ConfigError(
                f"{config_file}: resources.{type_name}.purePlan: "
                f"{naming.message_text(repr(rc.pure_plan))} is not true or false"
            )


def _resolve_plural_clashes(info: ProviderInfo) -> None:
    """Make plural and singular names unique within each group.

    A kind whose name already is a plural (``InstallationRepositories``) has plural ==
    singular, which clashes with the plural of its singular sibling
    (``InstallationRepository`` -> ``installationrepositories``).  The already-plural kind
    then takes ``...es`` as both plural and singular; other clashes are errors.
    """
    regular = {(k.group, k.plural) for k in info.kinds if k.plural != k.kind.lower()}
    for kind in info.kinds:
        if kind.plural == kind.kind.lower() and (kind.group, kind.plural) in regular:
            kind.plural = kind.singular = kind.plural + "es"


def _provider_name(schema: ProviderSchema, config: ProviderConfiguration, config_file: str) -> str:
    """The name in groups, labels and categories: a DNS-1035 label.  A configured name
    must be one; one taken from the schema's source address is made one."""
    if config.name:
        if not naming.is_dns1035(config.name):
            raise ConfigError(
                f"{config_file}: name: {naming.message_text(repr(config.name))} is not a"
                " lowercase DNS label (a-z, 0-9, '-', starting with a letter, <= 63)"
            )
        name = config.name
    else:
        name = naming.provider_name(schema.name)
    if not naming.is_dns1123_subdomain(config.group_suffix) or "." not in config.group_suffix:
        raise ConfigError(
            f"{config_file}: groupSuffix: {naming.message_text(repr(config.group_suffix))}"
            " is not a DNS subdomain with a dot (such as example.org)"
        )
    return name


def _make_names_unique(info: ProviderInfo, config: ProviderConfiguration, config_file: str) -> None:
    """Within each group, no two kinds may share a kind or list kind (``XValueWeight``
    lists as ``XValueWeightList``, which may be another kind), nor a plural or singular.

    A derived kind that clashes is disambiguated (:func:`naming.disambiguate`, a hash of
    its Terraform type, so the choice does not depend on the other types); a kind set in
    the configuration is the author's choice, so a clash there is an error."""
    kinds: dict[tuple[str, str], str] = {}
    resources: dict[tuple[str, str], str] = {}
    for name in CONFIG_KINDS:
        kinds.update({(info.config_group, n): name for n in (name, name + "List")})
        resources.update(
            {(info.config_group, n): name for n in (name.lower(), naming.plural(name))}
        )
    for kind in sorted(info.kinds, key=lambda k: k.terraform_type):
        configured = config.resources.get(kind.terraform_type, ResourceConfig())
        for attempt in range(100):
            clash = _clash(kind, kinds, resources)
            if clash is None:
                break
            if configured.kind or configured.group:
                raise ConfigError(
                    f"{config_file}: resources.{kind.terraform_type}: {clash[1]} also uses the"
                    f" name {clash[0]!r} in {kind.group}; set another kind (or group)"
                )
            kind.kind = naming.disambiguate(kind.kind, f"{kind.terraform_type}/{attempt}")
            kind.plural, kind.singular = naming.plural(kind.kind), ""
        for n in (kind.kind, kind.kind + "List"):
            kinds[(kind.group, n)] = kind.terraform_type
        for n in (kind.plural, kind.singular or kind.kind.lower()):
            resources[(kind.group, n)] = kind.terraform_type
        _check_lengths(kind, config_file)


def _clash(
    kind: Kind, kinds: dict[tuple[str, str], str], resources: dict[tuple[str, str], str]
) -> tuple[str, str] | None:
    """(name, other owner) of the first of ``kind``'s names already taken, or None."""
    for taken, names in (
        (kinds, (kind.kind, kind.kind + "List")),
        (resources, (kind.plural, kind.singular or kind.kind.lower())),
    ):
        for n in names:
            other = taken.get((kind.group, n))
            if other is not None and other != kind.terraform_type:
                return n, other
    return None


def _check_lengths(kind: Kind, config_file: str) -> None:
    crd_name = f"{kind.plural}.{kind.group}"
    if len(crd_name) > naming.CRD_NAME_MAX or not naming.is_dns1123_subdomain(kind.group):
        raise ConfigError(
            f"{config_file}: the CRD name {crd_name!r} of {kind.terraform_type} is longer than"
            f" {naming.CRD_NAME_MAX} characters or not a DNS name; use a shorter groupSuffix,"
            f" name or resources.{kind.terraform_type}.group"
        )


def build_kind(
    resource: Resource,
    rc: ResourceConfig,
    config: ProviderConfiguration,
    provider: str,
    type_prefix: str,
    where: str,
) -> Kind:
    """One kind; ``provider`` names its API groups, ``type_prefix`` is the Terraform
    provider's own name, which starts every resource type (``linode_``)."""
    if rc.kind and not naming.is_kind(rc.kind):
        raise ConfigError(
            f"{where}.kind: {naming.message_text(repr(rc.kind))} is not a kind"
            f" ([A-Z][A-Za-z0-9]*, <= {naming.KIND_MAX} characters)"
        )
    if rc.group and not naming.is_dns1123_label(rc.group):
        raise ConfigError(
            f"{where}.group: {naming.message_text(repr(rc.group))} is not a DNS label"
        )
    short, default_kind = naming.split_type(resource.type_name, type_prefix)
    kind_name = rc.kind or default_kind
    namespaced = config.scope != "Cluster"
    group = naming.group_name(rc.group or short, provider, config.group_suffix, namespaced)
    fields = block_fields(resource.block)
    id_field = fields.get("id")
    if id_field is not None and id_field.tf_name == "id" and not id_field.required:
        # The Terraform ID is the external name (annotation), never a spec argument.
        id_field.optional, id_field.computed = False, True
    kind = Kind(
        kind=kind_name,
        group=group,
        version=rc.version or DEFAULT_VERSION,
        plural=naming.plural(kind_name),
        scope=config.scope,
        terraform_type=resource.type_name,
        fields=fields,
        external_name=rc.external_name,
        references=list(rc.references),
        connection_details=list(rc.connection_details),
        late_init_ignore=list(rc.late_init_ignore),
        init_provider_only=list(rc.init_provider_only),
        timeouts=rc.timeouts,
        description=_describe(resource.block.description, resource.block.deprecated),
        deprecated=resource.block.deprecated,
        driver=rc.driver or config.driver or DEFAULT_DRIVER,
        pure_plan=rc.pure_plan,
    )
    _add_references(kind)
    _mark_immutable(kind, rc.immutable, where)
    return kind


# --- fields --------------------------------------------------------------------------


def block_fields(block: Block) -> dict[str, Field]:
    """The fields of one block (attributes and nested blocks), keyed by JSON name."""
    by_tf: dict[str, Field] = {n: attribute_field(a) for n, a in block.attributes.items()}
    by_tf.update({n: block_field(b) for n, b in block.blocks.items()})
    return _name_fields(by_tf)


def _name_fields(by_tf: dict[str, Field]) -> dict[str, Field]:
    names = naming.assign_json_names(by_tf)
    fields = {names[tf]: f for tf, f in by_tf.items()}
    used = set(fields)
    for json_name in sorted(fields):
        f = fields[json_name]
        if f.sensitive and f.is_input:
            f.secret_ref = naming.unique(json_name + "SecretRef", used)
    return dict(sorted(fields.items()))


def attribute_field(attr: Attribute) -> Field:
    if attr.nested is not None:
        f = nested_field(attr.name, attr.nested)
    else:
        assert attr.type is not None
        f = type_field(attr.name, attr.type)
    f.required, f.optional, f.computed = attr.required, attr.optional, attr.computed
    f.sensitive, f.write_only, f.deprecated = attr.sensitive, attr.write_only, attr.deprecated
    f.description = _describe(attr.description, attr.deprecated)
    return f


def type_field(tf_name: str, t: TypeExpr) -> Field:
    """A field for a type expression; object members are required unless optional."""
    if t.kind in ("list", "set", "map"):
        assert t.element is not None
        return Field(tf_name=tf_name, type=t.kind, item=type_field(tf_name, t.element))
    if t.kind == "tuple":
        return Field(
            tf_name=tf_name, type="tuple", items=[type_field(tf_name, e) for e in t.elements]
        )
    if t.kind == "object":
        members: dict[str, Field] = {}
        for name, member_type in t.attributes:
            member = type_field(name, member_type)
            member.optional = name in t.optional
            member.required = not member.optional
            members[name] = member
        return Field(tf_name=tf_name, type="object", fields=_name_fields(members))
    return Field(tf_name=tf_name, type=t.kind)


def nested_field(tf_name: str, nested: NestedType) -> Field:
    fields = _name_fields({n: attribute_field(a) for n, a in nested.attributes.items()})
    return _collection(tf_name, nested.nesting, fields, nested.min_items, nested.max_items)


def block_field(bt: BlockType) -> Field:
    f = _collection(bt.name, bt.nesting, block_fields(bt.block), bt.min_items, bt.max_items)
    f.required = bt.min_items >= 1 and bt.nesting in ("single", "list", "set")
    f.optional = not f.required
    f.deprecated = bt.block.deprecated
    f.description = _describe(bt.block.description, bt.block.deprecated)
    return f


def _collection(
    tf_name: str, nesting: Nesting, fields: dict[str, Field], min_items: int, max_items: int
) -> Field:
    """An object nested with ``nesting``; single-item lists and sets become objects."""
    if nesting == "single" or nesting == "group":  # `==` lets the type checker narrow
        return Field(tf_name=tf_name, type="object", fields=fields)
    if (nesting == "list" or nesting == "set") and max_items == 1:
        return Field(
            tf_name=tf_name,
            type="object",
            fields=fields,
            single=True,
            mode=nesting,
            min_items=min_items,
            max_items=max_items,
        )
    item = Field(tf_name=tf_name, type="object", fields=fields)
    return Field(tf_name=tf_name, type=nesting, item=item, min_items=min_items, max_items=max_items)


def _describe(text: str, deprecated: bool) -> str:
    text = text.strip()
    if deprecated:
        return f"Deprecated. {text}".strip()
    return text


# --- configured paths ----------------------------------------------------------------


def _mark_immutable(kind: Kind, paths: list[str], where: str) -> None:
    for i, path in enumerate(paths):
        found = _find(kind, path)
        if found is None:
            raise ConfigError(f"{where}.immutable[{i}]: no attribute {path!r}")
        parent, json_name = found
        parent[json_name].immutable = True


def _find(kind: Kind, path: object) -> tuple[dict[str, Field], str] | None:
    """:func:`tree.find`, for a path that came from YAML or a hook and so may not be a
    string at all (the contract's check then says so)."""
    return tree.find(kind.fields, path) if isinstance(path, str) else None


def _add_references(kind: Kind) -> None:
    """``<field>Ref`` / ``<field>Selector`` names next to each referencing argument; a
    reference whose path is wrong gets none, and :func:`rules.check` reports it."""
    for ref in kind.references:
        found = _find(kind, ref.field)
        if found is None:
            continue
        parent, json_name = found
        target = parent[json_name]
        if not target.is_input:
            continue
        used = set(parent)
        for f in parent.values():
            used.update(n for n in (f.secret_ref, f.ref, f.selector) if n)
        target.ref = naming.unique(json_name + "Ref", used)
        target.selector = naming.unique(json_name + "Selector", used)
