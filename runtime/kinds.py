"""What the runtime knows about each generated kind: the contract between generator and runtime.

The generator decides names (camelCase JSON names that never collide, ``<field>SecretRef``
for sensitive inputs, single-item blocks shown as objects) and writes them, once, into
``kinds.json`` inside the provider package.  The runtime reads that file and never
re-derives a name, so the two halves cannot disagree.

Field tree
----------
Every attribute or block of a Terraform resource becomes a :class:`Field`, keyed by its
JSON name in the CR.  ``type`` is one of

``string | number | bool``   a primitive
``dynamic``                  arbitrary JSON (stored as-is, ``[type, value]`` never exposed)
``object``                   ``fields`` holds the children (nested block or object type)
``list | set``               ``item`` describes one element
``map``                      ``item`` describes one value; keys are user data, never renamed
``tuple``                    ``items`` describes each position

``single`` marks a Terraform list/set block (or nested_type) with ``max_items == 1`` that
the CRD shows as a plain object; the runtime wraps it back into a one-element list for
Terraform and unwraps state.  ``mode`` keeps the original Terraform collection type of
such a field (``list`` or ``set``) so round trips are exact.

Flags: ``required`` (argument must be given), ``optional``, ``computed``, ``sensitive``
(inputs come from ``secret_ref``; outputs go only to the connection Secret),
``write_only`` (never in state), ``immutable`` (forces replacement, when known),
``deprecated``.  ``secret_ref`` is the JSON name of the ``...SecretRef`` field that carries
a sensitive input.

Added for the generator (all optional, omitted from kinds.json when unset):
``min_items`` / ``max_items`` (collection bounds from the schema; for information),
``ref`` / ``selector`` (JSON names of the ``<field>Ref`` / ``<field>Selector`` fields the
CRD carries next to a field that a configured :class:`Reference` points at; they live in
the same object as the field).  :class:`Kind` gained ``description`` and ``deprecated``
(from the resource schema; kinds.json leaves descriptions out to keep it small, the
runtime never needs them) and ``singular`` (the CRD's singular name when it is not
``kind.lower()``, see docs/generator.md).

This module is the data only.  kinds.json is written and read by
:mod:`jetgen.runtime.contract.kindsfile`, checked by :mod:`jetgen.runtime.contract.rules`,
and walked with :mod:`jetgen.runtime.contract.tree`.  It must stay importable with the
runtime's dependencies only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from jetgen.runtime.config import (
    ConnectionDetail,
    Credential,
    ExternalName,
    Reference,
    Timeouts,
)

KINDS_FILE = "kinds.json"

# How a kind's writes (create, update, delete, import) reach the provider: ``plugin``
# over the plugin protocol on a shared provider process, with the CLI taking over what
# that path cannot prove; ``cli`` always by running tofu/terraform.  kinds.json leaves
# the default out, so files written before drivers existed read the same.
DRIVERS = ("plugin", "cli")
DEFAULT_DRIVER = "plugin"

# What a Field's ``type`` may be (the module docstring says what each means); the type
# checker refuses anything else where a Field is built.
FieldType = Literal["string", "number", "bool", "dynamic", "object", "list", "set", "map", "tuple"]


@dataclass
class Field:
    tf_name: str
    type: FieldType
    fields: dict[str, Field] | None = None
    item: Field | None = None
    items: list[Field] | None = None
    single: bool = False
    mode: str | None = None
    required: bool = False
    optional: bool = False
    computed: bool = False
    sensitive: bool = False
    write_only: bool = False
    immutable: bool = False
    deprecated: bool = False
    secret_ref: str | None = None
    description: str = ""
    min_items: int = 0
    max_items: int = 0
    ref: str | None = None
    selector: str | None = None

    def object_fields(self) -> dict[str, Field] | None:
        """The children of this object, looking through list/set/map items."""
        f = self
        while f.item is not None:
            f = f.item
        return f.fields

    @property
    def is_input(self) -> bool:
        """Whether users may set it (an argument), as opposed to computed-only."""
        return self.required or self.optional


@dataclass
class Kind:
    """One generated kind: its API identity, Terraform type, field tree and behaviour."""

    kind: str
    group: str
    version: str
    plural: str
    scope: str
    terraform_type: str
    fields: dict[str, Field]
    external_name: ExternalName = field(default_factory=ExternalName)
    references: list[Reference] = field(default_factory=list)
    connection_details: list[ConnectionDetail] = field(default_factory=list)
    late_init_ignore: list[str] = field(default_factory=list)
    init_provider_only: list[str] = field(default_factory=list)
    timeouts: Timeouts = field(default_factory=Timeouts)
    description: str = ""
    deprecated: bool = False
    singular: str = ""  # CRD singular name; "" means kind.lower()
    driver: str = DEFAULT_DRIVER  # one of DRIVERS
    # The provider plans this type from its inputs alone (no clock, no API call while
    # planning), so a settled poll need not repeat a no-op plan of the same inputs (see
    # poll.Poller.check).  kinds.json leaves the default (False) out.
    pure_plan: bool = False

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"


@dataclass
class ProviderInfo:
    """Provider-wide facts the runtime needs: Terraform source, config kinds, credentials."""

    name: str
    source: str
    version: str
    config_group: str  # API group of ProviderConfig / ClusterProviderConfig
    config_version: str
    scope: str
    credentials: list[Credential] = field(default_factory=list)
    provider_fields: dict[str, Field] = field(default_factory=dict)  # provider block schema
    hooks_module: str | None = None
    kinds: list[Kind] = field(default_factory=list)
