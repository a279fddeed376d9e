"""Reconcile one managed resource: spec -> main.tf.json -> Terraform -> status.

One :class:`Reconciler` serves one kind.  A *pass* (:meth:`Reconciler.run_pass`) reads
the object, renders what Terraform should see (:meth:`Reconciler._desire`), makes the
external resource match it (plan, then create / update / nothing), and reports back:
``status.atProvider``, the ``Ready`` / ``Synced`` conditions, the external name and the
connection Secret.  :meth:`Reconciler.finalize` runs when the object is deleted.

Passes of one object never overlap: each holds the object's lock in its :class:`Memory`.
Nothing in a pass may crash the controller: every error ends as a ``Synced=False``
condition plus an event, the pass is retried with backoff, and it heals when the cause
is fixed.  Secret values never leave this module unredacted (see :class:`Redactor`).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import logging
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import kopf
from jetgen.runtime import (
    backoff,
    conditions,
    connection,
    fields,
    kube,
    state,
    terraform,
    transforms,
)
from jetgen.runtime.kinds import Field, Kind, ProviderInfo
from jetgen.runtime.metrics import Metrics
from jetgen.runtime.settings import Settings

logger = logging.getLogger(__name__)

EXTERNAL_NAME = "crossplane.io/external-name"
PAUSED = "crossplane.io/paused"

CREATE_OUTCOME_UNKNOWN = (
    "a create was interrupted before its result was recorded and the external name is "
    f"unknown, so it is not retried (it could make a duplicate); check the provider, then "
    f"set {EXTERNAL_NAME} to adopt what was created, or remove {state.PENDING} to create again"
)


class ReconcileError(Exception):
    """A problem the user can act on; the message is safe to show (no secret values)."""


# Failures whose message explains itself; anything else is reported as an internal error.
EXPLAINED = (
    ReconcileError,
    terraform.TerraformError,
    kube.KubeError,
    connection.ConnectionDetailError,
    transforms.TransformError,
)


class Paused(Exception):
    """Deletion waits while the object is paused."""


class Redactor:
    """Replaces every secret value seen during a pass in text meant for humans."""

    MASK = "[redacted]"

    def __init__(self) -> None:
        self.values: set[str] = set()

    def add(self, value: str | None) -> None:
        # Very short values would blank out ordinary words; they are not worth hiding.
        if value and len(value) >= 4:
            self.values.add(value)
            self.values.add(base64.b64encode(value.encode()).decode())

    def __call__(self, text: str) -> str:
        for value in sorted(self.values, key=len, reverse=True):
            text = text.replace(value, self.MASK)
        return text


@dataclass
class Memory:
    """What the controller keeps about one managed resource between passes."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    failures: int = 0
    state_restored: bool = False
    saved_state: bytes | None = None  # the state last written to the state Secret
    last_error: str | None = None  # to post one event per distinct error, not per retry
    trigger: tuple | None = None  # what last woke the object (see operator.on_event)


class ManagedResource:
    """A read-only snapshot of one managed resource, with Crossplane's conventions."""

    def __init__(self, body: Any, kind: Kind):
        self.body: dict[str, Any] = copy.deepcopy(dict(body))
        self.kind = kind
        self.secrets = Redactor()
        meta = self.body.get("metadata") or {}
        self.name: str = meta.get("name", "")
        self.namespace: str | None = meta.get("namespace")
        self.uid: str = meta.get("uid", "")
        self.generation: int | None = meta.get("generation")
        self.annotations: dict[str, str] = dict(meta.get("annotations") or {})
        self.spec: dict[str, Any] = self.body.get("spec") or {}
        self.status: dict[str, Any] = self.body.get("status") or {}

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name

    @property
    def for_provider(self) -> dict[str, Any]:
        return copy.deepcopy(self.spec.get("forProvider") or {})

    @property
    def init_provider(self) -> dict[str, Any]:
        return copy.deepcopy(self.spec.get("initProvider") or {})

    @property
    def paused(self) -> bool:
        return self.annotations.get(PAUSED, "").lower() == "true"

    @property
    def external_name(self) -> str | None:
        return self.annotations.get(EXTERNAL_NAME) or None

    @property
    def policies(self) -> set[str]:
        return set(self.spec.get("managementPolicies") or ["*"])

    def may(self, action: str) -> bool:
        if action == "Delete" and self.spec.get("deletionPolicy") == "Orphan":
            return False
        return "*" in self.policies or action in self.policies

    @property
    def observe_only(self) -> bool:
        return not (self.may("Create") or self.may("Update"))


@dataclass
class Desired:
    """What Terraform should see for one pass."""

    config: dict[str, Any]  # main.tf.json
    env: dict[str, str]  # credentials for the provider process
    arguments: dict[str, Any]  # the resource's Terraform arguments


@dataclass
class Runtime:
    """Everything the reconcilers of all kinds share."""

    settings: Settings
    info: ProviderInfo
    kube: kube.KubeClient
    driver: terraform.Driver
    store: state.StateStore
    metrics: Metrics
    prepared: bool = False
    prepare_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def prepare(self) -> None:
        """Install the provider for all workdirs, once; retried by every pass until it works
        (a broken mirror shows on every object instead of crashing the controller)."""
        if self.prepared:
            return
        async with self.prepare_lock:
            if not self.prepared:
                await self.driver.prepare(self.info.source, self.info.version)
                self.prepared = True


class Reconciler:
    def __init__(self, runtime: Runtime, kind: Kind):
        self.rt = runtime
        self.kind = kind
        self.details = connection.DetailBuilder(kind.connection_details)
        self.address = terraform.resource_address(kind.terraform_type)
        self.status_subresource = True  # until the API says otherwise

    # --- entry points ------------------------------------------------------------------

    async def run_pass(self, body: Any, memory: Memory) -> float:
        """Reconcile once; never raises.  Returns the seconds until the next pass."""
        poll = self.rt.settings.poll_interval
        async with memory.lock:
            mr = ManagedResource(body, self.kind)
            started = time.monotonic()
            try:
                await self.reconcile(mr, memory)
            except Exception as exc:  # noqa: BLE001 - a pass must never take the controller down
                memory.failures += 1
                self.rt.metrics.errors.inc(self.kind.kind)
                await self._report_failure(mr, memory, exc)
                result = "error"
            else:
                memory.failures = 0
                memory.last_error = None
                result = "ok"
            self.rt.metrics.reconcile.observe(time.monotonic() - started, self.kind.kind, result)
        return backoff.delay(memory.failures, self.rt.settings.backoff_base, poll)

    async def reconcile(self, mr: ManagedResource, memory: Memory) -> None:
        if mr.paused:
            await self._write_status(mr, [conditions.paused()])
            return
        await self.rt.prepare()
        desired = await self._desire(mr)
        wd = await self._workdir(mr, memory, desired)
        try:
            note = await self._sync(mr, wd, desired)
        finally:
            await self._persist(mr, memory, wd)
        await self._report(mr, wd, note)

    async def finalize(self, body: Any, memory: Memory) -> None:
        """Delete the external resource (unless orphaned); raises to be retried."""
        async with memory.lock:
            mr = ManagedResource(body, self.kind)
            if mr.paused:
                raise Paused("deletion waits: the object is paused")
            try:
                await self._finalize(mr, memory)
            except Exception as exc:
                memory.failures += 1
                self.rt.metrics.errors.inc(self.kind.kind)
                await self._report_failure(mr, memory, exc, ready=conditions.deleting())
                raise ReconcileError(self._message(mr, exc)) from None
            memory.failures = 0

    def retry_delay(self, memory: Memory) -> float:
        return backoff.delay(
            memory.failures, self.rt.settings.backoff_base, self.rt.settings.poll_interval
        )

    # --- one pass ----------------------------------------------------------------------

    async def _sync(self, mr: ManagedResource, wd: terraform.Workdir, desired: Desired) -> str:
        """Make the external resource match; returns a note for the Ready condition."""
        driver, env = self.rt.driver, desired.env
        if wd.resource_attributes() is None:
            await self._find_existing(mr, wd, desired)
        elif state.create_incomplete(mr.annotations):
            # The controller died after Terraform recorded the create: it did succeed.
            await self._annotate(mr, state.mark(state.SUCCEEDED))
        if mr.observe_only:
            plan = await driver.plan(wd, env, refresh_only=True)
            if plan.drift or plan.has_changes:
                await driver.apply(wd, env)  # stores what refresh saw; changes nothing outside
            return "" if wd.resource_attributes() else "external resource does not exist"
        if wd.resource_attributes() is None and mr.may("Create"):
            # Nothing in the state: this is a create.  Apply plans it itself, so a new
            # object costs one Terraform run, not two.
            await self._create(mr, wd, desired, saved=False)
            return ""
        plan = await driver.plan(wd, env, priority=self._priority(mr))
        if plan.action == "create":
            if not mr.may("Create"):
                return "external resource does not exist (managementPolicies exclude Create)"
            await self._create(mr, wd, desired, saved=True, recreate=plan.drift == "delete")
        elif plan.action in ("update", "replace", "delete"):
            if not mr.may("Update"):
                return "external resource differs from spec (managementPolicies exclude Update)"
            await driver.apply(wd, env)
            reason = (
                "ReplacedExternalResource"
                if plan.action == "replace"
                else "UpdatedExternalResource"
            )
            self._event(mr, "Normal", reason, f"{plan.action}d {self.address}")
        elif plan.drift:
            await driver.apply(wd, env)  # nothing to change: just store the refreshed state
        return ""

    def _priority(self, mr: ManagedResource) -> int:
        """Routine drift checks of settled objects wait behind everything else."""
        settled = mr.status.get("observedGeneration") == mr.generation and conditions.is_true(
            mr.status.get("conditions"), conditions.SYNCED
        )
        return terraform.POLL if settled else terraform.CHANGE

    async def _create(
        self,
        mr: ManagedResource,
        wd: terraform.Workdir,
        desired: Desired,
        saved: bool,
        recreate: bool = False,
    ) -> None:
        # The guard goes on the object *before* anything is created (Crossplane's rule).
        await self._annotate(mr, state.mark(state.PENDING))
        await self._write_status(mr, [conditions.creating()])  # creates may take minutes
        try:
            await self.rt.driver.apply(wd, desired.env, saved=saved)
        except Exception:
            await self._annotate(mr, state.mark(state.FAILED))
            raise
        annotations = state.mark(state.SUCCEEDED)
        name = self._external_name(mr, wd.resource_attributes() or {})
        if name:
            annotations[EXTERNAL_NAME] = name
        await self._annotate(mr, annotations)
        what = "recreated (it had disappeared)" if recreate else "created"
        self._event(mr, "Normal", "CreatedExternalResource", f"{self.address} {what}")

    async def _find_existing(
        self, mr: ManagedResource, wd: terraform.Workdir, desired: Desired
    ) -> None:
        """The state knows no resource: adopt one by external name, or refuse to guess."""
        if state.create_incomplete(mr.annotations):
            name = mr.external_name or self._planned_name(mr, desired)
            if not name:
                raise ReconcileError(CREATE_OUTCOME_UNKNOWN)
            found = await self._import(mr, wd, desired, name)
            await self._annotate(mr, state.mark(state.SUCCEEDED if found else state.FAILED))
            return
        if mr.external_name and wd.read_state() is None:
            # No state at all (new controller, lost workdir and Secret): adopt by name.  An
            # existing state without the resource means it is gone, which plan handles.
            await self._import(mr, wd, desired, mr.external_name)

    async def _import(
        self, mr: ManagedResource, wd: terraform.Workdir, desired: Desired, name: str
    ) -> bool:
        template = self.kind.external_name.import_id
        import_id = template.format(**desired.arguments, external_name=name) if template else name
        try:
            await self.rt.driver.import_resource(wd, desired.env, self.address, import_id)
        except terraform.TerraformError as exc:
            if exc.not_found:
                return False
            raise
        self._event(mr, "Normal", "ImportedExternalResource", f"adopted {self.address} {name}")
        return True

    async def _report(self, mr: ManagedResource, wd: terraform.Workdir, note: str) -> None:
        attributes = wd.resource_attributes()
        if attributes is None:
            ready = conditions.unavailable(note or "external resource does not exist")
            await self._write_status(mr, [ready, conditions.success()], at_provider={})
            return
        at_provider, sensitive = fields.from_terraform(self.kind.fields, attributes)
        for value in sensitive.values():
            mr.secrets.add(value)
        data = self.details.build(attributes, sensitive)
        if await connection.publish(self.rt.kube, mr.body, data):
            logger.info("%s %s: connection Secret updated", self.kind.kind, mr.ref)
        name = self._external_name(mr, attributes)
        if name and name != mr.external_name:
            await self._annotate(mr, {EXTERNAL_NAME: name})
        ready = conditions.unavailable(note) if note else conditions.available()
        await self._write_status(mr, [ready, conditions.success()], at_provider=at_provider)

    async def _finalize(self, mr: ManagedResource, memory: Memory) -> None:
        if not mr.may("Delete"):
            self._event(mr, "Normal", "OrphanedExternalResource", f"{self.address} left in place")
        else:
            await self._write_status(mr, [conditions.deleting()])
            await self.rt.prepare()
            wd = await self._restore(mr, memory)
            exists = wd.resource_attributes() is not None
            adoptable = mr.external_name is not None and wd.read_state() is None
            # Render only when there is something to destroy: an object that never got
            # created (say, its Secret never existed) must be deletable as it is.
            if exists or adoptable:
                await self._destroy(mr, memory, wd, exists)
        # The state Secret stays until the object is gone (it is owned, so garbage-collected):
        # should kopf call this handler again, the state tells the resource is already gone.
        if self.rt.prepared:
            self.rt.driver.workdir(mr.uid).remove()

    async def _destroy(
        self, mr: ManagedResource, memory: Memory, wd: terraform.Workdir, in_state: bool
    ) -> None:
        desired = await self._desire(mr)
        wd.write_config(desired.config)
        if not in_state and not await self._import(mr, wd, desired, mr.external_name or ""):
            return  # nothing by that name: already gone
        try:
            await self.rt.driver.destroy(wd, desired.env)
        finally:
            await self._persist(mr, memory, wd)
        self._event(mr, "Normal", "DeletedExternalResource", f"{self.address} deleted")

    # --- rendering ---------------------------------------------------------------------

    async def _desire(self, mr: ManagedResource) -> Desired:
        provider_args, credential_args, env = await self._provider(mr)
        for_provider = await self._resolve_references(mr, mr.for_provider)
        init_provider = mr.init_provider
        merged = fields.merge_init_provider(for_provider, init_provider)
        secret_values = await self._secret_values(
            mr, fields.collect_secret_refs(self.kind.fields, merged), mr.namespace
        )
        arguments = fields.to_terraform(self.kind.fields, merged, secret_values)
        info = self.rt.info
        config = terraform.render_main(
            source=info.source,
            version=info.version,
            resource_type=self.kind.terraform_type,
            arguments=arguments,
            provider_arguments=provider_args,
            credential_arguments=credential_args,
            ignore_changes=fields.ignore_changes(self.kind.fields, init_provider, for_provider),
        )
        return Desired(config=config, env=env, arguments=arguments)

    async def _provider(self, mr: ManagedResource) -> tuple[dict, list[str], dict[str, str]]:
        """Provider block arguments, credential arguments and environment from the config."""
        info = self.rt.info
        ref = mr.spec.get("providerConfigRef") or {}
        name = ref.get("name") or "default"
        kind = ref.get("kind") or "ProviderConfig"
        api = f"{info.config_group}/{info.config_version}"
        if kind == "ClusterProviderConfig":
            path, config_ns = kube.object_path(api, "clusterproviderconfigs", None, name), None
        elif info.scope == "Cluster" or not mr.namespace:
            path, config_ns = kube.object_path(api, "providerconfigs", None, name), None
        else:
            config_ns = mr.namespace
            path = kube.object_path(api, "providerconfigs", config_ns, name)
        config = await self.rt.kube.get(path)
        if config is None:
            if name == "default" and not info.credentials:
                # A provider without credentials (random, local, ...) works without any
                # config; only a config the user named explicitly must exist.
                return {}, [], {}
            raise ReconcileError(f"{kind} {name!r} not found")
        spec = config.get("spec") or {}
        provider_args = await self._provider_arguments(
            mr, spec.get("configuration") or {}, config_ns
        )
        credential_args, env = [], {}
        values = await self._credentials(mr, kind, name, spec.get("credentials") or {}, config_ns)
        for cred in info.credentials:
            value = values.get(cred.key)
            if value is None:
                if cred.optional:
                    continue
                raise ReconcileError(f"credentials of {kind} {name!r} have no key {cred.key!r}")
            if cred.env:
                env[cred.env] = value
            if cred.argument:
                credential_args.append(cred.argument)
                env[terraform.credential_env_name(cred.argument)] = value
        return provider_args, credential_args, env

    async def _provider_arguments(
        self, mr: ManagedResource, configuration: dict[str, Any], namespace: str | None
    ) -> dict[str, Any]:
        provider_fields = self.rt.info.provider_fields
        if not provider_fields:
            return dict(configuration)
        refs = fields.collect_secret_refs(provider_fields, configuration)
        secrets = await self._secret_values(mr, refs, namespace)
        return fields.to_terraform(provider_fields, configuration, secrets)

    async def _credentials(
        self,
        mr: ManagedResource,
        kind: str,
        name: str,
        credentials: dict[str, Any],
        namespace: str | None,
    ) -> dict[str, str]:
        """The ProviderConfig's credential Secret as key -> text.

        ``secretRef.key``, when given, names one key holding a JSON object of credentials
        (Crossplane's usual shape); otherwise every key of the Secret is a credential.
        """
        if not self.rt.info.credentials or credentials.get("source", "Secret") == "None":
            return {}
        ref = credentials.get("secretRef") or {}
        secret_ns = ref.get("namespace") or namespace
        if not ref.get("name") or not secret_ns:
            raise ReconcileError(f"{kind} {name!r}: credentials.secretRef needs name and namespace")
        data = await self._secret(secret_ns, ref["name"], f"credentials of {kind} {name!r}")
        for value in data.values():
            mr.secrets.add(value)
        key = ref.get("key")
        if not key:
            return data
        if key not in data:
            raise ReconcileError(f"Secret {secret_ns}/{ref['name']} has no key {key!r}")
        try:
            document = json.loads(data[key])
        except ValueError:
            return {key: data[key]}
        if not isinstance(document, dict):
            return {key: data[key]}
        values = {k: v if isinstance(v, str) else json.dumps(v) for k, v in document.items()}
        for value in values.values():
            mr.secrets.add(value)
        return values

    async def _secret_values(
        self, mr: ManagedResource, refs: list[fields.SecretRefUse], namespace: str | None
    ) -> dict[Any, str]:
        values: dict[Any, str] = {}
        for ref in refs:
            secret_ns = ref.namespace or namespace
            if not ref.name or not ref.key or not secret_ns:
                field_name = ".".join(map(str, ref.path))
                raise ReconcileError(f"SecretRef of {field_name} needs name, key and namespace")
            data = await self._secret(secret_ns, ref.name, "referenced")
            if ref.key not in data:
                raise ReconcileError(f"Secret {secret_ns}/{ref.name} has no key {ref.key!r}")
            mr.secrets.add(data[ref.key])
            values[ref.path] = data[ref.key]
        return values

    async def _secret(self, namespace: str, name: str, what: str) -> dict[str, str]:
        secret = await self.rt.kube.get(kube.secret_path(namespace, name))
        if secret is None:
            raise ReconcileError(f"Secret {namespace}/{name} ({what}) not found")
        return kube.decode_secret(secret)

    async def _resolve_references(
        self, mr: ManagedResource, for_provider: dict[str, Any]
    ) -> dict[str, Any]:
        """Fill ``<field>`` from ``<field>Ref`` / ``<field>Selector`` (explicit values win)."""
        for reference in self.kind.references:
            json_path = _json_path(self.kind.fields, reference.field)
            if json_path is None:
                continue
            container: Any = for_provider
            for part, _ in json_path[:-1]:
                container = container.get(part) if isinstance(container, dict) else None
            if not isinstance(container, dict):
                continue
            leaf, leaf_field = json_path[-1]
            # The generator records the Ref/Selector names; fall back to the convention.
            by_name = container.get(getattr(leaf_field, "ref", None) or f"{leaf}Ref") or {}
            selector = (
                container.get(getattr(leaf_field, "selector", None) or f"{leaf}Selector") or {}
            )
            if container.get(leaf) is not None or not (by_name or selector):
                continue
            target = self._kind_named(reference.kind, reference.group)
            value = await self._referenced_value(
                mr, target, reference.value_from, by_name, selector
            )
            container[leaf] = value
        return for_provider

    async def _referenced_value(
        self, mr: ManagedResource, target: Kind, value_from: str, by_name: dict, selector: dict
    ) -> Any:
        namespace = mr.namespace if target.scope == "Namespaced" else None
        if by_name.get("name"):
            path = kube.object_path(target.api_version, target.plural, namespace, by_name["name"])
            obj = await self.rt.kube.get(path)
            label = by_name["name"]
        else:
            labels = selector.get("matchLabels") or {}
            query = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
            items = await self.rt.kube.list(
                kube.object_path(target.api_version, target.plural, namespace), query
            )
            items.sort(key=lambda o: o["metadata"]["name"])
            obj = items[0] if items else None
            label = f"selector {query}"
        if obj is None:
            raise ReconcileError(f"referenced {target.kind} {label} not found")
        if value_from == "external_name":
            value = (obj["metadata"].get("annotations") or {}).get(EXTERNAL_NAME)
        else:
            try:
                value = transforms.lookup(obj, value_from)
            except KeyError:
                value = None
        if value is None:
            raise ReconcileError(f"referenced {target.kind} {label} has no {value_from} yet")
        return value

    def _kind_named(self, name: str, group: str | None) -> Kind:
        for kind in self.rt.info.kinds:
            if kind.kind == name and (group is None or kind.group == group):
                return kind
        raise ReconcileError(f"reference to unknown kind {name} (group {group})")

    # --- workdir and state -------------------------------------------------------------

    async def _workdir(
        self, mr: ManagedResource, memory: Memory, desired: Desired
    ) -> terraform.Workdir:
        wd = await self._restore(mr, memory)
        wd.write_config(desired.config)
        return wd

    async def _restore(self, mr: ManagedResource, memory: Memory) -> terraform.Workdir:
        """The MR's workdir with the newest state we have (configuration not written)."""
        wd = self.rt.driver.workdir(mr.uid)
        if not memory.state_restored or wd.read_state() is None:
            # First pass since start, or the workdir was lost: the Secret may be newer, or
            # the workdir may be (a run finished after the last save); keep the newer one.
            remote = await self.rt.store.load(mr.body)
            local = wd.read_state()
            if remote and terraform.state_serial(remote)[1] > terraform.state_serial(local)[1]:
                wd.write_state(remote)
            memory.saved_state = remote
            memory.state_restored = True
        return wd

    async def _persist(self, mr: ManagedResource, memory: Memory, wd: terraform.Workdir) -> None:
        data = wd.read_state()
        if data and data != memory.saved_state:
            await self.rt.store.save(mr.body, data)
            memory.saved_state = data

    # --- reporting ---------------------------------------------------------------------

    def _external_name(self, mr: ManagedResource, attributes: dict[str, Any]) -> str | None:
        config = self.kind.external_name
        if config.strategy == "argument" and config.argument:
            value = attributes.get(config.argument)
        elif config.strategy == "template" and config.template:
            try:
                value = config.template.format(**attributes, external_name=mr.external_name)
            except (KeyError, IndexError):
                value = None
        else:
            value = attributes.get("id")
        return str(value) if value not in (None, "") else None

    def _planned_name(self, mr: ManagedResource, desired: Desired) -> str | None:
        """The external name known before create (argument/template strategies only)."""
        if self.kind.external_name.strategy == "identifier_from_provider":
            return None
        return self._external_name(mr, desired.arguments)

    async def _annotate(self, mr: ManagedResource, annotations: dict[str, str]) -> None:
        path = kube.object_path(self.kind.api_version, self.kind.plural, mr.namespace, mr.name)
        await self.rt.kube.patch(path, {"metadata": {"annotations": annotations}})
        mr.annotations.update(annotations)

    async def _write_status(
        self,
        mr: ManagedResource,
        updates: list[conditions.Condition],
        at_provider: dict[str, Any] | None = None,
    ) -> None:
        status = dict(mr.status)
        status["conditions"] = conditions.merge(mr.status.get("conditions"), updates)
        if at_provider is not None:
            status["atProvider"] = at_provider
        if mr.generation is not None:
            status["observedGeneration"] = mr.generation
        unchanged = conditions.same(status["conditions"], mr.status.get("conditions")) and all(
            status.get(k) == mr.status.get(k) for k in ("atProvider", "observedGeneration")
        )
        if unchanged:
            return
        patch = [{"op": "add", "path": "/status", "value": status}]
        path = kube.object_path(self.kind.api_version, self.kind.plural, mr.namespace, mr.name)
        if self.status_subresource:
            try:
                await self.rt.kube.patch(path + "/status", patch, kube.JSON_PATCH)
                mr.status = status
                return
            except kube.NotFound:
                # Either the object is gone or the CRD has no status subresource.
                self.status_subresource = False
        await self.rt.kube.patch(path, patch, kube.JSON_PATCH)
        mr.status = status

    async def _report_failure(
        self,
        mr: ManagedResource,
        memory: Memory,
        exc: BaseException,
        ready: conditions.Condition | None = None,
    ) -> None:
        message = self._message(mr, exc)
        logger.warning("%s %s: %s", self.kind.kind, mr.ref, message)
        if not isinstance(exc, EXPLAINED):
            # Not the user's doing: a bug or an outage.  Keep the traceback (redacted).
            details = "".join(traceback.format_exception(exc))
            logger.error("%s %s: %s", self.kind.kind, mr.ref, mr.secrets(details))
        if message != memory.last_error:
            self._event(mr, "Warning", "ReconcileError", message)
            memory.last_error = message
        updates = [conditions.error(message)]
        if ready is not None:
            updates.append(ready)
        elif conditions.find(mr.status.get("conditions"), conditions.READY) is None:
            updates.append(conditions.unavailable())
        try:
            await self._write_status(mr, updates)
        except Exception as status_exc:  # noqa: BLE001 - the API may be what failed
            logger.warning(
                "%s %s: cannot write status: %s",
                self.kind.kind,
                mr.ref,
                mr.secrets(str(status_exc)),
            )

    def _message(self, mr: ManagedResource, exc: BaseException) -> str:
        if isinstance(exc, EXPLAINED):
            text = str(exc)
        else:
            text = f"internal error ({type(exc).__name__}): {exc}"
        return conditions.shorten(mr.secrets(text))

    def _event(self, mr: ManagedResource, type_: str, reason: str, message: str) -> None:
        kopf.event(mr.body, type=type_, reason=reason, message=mr.secrets(message))


def _json_path(tree: dict[str, Field], tf_path: str) -> list[tuple[str, Field]] | None:
    """(JSON name, field) along a dotted Terraform path through object fields (no lists)."""
    out: list[tuple[str, Field]] = []
    current: dict[str, Field] | None = tree
    for part in tf_path.split("."):
        match = next(((j, f) for j, f in (current or {}).items() if f.tf_name == part), None)
        if match is None:
            return None
        out.append(match)
        current = match[1].fields if match[1].type == "object" else None
    return out
