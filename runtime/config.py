"""Provider configuration: the knobs a provider author sets, shared by generator and runtime.

A provider repository holds a declarative file (``jetgen.yaml``) for the common cases and
an optional Python package (``config/``) for custom logic.  Both end up in the same
objects defined here, so a hook such as "base64-decode ``kubeconfig`` into the Secret key
``kubeconfig``" is written once: the generator documents it and the runtime runs it.

This module must stay importable with the runtime's dependencies only (PyYAML, stdlib).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

CONFIG_FILE = "jetgen.yaml"


class ConfigError(ValueError):
    """A configuration file or hook is wrong; the message names the file and the field."""


# --- per-resource knobs --------------------------------------------------------------


@dataclass
class ExternalName:
    """How the cloud-side identifier (``crossplane.io/external-name``) is found.

    strategy:
      ``identifier_from_provider`` – the provider chooses it; taken from the ``id`` attribute
          after create (Linode IDs, random IDs).
      ``argument`` – the value of one argument (``argument``), e.g. a database ``name``.
      ``template`` – a Python format string over arguments and ``external_name``, for
          resources whose Terraform ID is composite (``"{database}.{schema}"``).
    ``import_id`` is a format string for ``terraform import`` when the import ID differs
    from the external name (defaults to the external name itself).
    """

    strategy: str = "identifier_from_provider"
    argument: str | None = None
    template: str | None = None
    import_id: str | None = None


@dataclass
class Reference:
    """A field whose value comes from another managed resource.

    ``field`` is the Terraform attribute path (``cluster_id``; nested paths with dots).
    The CRD gets ``<field>Ref`` (a name) and ``<field>Selector`` (matchLabels); the
    runtime resolves them to ``value_from`` of the referenced object: ``external_name``
    or a path under ``status.atProvider`` such as ``status.atProvider.id``.
    """

    field: str
    kind: str
    group: str | None = None
    value_from: str = "external_name"


@dataclass
class ConnectionDetail:
    """One extra key of the connection Secret.

    ``attribute`` is a Terraform attribute path of the resource state.  ``transform`` is
    ``None`` (value as is), ``"base64decode"``, ``"json:<dotted.path>"`` or
    ``"python:<module>:<function>"`` (a function ``(value, state) -> str | bytes``).
    """

    key: str
    attribute: str
    transform: str | None = None


@dataclass
class Timeouts:
    create: str | None = None
    update: str | None = None
    delete: str | None = None


@dataclass
class ResourceConfig:
    """Everything configurable for one Terraform resource type.

    ``immutable`` (added for the generator) lists Terraform attribute paths that force a
    replacement when changed; provider schemas do not say so.  The generator marks them
    ``Field.immutable`` in kinds.json, notes them in the docs and adds a CEL rule that
    rejects changing them once set (where Kubernetes allows transition rules: not inside
    lists).
    """

    kind: str | None = None
    group: str | None = None
    version: str | None = None
    external_name: ExternalName = field(default_factory=ExternalName)
    references: list[Reference] = field(default_factory=list)
    connection_details: list[ConnectionDetail] = field(default_factory=list)
    late_init_ignore: list[str] = field(default_factory=list)
    init_provider_only: list[str] = field(default_factory=list)
    timeouts: Timeouts = field(default_factory=Timeouts)
    immutable: list[str] = field(default_factory=list)
    # How the controller writes this type: ``plugin`` or ``cli`` (see docs/runtime.md,
    # "Drivers"); unset: the provider-wide ``driver``.
    driver: str | None = None
    # The provider plans this type from its inputs alone (no clock, no API call in its
    # plan): settled polls then skip a plan that planned nothing for the same inputs
    # before (docs/runtime.md, "Polling settled MRs").  Off unless set.
    pure_plan: bool = False


# --- provider-wide knobs -------------------------------------------------------------


@dataclass
class Credential:
    """Maps one key of the ProviderConfig's Secret onto the Terraform process.

    Exactly one of ``env`` (an environment variable, e.g. ``LINODE_TOKEN``) or
    ``argument`` (a provider-block argument, e.g. ``password``) is set.
    """

    key: str
    env: str | None = None
    argument: str | None = None
    optional: bool = False


@dataclass
class PackageMetadata:
    """The Crossplane package's ``meta.crossplane.io/<name>`` annotations (generator only);
    an empty one is left out."""

    source: str = ""  # where the provider repository lives (a URL)
    license: str = ""  # the package's license, e.g. Apache-2.0
    maintainer: str = ""  # e.g. "Team <team@example.com>"


@dataclass
class ProviderConfiguration:
    """The whole configuration of one generated provider."""

    name: str
    source: str = ""
    version: str = ""
    group_suffix: str = "jetgen.dev"
    scope: str = "Namespaced"  # or "Cluster" for the Crossplane v1 shape
    credentials: list[Credential] = field(default_factory=list)
    include: list[str] = field(default_factory=lambda: ["*"])
    skip: list[str] = field(default_factory=list)
    resources: dict[str, ResourceConfig] = field(default_factory=dict)
    trim_descriptions: bool = False
    hooks_module: str | None = None
    # A directory of the Terraform provider's Markdown documentation; its HCL examples
    # become the generated examples (generator only; relative to the repository,
    # ``$VAR`` / ``${VAR}`` expanded).
    docs: str | None = None
    package: PackageMetadata = field(default_factory=PackageMetadata)
    # How the controller writes every kind that does not set its own: ``plugin`` (the
    # plugin protocol, the CLI where it cannot prove the result) or ``cli``.
    driver: str | None = None

    def selects(self, resource_type: str) -> bool:
        """Whether a Terraform resource type becomes a kind (include globs minus skip)."""
        included = any(fnmatch.fnmatchcase(resource_type, p) for p in self.include)
        skipped = any(fnmatch.fnmatchcase(resource_type, p) for p in self.skip)
        return included and not skipped

    def resource(self, resource_type: str) -> ResourceConfig:
        """The configuration of one resource type, created with defaults on first use."""
        return self.resources.setdefault(resource_type, ResourceConfig())


# --- loading -------------------------------------------------------------------------


_Built = TypeVar("_Built", bound="DataclassInstance")


def _build(cls: type[_Built], data: Any, where: str) -> _Built:
    """Build dataclass ``cls`` from YAML data, naming ``where`` in every error."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        name = _snake(key)
        if name not in fields:
            known = ", ".join(sorted(_camel(f) for f in fields))  # as the file spells them
            raise ConfigError(f"{where}.{key}: unknown field (known: {known})")
        kwargs[name] = _convert(fields[name].type, value, f"{where}.{key}")
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a required field is missing
        raise ConfigError(f"{where}: {exc}") from None


_NESTED: dict[str, type] = {}


def _convert(type_name: Any, value: Any, where: str) -> Any:
    text = str(type_name)
    for name, cls in _NESTED.items():
        if text == name or text == f"{name} | None":
            return _build(cls, value, where)
        if text == f"list[{name}]":
            if not isinstance(value, list):
                raise ConfigError(f"{where}: expected a list")
            return [_build(cls, item, f"{where}[{i}]") for i, item in enumerate(value)]
        if text == f"dict[str, {name}]":
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: expected a mapping")
            return {k: _build(cls, v or {}, f"{where}.{k}") for k, v in value.items()}
    if text.startswith("list[") and not isinstance(value, list):
        raise ConfigError(f"{where}: expected a list")
    return value


_NESTED.update(
    {
        "ExternalName": ExternalName,
        "Reference": Reference,
        "ConnectionDetail": ConnectionDetail,
        "Timeouts": Timeouts,
        "ResourceConfig": ResourceConfig,
        "Credential": Credential,
        "PackageMetadata": PackageMetadata,
    }
)


def _camel(name: str) -> str:
    """``hooks_module`` -> ``hooksModule``: a field's name as jetgen.yaml spells it."""
    first, *rest = name.split("_")
    return first + "".join(word.capitalize() for word in rest)


def _snake(key: str) -> str:
    """Accept both ``externalName`` and ``external_name`` spellings in YAML."""
    out = []
    for ch in key:
        if ch.isupper():
            out.append("_" + ch.lower())
        else:
            out.append(ch)
    return "".join(out)


def load(path: str | Path) -> ProviderConfiguration:
    """Read a ``jetgen.yaml`` file; errors name the file and the field."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror}") from None
    try:
        return _build(ProviderConfiguration, data, str(path))
    except ConfigError as exc:
        raise ConfigError(str(exc)) from None


def apply_hooks(config: ProviderConfiguration) -> ProviderConfiguration:
    """Let the provider's Python package adjust the configuration.

    ``hooks_module`` names a module with ``configure(config)``; it may change any object
    above (add references, connection details, ...).  Runs in generator and runtime alike.
    """
    if config.hooks_module:
        module = importlib.import_module(config.hooks_module)
        configure: Callable[[ProviderConfiguration], None] | None = getattr(
            module, "configure", None
        )
        if configure is not None:
            configure(config)
    return config
