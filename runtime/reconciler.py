"""Reconcile one managed resource: spec -> main.tf.json -> Terraform -> status.

One :class:`Reconciler` serves one kind.  A *pass* (:meth:`Reconciler.run_pass`) reads
the object, renders what Terraform should see (:mod:`jetgen.runtime.render`), makes the
external resource match it (plan, then create / update / nothing), and reports back:
``status.atProvider``, the ``Ready`` / ``Synced`` conditions, the external name and the
connection Secret.  :meth:`Reconciler.finalize` runs when the object is deleted.

Passes of one object never overlap: each holds the object's lock in its :class:`Memory`.
Nothing in a pass may crash the controller: every error ends as a ``Synced=False``
condition plus an event, the pass is retried with backoff, and it heals when the cause
is fixed.  Secret values never reach a message unredacted (see ``resource.Redactor``).
"""

from __future__ import annotations

import asyncio
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
    plugin_poll,
    render,
    state,
    terraform,
    transforms,
)
from jetgen.runtime.kinds import Kind, ProviderInfo
from jetgen.runtime.metrics import Metrics
from jetgen.runtime.render import Desired
from jetgen.runtime.resource import EXTERNAL_NAME, ManagedResource, ReconcileError
from jetgen.runtime.settings import Settings

logger = logging.getLogger(__name__)

CREATE_OUTCOME_UNKNOWN = (
    "a create was interrupted before its result was recorded and the external name is "
    f"unknown, so it is not retried (it could make a duplicate); check the provider, then "
    f"set {EXTERNAL_NAME} to adopt what was created, or remove {state.PENDING} to create again"
)


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


@dataclass
class Memory:
    """What the controller keeps about one managed resource between passes."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    failures: int = 0
    state_restored: bool = False
    saved_state: bytes | None = None  # the state last written to the state Secret
    last_error: str | None = None  # to post one event per distinct error, not per retry
    trigger: tuple | None = None  # what last woke the object (see operator.py)
    # Fingerprint of the desired configuration the CLI last left the object matching
    # (plugin_poll.fingerprint); only then may a poll skip the CLI.
    settled: str | None = None
    poll_error: str | None = None  # logged as a warning once, not on every poll


@dataclass
class Runtime:
    """Everything the reconcilers of all kinds share."""

    settings: Settings
    info: ProviderInfo
    kube: kube.KubeClient
    driver: terraform.Driver
    store: state.StateStore
    metrics: Metrics
    poller: plugin_poll.Poller | None = None  # None: every poll runs the CLI
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

    async def close(self) -> None:
        """Stop the shared provider processes (the CLI's end with their runs)."""
        if self.poller is not None:
            await self.poller.pool.close()


def fast_poll_allowed(settled: str | None, wanted: str, annotations: dict[str, str]) -> bool:
    """May a pass skip the CLI if the plugin poll finds nothing changed?  Only when the
    last CLI pass of this controller succeeded with exactly this configuration (spec,
    references, Secrets, ProviderConfig, credentials), and no create is in doubt."""
    return settled is not None and settled == wanted and not state.create_incomplete(annotations)


class Reconciler:
    def __init__(self, runtime: Runtime, kind: Kind):
        self.rt = runtime
        self.kind = kind
        self.details = connection.DetailBuilder(kind.connection_details)
        self.address = terraform.resource_address(kind.terraform_type)
        self.renderer = render.Renderer(runtime.info, runtime.kube, kind)
        # The kind's operation timeouts bound the Terraform runs doing that operation.
        self.timeouts = {
            op: terraform.duration_seconds(getattr(kind.timeouts, op))
            for op in ("create", "update", "delete")
        }

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
        desired = await self.renderer.desire(mr)
        wd = await self._workdir(mr, memory, desired)
        wanted = plugin_poll.fingerprint(desired.config, desired.env)
        try:
            if await self._unchanged(mr, memory, wd, desired, wanted):
                note = ""
            else:
                memory.settled = None  # until this CLI pass has succeeded
                note = await self._sync(mr, wd, desired)
                if not note and wd.resource_attributes() is not None:
                    memory.settled = wanted
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

    async def _unchanged(
        self,
        mr: ManagedResource,
        memory: Memory,
        wd: terraform.Workdir,
        desired: Desired,
        wanted: str,
    ) -> bool:
        """The plugin-protocol poll (see plugin_poll): True when the external resource is
        still exactly what the last successful CLI pass left, so no CLI run is needed.
        False sends the pass down the CLI path, which also handles every problem."""
        poller = self.rt.poller
        if poller is None or not fast_poll_allowed(memory.settled, wanted, mr.annotations):
            return False
        try:
            verdict = await poller.check(
                wd.read_state(), desired.config, desired.env, observe_only=mr.observe_only
            )
        except Exception as exc:  # noqa: BLE001 - any doubt: the CLI decides
            self.rt.metrics.plugin_polls.inc(self.kind.kind, "error")
            self._log_poll_error(mr, memory, wd, exc)
            return False
        memory.poll_error = None
        self.rt.metrics.plugin_polls.inc(self.kind.kind, verdict)
        if verdict != plugin_poll.UNCHANGED:
            logger.info("%s %s: poll found %s; running Terraform", self.kind.kind, mr.ref, verdict)
        return verdict == plugin_poll.UNCHANGED

    def _log_poll_error(
        self, mr: ManagedResource, memory: Memory, wd: terraform.Workdir, exc: Exception
    ) -> None:
        # A provider's message may quote attribute values: hide sensitive ones too.
        _, sensitive = fields.from_terraform(self.kind.fields, wd.resource_attributes() or {})
        for value in sensitive.values():
            mr.secrets.add(value)
        message = conditions.shorten(mr.secrets(f"{type(exc).__name__}: {exc}"))
        level = logging.DEBUG if message == memory.poll_error else logging.WARNING
        memory.poll_error = message
        logger.log(
            level,
            "%s %s: plugin-protocol poll failed, running Terraform instead: %s",
            self.kind.kind,
            mr.ref,
            message,
        )

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
            await driver.apply(wd, env, timeout=self.timeouts["update"])
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
            await self.rt.driver.apply(
                wd, desired.env, saved=saved, timeout=self.timeouts["create"]
            )
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
        desired = await self.renderer.desire(mr, known=wd.resource_attributes())
        wd.write_config(desired.config)
        if not in_state and not await self._import(mr, wd, desired, mr.external_name or ""):
            return  # nothing by that name: already gone
        try:
            await self.rt.driver.destroy(wd, desired.env, timeout=self.timeouts["delete"])
        finally:
            await self._persist(mr, memory, wd)
        self._event(mr, "Normal", "DeletedExternalResource", f"{self.address} deleted")

    # --- rendering ---------------------------------------------------------------------

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
        # Generated CRDs always have the status subresource; status goes only through it.
        await self.rt.kube.patch(path + "/status", patch, kube.JSON_PATCH)
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
