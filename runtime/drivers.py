"""Which driver writes each kind, and the CLI taking over what the plugin protocol cannot prove.

A kind's writes (create, update, replace, delete, import) go through one of two drivers:

* ``plugin``: the plugin protocol on the shared provider process (PlanResourceChange,
  ApplyResourceChange, ImportResourceState, ReadResource), which writes the same
  ``terraform.tfstate`` the CLI would;
* ``cli``: ``tofu``/``terraform`` run in the MR's workdir (:class:`CliDriver`).

The choice (:func:`chosen`): the operator's ``--driver`` / ``JETGEN_DRIVER`` if set, else
the kind's ``driver`` in kinds.json (from jetgen.yaml: provider-wide ``driver``, per resource
``resources.<type>.driver``; default ``plugin``).  A kind on ``plugin`` gets a
:class:`Fallback`: each call goes to the plugin driver first, and when that raises one of
the "cannot prove" exceptions (a configuration it does not evaluate, a protocol it does not
speak, no provider process to be had) -- which it raises only before it has changed
anything -- the CLI does the same call.  A saved plan is applied (or shown) by the driver
that made it.

Every call is counted by driver in ``jetgen_driver_operations_total{kind,operation,driver}``
and every write (apply, import, destroy) is logged with the driver that did it; a fallback
logs why, at most once per reason and kind.
"""

from __future__ import annotations

import contextvars
import logging
import weakref
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from jetgen.runtime.kinds import Kind
from jetgen.runtime.terraform.driver import Driver
from jetgen.runtime.terraform.plans import Plan
from jetgen.runtime.terraform.slots import CHANGE
from jetgen.runtime.terraform.workdir import Workdir

logger = logging.getLogger(__name__)

PLUGIN, CLI = "plugin", "cli"
WRITES = ("apply", "import", "destroy")

# The MR a reconcile pass is about ("Kind namespace/name"), for the log line of a write:
# the reconciler sets it at the start of each pass (every MR's passes run in their own
# asyncio task, so each has its own value).
subject: contextvars.ContextVar[str] = contextvars.ContextVar("jetgen_subject", default="")

# (kind, operation, driver): one call done
Recorder = Callable[[str, str, str], None]

_T = TypeVar("_T")


def chosen(kind: Kind, override: str) -> str:
    """The driver ``kind`` is written with: the operator's override, else its own."""
    return override or kind.driver


@dataclass
class _Planned:
    """Who made the plan saved for one workdir, and what it planned."""

    driver: str
    action: str


class KindDriver:
    """A kind's :class:`Driver`: each call goes to ``plugin`` (the plugin protocol) first,
    and to ``cli`` when ``plugin`` refuses it with one of ``cannot_prove``, or when there
    is no ``plugin`` (the kind is on the CLI)."""

    def __init__(
        self,
        kind: str,
        cli: Driver,
        plugin: Driver | None = None,
        cannot_prove: tuple[type[Exception], ...] = (),
        record: Recorder | None = None,
    ):
        self.kind = kind
        self.cli = cli
        self.plugin = plugin
        self.cannot_prove = cannot_prove
        self.record = record
        # Per workdir object (one per pass): the driver holding its saved plan.  Weak, so
        # nothing stays behind once the pass is over.
        self._planned: weakref.WeakKeyDictionary[Workdir, _Planned] = weakref.WeakKeyDictionary()
        self._reasons: set[str] = set()  # fallback reasons already logged

    @property
    def name(self) -> str:
        return CLI if self.plugin is None else PLUGIN

    # -- the Driver protocol --

    async def prepare(self, source: str, version: str) -> None:
        # The plugin-protocol driver prepares the CLI's installation too.
        await (self.plugin or self.cli).prepare(source, version)

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
        def call(driver: Driver) -> Awaitable[Plan]:
            return driver.plan(wd, env, refresh_only=refresh_only, priority=priority)

        used, plan = await self._first("plan", call)
        self._planned[wd] = _Planned(used, plan.action)
        return plan

    async def apply(
        self,
        wd: Workdir,
        env: Mapping[str, str],
        *,
        saved: bool = True,
        timeout: float | None = None,
    ) -> None:
        if not saved:  # plan and apply in one go: the plugin protocol may do both

            def call(driver: Driver) -> Awaitable[None]:
                return driver.apply(wd, env, saved=False, timeout=timeout)

            await self._first("apply", call)
            return
        planned = self._planned.pop(wd, None)
        if self.plugin is None or planned is None or planned.driver == CLI:
            await self._call("apply", CLI, self.cli.apply(wd, env, timeout=timeout))
            return
        try:
            await self._call("apply", PLUGIN, self.plugin.apply(wd, env, timeout=timeout))
        except self.cannot_prove as exc:
            # The plugin protocol planned but will not apply: the CLI plans again and
            # applies only what was decided on (the same action).
            self._fell_back("apply", exc)
            again = await self._call("plan", CLI, self.cli.plan(wd, env))
            if again.action != planned.action:
                raise CannotApply(
                    f"the CLI plans {again.action} where the plugin protocol planned"
                    f" {planned.action}; nothing applied, the next pass decides again"
                ) from None
            await self._call("apply", CLI, self.cli.apply(wd, env, timeout=timeout))

    async def import_resource(
        self, wd: Workdir, env: Mapping[str, str], address: str, import_id: str
    ) -> None:
        def call(driver: Driver) -> Awaitable[None]:
            return driver.import_resource(wd, env, address, import_id)

        await self._first("import", call)

    async def changes(self, wd: Workdir, env: Mapping[str, str]) -> tuple[list[str], list[str]]:
        planned = self._planned.get(wd)
        if self.plugin is not None and planned is not None and planned.driver == PLUGIN:
            try:
                return await self._call("changes", PLUGIN, self.plugin.changes(wd, env))
            except self.cannot_prove as exc:
                self._fell_back("changes", exc)
                # The CLI reads only a plan of its own: make one (it now owns the plan).
                plan = await self._call("plan", CLI, self.cli.plan(wd, env))
                self._planned[wd] = _Planned(CLI, plan.action)
        return await self._call("changes", CLI, self.cli.changes(wd, env))

    async def destroy(
        self, wd: Workdir, env: Mapping[str, str], *, timeout: float | None = None
    ) -> None:
        def call(driver: Driver) -> Awaitable[None]:
            return driver.destroy(wd, env, timeout=timeout)

        await self._first("destroy", call)

    # -- helpers --

    async def _first(
        self, operation: str, call: Callable[[Driver], Awaitable[_T]]
    ) -> tuple[str, _T]:
        """``call`` on the plugin driver, else (none, or it cannot prove the result) on
        the CLI."""
        if self.plugin is not None:
            try:
                return PLUGIN, await self._call(operation, PLUGIN, call(self.plugin))
            except self.cannot_prove as exc:
                self._fell_back(operation, exc)
        return CLI, await self._call(operation, CLI, call(self.cli))

    async def _call(self, operation: str, driver: str, call: Awaitable[_T]) -> _T:
        result = await call
        if self.record is not None:
            self.record(self.kind, operation, driver)
        if operation in WRITES:
            logger.info("%s: %s by the %s driver", subject.get() or self.kind, operation, driver)
        return result

    def _fell_back(self, operation: str, exc: Exception) -> None:
        reason = str(exc) or type(exc).__name__
        level = logging.DEBUG if reason in self._reasons else logging.INFO
        if len(self._reasons) >= 100:  # reasons may name values: keep the set small
            self._reasons.clear()
        self._reasons.add(reason)
        logger.log(
            level,
            "%s: %s by the CLI: the plugin protocol cannot prove it (%s)",
            subject.get() or self.kind,
            operation,
            reason,
        )


def summary(kinds: list[Kind], override: str, plugin: bool) -> str:
    """One line for the start-up log: which kinds write with which driver."""
    on_cli = sorted(k.kind for k in kinds if chosen(k, override) == CLI)
    setting = f" (--driver {override})" if override else ""
    if len(on_cli) == len(kinds):
        return f"writes: the CLI for all {len(kinds)} kinds{setting or ' (kinds.json)'}"
    if not plugin:
        return f"writes: the CLI for all {len(kinds)} kinds (no plugin-protocol driver)"
    text = f"writes: the plugin protocol for {len(kinds) - len(on_cli)} kinds"
    text += " (the CLI where it cannot prove)"
    if on_cli:
        more = ", ..." if len(on_cli) > 10 else ""
        text += f", the CLI for {len(on_cli)}: {', '.join(on_cli[:10])}{more}"
    return text + setting


class CannotApply(Exception):
    """The CLI, taking over an apply, plans something else than what was decided on."""


def for_kind(
    kind: Kind,
    override: str,
    cli: Driver,
    plugin: Driver | None,
    cannot_prove: tuple[type[Exception], ...],
    record: Recorder | None = None,
) -> KindDriver:
    """The driver of ``kind``'s writes (see the module doc).  ``plugin`` is None when the
    controller has no plugin-protocol driver: every kind then uses the CLI."""
    on_plugin = chosen(kind, override) == PLUGIN and plugin is not None
    return KindDriver(kind.kind, cli, plugin if on_plugin else None, cannot_prove, record)
