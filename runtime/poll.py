"""Cheap drift checks of settled managed resources over the plugin protocol.

A settled MR (its last CLI pass succeeded with the configuration it still has) costs one
``tofu plan`` per poll with the CLI driver: about 0.4 CPU-seconds, most of it starting the
provider and loading its schema.  Here the same question is asked of a long-lived provider
process instead, in a few milliseconds:

1. UpgradeResourceState on the stored state (how Terraform turns the JSON form into a
   typed value), then ReadResource: gone -> ``GONE``; refreshed state differs from the
   stored one -> ``DRIFT`` (the CLI will record it);
2. PlanResourceChange from that state to the desired resource block (the same typed
   :class:`~jetgen.runtime.terraform.desired.Desired` that wrote ``main.tf.json``):
   no-op -> ``UNCHANGED``, anything else -> ``DRIFT``.  For a kind whose plans are
   declared pure (``pure_plan`` in jetgen.yaml), a plan whose exact inputs planned
   nothing before is not asked again (see :meth:`Poller.check`).

Only ``UNCHANGED`` lets the reconciler skip the CLI.  Every other verdict, and every error,
sends the pass down the CLI path, which stays the only one that changes anything (or
writes a state file).  So the fast path can only ever be *slower* than needed, never wrong
about what exists: when it cannot be sure it says ``DRIFT``.

Provider processes are shared: one per (binary, provider configuration, credentials), see
:class:`ProviderPool`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jetgen.runtime.backoff import Cooldown
from jetgen.runtime.provider_requirements import provider_local_name
from jetgen.runtime.terraform.desired import Desired, digest
from jetgen.runtime.terraform.tfstate import state_instance
from jetgen.runtime.tfplugin import cty
from jetgen.runtime.tfplugin.client import ProviderProcess
from jetgen.runtime.tfplugin.memo import digest as memo_digest
from jetgen.runtime.tfplugin.plan import complete_config, equal
from jetgen.runtime.tfplugin.schemacache import SchemaCache

logger = logging.getLogger(__name__)

UNCHANGED, GONE, DRIFT = "unchanged", "gone", "drift"


class PollUnsupported(Exception):
    """This MR's configuration is beyond what the fast path evaluates: use the CLI."""


class PoolBusy(Exception):
    """Every provider process slot is in use by other configurations: use the CLI."""


# --- what the workdir holds ------------------------------------------------------------


@dataclass(frozen=True)
class StoredResource:
    """The one resource instance of a workdir's ``terraform.tfstate``."""

    type_name: str
    schema_version: int
    attributes: dict[str, Any]
    private: bytes


def stored_resource(data: bytes | None) -> StoredResource | None:
    """The managed resource instance in a Terraform JSON state, or None if there is none."""
    found = state_instance(data)
    if found is None:
        return None
    resource, instance = found
    return StoredResource(
        type_name=resource["type"],
        schema_version=int(instance.get("schema_version") or 0),
        attributes=instance["attributes"],
        private=base64.b64decode(instance.get("private") or ""),
    )


def json_blocks(block: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """Nested blocks as Terraform's JSON syntax allows them, in the shape the plugin
    client expects: a single block written as a one-element list becomes the object, a
    list/set block written as one object becomes a one-element list.  (``fields``
    writes single object fields as ``[{...}]``.)"""
    out = dict(config)
    for name, nested in (block.get("block_types") or {}).items():
        value = out.get(name)
        if value is None:
            continue
        mode, inner = nested["nesting_mode"], nested["block"]
        if mode in ("single", "group"):
            if isinstance(value, list):
                if len(value) > 1:
                    raise PollUnsupported(f"block {name} given {len(value)} times")
                value = value[0] if value else None
            out[name] = json_blocks(inner, value) if isinstance(value, dict) else value
        elif mode in ("list", "set"):
            items = [value] if isinstance(value, dict) else value
            out[name] = [json_blocks(inner, v) if isinstance(v, dict) else v for v in items]
        elif mode == "map" and isinstance(value, dict):
            out[name] = {k: json_blocks(inner, v) for k, v in value.items()}
    return out


def ignore_changes(
    config: dict[str, Any], prior: dict[str, Any], names: Sequence[str]
) -> dict[str, Any]:
    """What Terraform plans with under ``lifecycle.ignore_changes``: the ignored
    (top-level) arguments take their prior values, so changing them plans nothing."""
    out = dict(config)
    for name in names:
        if not name.isidentifier():
            raise PollUnsupported("ignore_changes beyond top-level arguments")
        out[name] = prior.get(name)
    return out


# --- finding the provider ----------------------------------------------------------------


def provider_binary(providers_dir: Path, source: str) -> Path:
    """The executable that ``init`` installed for ``source`` under ``.terraform/providers``
    (``<host>/<namespace>/<name>/<version>/<os_arch>/terraform-provider-<name>_v...``)."""
    name = provider_local_name(source)
    prefix = source if source.count("/") == 2 else f"*/{source}"
    found = sorted(providers_dir.glob(f"{prefix}/*/*/terraform-provider-{name}*"))
    if len(found) != 1:
        raise PollUnsupported(f"{len(found)} installed binaries for provider {source}")
    return found[0].resolve()


# --- the shared provider processes ------------------------------------------------------

Starter = Callable[[Path, dict[str, str]], Awaitable[Any]]
RecycleObserver = Callable[[str], None]  # called with the reason: rss, uses, exited, stuck

MIB = 1024 * 1024


class ProviderStartFailed(RuntimeError):
    """This configuration's provider process failed to start lately and its retry is not
    due yet: use the CLI (which reports the problem on the resource)."""


@dataclass
class _Entry:
    provider: Any  # a configured ProviderProcess
    users: int = 0
    uses: int = 0
    last_used: float = field(default_factory=time.monotonic)
    retired: bool = False  # no new users; stopped when the last one is done
    start_rss: int | None = None  # bytes, right after start and configure
    rss: int | None = None  # bytes, as last read
    sampled: float = field(default_factory=time.monotonic)  # when rss was read
    replacing: bool = False  # a fresh process is being started to take over


def _rss(provider: Any) -> int | None:
    read = getattr(provider, "rss", None)
    return read() if read is not None else None


class ProviderPool:
    """Long-lived, configured provider processes, one per (binary, provider configuration,
    credentials environment), shared by every MR that uses that combination.

    ``configure`` is allowed once per provider process, so two ProviderConfigs (or a
    rotated credential) mean two processes.  At most ``limit`` run at once: a new one
    replaces the least recently used idle one, and if none is idle the caller is told to
    use the CLI (:class:`PoolBusy`).  Processes idle longer than ``idle_timeout`` are
    stopped (a rotated credential's old process goes that way); one that died is
    replaced on next use; :meth:`close` stops them all.

    Recycling: some plugin SDKs' servers keep memory per RPC (measured: about 23 KB per
    call with hashicorp/random 3.9.0, any RPC type; linode 2.37.0 levels off), which
    never matters to a CLI run but grows a process that answers thousands of polls.  So
    a process whose resident memory (with its children) has grown by more than
    ``rss_growth`` bytes since it started is replaced: a fresh one is started in the
    background while the old one keeps answering; new calls then go to the fresh one and
    the old one stops once its last call is done, so no call fails because of a recycle
    (the replacement may briefly exceed ``limit`` by one).  RSS is read at most every
    ``rss_interval`` seconds per process.  Where it cannot be read (no /proc), a
    process is recycled after ``recycle_after`` uses instead.

    A process that fails to start (or to accept its configuration) is not started again
    by every poll: its configuration waits out an exponential, jittered delay
    (:class:`~jetgen.runtime.backoff.Cooldown`), during which polls get
    :class:`ProviderStartFailed` at once and use the CLI.
    """

    def __init__(
        self,
        start: Starter,
        *,
        limit: int = 4,
        idle_timeout: float = 600.0,
        rss_growth: int | None = 64 * MIB,
        rss_interval: float = 1.0,
        recycle_after: int = 1000,
        start_backoff: tuple[float, float] = (2.0, 300.0),
        on_recycle: RecycleObserver | None = None,
    ):
        self._start = start
        self.limit = limit
        self.idle_timeout = idle_timeout
        self.rss_growth = rss_growth
        self.rss_interval = rss_interval
        self.recycle_after = recycle_after
        self.start_backoff = start_backoff
        self._on_recycle = on_recycle
        self._entries: dict[str, _Entry] = {}
        self._locks: dict[str, asyncio.Lock] = {}  # per configuration key
        self._cooldowns: dict[str, Cooldown] = {}  # per configuration key, after a failed start
        self._starting = 0  # processes being started: they count against the limit
        self._stopping: set[asyncio.Task[None]] = set()
        self._replacing: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._entries)

    def rss(self) -> int:
        """Resident bytes of the pool's processes, as last read."""
        return sum(entry.rss or 0 for entry in self._entries.values())

    @contextlib.asynccontextmanager
    async def use(
        self, binary: Path, config: dict[str, Any], env: Mapping[str, str]
    ) -> AsyncIterator[Any]:
        key = digest(str(binary), config, sorted(env.items()))
        entry = await self._acquire(key, binary, config, env)
        try:
            yield entry.provider
        except TimeoutError:
            # A call ran out of its RPC timeout: the process is stuck, so no later poll
            # shall wait on it (its current users finish or time out, then it stops).
            if self._entries.get(key) is entry:
                logger.warning("provider process %s did not answer in time", binary.name)
                self._retire([key], "stuck")
            raise
        finally:
            entry.users -= 1
            entry.last_used = time.monotonic()
            if entry.retired and entry.users == 0:
                self._stop_later(entry)

    async def _acquire(
        self, key: str, binary: Path, config: dict[str, Any], env: Mapping[str, str]
    ) -> _Entry:
        self._retire(self._idle())
        entry = self._current(key, binary)
        if entry is None:
            # One start per configuration at a time; other configurations are not held
            # up by a slow start (a provider may take seconds to come up).
            lock = self._locks.setdefault(key, asyncio.Lock())
            async with lock:
                entry = self._current(key, binary)
                if entry is None:
                    entry = await self._first(key, binary, config, env)
        else:
            reason = self._outgrown(key, entry)
            if reason is not None:
                self._replace_later(key, entry, reason, (binary, config, env))
        entry.users += 1
        entry.uses += 1
        return entry

    def _current(self, key: str, binary: Path) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is not None and not entry.provider.alive:
            logger.warning("provider process %s exited; starting a new one", binary.name)
            self._retire([key], "exited")
            return None
        return entry

    async def _first(
        self, key: str, binary: Path, config: dict[str, Any], env: Mapping[str, str]
    ) -> _Entry:
        cooldown = self._cooldowns.get(key)
        error = cooldown.blocked() if cooldown is not None else None
        if cooldown is not None and error is not None:
            # No countdown in the text: a poll error is logged again only when it changes.
            raise ProviderStartFailed(
                f"provider {binary.name} failed to start {cooldown.failures} time(s) in a "
                f"row, tried again after a back-off: {error}"
            )
        self._retire(self._room())
        self._starting += 1
        try:
            entry = await self._started(key, binary, config, env)
        finally:
            self._starting -= 1
        self._entries[key] = entry
        return entry

    async def _started(
        self, key: str, binary: Path, config: dict[str, Any], env: Mapping[str, str]
    ) -> _Entry:
        """A started and configured process (a failure starts the key's cooldown)."""
        try:
            provider = await self._start(binary, dict(env))
            try:
                await provider.configure(config)
            except BaseException:
                await provider.stop()
                raise
        except Exception as exc:
            cooldown = self._cooldowns.setdefault(key, Cooldown(*self.start_backoff))
            seconds = cooldown.failed(exc)
            logger.warning(
                "provider process %s failed to start (%d in a row; next try in %.0fs)",
                binary.name,
                cooldown.failures,
                seconds,
            )
            raise
        self._cooldowns.pop(key, None)
        rss = _rss(provider)
        logger.info(
            "provider process %s started (pid %s, %s MiB)",
            binary.name,
            provider.pid,
            "?" if rss is None else f"{rss / MIB:.0f}",
        )
        return _Entry(provider, start_rss=rss, rss=rss)

    def _outgrown(self, key: str, entry: _Entry) -> str | None:
        """Why ``entry`` should be replaced now ("rss" or "uses"), or None."""
        if entry.replacing:
            return None
        cooldown = self._cooldowns.get(key)
        if cooldown is not None and cooldown.blocked():
            return None  # its replacement failed to start lately: keep this one meanwhile
        if entry.start_rss is None:
            return "uses" if entry.uses >= self.recycle_after else None
        now = time.monotonic()
        if self.rss_growth is None or now - entry.sampled < self.rss_interval:
            return None
        entry.sampled, entry.rss = now, _rss(entry.provider)
        if entry.rss is not None and entry.rss > entry.start_rss + self.rss_growth:
            return "rss"
        return None

    def _replace_later(
        self,
        key: str,
        entry: _Entry,
        reason: str,
        how: tuple[Path, dict[str, Any], Mapping[str, str]],
    ) -> None:
        entry.replacing = True
        task = asyncio.create_task(self._replace(key, entry, reason, *how))
        self._replacing.add(task)
        task.add_done_callback(self._replacing.discard)

    async def _replace(
        self,
        key: str,
        entry: _Entry,
        reason: str,
        binary: Path,
        config: dict[str, Any],
        env: Mapping[str, str],
    ) -> None:
        """Start a fresh process for ``key``; once it is up, it takes the new calls and
        ``entry`` drains.  If it cannot start, ``entry`` keeps serving (see _outgrown)."""
        try:
            fresh = await self._started(key, binary, config, env)
        except Exception:  # noqa: BLE001 - logged by _started; the old process stays
            entry.replacing = False
            return
        if self._entries.get(key) is not entry:
            self._let_go(fresh)  # the old one went meanwhile (exited, stuck, closed)
            return
        self._entries[key] = fresh
        logger.info(
            "provider process %s recycled (%s): pid %s at %s MiB -> pid %s",
            binary.name,
            reason,
            entry.provider.pid,
            "?" if entry.rss is None else f"{entry.rss / MIB:.0f}",
            fresh.provider.pid,
        )
        self._let_go(entry)
        if self._on_recycle is not None:
            self._on_recycle(reason)

    def _idle(self) -> list[str]:
        now = time.monotonic()
        # Failed starts of configurations nobody asked for in a while are forgotten.
        for key, cooldown in list(self._cooldowns.items()):
            if now - cooldown.retry_at > self.idle_timeout:
                del self._cooldowns[key]
        return [
            key
            for key, entry in self._entries.items()
            if entry.users == 0 and now - entry.last_used > self.idle_timeout
        ]

    def _room(self) -> list[str]:
        """Keys to stop so that one more process fits (least recently used first)."""
        idle = sorted((e.last_used, k) for k, e in self._entries.items() if e.users == 0)
        excess = len(self._entries) + self._starting + 1 - self.limit
        if excess > len(idle):
            raise PoolBusy(f"all {self.limit} provider processes are in use")
        return [key for _, key in idle[: max(excess, 0)]]

    def _retire(self, keys: list[str], reason: str | None = None) -> None:
        """Hand out these processes no more; stop each once its current users are done
        (a dead one at once).  With a ``reason``, that counts as a recycle."""
        for key in keys:
            self._let_go(self._entries.pop(key))
            if reason is not None and self._on_recycle is not None:
                self._on_recycle(reason)

    def _let_go(self, entry: _Entry) -> None:
        entry.retired = True
        if entry.users == 0 or not entry.provider.alive:
            self._stop_later(entry)

    def _stop_later(self, entry: _Entry) -> None:
        # In the background: a stop may take seconds, and no poll should wait for it.
        task = asyncio.create_task(entry.provider.stop())
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    async def close(self) -> None:
        """Stop every process now (shutdown: polls still running fall back or end)."""
        for task in list(self._replacing):
            task.cancel()
        await asyncio.gather(*self._replacing, return_exceptions=True)
        entries = list(self._entries.values())
        self._entries.clear()
        for entry in entries:
            entry.retired = True
            self._stop_later(entry)
        await asyncio.gather(*self._stopping, return_exceptions=True)


async def start_provider(
    binary: Path,
    env: dict[str, str],
    *,
    cwd: Path,
    rpc_timeout: float | None,
    schemas: SchemaCache | None = None,
) -> ProviderProcess:
    """Start a provider binary the way the CLI would (same environment), from ``cwd``;
    with ``schemas``, its schema is shared with every other process of the binary."""
    cwd.mkdir(mode=0o700, parents=True, exist_ok=True)
    return await ProviderProcess.start(
        binary, env=env, cwd=cwd, rpc_timeout=rpc_timeout, schemas=schemas
    )


# --- the check itself ----------------------------------------------------------------------


class Poller:
    """Answers "is this settled MR still exactly as the CLI left it?" (module doc)."""

    def __init__(
        self,
        pool: ProviderPool,
        providers_dir: Callable[[], Path | None],
        environment: Callable[[Mapping[str, str]], dict[str, str]],
        *,
        concurrency: int = 16,
        deadline: float = 60.0,
    ):
        self.pool = pool
        # A whole check (waiting for a call slot included) ends by then: a hung provider
        # holds no settled MR for longer than that; the CLI takes over.
        self.deadline = deadline
        self._providers_dir = providers_dir
        self._environment = environment
        # Polls are cheap for us but each is a real API call by the provider: bound them
        # like CLI runs are bounded, so a burst of polls does not hit a cloud's rate limit.
        self._calls = asyncio.Semaphore(concurrency)
        self._binaries: dict[tuple[Path, str], Path] = {}  # init installs once per run

    async def check(
        self,
        state_data: bytes | None,
        desired: Desired,
        *,
        observe_only: bool = False,
        pure_plan: bool = False,
    ) -> str:
        """``UNCHANGED``, ``GONE`` or ``DRIFT`` (see the module doc); raises on any error.

        ``pure_plan``: the kind's provider plans from its inputs alone (no clock, no API
        call in its plan), as its generator configuration declares.  Then a plan is
        skipped when the same provider (binary, configuration, environment: a recycled
        or restarted process of it too) planned nothing for exactly the same inputs
        before: the refreshed state (which the refresh just proved equal to the stored
        one), the desired configuration and the provider's private data, byte for byte.
        Terraform itself always plans; without the declaration, so does this.
        """
        stored = stored_resource(state_data)
        if stored is None:
            return GONE
        resource = desired.resource
        if stored.type_name != resource.type:
            raise PollUnsupported(f"state holds a {stored.type_name}, not a {resource.type}")
        providers_dir = self._providers_dir()
        if providers_dir is None:
            raise PollUnsupported("providers are not installed yet")
        binary = self._binary(providers_dir, desired.provider.source)
        configuration = desired.provider.configuration()
        env = self._environment(desired.env)
        # The provider's configuration and environment, for a pure plan's memo (the
        # binary's own memo: a new binary remembers nothing).
        setup = digest(configuration, sorted(env.items())) if pure_plan else None
        async with (
            asyncio.timeout(self.deadline),
            self._calls,
            self.pool.use(binary, configuration, env) as provider,
        ):
            return await self._compare(
                provider,
                stored,
                dict(resource.arguments),
                resource.ignore_changes,
                observe_only,
                setup,
            )

    def _binary(self, providers_dir: Path, source: str) -> Path:
        key = (providers_dir, source)
        if key not in self._binaries:
            self._binaries[key] = provider_binary(providers_dir, source)
        return self._binaries[key]

    @staticmethod
    async def _compare(
        provider: Any,
        stored: StoredResource,
        arguments: dict[str, Any],
        ignored: tuple[str, ...],
        observe_only: bool,
        setup: str | None = None,
    ) -> str:
        type_name = stored.type_name
        prior = await provider.upgrade_state(type_name, stored.schema_version, stored.attributes)
        current, private = await provider.read(type_name, prior, stored.private)
        if current is None:
            return GONE
        ty = await provider.resource_type(type_name)
        exact = equal(ty, prior, current)
        if not exact and not equal(ty, prior, current, null_is_empty=True):
            return DRIFT  # the CLI path records the refreshed state
        if observe_only:
            # Observe-only MRs never plan: refreshing is all they do (and a refresh that
            # differs at all is recorded).
            return UNCHANGED if exact else DRIFT
        schema = await provider.get_schema()
        block = schema["resource_schemas"][type_name]["block"]
        wanted = ignore_changes(json_blocks(block, arguments), current, ignored)
        noop_plans, inputs = None, None
        if setup is not None:
            # What PlanResourceChange would be sent (its proposed new state follows from
            # these and the binary's schema), as bytes, and whether the refresh is exactly
            # the state: if not, an unchanged verdict also needed the plan's
            # legacy_type_system, which a hit then stands for (the binary's, not the call's).
            config = cty.encode(complete_config(block, wanted), ty)
            current_bytes = cty.encode(current, ty)
            inputs = memo_digest(setup, type_name, int(exact), current_bytes, config, private)
            noop_plans = await provider.noop_plans()
            if inputs in noop_plans:
                return UNCHANGED
        plan = await provider.plan(type_name, current, wanted, private)
        if plan.action != "noop":
            return DRIFT
        if not exact and not plan.legacy_type_system:
            # A refresh that differs from the state only where a null collection came
            # back empty (or the reverse) has changed nothing for a provider on the legacy
            # SDK only: it cannot tell the two apart, and its apply records null where its
            # read says empty (linode's domain master_ips, an LKE pool's labels and tags),
            # so every create would otherwise look drifted once.
            return DRIFT
        if noop_plans is not None and inputs is not None:
            noop_plans.add(inputs)
        return UNCHANGED


def plugin_cwd(root: Path) -> Path:
    """Where shared provider processes run: an empty private directory.  (The CLI starts
    a provider in the MR's workdir; a shared one cannot, so a relative path in a config
    would mean something else to it.  Such MRs fail the check and take the CLI path.)"""
    return root / ".plugin-cwd"
