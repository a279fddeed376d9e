"""The desired state of one managed resource, typed: what Terraform should see.

A pass renders (``render.py``) a :class:`ProviderSetup` -- which provider, its arguments,
its credentials -- and a :class:`ResourceBlock` -- the resource's type, arguments and
``ignore_changes``.  Each writes its own part of ``main.tf.json`` and computes its own
fingerprint; the plugin-protocol poll (``poll.py``) reads the same objects, so nothing is
ever parsed back out of the JSON.

Values from a spec or a ProviderConfig are data: they are written escaped
(:mod:`jetgen.runtime.literal`) so that Terraform evaluates none of them, and the provider
is shown them as they are.  Credentials are never written: a credential argument becomes
a sensitive variable whose value travels in the run's environment
(:func:`credentials.credential_env_name`).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jetgen.runtime import literal
from jetgen.runtime.provider_requirements import install_config, provider_local_name
from jetgen.runtime.terraform.credentials import CREDENTIAL_VAR_PREFIX, credential_env_name

RESOURCE_NAME = "this"


def digest(*parts: Any) -> str:
    """A SHA-256 of JSON-like ``parts``, independent of key order.  Nothing can be learnt
    back from it, so it may cover credentials."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class ProviderSetup:
    """The provider a resource needs and how it is configured.

    ``arguments`` are the provider block's values as the user wrote them.  ``credentials``
    maps a provider argument to its secret value: written only as a variable reference,
    the value reaches Terraform as ``TF_VAR_*``.  ``environment`` holds the other
    variables of the provider process: credentials the provider reads from its own
    environment, or the controller's whole environment under ``InjectedIdentity``.
    """

    source: str
    version: str = ""
    arguments: Mapping[str, Any] = field(default_factory=dict)
    credentials: Mapping[str, str] = field(default_factory=dict)
    environment: Mapping[str, str] = field(default_factory=dict)

    @property
    def local_name(self) -> str:
        return provider_local_name(self.source)

    def env(self) -> dict[str, str]:
        """The credential environment of a Terraform run or a provider process."""
        env = dict(self.environment)
        for name, value in self.credentials.items():
            env[credential_env_name(name)] = value
        return env

    def configuration(self) -> dict[str, Any]:
        """The provider block as the provider itself is configured with it (the plugin
        protocol's ConfigureProvider): the literal arguments and the credential values."""
        return {**self.arguments, **self.credentials}

    def write(self, doc: dict[str, Any]) -> None:
        """Add ``required_providers`` (:mod:`jetgen.runtime.provider_requirements`), the
        provider block and the credential variables to the ``main.tf.json`` document
        ``doc``."""
        doc.update(install_config(self.source, self.version))
        # Escaped first: only the credential variables below are interpolations, and
        # they are the runtime's own.
        block = literal.escape(dict(self.arguments))
        variables: dict[str, Any] = {}
        for name in self.credentials:
            variable = CREDENTIAL_VAR_PREFIX + name
            variables[variable] = {"type": "string", "sensitive": True}
            block[name] = f"${{var.{variable}}}"
        doc["provider"] = {self.local_name: block}
        if variables:
            doc["variable"] = variables

    def fingerprint(self, credentials: bool = True) -> str:
        """Identifies this setup: what it writes, plus the credential environment unless
        ``credentials`` is False (which credential arguments exist counts either way)."""
        return self._fingerprints[0 if credentials else 1]

    @functools.cached_property
    def _fingerprints(self) -> tuple[str, str]:
        # Computed once per object (a pass asks several times; the object is frozen).
        written: dict[str, Any] = {}
        self.write(written)
        return digest(written, sorted(self.env().items())), digest(written)


@dataclass(frozen=True)
class ResourceBlock:
    """The one resource of a workdir: Terraform type, arguments (as the user's spec
    says them, in Terraform's names) and the attribute paths Terraform must not change
    after create (``lifecycle.ignore_changes``)."""

    type: str
    arguments: Mapping[str, Any]
    ignore_changes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # One order, whatever the caller's: the file and the fingerprint stay the same.
        object.__setattr__(self, "ignore_changes", tuple(sorted(self.ignore_changes)))

    @property
    def address(self) -> str:
        return resource_address(self.type)

    def write(self, doc: dict[str, Any]) -> None:
        """Add the resource block to the ``main.tf.json`` document ``doc``."""
        block = literal.escape(dict(self.arguments))
        block["lifecycle"] = {"prevent_destroy": False}
        if self.ignore_changes:
            block["lifecycle"]["ignore_changes"] = list(self.ignore_changes)
        doc.setdefault("resource", {})[self.type] = {RESOURCE_NAME: block}

    def fingerprint(self) -> str:
        return self._fingerprint

    @functools.cached_property
    def _fingerprint(self) -> str:
        # Computed once per object (a pass asks several times; the object is frozen).
        written: dict[str, Any] = {}
        self.write(written)
        return digest(written)

    @classmethod
    def read(cls, doc: dict[str, Any]) -> ResourceBlock:
        """The block :meth:`write` put into the ``main.tf.json`` document ``doc``, read
        back (the deletion fallback does, instead of keeping a copy in memory)."""
        ((type_, blocks),) = doc["resource"].items()
        block = dict(blocks[RESOURCE_NAME])
        lifecycle = block.pop("lifecycle", None) or {}  # a meta-argument, never a field
        ignored = tuple(lifecycle.get("ignore_changes") or ())
        return cls(type_, literal.unescape(block), ignored)


@dataclass(frozen=True)
class Desired:
    """What Terraform should see for one pass."""

    provider: ProviderSetup
    resource: ResourceBlock

    @property
    def config(self) -> dict[str, Any]:
        """The whole ``main.tf.json`` (a new document on every call)."""
        doc: dict[str, Any] = {}
        self.provider.write(doc)
        self.resource.write(doc)
        return doc

    @property
    def env(self) -> dict[str, str]:
        """The credential environment of the run."""
        return self.provider.env()

    @property
    def arguments(self) -> Mapping[str, Any]:
        """The resource's Terraform arguments."""
        return self.resource.arguments

    def fingerprint(self, credentials: bool = True) -> str:
        """Identifies the whole desired configuration, credential values included unless
        ``credentials`` is False.  A poll may skip the CLI only while the configuration
        (credential values aside: a rotated credential is what the plugin-protocol check
        itself runs with) is what the last successful CLI pass applied."""
        return digest(self.provider.fingerprint(credentials), self.resource.fingerprint())


def resource_address(resource_type: str) -> str:
    return f"{resource_type}.{RESOURCE_NAME}"
