"""Terraform's writes over the plugin protocol: :class:`PluginDriver`.

The same :class:`~jetgen.runtime.terraform.driver.Driver` as the CLI's, done the way
Terraform core does it for one resource instance, on the shared, long-lived provider
processes of :class:`~jetgen.runtime.poll.ProviderPool` (the ones polls use) instead of a
``tofu`` process per run:

* plan: UpgradeResourceState on the stored state, ReadResource (refresh), then
  ValidateResourceConfig and PlanResourceChange from the refreshed state to the desired
  configuration; a change that requires replacement is planned as Terraform plans it
  without ``create_before_destroy``: a destroy (planned to null) then a create;
* apply: ApplyResourceChange for each step of that plan, the workdir's
  ``terraform.tfstate`` written after each one in the CLI's own format
  (:func:`~jetgen.runtime.terraform.tfstate.write_state`), so the CLI can take the
  workdir over at any time, and this driver takes over any state the CLI wrote;
* destroy: refresh, then a plan to null and its apply.

The plan is kept in memory with the pass's Workdir object (the CLI keeps ``jetgen.tfplan``,
and a plan nobody applies goes with the pass); it is stale,
as the CLI's is, once the state changed under it.  Provider diagnostics become the same
:class:`~jetgen.runtime.terraform.diagnostics.TerraformError` the CLI's do, with the
same ``nothing_created`` rule (only an answered error proves nothing was made).

What cannot be proved here raises :class:`PluginUnsupported` before anything outside
changed -- a configuration the schema does not take, ``ignore_changes`` below the top
level, a state the driver did not expect, no free provider process -- and the caller runs
the operation with the CLI.

An import is ImportResourceState then ReadResource, the result written as state, as
``tofu import`` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jetgen.runtime import poll
from jetgen.runtime.terraform.desired import RESOURCE_NAME, Desired
from jetgen.runtime.terraform.diagnostics import (
    IMPORT_NON_EXISTENT,
    Diagnostic,
    TerraformError,
)
from jetgen.runtime.terraform.driver import CliDriver, RunObserver
from jetgen.runtime.terraform.plans import Plan
from jetgen.runtime.terraform.slots import CHANGE, FINISH, RunSlots
from jetgen.runtime.terraform.tfstate import (
    InstanceState,
    provider_address,
    sensitive_paths,
    state_instance,
    write_state,
)
from jetgen.runtime.terraform.workdir import Workdir
from jetgen.runtime.tfplugin import client as plugin
from jetgen.runtime.tfplugin.cty import CtyError, contains_unknown
from jetgen.runtime.tfplugin.plan import equal

logger = logging.getLogger(__name__)


class PluginUnsupported(Exception):
    """The plugin-protocol driver cannot prove this operation right; nothing outside was
    changed.  Run it with the CLI (after an apply of a saved plan: plan with the CLI
    first, the CLI has no plan of this driver's)."""


@dataclass
class _Step:
    """One ApplyResourceChange of a plan: the provider's plan and the config it was for."""

    plan: plugin.Plan
    config: dict[str, Any] | None


@dataclass
class _Saved:
    """A plan kept for :meth:`PluginDriver.apply`, as the CLI keeps its plan file."""

    desired: Desired
    state: bytes | None  # the workdir's state the plan was made from
    refreshed: dict[str, Any] | None  # the refreshed prior state (None: none exists)
    private: bytes
    steps: list[_Step]
    drift: str | None = None  # what the refresh found: "update", "delete" or nothing
    changed: list[str] = field(default_factory=list)
    forcing: list[str] = field(default_factory=list)


class PluginDriver:
    """Plans, applies and destroys over the plugin protocol (see the module doc).

    ``cli`` installs the provider (its ``prepare``) and owns the workdirs; its install is
    the binary this driver runs.  ``pool`` is the provider process pool shared with the
    poller.  At most ``max_runs`` operations run at once (each is real API calls)."""

    def __init__(
        self,
        cli: CliDriver,
        pool: poll.ProviderPool,
        *,
        max_runs: int = 16,
        observer: RunObserver | None = None,
        grace: float = 20.0,
    ):
        self.cli = cli
        self.pool = pool
        self.slots = RunSlots(max_runs)
        self.observer = observer
        self.terraform_version = ""
        self.schema_marks = True  # see prepare
        # After an apply's timeout, how long its answer is still waited for (not asked
        # to stop: the process is shared), as the CLI's interrupt waits for Terraform.
        self.grace = grace
        # Per workdir object, which lives for one pass: a plan nobody applies (nothing to
        # do, or a change the policies refuse) goes with it, nothing stays per MR.
        self._saved: weakref.WeakKeyDictionary[Workdir, _Saved] = weakref.WeakKeyDictionary()
        self._binaries: dict[str, tuple[Path, str]] = {}  # source -> (binary, host)

    @property
    def fence(self) -> Callable[[], bool] | None:
        """Set under leader election: an operation may start only while this is True."""
        return self.cli.fence

    @fence.setter
    def fence(self, check: Callable[[], bool] | None) -> None:
        self.cli.fence = check

    # -- Driver -----------------------------------------------------------------------------

    async def prepare(self, source: str, version: str) -> None:
        await self.cli.prepare(source, version)
        if not self.terraform_version:
            name, self.terraform_version = await self._cli_version()
            # OpenTofu records every schema-sensitive attribute in sensitive_attributes
            # (seen with 1.10); Terraform only what sensitive configuration made so
            # (seen with 1.5.7), which a jetgen resource block never has.  Recording
            # marks the CLI would not makes its next plan an update that changes nothing.
            self.schema_marks = name == "OpenTofu"

    def workdir(self, key: str) -> Workdir:
        return self.cli.workdir(key)

    async def plan(
        self,
        wd: Workdir,
        env: Mapping[str, str],
        *,
        refresh_only: bool = False,
        priority: int = CHANGE,
    ) -> Plan:
        async with self._run("plan", priority):
            saved = await self._plan(wd, refresh_only=refresh_only)
        self._saved[wd] = saved
        return _summary(saved)

    async def apply(
        self,
        wd: Workdir,
        env: Mapping[str, str],
        *,
        saved: bool = True,
        timeout: float | None = None,
    ) -> None:
        async with self._run("apply", FINISH if saved else CHANGE):
            if saved:
                plan = self._saved.pop(wd, None)
                if plan is None:
                    raise PluginUnsupported("no plan of this driver is saved for this workdir")
                if plan.state != wd.read_state():
                    raise TerraformError(
                        "apply",
                        [Diagnostic("error", "Saved plan is stale", "the state changed")],
                        nothing_created=True,
                    )
            else:
                plan = await self._plan(wd)
            await self._apply(wd, plan, timeout)

    async def import_resource(
        self, wd: Workdir, env: Mapping[str, str], address: str, import_id: str
    ) -> None:
        """ImportResourceState, then ReadResource of what it found, as ``tofu import``
        does; the state written as the CLI's.  Nothing found is the CLI's own verdict
        (``Cannot import non-existent remote object``, so ``not_found`` reads the same)."""
        self._saved.pop(wd, None)
        desired = wd.desired
        if desired is None or address != desired.resource.address:
            raise PluginUnsupported(f"no configuration of {address} to import into")
        type_name = desired.resource.type
        if _stored(wd.read_state(), type_name) is not None:
            detail = f"{address} is already in the state"
            raise TerraformError(
                "import", [Diagnostic("error", "Resource already managed by Terraform", detail)]
            )
        async with self._run("import", FINISH), self._provider(desired) as provider:
            found = await provider.import_state(type_name, import_id, read=False)
            if len(found) != 1 or found[0][0] != type_name:
                kinds = ", ".join(t for t, _, _ in found) or "nothing"
                raise PluginUnsupported(f"import of {type_name} answered {kinds}")
            _, imported, private = found[0]
            state, private = await provider.read(type_name, imported, private)
            if state is None:
                detail = f"the provider found no {type_name} called {import_id!r}"
                error = Diagnostic("error", IMPORT_NON_EXISTENT, detail, address)
                raise TerraformError("import", [error])
            await self._record(wd, provider, desired, state, private)

    async def changes(self, wd: Workdir, env: Mapping[str, str]) -> tuple[list[str], list[str]]:
        saved = self._saved.get(wd)
        if saved is None:
            raise PluginUnsupported("no plan of this driver is saved for this workdir")
        return saved.changed, saved.forcing

    async def destroy(
        self, wd: Workdir, env: Mapping[str, str], *, timeout: float | None = None
    ) -> None:
        self._saved.pop(wd, None)
        async with self._run("destroy", FINISH):
            plan = await self._plan(wd, destroy=True)
            await self._apply(wd, plan, timeout)

    # -- planning ---------------------------------------------------------------------------

    async def _plan(
        self, wd: Workdir, *, refresh_only: bool = False, destroy: bool = False
    ) -> _Saved:
        desired = wd.desired
        if desired is None:
            raise PluginUnsupported("the workdir's configuration was not written by the reconciler")
        data = wd.read_state()
        stored = _stored(data, desired.resource.type)
        resource = desired.resource
        type_name = resource.type
        async with self._provider(desired) as provider:
            prior, private, drift = None, b"", None
            null_is_empty = False  # the refresh differs only in null vs empty collections
            if stored is not None:
                upgraded = await provider.upgrade_state(
                    type_name, stored.schema_version, stored.attributes
                )
                prior, private = await provider.read(type_name, upgraded, stored.private)
                if contains_unknown(prior):
                    raise PluginUnsupported("the refreshed state holds unknown values")
                ty = await provider.resource_type(type_name)
                if prior is None:
                    drift = "delete"
                elif not equal(ty, upgraded, prior):
                    drift = "update"
                    null_is_empty = equal(ty, upgraded, prior, null_is_empty=True)
            saved = _Saved(desired, data, prior, private, [], drift)
            if refresh_only or (destroy and prior is None):
                return saved
            if destroy:
                step = await provider.plan(type_name, prior, None, private)
                saved.steps = [_Step(step, None)]
                return saved
            block = (await provider.get_schema())["resource_schemas"][type_name]["block"]
            try:
                config = poll.json_blocks(block, dict(resource.arguments))
                if prior is not None:
                    config = poll.ignore_changes(config, prior, resource.ignore_changes)
                await provider.validate(type_name, config)
                step = await provider.plan(type_name, prior, config, private)
            except poll.PollUnsupported as exc:
                raise PluginUnsupported(str(exc)) from None
            except CtyError as exc:
                raise PluginUnsupported(_unfit(exc, "the configuration")) from None
            if null_is_empty and step.legacy_type_system:
                saved.drift = None  # the same value to this provider (see poll.Poller)
            ty = await provider.resource_type(type_name)
            if step.action == "replace":
                # Destroy, then create: what the CLI plans without create_before_destroy.
                delete = await provider.plan(type_name, prior, None, private)
                create = await provider.plan(type_name, None, config)
                saved.steps = [_Step(delete, None), _Step(create, config)]
                saved.forcing = sorted({_dotted(p) for p in step.requires_replace})
                saved.changed = _changed(ty, prior, create.planned_state)
            elif step.action != "noop":
                saved.steps = [_Step(step, config)]
                saved.changed = _changed(ty, prior, step.planned_state)
            return saved

    # -- applying ---------------------------------------------------------------------------

    async def _apply(self, wd: Workdir, saved: _Saved, timeout: float | None) -> None:
        """Carry out ``saved`` step by step, writing the state after each step (what the
        refresh saw first, so a no-op with drift records it, as the CLI's apply does)."""
        desired = saved.desired
        type_name = desired.resource.type
        limit = timeout or self.cli.run_timeout
        async with self._provider(desired) as provider:
            await self._record(wd, provider, desired, saved.refreshed, saved.private)
            for step in saved.steps:
                try:
                    state, private = await _answer(
                        provider.apply(
                            type_name,
                            step.plan.prior_state,
                            step.plan,
                            step.config,
                            # Only a backstop: _answer decides when it is late.
                            timeout=limit + self.grace + 5.0,
                        ),
                        limit,
                        self.grace,
                    )
                except _Late as late:
                    # Past its timeout, but answered within the grace: record what exists
                    # (the next pass finds it there), and still fail as a timeout.
                    await self._record(wd, provider, desired, late.state, late.private)
                    raise TerraformError("apply", [], f"timed out after {limit:g}s") from None
                except plugin.ProviderError as exc:
                    # The provider answered: what it returned is recorded (a partly made
                    # object included), and its error shows the outcome, as the CLI's
                    # apply_errored does.
                    await self._record(wd, provider, desired, exc.state, exc.private)
                    raise _error("apply", exc, desired, nothing_created=True) from None
                await self._record(wd, provider, desired, state, private)

    async def _record(
        self,
        wd: Workdir,
        provider: Any,
        desired: Desired,
        attributes: dict[str, Any] | None,
        private: bytes,
    ) -> None:
        """Write the workdir's state with ``attributes`` as the instance (None: none)."""
        type_name = desired.resource.type
        previous = wd.read_state()
        if previous is None and attributes is None:
            return  # no state and nothing to record: the CLI writes no file either
        instance = None
        if attributes is not None:
            schema = (await provider.get_schema())["resource_schemas"][type_name]
            instance = InstanceState(
                type_name=type_name,
                provider=self._provider_string(previous, desired),
                schema_version=int(schema.get("version") or 0),
                attributes=attributes,
                sensitive_paths=(
                    sensitive_paths(schema["block"], attributes) if self.schema_marks else []
                ),
                private=private,
            )
        data = write_state(
            previous,
            instance,
            terraform_version=self.terraform_version or plugin.TERRAFORM_VERSION,
            resource_name=RESOURCE_NAME,
        )
        if data != previous:
            wd.write_state(data)

    def _provider_string(self, previous: bytes | None, desired: Desired) -> str:
        found = state_instance(previous)
        if found is not None and found[0].get("provider"):
            return str(found[0]["provider"])  # the CLI's own spelling, kept
        _, host = self._installed(desired.provider.source)
        return provider_address(host, desired.provider.source)

    # -- the provider process ---------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _provider(self, desired: Desired) -> AsyncIterator[Any]:
        """A configured provider process from the shared pool (a stuck one, that ran out
        of its timeout, is retired by the pool)."""
        binary, _ = self._installed(desired.provider.source)
        env = self.cli.environment(desired.env)
        try:
            async with self.pool.use(binary, desired.provider.configuration(), env) as provider:
                yield provider
        except (poll.PoolBusy, poll.ProviderStartFailed) as exc:
            # A process failed to start lately and its retry is not due: the CLI does this
            # run and reports the provider's own error on the resource.
            raise PluginUnsupported(str(exc)) from None

    def _installed(self, source: str) -> tuple[Path, str]:
        """The binary ``init`` installed for ``source`` and the registry host it came from."""
        if source not in self._binaries:
            if self.cli.template is None:
                raise PluginUnsupported("providers are not installed yet")
            providers = self.cli.template / ".terraform" / "providers"
            try:
                binary = poll.provider_binary(providers, source)
            except poll.PollUnsupported as exc:
                raise PluginUnsupported(str(exc)) from None
            hosts = sorted(p.name for p in providers.iterdir() if (p / source).is_dir())
            host = source.split("/")[0] if source.count("/") == 2 else (hosts or [""])[0]
            self._binaries[source] = (binary, host)
        return self._binaries[source]

    @contextlib.asynccontextmanager
    async def _run(self, command: str, priority: int) -> AsyncIterator[None]:
        """One operation: a slot, the leader fence, the observer (as CLI runs have), and
        the CLI's errors for what went wrong.  An error the provider answered before any
        ApplyResourceChange proves nothing was made; a timeout or a crash proves nothing."""
        await self.slots.acquire(priority)
        started = time.monotonic()
        ok = False
        try:
            if self.fence is not None and not self.fence():
                raise TerraformError(command, [], "not started: this replica is not the leader")
            yield
            ok = True
        except plugin.ProviderError as exc:
            raise _error(command, exc, None, nothing_created=True) from None
        except TimeoutError as exc:
            reason = str(exc) or "the provider did not answer in time"
            raise TerraformError(command, [], reason) from None
        except plugin.ProviderUnavailable as exc:
            # Crashed: what exists is unknown.
            raise TerraformError(command, [], f"provider failed: {exc}") from None
        except CtyError as exc:
            # Answered something unreadable: what exists is unknown.
            reason = _unfit(exc, "the provider's answer")
            raise TerraformError(command, [], f"provider failed: {reason}") from None
        finally:
            self.slots.release()
            if self.observer is not None:
                self.observer(f"plugin-{command}", time.monotonic() - started, ok)

    async def _cli_version(self) -> tuple[str, str]:
        """(name, version) of the CLI, from ``version``'s first line: ``OpenTofu v1.10.10``
        or ``Terraform v1.5.7``.  The version is what it writes into states (a newer one
        would make it refuse them); the name says which sensitive paths it records."""
        proc = await asyncio.create_subprocess_exec(
            self.cli.binary,
            "version",
            env=self.cli.environment({}),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        out, _ = await proc.communicate()
        first = out.decode(errors="replace").partition("\n")[0].split()
        if len(first) == 2 and first[1].startswith("v"):
            return first[0], first[1][1:]
        return "", ""


class _Late(Exception):
    """An ApplyResourceChange answered after its timeout, within the grace."""

    def __init__(self, state: dict[str, Any] | None, private: bytes):
        super().__init__("answered after the timeout")
        self.state, self.private = state, private


async def _answer(
    call: Awaitable[tuple[dict[str, Any] | None, bytes]], limit: float, grace: float
) -> tuple[dict[str, Any] | None, bytes]:
    """The answer of ``call`` within ``limit`` seconds; one that comes within ``grace``
    after that raises :class:`_Late` with it (a provider error then too: its state is
    what exists); none by then raises TimeoutError."""
    task = asyncio.ensure_future(call)
    try:
        return await asyncio.wait_for(asyncio.shield(task), limit)
    except TimeoutError:
        pass
    except BaseException:
        task.cancel()
        raise
    try:
        state, private = await asyncio.wait_for(task, grace)
    except plugin.ProviderError as exc:
        raise _Late(exc.state, exc.private) from None
    except TimeoutError:
        # Still a TimeoutError, so the pool retires the process that did not answer.
        raise TimeoutError(f"timed out after {limit:g}s") from None
    raise _Late(state, private)


def _stored(data: bytes | None, type_name: str) -> poll.StoredResource | None:
    if data is not None:
        try:
            doc = json.loads(data)
        except json.JSONDecodeError:
            raise PluginUnsupported("the workdir's state is not JSON") from None
        if not isinstance(doc, dict) or doc.get("version") != 4:
            raise PluginUnsupported("the workdir's state is not a version 4 state")
        resources = [r for r in doc.get("resources") or [] if isinstance(r, dict)]
        if len(resources) > 1 or any(len(r.get("instances") or []) > 1 for r in resources):
            raise PluginUnsupported("the workdir's state holds more than one instance")
    stored = poll.stored_resource(data)
    if stored is not None and stored.type_name != type_name:
        raise PluginUnsupported(f"state holds a {stored.type_name}, not a {type_name}")
    return stored


def _summary(saved: _Saved) -> Plan:
    """The CLI driver's summary of a saved plan."""
    actions = [step.plan.action for step in saved.steps]
    action = "replace" if len(actions) == 2 else actions[0] if actions else "no-op"
    warnings = [
        Diagnostic(d.severity, d.summary, d.detail)
        for step in saved.steps
        for d in step.plan.diagnostics
    ]
    return Plan(action=action, drift=saved.drift, warnings=warnings)


def _changed(ty: Any, prior: dict[str, Any] | None, planned: dict[str, Any] | None) -> list[str]:
    """Top-level attributes whose planned value differs from the prior (or is unknown)."""
    before, after = prior or {}, planned or {}
    types = ty[1] if isinstance(ty, list) and ty[0] == "object" else {}
    names = set(before) | set(after)
    return sorted(
        n for n in names if not equal(types.get(n, "dynamic"), before.get(n), after.get(n))
    )


def _unfit(exc: CtyError, what: str) -> str:
    """Where a value did not fit its schema type -- never the value, which may be secret."""
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in exc.path)
    return f"{what} does not fit the schema at {where.lstrip('.') or 'the top'}"


def _dotted(path: tuple[str | int, ...]) -> str:
    return ".".join(str(step) for step in path)


def _error(
    command: str,
    exc: plugin.ProviderError,
    desired: Desired | None,
    *,
    nothing_created: bool = False,
) -> TerraformError:
    """A provider's diagnostics as the CLI reports them (same summary and detail)."""
    address = desired.resource.address if desired is not None else None
    diagnostics = [Diagnostic(d.severity, d.summary, d.detail, address) for d in exc.diagnostics]
    return TerraformError(command, diagnostics, nothing_created=nothing_created)
