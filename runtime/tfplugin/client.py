"""Typed asyncio client for one Terraform provider binary, speaking the plugin protocol.

This is what Terraform core does for one provider, minus the CLI: start the binary once,
then one RPC per operation (a poll is one ReadResource). Values in and out are plain
JSON-like dicts keyed by attribute name; `cty.UNKNOWN` marks values known only after
apply. Schemas are dicts shaped like `tofu providers schema -json`.

    async with await ProviderProcess.start(binary) as provider:
        await provider.configure({})
        plan = await provider.plan("random_id", prior=None, config={"byte_length": 8})
        state, private = await provider.apply("random_id", None, plan, {"byte_length": 8})
        state, private = await provider.read("random_id", state, private)

Error diagnostics raise ProviderError; warnings are logged (and kept on Plan). A provider
that exited or crashed raises ProviderUnavailable (check `alive`, start a new one).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from dataclasses import dataclass, field
from typing import Any

from jetgen.runtime.tfplugin import cty
from jetgen.runtime.tfplugin.memo import DigestMemo, digest
from jetgen.runtime.tfplugin.plan import (
    complete_config,
    plan_action,
    proposed_new_state,
    replacing_paths,
)
from jetgen.runtime.tfplugin.process import PluginProcess
from jetgen.runtime.tfplugin.rpc import PluginRpc, ProviderUnavailable
from jetgen.runtime.tfplugin.schema import block_type, provider_schema_to_dict
from jetgen.runtime.tfplugin.schemacache import BinaryKey, BinarySchema, SchemaCache, binary_key

__all__ = ["Diagnostic", "Plan", "ProviderError", "ProviderProcess", "ProviderUnavailable"]

log = logging.getLogger(__name__)

# Sent in ConfigureProvider. Providers only use it for User-Agent strings and version
# warnings; this is the last MPL-licensed Terraform, which OpenTofu also descends from.
TERRAFORM_VERSION = "1.5.7"

AttributePath = tuple[str | int, ...]
"""Steps into a value: attribute names and map keys as str, list indexes as int."""


@dataclass(frozen=True)
class Diagnostic:
    severity: str  # "error" | "warning"
    summary: str
    detail: str = ""
    path: AttributePath = ()

    def __str__(self) -> str:
        where = f" (at {format_path(self.path)})" if self.path else ""
        detail = f": {self.detail}" if self.detail else ""
        return f"{self.summary}{detail}{where}"


class ProviderError(RuntimeError):
    """The provider answered with error diagnostics.

    For apply, `state`/`private` hold what the provider returned anyway (a partially
    created object must still be recorded, as Terraform does).
    """

    def __init__(self, operation: str, diagnostics: list[Diagnostic], state: Any = None):
        errors = [d for d in diagnostics if d.severity == "error"]
        first = str(errors[0]) if errors else "unknown error"
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"{operation}: {first}{more}")
        self.operation = operation
        self.diagnostics = diagnostics
        self.state = state
        self.private = b""


@dataclass
class Plan:
    """The provider's answer to PlanResourceChange, ready to hand to `apply`.

    `action` is "create", "delete", "noop", "replace" or "update", decided as Terraform
    does (see plan.plan_action).
    """

    type_name: str
    prior_state: dict[str, Any] | None
    planned_state: dict[str, Any] | None
    action: str
    requires_replace: list[AttributePath] = field(default_factory=list)
    private: bytes = b""
    diagnostics: list[Diagnostic] = field(default_factory=list)
    # The provider runs on the legacy SDK (its answer's legacy_type_system): a null
    # collection and an empty one are the same value to it.
    legacy_type_system: bool = False


def format_path(path: AttributePath) -> str:
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else step)
    return text


class ProviderProcess:
    """A running provider binary and the typed API over its plugin protocol."""

    def __init__(
        self,
        plugin: PluginProcess,
        rpc_timeout: float | None = None,
        *,
        schemas: SchemaCache | None = None,
        binary: BinaryKey | None = None,
    ):
        self.plugin = plugin
        self.rpc = PluginRpc(plugin.connected, plugin.protocol_version)
        self.rpc_timeout = rpc_timeout
        # With a cache (and the binary's key), the schema is shared by every process of
        # the binary (see schemacache); without, this process fetches its own.
        self._schemas = schemas if binary is not None else None
        self._binary = binary
        self._schema: BinarySchema | None = None
        self._schema_called = False  # this process answered GetProviderSchema
        self._configured = False
        self._schema_lock = asyncio.Lock()

    @classmethod
    async def start(
        cls,
        binary: str | os.PathLike[str],
        *,
        env: dict[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        protocol_versions: tuple[int, ...] = (5, 6),
        rpc_timeout: float | None = None,
        schemas: SchemaCache | None = None,
    ) -> ProviderProcess:
        key = binary_key(binary) if schemas is not None else None
        plugin = await PluginProcess.start(
            binary, env=env, cwd=cwd, protocol_versions=protocol_versions
        )
        return cls(plugin, rpc_timeout=rpc_timeout, schemas=schemas, binary=key)

    async def __aenter__(self) -> ProviderProcess:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def pid(self) -> int:
        return self.plugin.pid

    @property
    def protocol_version(self) -> int:
        return self.plugin.protocol_version

    @property
    def alive(self) -> bool:
        return self.plugin.alive

    def rss(self) -> int | None:
        """Resident bytes of the provider process (and its children); None if unknown."""
        return self.plugin.rss()

    async def stop(self, grace: float = 5.0) -> None:
        """StopProvider (cancels in-flight work), then end the process (see PluginProcess)."""
        if self.plugin.process.returncode is None and grace > 0:
            try:
                await self.rpc.call("stop", timeout=min(grace, 2.0))
            except Exception as exc:  # the process is going away regardless
                log.debug("StopProvider failed: %s", exc)
        await self.plugin.stop(grace=grace)

    async def _call(self, operation: str, timeout: float | None = None, **fields: Any) -> Any:
        """One RPC, bounded by ``timeout`` or else the client's ``rpc_timeout``."""
        return await self.rpc.call(operation, timeout=timeout or self.rpc_timeout, **fields)

    # --- schema ------------------------------------------------------------------------

    async def get_schema(self) -> dict[str, Any]:
        """Provider, resource and data source schemas (fetched once, then cached; with a
        :class:`SchemaCache`, once per binary).

        The returned dict is shared: read it, do not modify it.
        """
        return (await self._binary_schema()).schema

    async def _binary_schema(self) -> BinarySchema:
        async with self._schema_lock:
            if self._schema is None:
                if self._schemas is None or self._binary is None:
                    self._schema = await self._fetch_schema()
                else:
                    self._schema = await self._schemas.get(self._binary, self._fetch_schema)
                    if not self._schema_called and not self._schema.optional:
                        # The provider did not say it works without the call: make it,
                        # as Terraform would, but keep the shared conversion.
                        response = await self._call("get_schema")
                        self._check("GetProviderSchema", response.diagnostics)
                        self._schema_called = True
            return self._schema

    async def _fetch_schema(self) -> BinarySchema:
        response = await self._call("get_schema")
        self._check("GetProviderSchema", response.diagnostics)
        self._schema_called = True
        caps = response.server_capabilities
        return BinarySchema(
            provider_schema_to_dict(response),
            {
                "plan_destroy": caps.plan_destroy,
                "get_provider_schema_optional": caps.get_provider_schema_optional,
            },
        )

    async def _resource_block(self, type_name: str) -> dict[str, Any]:
        schema = await self.get_schema()
        try:
            block: dict[str, Any] = schema["resource_schemas"][type_name]["block"]
        except KeyError:
            raise ValueError(f"provider has no resource type {type_name!r}") from None
        return block

    async def noop_plans(self) -> DigestMemo:
        """Digests of plans this binary answered with no change, kept by the caller that
        knows the plans are pure (shared by every process of the binary, see schemacache)."""
        return (await self._binary_schema()).noop_plans

    async def resource_type(self, type_name: str) -> cty.CtyType:
        """The cty object type of a resource type's state (from its schema, cached)."""
        types = (await self._binary_schema()).types
        if type_name not in types:
            types[type_name] = block_type(await self._resource_block(type_name))
        return types[type_name]

    # --- provider ----------------------------------------------------------------------

    async def configure(self, config: dict[str, Any] | None = None) -> None:
        """Validate and apply the provider block's values (ConfigureProvider).

        Once per process, as Terraform does: a provider keeps one configuration (credentials,
        region, ...), so each provider configuration needs its own ProviderProcess.
        """
        if self._configured:
            raise RuntimeError("provider already configured: start one process per configuration")
        schema = await self.get_schema()
        block = schema["provider"]["block"]
        ty = block_type(block)
        value = complete_config(block, config or {})
        encoded = self.rpc.dynamic(cty.encode(value, ty))
        response = await self._call("validate_provider_config", config=encoded)
        self._check("ValidateProviderConfig", response.diagnostics)
        # Protocol 5 may hand back a rewritten config (legacy SDK defaults): use that.
        prepared = getattr(response, "prepared_config", None)
        if prepared is not None and prepared.msgpack:
            encoded = prepared
        response = await self._call(
            "configure", terraform_version=TERRAFORM_VERSION, config=encoded
        )
        self._check("ConfigureProvider", response.diagnostics)
        self._configured = True  # only on success: a rejected config may be corrected

    # --- managed resources ---------------------------------------------------------------

    async def validate(self, type_name: str, config: dict[str, Any]) -> list[Diagnostic]:
        """ValidateResourceConfig; raises on errors, returns warnings."""
        block = await self._resource_block(type_name)
        value = complete_config(block, config)
        encoded = self.rpc.dynamic(cty.encode(value, await self.resource_type(type_name)))
        response = await self._call("validate_resource_config", type_name=type_name, config=encoded)
        return self._check("ValidateResourceConfig", response.diagnostics)

    async def read(
        self, type_name: str, state: dict[str, Any], private: bytes = b""
    ) -> tuple[dict[str, Any] | None, bytes]:
        """Refresh `state` from the real object. `(None, b"")` means it no longer exists."""
        ty = await self.resource_type(type_name)
        response = await self._call(
            "read_resource",
            type_name=type_name,
            current_state=self.rpc.dynamic(cty.encode(state, ty)),
            private=private,
        )
        self._check("ReadResource", response.diagnostics)
        new_state = self._decode(response.new_state, ty)
        return (new_state, response.private) if new_state is not None else (None, b"")

    async def plan(
        self,
        type_name: str,
        prior: dict[str, Any] | None,
        config: dict[str, Any] | None,
        prior_private: bytes = b"",
    ) -> Plan:
        """Plan a create (prior None), update, or delete (config None).

        When the plan has `requires_replace`, applying it as is would be refused by
        Terraform: a replacement is a delete plan then a create plan (prior None).
        """
        block = await self._resource_block(type_name)
        ty = await self.resource_type(type_name)
        config = complete_config(block, config)
        if config is None:
            if prior is None:
                raise ValueError("plan needs a prior state, a config, or both")
            if not (await self._binary_schema()).capabilities.get("plan_destroy"):
                # Providers without the capability do not expect a destroy plan: Terraform
                # plans the delete itself, as a null planned state.
                return Plan(type_name, prior, None, "delete", private=prior_private)
        # For a delete Terraform proposes null (not the prior, as the merge rules would).
        proposed = None if config is None else proposed_new_state(block, prior, config)
        response = await self._call(
            "plan_resource_change",
            type_name=type_name,
            prior_state=self.rpc.dynamic(cty.encode(prior, ty)),
            proposed_new_state=self.rpc.dynamic(cty.encode(proposed, ty)),
            config=self.rpc.dynamic(cty.encode(config, ty)),
            prior_private=prior_private,
        )
        warnings = self._check("PlanResourceChange", response.diagnostics)
        planned = self._decode(response.planned_state, ty)
        try:
            replacing = replacing_paths(
                ty, prior, planned, [_path(p) for p in response.requires_replace]
            )
        except ValueError as exc:
            raise ProviderError("PlanResourceChange", [Diagnostic("error", str(exc))]) from None
        return Plan(
            type_name=type_name,
            prior_state=prior,
            planned_state=planned,
            action=plan_action(ty, prior, planned, replacing),
            requires_replace=replacing,
            private=response.planned_private,
            diagnostics=warnings,
            legacy_type_system=response.legacy_type_system,
        )

    async def apply(
        self,
        type_name: str,
        prior: dict[str, Any] | None,
        plan: Plan,
        config: dict[str, Any] | None,
        *,
        timeout: float | None = None,
    ) -> tuple[dict[str, Any] | None, bytes]:
        """Carry out `plan`. Returns the new state (None after a delete) and private data.

        `timeout` replaces the client's RPC timeout for this call: a create may take far
        longer than a read (a resource's own create/update/delete timeout)."""
        block = await self._resource_block(type_name)
        ty = await self.resource_type(type_name)
        config = complete_config(block, config)
        response = await self._call(
            "apply_resource_change",
            timeout=timeout,
            type_name=type_name,
            prior_state=self.rpc.dynamic(cty.encode(prior, ty)),
            planned_state=self.rpc.dynamic(cty.encode(plan.planned_state, ty)),
            config=self.rpc.dynamic(cty.encode(config, ty)),
            planned_private=plan.private,
        )
        new_state = self._decode(response.new_state, ty)
        try:
            self._check("ApplyResourceChange", response.diagnostics)
            if cty.contains_unknown(new_state):  # Terraform refuses such a result too
                raise ProviderError(
                    "ApplyResourceChange",
                    [Diagnostic("error", "provider returned unknown values after apply")],
                )
        except ProviderError as exc:
            exc.state, exc.private = new_state, response.private
            raise
        return new_state, response.private

    async def import_state(
        self, type_name: str, id: str, *, read: bool = True
    ) -> list[tuple[str, dict[str, Any], bytes]]:
        """Import the object called `id`: [(type_name, state, private)].

        As Terraform does, each imported state is then refreshed with ReadResource (the
        import answer may hold little more than the ID); `read=False` skips that.
        """
        response = await self._call("import_resource_state", type_name=type_name, id=id)
        self._check("ImportResourceState", response.diagnostics)
        imported = []
        for item in response.imported_resources:
            ty = await self.resource_type(item.type_name)
            state = self._decode(item.state, ty)
            private = item.private
            if read:
                state, private = await self.read(item.type_name, state, private)
                if state is None:
                    raise ProviderError(
                        "ImportResourceState",
                        [Diagnostic("error", f"cannot import non-existent object {id!r}")],
                    )
            imported.append((item.type_name, state, private))
        return imported

    async def upgrade_state(
        self, type_name: str, version: int, raw_state: dict[str, Any]
    ) -> dict[str, Any] | None:
        """Rewrite a stored state (JSON form, schema `version`) for the current schema
        (None when the provider answers with a null state).

        Terraform calls this for every state it loads, even at the current version: it is
        also how the JSON form becomes a value typed by the current schema.

        At the schema's current version no state upgrader runs (SDKv2 and the plugin
        framework run them only for older versions): the upgrade is the binary's pure
        conversion of these bytes.  So a state whose upgrade came back equal to the state
        typed by our side is remembered per binary (a digest of type, version and JSON)
        and answered with that typed value next time, without the call; a state changed
        in any byte, of an older version or read by another binary is asked for.
        """
        ty = await self.resource_type(type_name)
        binary = await self._binary_schema()
        raw_json = json.dumps(raw_state).encode()
        memo = None
        if version == binary.schema["resource_schemas"][type_name].get("version", 0):
            memo = digest(type_name, version, raw_json)
            if memo in binary.upgrades:
                remembered: dict[str, Any] | None = _typed(raw_state, ty)
                return remembered
        response = await self._call(
            "upgrade_resource_state",
            type_name=type_name,
            version=version,
            raw_state=self.rpc.pb.RawState(json=raw_json),
        )
        self._check("UpgradeResourceState", response.diagnostics)
        upgraded: dict[str, Any] | None = self._decode(response.upgraded_state, ty)
        if memo is not None and upgraded is not None and upgraded == _typed(raw_state, ty):
            binary.upgrades.add(memo)
        return upgraded

    # --- helpers -----------------------------------------------------------------------

    @staticmethod
    def _decode(value: Any, ty: cty.CtyType) -> Any:
        # An unset DynamicValue (no bytes at all) also means null.
        return cty.decode(value.msgpack, ty) if value.msgpack else None

    def _check(self, operation: str, diagnostics: Any) -> list[Diagnostic]:
        """Raise ProviderError on error diagnostics; log and return the warnings."""
        converted = [_diagnostic(d) for d in diagnostics]
        warnings = [d for d in converted if d.severity != "error"]
        for warning in warnings:
            log.warning("%s %s: %s", self.plugin.name, operation, warning)
        if len(warnings) != len(converted):
            raise ProviderError(operation, converted)
        return warnings


def _typed(raw_state: dict[str, Any], ty: cty.CtyType) -> Any:
    """A stored state as the value of its type, the way an upgrade's answer is decoded
    (every attribute present, numbers and bools as the schema says); None if it does not
    fit the type (then it is never taken for an upgrade's answer)."""
    try:
        return cty.decode(cty.encode(raw_state, ty), ty)
    except cty.CtyError:
        return None


def _diagnostic(message: Any) -> Diagnostic:
    severity = "error" if message.severity == message.ERROR else "warning"
    path = _path(message.attribute) if message.HasField("attribute") else ()
    return Diagnostic(severity, message.summary, message.detail, path)


def _path(message: Any) -> AttributePath:
    steps: list[str | int] = []
    for step in message.steps:
        kind = step.WhichOneof("selector")
        if kind is not None:
            steps.append(getattr(step, kind))
    return tuple(steps)
