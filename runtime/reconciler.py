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
import contextlib
import logging
import random
import time
import traceback
import weakref
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import kopf
from jetgen.runtime import (
    backoff,
    cache,
    conditions,
    connection,
    decisions,
    drivers,
    fields,
    kube,
    poll,
    render,
    schedule,
    state,
    transforms,
)
from jetgen.runtime.contract import durations, tree
from jetgen.runtime.decisions import Action, Decision
from jetgen.runtime.kinds import Kind, ProviderInfo
from jetgen.runtime.metrics import Metrics
from jetgen.runtime.resource import EXTERNAL_NAME, HANDLED, ManagedResource, ReconcileError
from jetgen.runtime.settings import Settings
from jetgen.runtime.terraform.desired import (
    Desired,
    ProviderSetup,
    ResourceBlock,
    resource_address,
)
from jetgen.runtime.terraform.diagnostics import TerraformError
from jetgen.runtime.terraform.driver import Driver
from jetgen.runtime.terraform.plans import Plan
from jetgen.runtime.terraform.slots import CHANGE, POLL, run_started
from jetgen.runtime.terraform.tfstate import state_serial
from jetgen.runtime.terraform.workdir import Workdir

logger = logging.getLogger(__name__)

# Actions after which the object matches its spec as far as the policies allow: only then
# may a later poll skip the CLI (see fast_poll_allowed).
SETTLING = (Action.NOTHING, Action.CREATE, Action.UPDATE, Action.REPLACE)
ERRORED_STATE = "errored.tfstate"  # where Terraform puts a state it failed to save
CREATING_NOTICE = 2.0  # seconds a create runs before Ready=False, Creating is written
FINALIZER_TRIES = 3  # patches adding the finalizer, each after a conflict re-read


# Failures whose message explains itself; anything else is reported as an internal error.
EXPLAINED = (
    ReconcileError,
    TerraformError,
    kube.KubeError,
    connection.ConnectionDetailError,
    transforms.TransformError,
    state.UntrustedState,
    drivers.CannotApply,
)


class Paused(Exception):
    """Deletion waits while the object is paused."""


@dataclass(slots=True)  # no __dict__ per MR
class Memory:
    """What the controller keeps about one managed resource between passes."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    failures: int = 0
    state_restored: bool = False
    # Digest of what the state Secret holds (state.Stored.digest): a copy of the state
    # would cost its size per MR; the digest tells just as well whether to write again.
    saved: str | None = None
    last_error: str | None = None  # to post one event per distinct error, not per retry
    # Fingerprint of the desired configuration, credential values aside, that the CLI
    # last left the object matching (Desired.fingerprint(credentials=False)); only then
    # may a poll skip the CLI.  Saved with the state, so it survives a restart.
    settled: str | None = None
    poll_error: str | None = None  # logged as a warning once, not on every poll
    handled_request: str | None = None  # the last crossplane.io/reconcile-requested-at seen
    # Fingerprint (as ``settled``) of the main.tf.json this controller last wrote into
    # the workdir: a settled poll rewrites the file only when it is not this one.
    written: str | None = None
    # The provider setup last rendered (one object shared by every MR with the same
    # setup): when a namespace goes its Secrets go first (Secrets have no finalizer to
    # wait on), so deleting falls back to it and to the workdir's main.tf.json.
    provider: ProviderSetup | None = None
    # The create-pending mark this process wrote and then created nothing behind: its
    # write raised (the answer lost, though the mark may have landed) before the driver
    # was called.  The next pass records that create as failed instead of taking the mark
    # for an interrupted create that only a person can settle.
    unused_pending: str | None = None


@dataclass
class Runtime:
    """Everything the reconcilers of all kinds share."""

    settings: Settings
    info: ProviderInfo
    kube: kube.KubeClient
    driver: Driver
    store: state.StateStore
    metrics: Metrics
    cache: cache.Cache  # what passes read: ProviderConfigs, Secrets, referenced objects
    poller: poll.Poller | None = None  # None: every poll runs the CLI
    pool: poll.ProviderPool | None = None  # the shared provider processes (polls, writes)
    # The plugin-protocol driver of kinds on ``plugin`` (see jetgen.runtime.drivers), and
    # what it raises for what it cannot prove (the CLI then does it); None: all use the CLI.
    plugin: Driver | None = None
    cannot_prove: tuple[type[Exception], ...] = ()
    prepared: bool = False
    prepare_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    prepare_cooldown: backoff.Cooldown = field(default_factory=lambda: backoff.Cooldown(2.0, 300.0))
    background: list[asyncio.Future[Any]] = field(default_factory=list)  # cancelled by close()
    # One ProviderSetup object per distinct setup, however many MRs remember it.
    setups: weakref.WeakValueDictionary[str, ProviderSetup] = field(
        default_factory=weakref.WeakValueDictionary
    )

    def shared(self, setup: ProviderSetup) -> ProviderSetup:
        """The one object equal to ``setup`` that MRs' memories keep (see Memory.provider)."""
        key = setup.fingerprint()
        found = self.setups.get(key)
        if found is None:
            self.setups[key] = found = setup
        return found

    async def prepare(self) -> None:
        """Install the provider for all workdirs, once.  A failed install (a broken mirror)
        shows on every object instead of crashing the controller, but is not retried by
        every pass: until its jittered, exponential back-off is over, passes fail at once
        with :class:`ProviderNotInstalled`; then one pass tries while the others wait on
        the lock, and one success unblocks them all."""
        if self.prepared:
            return
        self._wait_for_retry()
        async with self.prepare_lock:
            if not self.prepared:  # else the try this pass waited for worked
                await self._install()

    async def _install(self) -> None:
        self._wait_for_retry()  # the try this pass waited for failed
        try:
            # The plugin-protocol driver prepares the CLI's installation too.
            await (self.plugin or self.driver).prepare(self.info.source, self.info.version)
        except Exception as exc:
            self.prepare_cooldown.failed(exc)
            raise self._not_installed(exc) from exc
        self.prepare_cooldown.succeeded()
        self.prepared = True

    def _wait_for_retry(self) -> None:
        error = self.prepare_cooldown.blocked()
        if error is not None:
            raise self._not_installed(error) from error

    def _not_installed(self, error: Exception) -> ProviderNotInstalled:
        cooldown = self.prepare_cooldown
        return ProviderNotInstalled(
            f"provider {self.info.source} {self.info.version} is not installed "
            f"(tried {cooldown.failures} time(s), again after a back-off): {error}",
            retry_in=cooldown.wait(),
        )

    async def close(self) -> None:
        """Stop the shared provider processes (the CLI's end with their runs)."""
        for task in self.background:
            task.cancel()
        await self.cache.close()
        pool = self.pool or (self.poller.pool if self.poller is not None else None)
        if pool is not None:
            await pool.close()


class ProviderNotInstalled(ReconcileError):
    """The provider's install (``init``) failed and is not tried again before
    ``retry_in`` seconds (see :meth:`Runtime.prepare`)."""

    def __init__(self, message: str, *, retry_in: float):
        super().__init__(message)
        self.retry_in = retry_in


def fast_poll_allowed(settled: str | None, wanted: str, annotations: dict[str, str]) -> bool:
    """May a pass skip the CLI if the plugin poll finds nothing changed?  Only when the
    last CLI pass of this controller succeeded with exactly this configuration (spec,
    references, Secrets, ProviderConfig, credentials), and no create is in doubt."""
    return settled is not None and settled == wanted and not state.create_incomplete(annotations)


def never_handled(mr: ManagedResource) -> bool:
    """Whether no controller can have saved state for this object yet: no create was ever
    started (no create-guard mark), there is no external name to adopt or observe by, and
    no status was ever reported.  Every Terraform run that writes state comes after one of
    the first two (a create is marked pending before it starts), so a new object's first
    pass need not look for its state Secret: two requests fewer per new MR."""
    marks = (state.PENDING, state.SUCCEEDED, state.FAILED, EXTERNAL_NAME)
    return not any(mr.annotations.get(key) for key in marks) and not mr.status.get("conditions")


class Reconciler:
    def __init__(self, runtime: Runtime, kind: Kind):
        self.rt = runtime
        self.kind = kind
        self.details = connection.DetailBuilder(kind.connection_details)
        self.address = resource_address(kind.terraform_type)
        self.renderer = render.Renderer(runtime.info, runtime.cache, kind)
        # Plan, apply, import, destroy: the kind's driver (jetgen.runtime.drivers); the
        # workdirs and the provider installation stay the CLI driver's (runtime.driver).
        self.driver = drivers.for_kind(
            kind,
            runtime.settings.driver,
            runtime.driver,
            runtime.plugin,
            runtime.cannot_prove,
            runtime.metrics.driver_operation,
        )
        # The kind's operation timeouts bound the Terraform runs doing that operation.
        self.timeouts = {
            op: durations.seconds(getattr(kind.timeouts, op))
            for op in ("create", "update", "delete")
        }

    # --- entry points ------------------------------------------------------------------

    async def run_pass(self, body: Any, memory: Memory) -> float:
        """Reconcile once; never raises.  Returns the seconds until the next pass."""
        async with memory.lock:
            mr = ManagedResource(body, self.kind)
            drivers.subject.set(f"{self.kind.kind} {mr.ref}")
            interval = mr.poll_interval or self.rt.settings.poll_interval
            started = time.monotonic()
            install_retry: float | None = None
            try:
                decision = await self.reconcile(mr, memory)
            except Exception as exc:  # noqa: BLE001 - a pass must never take the controller down
                memory.failures += 1
                self.rt.metrics.errors.inc(self.kind.kind)
                await self._report_failure(mr, memory, exc)
                result = "error"
                if isinstance(exc, ProviderNotInstalled):
                    install_retry = exc.retry_in
            else:
                memory.failures = 0
                if decision.event is None:  # a standing warning is not repeated per pass
                    memory.last_error = None
                result = "ok"
            self.rt.metrics.reconcile.observe(time.monotonic() - started, self.kind.kind, result)
        if install_retry is not None:
            # Back just after the install's next try (spread over a second): the first
            # pass in makes it, the others wait on its lock and go on if it worked.
            return min(interval, install_retry + random.uniform(0.05, 1.0))
        return schedule.next_delay(memory.failures, self.rt.settings.backoff_base, interval)

    def first_delay(self, body: Any) -> float:
        """Seconds before the object's first pass after a start: a random phase of its
        poll interval if it was settled, else none (see jetgen.runtime.schedule)."""
        interval = ManagedResource(body, self.kind).poll_interval or self.rt.settings.poll_interval
        return schedule.first_delay(body, interval)

    async def reconcile(self, mr: ManagedResource, memory: Memory) -> Decision:
        if mr.paused or mr.policy.paused:
            decision = decisions.decide(self._facts(mr, decisions.UNKNOWN))
            await self._write_status(mr, [decision.synced])
            return decision
        await self._note_request(mr, memory)
        if not never_handled(mr) and self._lacks_finalizer(mr):
            # A new MR's finalizer comes with its create-pending mark (see _create); one
            # with a history may adopt or change something before any mark is written.
            await self._annotate(mr, {}, finalizer=True)
        await self.rt.prepare()
        connection.target(mr.body)  # its name is checked before anything is created
        # State first: a reference resolved on an earlier pass keeps its value there
        # (resolve policy IfNotPresent, jetgen.runtime.references).
        wd = await self._restore(mr, memory)
        desired = await self.renderer.desire(mr, known=wd.resource_attributes())
        memory.provider = self.rt.shared(desired.provider)
        wd.desired = desired
        wanted = desired.fingerprint(credentials=False)
        try:
            if await self._unchanged(mr, memory, wd, desired, wanted):
                self._keep_config(memory, wd, desired)
                decision = decisions.decide(self._facts(mr, decisions.PRESENT))
            else:
                # The mark is withdrawn until this CLI pass has succeeded; what it vouched
                # for is kept for _observe, which need not save a state the Secret holds.
                vouched, memory.settled = memory.settled, None
                # Always compared with the file before Terraform runs: whatever changed it
                # behind the controller's back, the CLI sees this configuration.
                wd.write_desired(desired)
                memory.written = wanted
                decision = await self._sync(mr, memory, wd, desired, vouched)
                if decision.action in SETTLING and wd.resource_attributes() is not None:
                    memory.settled = wanted
        finally:
            await self._persist(mr, memory, wd)
        if decision.event:
            self._event_once(mr, memory, *decision.event)
        await self._report(mr, wd, decision)
        return decision

    async def finalize(self, body: Any, memory: Memory) -> None:
        """Delete the external resource (unless orphaned); raises to be retried."""
        async with memory.lock:
            mr = ManagedResource(body, self.kind)
            drivers.subject.set(f"{self.kind.kind} {mr.ref}")
            try:
                await self._finalize(mr, memory)
            except Paused:
                raise
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
        wd: Workdir,
        desired: Desired,
        wanted: str,
    ) -> bool:
        """The plugin-protocol poll (see jetgen.runtime.poll): True when the external resource is
        still exactly what the last successful CLI pass left, so no CLI run is needed.
        False sends the pass down the CLI path, which also handles every problem."""
        poller = self.rt.poller
        if poller is None or not fast_poll_allowed(memory.settled, wanted, mr.annotations):
            return False
        try:
            verdict = await poller.check(
                wd.read_state(),
                desired,
                observe_only=mr.observe_only,
                pure_plan=self.kind.pure_plan,
            )
        except Exception as exc:  # noqa: BLE001 - any doubt: the CLI decides
            self.rt.metrics.plugin_polls.inc(self.kind.kind, "error")
            self._log_poll_error(mr, memory, wd, exc)
            return False
        memory.poll_error = None
        self.rt.metrics.plugin_polls.inc(self.kind.kind, verdict)
        if verdict != poll.UNCHANGED:
            logger.info("%s %s: poll found %s; running Terraform", self.kind.kind, mr.ref, verdict)
        return verdict == poll.UNCHANGED

    def _keep_config(self, memory: Memory, wd: Workdir, desired: Desired) -> None:
        """After a poll proved the MR unchanged: ``main.tf.json`` is needed only by a later
        CLI run (which writes it first, above) and by a deletion whose inputs are gone
        (which reads the last one back), so it is written only when this controller has
        not written this configuration into the workdir yet (a restart, a restored or
        removed workdir), not rendered and compared on every poll."""
        if memory.written == memory.settled and wd.config_file.exists():
            return
        wd.write_desired(desired)
        memory.written = memory.settled  # equal to this configuration's: one string kept

    def _log_poll_error(
        self, mr: ManagedResource, memory: Memory, wd: Workdir, exc: Exception
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

    def _facts(
        self,
        mr: ManagedResource,
        external: str,
        changed: tuple[str, ...] = (),
        forcing: tuple[str, ...] = (),
    ) -> decisions.Facts:
        return decisions.Facts(
            policy=mr.policy,
            paused=mr.paused,
            deleting=mr.deleting,
            guard=state.guard(mr.annotations),
            external=external,
            changed=changed,
            forcing=forcing,
        )

    async def _sync(
        self,
        mr: ManagedResource,
        memory: Memory,
        wd: Workdir,
        desired: Desired,
        vouched: str | None = None,
    ) -> Decision:
        """Observe, decide (decisions.decide), act; returns the decision taken.
        ``vouched``: the settled mark the pass started with (see _observe)."""
        await self._drop_unused_pending(mr, memory)
        external, plan = await self._observe(mr, memory, wd, desired, vouched)
        changed: list[str] = []
        forcing: list[str] = []
        refused = external == decisions.DRIFTED and not mr.may("Update")
        if external == decisions.REPLACE or refused:
            changed, forcing = await self.driver.changes(wd, desired.env)
        decision = decisions.decide(
            self._facts(mr, external, tuple(self._names(changed)), tuple(self._names(forcing)))
        )
        if decision.record or (decision.action != Action.CREATE and self._lacks_finalizer(mr)):
            # (a create puts the finalizer on with its pending mark)
            marks = state.mark(decision.record) if decision.record else {}
            await self._annotate(mr, marks, finalizer=True)
        await self._act(mr, memory, wd, desired, decision, plan)
        return decision

    async def _observe(
        self,
        mr: ManagedResource,
        memory: Memory,
        wd: Workdir,
        desired: Desired,
        vouched: str | None = None,
    ) -> tuple[str, Plan | None]:
        """What exists outside (a decisions external state), and the plan that showed it."""
        driver, env = self.driver, desired.env
        await self._follow_external_name(mr, wd, desired)
        if wd.resource_attributes() is None:
            found = await self._find_existing(mr, wd, desired)
            if found != decisions.PRESENT:
                return found, None
        elif state.create_incomplete(mr.annotations):
            # The controller died after Terraform recorded the create: it did succeed.
            # The state is saved before that is recorded (decide() records it), unless
            # the Secret holds it already with the mark this pass started with (a body
            # older than the create's success mark): saving it here would only drop the
            # mark, for the end of the pass to write it back -- two writes for nothing.
            if state.stored_digest(wd.read_state(), vouched) != memory.saved:
                await self._persist(mr, memory, wd)
        if mr.observe_only:
            plan = await driver.plan(wd, env, refresh_only=True)
            if plan.drift or plan.has_changes:
                await driver.apply(wd, env)  # stores what refresh saw; changes nothing outside
            exists = wd.resource_attributes() is not None
            return (decisions.PRESENT if exists else decisions.ABSENT), plan
        plan = await driver.plan(wd, env, priority=self._priority(mr))
        if plan.action == "create" and state.create_incomplete(mr.annotations):
            # The state's resource is gone while a create is incomplete: that state is
            # from before the create (an interrupted replacement) and says nothing about
            # what the create made.  Only a name that is not the stale one can tell.
            found = await self._find_after_stale_state(mr, wd, desired)
            if found != decisions.PRESENT:
                return found, None
            plan = await driver.plan(wd, env, priority=self._priority(mr))
        external = {
            "create": decisions.ABSENT,  # it disappeared
            "update": decisions.DRIFTED,
            "delete": decisions.DRIFTED,
            "replace": decisions.REPLACE,
        }.get(plan.action, decisions.PRESENT)
        return external, plan

    async def _act(
        self,
        mr: ManagedResource,
        memory: Memory,
        wd: Workdir,
        desired: Desired,
        decision: Decision,
        plan: Plan | None,
    ) -> None:
        driver, env = self.driver, desired.env
        if decision.action == Action.CREATE:
            # Without a plan (nothing in the state) apply plans itself: one run, not two.
            recreate = plan is not None and plan.drift == "delete"
            await self._create(mr, memory, wd, desired, saved=plan is not None, recreate=recreate)
        elif decision.action == Action.REPLACE:
            await self._create(mr, memory, wd, desired, saved=True, replace=True)
        elif decision.action == Action.UPDATE:
            await driver.apply(wd, env, timeout=self.timeouts["update"])
            self._event(mr, "Normal", "UpdatedExternalResource", f"updated {self.address}")
        elif decision.action == Action.NOTHING and plan is not None and plan.drift:
            if not mr.observe_only:
                await driver.apply(wd, env)  # nothing to change: just store the refreshed state

    def _names(self, attributes: list[str]) -> list[str]:
        """Terraform attribute paths as the MR's field paths (top level renamed)."""
        out = []
        for path in attributes:
            head, _, rest = path.partition(".")
            name = tree.json_name(self.kind.fields, head) or head
            out.append(f"{name}.{rest}" if rest else name)
        return out

    def _priority(self, mr: ManagedResource) -> int:
        """Routine drift checks of settled objects wait behind everything else."""
        settled = mr.status.get("observedGeneration") == mr.generation and conditions.is_true(
            mr.status.get("conditions"), conditions.SYNCED
        )
        return POLL if settled else CHANGE

    async def _create(
        self,
        mr: ManagedResource,
        memory: Memory,
        wd: Workdir,
        desired: Desired,
        *,
        saved: bool,
        recreate: bool = False,
        replace: bool = False,
    ) -> None:
        """A create (or replacement) behind Crossplane's guard: pending before anything is
        created, then succeeded once the state is saved, or failed only if the run shows
        nothing was created.  Anything else leaves it pending (incomplete)."""
        guard: dict[str, str | None] = dict(state.mark(state.PENDING))
        if replace and self.kind.external_name.strategy == "identifier_from_provider":
            # After the delete the old ID names nothing: an interrupted replacement must
            # not be "recovered" by looking the old ID up and then creating again.
            guard[EXTERNAL_NAME] = None
        memory.unused_pending = None
        try:
            await self._annotate(mr, guard, finalizer=True)
        except Exception:
            memory.unused_pending = guard[state.PENDING]
            raise
        try:
            async with self._creating_notice(mr):
                await self.driver.apply(
                    wd, desired.env, saved=saved, timeout=self.timeouts["create"]
                )
        except TerraformError as exc:
            if exc.nothing_created:
                await self._persist(mr, memory, wd)  # a partial state is kept, not lost
                await self._annotate(mr, state.mark(state.FAILED))
            raise
        # State first: if saving it fails the create stays incomplete, and the next pass
        # finds the resource through the workdir's state or its external name.
        if wd.resource_attributes() is None:
            # Terraform reported success but its state holds no resource (the workdir went
            # away under it): what it made is unknown, so the create stays incomplete.
            raise ReconcileError("the create ran but Terraform's state records no resource")
        # The apply made the resource match this configuration: saved as settled with the
        # state in one write (the guard below still says whether the create completed).
        memory.settled = desired.fingerprint(credentials=False)
        await self._persist(mr, memory, wd)
        annotations: dict[str, str | None] = dict(state.mark(state.SUCCEEDED))
        name = self._external_name(mr, wd.resource_attributes() or {})
        if name:
            annotations[EXTERNAL_NAME] = name
        await self._annotate(mr, annotations)
        if replace:
            self._event(mr, "Normal", "ReplacedExternalResource", f"replaced {self.address}")
        else:
            what = "recreated (it had disappeared)" if recreate else "created"
            self._event(mr, "Normal", "CreatedExternalResource", f"{self.address} {what}")

    async def _drop_unused_pending(self, mr: ManagedResource, memory: Memory) -> None:
        """A pending mark that is exactly the one this process wrote and created nothing
        behind (see Memory.unused_pending) is recorded as a failed create: nothing can
        have been made, so the create may run again.  A mark written since, by this
        process or another replica, has another time and is left alone."""
        unused = memory.unused_pending
        if unused is not None and mr.annotations.get(state.PENDING) == unused:
            logger.info(
                "%s %s: the create marked pending at %s never started; recording it as failed",
                self.kind.kind,
                mr.ref,
                unused,
            )
            await self._annotate(mr, state.mark(state.FAILED))  # raises: kept for the next pass
        memory.unused_pending = None

    @contextlib.asynccontextmanager
    async def _creating_notice(self, mr: ManagedResource) -> AsyncIterator[None]:
        """``Ready=False, Creating`` for a create that is still running CREATING_NOTICE
        seconds after its run began (creates may take minutes).  A quicker one -- most over
        the plugin protocol -- goes straight to its final status, one status write fewer;
        so does one that only waited that long for a run slot (in a burst of 300 new MRs up
        to 23% wrote the notice, though a random_id create takes milliseconds)."""
        running, writing = asyncio.Event(), asyncio.Event()

        async def notice() -> None:
            await running.wait()
            await asyncio.sleep(CREATING_NOTICE)
            writing.set()
            try:
                await self._write_status(mr, [conditions.creating()])
            except Exception as exc:  # noqa: BLE001 - only a notice: the create goes on
                logger.warning(
                    "%s %s: cannot write status: %s", self.kind.kind, mr.ref, mr.secrets(str(exc))
                )

        task = asyncio.ensure_future(notice())
        started = run_started.set(running.set)
        try:
            yield
        finally:
            run_started.reset(started)
            # A write under way is waited for (it must land before the final status);
            # one not begun is cancelled, so nothing of it reaches the apiserver.
            if not writing.is_set():
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _find_existing(self, mr: ManagedResource, wd: Workdir, desired: Desired) -> str:
        """The state knows no resource: find one by its recorded identity.  Returns
        PRESENT (imported), ABSENT (known not to exist, or nothing to look for) or
        UNKNOWN (a create is incomplete and nothing identifies what it made)."""
        if state.create_incomplete(mr.annotations):
            name = mr.external_name or self._planned_name(mr, desired)
            if not name:
                return decisions.UNKNOWN
            found = await self._import(mr, wd, desired, name)
            return decisions.PRESENT if found else decisions.ABSENT
        if mr.external_name and wd.read_state() is None:
            # No state at all (new controller, lost workdir and Secret): adopt by name.  An
            # existing state without the resource means it is gone, which plan handles.
            found = await self._import(mr, wd, desired, mr.external_name)
            return decisions.PRESENT if found else decisions.ABSENT
        return decisions.ABSENT

    async def _find_after_stale_state(
        self, mr: ManagedResource, wd: Workdir, desired: Desired
    ) -> str:
        """A create is incomplete and the resource the state records is gone (refresh
        said so): the state is from before the create -- a replacement cut short after
        its delete.  Drop it and find what the create made by its external name (one the
        user set to adopt it, or the planned one); a provider-chosen ID equal to the
        stale one names nothing, so the outcome is UNKNOWN (never a blind create)."""
        stale = self._external_name(mr, wd.resource_attributes() or {})
        name = mr.external_name or self._planned_name(mr, desired)
        provider_named = self.kind.external_name.strategy == "identifier_from_provider"
        if not name or (provider_named and name == stale):
            return decisions.UNKNOWN
        logger.info(
            "%s %s: the state predates an incomplete create; looking up %s",
            self.kind.kind,
            mr.ref,
            name,
        )
        wd.state_file.unlink(missing_ok=True)
        found = await self._import(mr, wd, desired, name)
        return decisions.PRESENT if found else decisions.ABSENT

    async def _follow_external_name(
        self, mr: ManagedResource, wd: Workdir, desired: Desired
    ) -> None:
        """A user's edit of the external name of a provider-named resource points the MR
        at another resource (Crossplane observes by external name): forget the state and
        adopt that one; the old one is left alone."""
        attributes = wd.resource_attributes()
        if (
            attributes is None
            or not mr.external_name
            or self.kind.external_name.strategy != "identifier_from_provider"
            or state.create_incomplete(mr.annotations)
        ):
            return
        current = self._external_name(mr, attributes)
        if current is None or current == mr.external_name:
            return
        logger.info(
            "%s %s: external name changed from %s to %s; adopting",
            self.kind.kind,
            mr.ref,
            current,
            mr.external_name,
        )
        wd.state_file.unlink(missing_ok=True)

    async def _import(self, mr: ManagedResource, wd: Workdir, desired: Desired, name: str) -> bool:
        """Import by ``name``; False only when Terraform's structured verdict is that no
        such object exists (TerraformError.not_found); any other failure raises."""
        template = self.kind.external_name.import_id
        import_id = template.format(**desired.arguments, external_name=name) if template else name
        try:
            await self.driver.import_resource(wd, desired.env, self.address, import_id)
        except TerraformError as exc:
            if exc.not_found:
                return False
            raise
        self._event(mr, "Normal", "ImportedExternalResource", f"adopted {self.address} {name}")
        return True

    async def _report(self, mr: ManagedResource, wd: Workdir, decision: Decision) -> None:
        attributes = wd.resource_attributes()
        if attributes is None:
            ready = decision.ready or conditions.unavailable("external resource does not exist")
            await self._write_status(mr, [ready, decision.synced], at_provider={})
            return
        at_provider, sensitive = fields.from_terraform(self.kind.fields, attributes)
        for value in sensitive.values():
            mr.secrets.add(value)
        data = self.details.build(attributes, sensitive)
        if await connection.publish(self.rt.kube, self.rt.cache, mr.body, data):
            logger.info("%s %s: connection Secret updated", self.kind.kind, mr.ref)
        name = self._external_name(mr, attributes)
        if name and not mr.external_name and not state.create_incomplete(mr.annotations):
            # Only fill it in: a name the user wrote is theirs (see _follow_external_name).
            # Not while a create is incomplete: the state may be from before it.
            await self._annotate(mr, {EXTERNAL_NAME: name})
        ready = decision.ready or conditions.available()
        await self._write_status(mr, [ready, decision.synced], at_provider=at_provider)

    async def _finalize(self, mr: ManagedResource, memory: Memory) -> None:
        memory.written = None  # deletion writes the configuration it deletes with
        if mr.paused or mr.policy.paused:
            await self._write_status(mr, [conditions.paused(decisions.PAUSED)])
            raise Paused("deletion waits: the object is paused")
        if not mr.may("Delete"):
            self._event(mr, "Normal", "OrphanedExternalResource", f"{self.address} left in place")
        else:
            await self._write_status(mr, [conditions.deleting()])
            await self.rt.prepare()
            wd = await self._restore(mr, memory)
            await self._drop_unused_pending(mr, memory)
            external = await self._observe_deletion(mr, memory, wd)
            decision = decisions.decide(self._facts(mr, external))
            if decision.record:
                await self._annotate(mr, state.mark(decision.record))
            if decision.action == Action.WAIT:
                assert decision.event is not None
                self._event_once(mr, memory, *decision.event)
                await self._write_status(mr, [decision.synced, decisions_ready(decision)])
                raise ReconcileError(decision.synced.message)
            if decision.action == Action.DELETE:
                await self._destroy(mr, memory, wd)
        # The state Secret stays until the object is gone (operator.py deletes it then):
        # should kopf call this handler again, the state tells the resource is already gone.
        if self.rt.prepared:
            self.rt.driver.workdir(mr.uid).remove()

    async def _observe_deletion(self, mr: ManagedResource, memory: Memory, wd: Workdir) -> str:
        """What there is to delete.  Renders only when it must look something up: an
        object that never got created (say, its Secret never existed) is deletable as is."""
        incomplete = state.create_incomplete(mr.annotations)
        if wd.resource_attributes() is not None:
            if not incomplete:
                return decisions.PRESENT
            # The state may be from before the create (a replacement cut short after its
            # delete): destroying that would destroy nothing and leak what was created.
            desired = await self._desire_for_deletion(mr, memory, wd, wd.resource_attributes())
            wd.write_desired(desired)
            plan = await self.driver.plan(wd, desired.env)
            if plan.action != "create":
                return decisions.PRESENT
            return await self._find_after_stale_state(mr, wd, desired)
        if mr.external_name and (incomplete or wd.read_state() is None):
            desired = await self._desire_for_deletion(mr, memory, wd)
            wd.write_desired(desired)
            found = await self._import(mr, wd, desired, mr.external_name)
            return decisions.PRESENT if found else decisions.ABSENT
        if incomplete:
            desired = await self._desire_for_deletion(mr, memory, wd)
            name = self._planned_name(mr, desired)
            if not name:
                return decisions.UNKNOWN
            wd.write_desired(desired)
            found = await self._import(mr, wd, desired, name)
            return decisions.PRESENT if found else decisions.ABSENT
        if state.guard(mr.annotations) == "succeeded" and wd.read_state() is None:
            return decisions.UNKNOWN  # created, but nothing left to find it by
        return decisions.ABSENT

    async def _desire_for_deletion(
        self,
        mr: ManagedResource,
        memory: Memory,
        wd: Workdir,
        known: dict[str, Any] | None = None,
    ) -> Desired:
        """The configuration to delete with: rendered now, or else the last one rendered
        (a Secret it needs may be gone already, as when the namespace is deleted): the
        provider setup remembered, the resource block read back from ``main.tf.json``."""
        try:
            return await self.renderer.desire(mr, known=known)
        except (ReconcileError, kube.KubeError) as exc:
            config = wd.read_config()
            if memory.provider is None or config is None:
                raise
            logger.warning(
                "%s %s: deleting with the last configuration rendered: %s",
                self.kind.kind,
                mr.ref,
                self._message(mr, exc),
            )
            return Desired(memory.provider, ResourceBlock.read(config))

    async def _destroy(self, mr: ManagedResource, memory: Memory, wd: Workdir) -> None:
        desired = await self._desire_for_deletion(mr, memory, wd, known=wd.resource_attributes())
        wd.write_desired(desired)
        try:
            await self.driver.destroy(wd, desired.env, timeout=self.timeouts["delete"])
        finally:
            await self._persist(mr, memory, wd)
        self._event(mr, "Normal", "DeletedExternalResource", f"{self.address} deleted")

    # --- rendering ---------------------------------------------------------------------

    async def _restore(self, mr: ManagedResource, memory: Memory) -> Workdir:
        """The MR's workdir with the newest state we have (configuration not written)."""
        wd = self.rt.driver.workdir(mr.uid)
        if not memory.state_restored or wd.read_state() is None:
            # First pass since start, or the workdir was lost: the Secret may be newer, or
            # the workdir may be (a run finished after the last save); keep the newer one.
            stored = None
            if not never_handled(mr):
                stored = await self.rt.store.load(mr.body)
                if stored is None:
                    await self._warn_foreign_state(mr)
            found = stored or state.Stored()
            local = wd.read_state()
            if found.state and state_serial(found.state)[1] > state_serial(local)[1]:
                wd.write_state(found.state)
            # None: no state Secret is known to exist (see _persist).
            memory.saved = stored.digest() if stored is not None else None
            memory.state_restored = True
            memory.written = None  # the workdir's main.tf.json is not known to be ours
            # The Secret's settled mark vouches for the Secret's state, no other.
            same = found.state is not None and wd.read_state() == found.state
            memory.settled = found.settled if same else None
        if self._take_errored_state(mr, wd):
            memory.settled = None
        return wd

    def _take_errored_state(self, mr: ManagedResource, wd: Workdir) -> bool:
        """Terraform writes ``errored.tfstate`` when it could not save its state where it
        should: that is the only record of what an interrupted run made, so use it.
        Returns whether it was used."""
        errored = wd.path / ERRORED_STATE
        try:
            data = errored.read_bytes()
        except OSError:
            return False
        used = state_serial(data)[1] >= state_serial(wd.read_state())[1]
        if used:
            logger.warning(
                "%s %s: using the state Terraform could not save", self.kind.kind, mr.ref
            )
            wd.write_state(data)
        errored.unlink(missing_ok=True)
        return used

    async def _warn_foreign_state(self, mr: ManagedResource) -> None:
        """A state Secret in the MR's own namespace is tenant-writable: say it is ignored."""
        foreign = await self.rt.store.foreign(mr.body)
        if foreign:
            message = (
                f"Secret {foreign} is not trusted as Terraform state (state is kept in "
                f"{self.rt.store.location(mr.body)}); it was ignored"
            )
            logger.warning("%s %s: %s", self.kind.kind, mr.ref, message)
            self._event(mr, "Warning", "UntrustedState", message)

    async def _persist(self, mr: ManagedResource, memory: Memory, wd: Workdir) -> None:
        """Save the workdir's state and the settled mark (together: the mark vouches for
        that state) to the state Secret, unless the Secret holds them already."""
        data = wd.read_state()
        if not data:
            return
        saved = state.stored_digest(data, memory.settled)
        if saved != memory.saved:
            # None: no state Secret is known to exist, so the first write creates it.
            new = memory.saved is None
            await self.rt.store.save(mr.body, data, settled=memory.settled, new=new)
            memory.saved = saved

    # --- reporting ---------------------------------------------------------------------

    def _external_name(self, mr: ManagedResource, attributes: Mapping[str, Any]) -> str | None:
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

    def _lacks_finalizer(self, mr: ManagedResource) -> bool:
        """Whether the object still needs the controller's finalizer (operator.py leaves
        putting it on to the passes)."""
        finalizers = (mr.body.get("metadata") or {}).get("finalizers") or []
        return not mr.deleting and self.rt.settings.finalizer not in finalizers

    async def _annotate(
        self,
        mr: ManagedResource,
        annotations: Mapping[str, str | None],
        *,
        finalizer: bool = False,
    ) -> None:
        """Merge-patch annotations (``None`` removes one); with ``finalizer`` the
        controller's finalizer too, in the same patch, if the object lacks it."""
        path = kube.object_path(self.kind.api_version, self.kind.plural, mr.namespace, mr.name)
        if finalizer and self._lacks_finalizer(mr):
            await self._patch_with_finalizer(mr, path, annotations)
        else:
            await self.rt.kube.patch(path, {"metadata": {"annotations": annotations}})
        for key, value in annotations.items():
            if value is None:
                mr.annotations.pop(key, None)
            else:
                mr.annotations[key] = value

    async def _patch_with_finalizer(
        self, mr: ManagedResource, path: str, annotations: Mapping[str, str | None]
    ) -> None:
        """A merge patch replaces the whole finalizer list, so it is guarded by the
        resourceVersion the list was read at; on a conflict the object is read again."""
        for attempt in range(FINALIZER_TRIES):
            meta = mr.body.get("metadata") or {}
            patch: dict[str, Any] = {
                "annotations": annotations,
                "finalizers": [*(meta.get("finalizers") or []), self.rt.settings.finalizer],
            }
            if meta.get("resourceVersion"):
                patch["resourceVersion"] = meta["resourceVersion"]
            try:
                written = await self.rt.kube.patch(path, {"metadata": patch})
            except kube.Conflict:
                if attempt + 1 == FINALIZER_TRIES:
                    raise
                fresh = await self.rt.kube.get(path)
                if fresh is None:
                    raise ReconcileError("the object is gone") from None
                mr.body["metadata"] = fresh.get("metadata") or {}
                if not self._lacks_finalizer(mr):  # put on meanwhile, or being deleted
                    if mr.deleting:
                        raise ReconcileError("the object is being deleted") from None
                    await self.rt.kube.patch(path, {"metadata": {"annotations": annotations}})
                    return
                continue
            # The body kopf gave this pass is not changed in place: the pass's own copy is.
            mr.body["metadata"] = {**meta, **((written or {}).get("metadata") or patch)}
            return

    async def _note_request(self, mr: ManagedResource, memory: Memory) -> None:
        """Acknowledge a new crossplane.io/reconcile-requested-at token in
        ``status.lastHandledReconcileAt`` (this pass is the reconcile it asked for;
        the scheduler wakes the object when the token changes)."""
        token = mr.reconcile_request
        if token and token != mr.status.get(HANDLED) and token != memory.handled_request:
            memory.handled_request = token
            path = kube.object_path(self.kind.api_version, self.kind.plural, mr.namespace, mr.name)
            await self.rt.kube.patch(path + "/status", {"status": {HANDLED: token}})
            mr.status = {**mr.status, HANDLED: token}
            message = f"handling reconcile request {token}"
            self._event(mr, "Normal", "ReconcileRequestHandled", message)

    def _event_once(self, mr: ManagedResource, memory: Memory, reason: str, message: str) -> None:
        """A Warning event, once per distinct message (not on every retry)."""
        message = conditions.shorten(mr.secrets(message))
        if message != memory.last_error:
            self._event(mr, "Warning", reason, message)
            memory.last_error = message

    async def _write_status(
        self,
        mr: ManagedResource,
        updates: list[conditions.Condition],
        at_provider: dict[str, Any] | None = None,
    ) -> None:
        status = dict(mr.status)
        status["conditions"] = conditions.merge(
            mr.status.get("conditions"), updates, generation=mr.generation
        )
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
        # kopf reads only the object's apiVersion, kind and metadata (any mapping does).
        body = cast(kopf.Body, mr.body)
        kopf.event(body, type=type_, reason=reason, message=mr.secrets(message))


def decisions_ready(decision: Decision) -> conditions.Condition:
    return decision.ready or conditions.deleting()
