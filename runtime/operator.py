"""kopf wiring: which handlers run for each generated kind, and the operator's settings.

Per served kind kopf runs two handlers (registered in :func:`build_registry`):

* an **event handler** that hands every watch event to the :mod:`.scheduler`, which runs
  each object's passes: a pass, then the next when the poll interval is over, an error
  backoff expires, or the object changes (the spec's generation, the pause or
  poll-interval annotation, ``crossplane.io/reconcile-requested-at``);
* a **deletion handler** behind a finalizer that destroys the external resource.

The scheduler replaces a kopf daemon per object (a task, a live body copy, a stopper and
a logger each, for the object's whole life): between passes an object costs one small
entry in it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib.metadata
import inspect
import logging
import os
import signal
import sys
from typing import Any, NoReturn, cast

import aiohttp
import kopf
from jetgen.runtime import (
    cache,
    diffbase,
    drivers,
    health,
    kube,
    kubeauth,
    leader,
    poll,
    reconciler,
    resource,
    scheduler,
    serving,
    state,
    usage,
)
from jetgen.runtime.contract import tree
from jetgen.runtime.kinds import Kind, ProviderInfo
from jetgen.runtime.metrics import Metrics
from jetgen.runtime.plugindriver import PluginDriver, PluginUnsupported
from jetgen.runtime.serving import Insights
from jetgen.runtime.settings import Settings
from jetgen.runtime.terraform.driver import CliDriver, kill_running
from jetgen.runtime.tfplugin.rpc import PluginRpc
from jetgen.runtime.tfplugin.schemacache import SchemaCache

logger = logging.getLogger(__name__)

# How long the state Secrets listed at start wait for their MRs' first loads, in poll
# intervals, after the list or the last first load (StateStore.prime): a settled MR's
# first pass comes within one after kopf hands it over (schedule.first_delay), later
# when passes queue.
PRIMED_INTERVALS = 2.0
# How long after the apiserver should have ended a kopf watch (``timeoutSeconds``) the
# controller drops it itself: the stream stopped being fed.
WATCH_SLACK = 10.0
WATCH_CONNECT_TIMEOUT = 30.0


def kopf_version() -> str:
    try:
        return importlib.metadata.version("kopf")
    except importlib.metadata.PackageNotFoundError:
        return "(version unknown)"


def finalizer_from_passes(
    registry: kopf.OperatorRegistry, kinds: list[Kind], finalizer: str
) -> None:
    """kopf puts its finalizer on an object at its first event, because the deletion
    handler needs one; the passes do it instead, in the same patch as the first
    create-pending mark (nothing can be created before the finalizer is there, and a new
    MR saves a PATCH).  So kopf is told a managed resource requires the finalizer exactly
    when it has it: kopf neither adds it nor takes it off, and still calls the deletion
    handler and removes the finalizer after it.  An MR deleted before its first create
    goes at once: nothing was made.  Config kinds keep kopf's way (usage.py).  (kopf has
    no public switch for this; its registry's ``requires_finalizer`` is what it asks.)"""
    served = {(k.group, k.plural) for k in kinds}
    handlers: Any = getattr(registry, "_changing", None)
    asked = getattr(handlers, "requires_finalizer", None)
    if asked is None or list(inspect.signature(asked).parameters) != ["cause", "excluded"]:
        # A kopf release that changed its private registry: refuse to start rather than
        # let kopf add finalizers behind the passes' back (or never call deletion).
        raise RuntimeError(
            f"kopf {kopf_version()} has no registry._changing.requires_finalizer(cause, "
            "excluded); jetgen's runtime is tested with kopf 1.45 (see pyproject.toml)"
        )

    def requires(cause: Any, excluded: Any = frozenset()) -> bool:
        if (cause.resource.group, cause.resource.plural) in served:
            return scheduler.has_finalizer(cause.body, finalizer)
        return bool(asked(cause, excluded))

    handlers.requires_finalizer = requires


def kube_limits(settings: Settings) -> kube.Limits:
    return kube.Limits(qps=settings.kube_qps, burst=settings.kube_burst)


def build_runtime(
    info: ProviderInfo, settings: Settings, creds: kubeauth.Credentials
) -> reconciler.Runtime:
    client = kube.KubeClient(creds, kube_limits(settings))
    metrics = Metrics()
    client.observer = metrics.kube_request
    driver = CliDriver(
        binary=settings.binary,
        root=settings.workdir_root,
        cli_config=settings.cli_config,
        max_runs=settings.max_runs,
        run_timeout=settings.run_timeout,
        observer=metrics.terraform_run,
    )
    metrics.gauge(
        "jetgen_terraform_queue_depth",
        "Terraform runs waiting for a free slot.",
        lambda: driver.slots.waiting,
    )
    metrics.gauge(
        "jetgen_terraform_runs_in_flight",
        "Terraform runs holding a slot.",
        lambda: driver.slots.busy,
    )
    # One pool of shared provider processes for the polls and the plugin-protocol writes.
    writes_plugin = any(drivers.chosen(k, settings.driver) == drivers.PLUGIN for k in info.kinds)
    pool = _pool(settings, metrics) if settings.poll_driver == "plugin" or writes_plugin else None
    poller = None
    if pool is not None and settings.poll_driver == "plugin":
        poller = _poller(settings, driver, pool)
    plugin = (
        PluginDriver(driver, pool, observer=metrics.terraform_run)
        if pool is not None and writes_plugin
        else None
    )
    if pool is not None:
        metrics.gauge(
            "jetgen_provider_processes",
            "Shared provider processes answering plugin-protocol polls and writes.",
            lambda: len(pool),
        )
        metrics.gauge(
            "jetgen_provider_rss_bytes",
            "Resident memory of the shared provider processes (with their children), "
            "as last read (at most once a second per process, while it is used).",
            pool.rss,
        )
    reads = build_cache(info, settings, client)
    metrics.gauge("jetgen_cache_objects", "Objects held by the read caches.", lambda: reads.size)
    metrics.gauge(
        "jetgen_cache_informers",
        "Watches keeping the read caches current (one per kind and namespace read).",
        lambda: len(reads.informers),
    )
    metrics.gauge(
        "jetgen_cache_hits_total",
        "Reads answered by the caches.",
        lambda: reads.counts.hits,
        "counter",
    )
    metrics.gauge(
        "jetgen_cache_fetches_total",
        "Reads the caches passed to the apiserver (a name read first, or a cache not synced).",
        lambda: reads.counts.fetches,
        "counter",
    )
    metrics.gauge(
        "jetgen_cache_lists_total",
        "Full lists made by the caches (first sync, 410 Gone, a failed watch).",
        lambda: reads.counts.lists,
        "counter",
    )
    return reconciler.Runtime(
        settings=settings,
        info=info,
        kube=client,
        cache=reads,
        driver=driver,
        store=state.StateStore(client, settings.state_namespace),
        metrics=metrics,
        poller=poller,
        pool=pool,
        plugin=plugin,
        cannot_prove=(PluginUnsupported,),
    )


def build_cache(info: ProviderInfo, settings: Settings, client: kube.KubeClient) -> cache.Cache:
    """The read caches: state Secrets are left out of every Secret watch (never read by
    a pass, and up to 1 MB each); a referenced kind is kept as far as a reference reads it."""
    paths: dict[tuple[str, str], set[str]] = {}
    for kind in info.kinds:
        for ref in kind.references:
            target = tree.kind_named(info.kinds, ref.kind, ref.group)
            if target is not None:
                key = (target.api_version, target.plural)
                paths.setdefault(key, set())
                if ref.value_from != "external_name":
                    paths[key].add(ref.value_from)
    projections = {
        key: cache.reference_projection(sorted(value_from), resource.EXTERNAL_NAME)
        for key, value_from in paths.items()
    }
    return cache.Cache(
        client,
        enabled=settings.kube_cache,
        secret_selector=f"!{state.STATE_LABEL}",
        projections=projections,
        cluster_wide=not settings.namespaces,
        # A namespace no MR read from for a while (its MRs gone) stops being watched;
        # well above any poll, so a quiet MR's namespace is never dropped between polls.
        idle_seconds=max(3 * settings.poll_interval, 900.0),
    )


def _pool(settings: Settings, metrics: Metrics) -> poll.ProviderPool:
    cwd = poll.plugin_cwd(settings.workdir_root)
    schemas = SchemaCache()

    async def start(binary: Any, env: dict[str, str]) -> Any:
        return await poll.start_provider(
            binary, env, cwd=cwd, rpc_timeout=settings.rpc_timeout, schemas=schemas
        )

    pool = poll.ProviderPool(
        start,
        limit=settings.max_providers,
        # A process nobody polled for a few intervals belongs to a configuration that
        # is gone (rotated credentials, deleted ProviderConfig): let it go.
        idle_timeout=max(3 * settings.poll_interval, 60.0),
        rss_growth=settings.provider_rss_growth_mib * poll.MIB or None,
        on_recycle=metrics.provider_recycles.inc,
    )
    metrics.gauge(
        "jetgen_provider_schema_fetches",
        "Provider schemas fetched and converted: once per provider binary, shared by all "
        "its processes (restarted and recycled ones too).",
        lambda: schemas.fetches,
    )
    metrics.tally(
        "jetgen_plugin_rpcs_total",
        "Plugin-protocol calls made to provider processes (settled polls and writes), by RPC.",
        "operation",
        lambda: PluginRpc.calls,
    )
    return pool


def _poller(settings: Settings, driver: CliDriver, pool: poll.ProviderPool) -> poll.Poller:
    def providers_dir() -> Any:
        # The installation CliDriver.prepare made: the same binary the CLI runs.
        return driver.template / ".terraform" / "providers" if driver.template else None

    # A check makes a handful of calls (plus a start and configure on first use).
    deadline = 6 * settings.rpc_timeout
    return poll.Poller(pool, providers_dir, driver.environment, deadline=deadline)


async def _start_states(runtime: reconciler.Runtime) -> None:
    """Once per start: read the state Secrets in one list (the first passes take their
    state from it, see StateStore.prime), and remove those of MRs deleted while no
    replica ran."""
    keep_for = PRIMED_INTERVALS * runtime.settings.poll_interval
    try:
        secrets = await runtime.store.prime(keep_for)
        removed = await runtime.store.sweep(secrets, functools.partial(_live_states, runtime))
    except Exception as exc:  # noqa: BLE001 - a leftover Secret is no reason to stop
        logger.warning("state Secrets sweep failed: %s", exc)
        return
    if removed:
        logger.info("removed %d state Secrets of deleted managed resources", removed)


async def _live_states(runtime: reconciler.Runtime, secrets: list[dict[str, Any]]) -> set[str]:
    """Names of the state Secrets to keep: those whose MR a list of its kind shows (by
    UID), and those not judged here -- another provider's kind or one this replica does
    not serve, an annotation it did not write, a kind without a CRD now (safe-start:
    judged on a later start), a list refused.  One list per kind (per kind and namespace
    for a controller limited to namespaces), not a request per Secret."""
    kinds = {(k.api_version, k.kind): k for k in runtime.info.kinds}
    cluster_wide = not runtime.settings.namespaces
    listed: dict[tuple[str, str, str | None], set[str] | None] = {}
    keep: set[str] = set()
    for secret in secrets:
        meta = secret["metadata"]
        who = state.owner(secret)
        kind = kinds.get((who.api_version, who.kind)) if who is not None else None
        if who is None or kind is None:
            keep.add(meta["name"])
            continue
        namespace = None if cluster_wide or kind.scope == "Cluster" else who.namespace
        scope = (kind.api_version, kind.plural, namespace)
        if scope not in listed:
            listed[scope] = await _uids(runtime.kube, *scope)
        uids = listed[scope]
        if uids is None or (meta.get("labels") or {}).get(state.STATE_LABEL) in uids:
            keep.add(meta["name"])
    return keep


async def _uids(
    client: kube.KubeClient, api_version: str, plural: str, namespace: str | None
) -> set[str] | None:
    """UIDs of a kind's objects (in ``namespace``, or all); None if they cannot be listed."""
    try:
        path = kube.object_path(api_version, plural, namespace)
        items = await client.list_all(path, metadata_only=True)
    except (ValueError, kube.KubeError) as exc:  # ValueError: a namespace no path can name
        logger.debug("state Secrets sweep: %s of %s not listed: %s", plural, namespace, exc)
        return None
    return {item["metadata"]["uid"] for item in items}


def watch_settings(watching: Any, seconds: float) -> None:
    """Bound every kopf watch stream, so one the apiserver (or a half-dead connection)
    stops feeding is started again instead of waiting for events for good.

    kopf's defaults set no ``timeoutSeconds`` and no client timeout: a stream lives as long
    as the apiserver keeps it (30-60 min) and a silent one only ends by kopf's inactivity
    timer.  That timer (``asyncio.timeout`` around the stream, across the ``yield`` of each
    event) would cancel kopf's watcher *task* if it expired while the task waits outside
    the stream -- and kopf neither logs nor replaces a cancelled watcher, so the kind would
    never be watched again (docs/runtime.md, "Watch streams that stall").  So the
    apiserver ends each stream after ``seconds`` (kopf resumes from the last
    resourceVersion), aiohttp's own timer drops one still open ``WATCH_SLACK`` later (it
    raises on the next read, never into the task), and the inactivity timer is set beyond
    both, so it never fires first."""
    server = max(1, round(min(seconds, 1e9)))  # timeoutSeconds is an integer
    watching.server_timeout = server
    watching.client_timeout = server + WATCH_SLACK
    watching.connect_timeout = WATCH_CONNECT_TIMEOUT
    if hasattr(watching, "inactivity_timeout"):  # kopf >= 1.44
        watching.inactivity_timeout = server + 2 * WATCH_SLACK


def build_registry(runtime: reconciler.Runtime, insights: Insights) -> kopf.OperatorRegistry:
    """All handlers; ``insights`` is what kopf will watch (see :mod:`.serving`)."""
    registry = kopf.OperatorRegistry()
    settings = runtime.settings
    # On exit a waiting MR leaves at once; a running pass gets a few seconds to finish,
    # then is cancelled (its Terraform run is interrupted like Ctrl-C, which saves state).
    passes = scheduler.Scheduler(grace=2.0, timeout=30.0)

    # kopf logs in with the credentials kube.py uses, and calls this again after a 401
    # or when the token it holds expires: the token is then refreshed for both.
    @kopf.on.login(registry=registry)
    async def login(**_: Any) -> kopf.ConnectionInfo:
        return await runtime.kube.credentials.connection_info()

    @kopf.on.startup(registry=registry)
    async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.persistence.finalizer = runtime.settings.finalizer
        # Keep kopf's bookkeeping out of status: generated CRDs prune unknown status fields.
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="jetgen.dev")
        # No spec copy on every object: nothing registered needs a diff (diffbase.py).
        settings.persistence.diffbase_storage = diffbase.EmptyDiffBase(prefix="jetgen.dev")
        settings.posting.level = logging.INFO
        watch_settings(settings.watching, runtime.settings.watch_timeout)
        # Safe-start: after its initial scan kopf leaves the served kinds to the gate.
        settings.scanning.disabled = runtime.settings.safe_start
        runtime.background.append(asyncio.ensure_future(_start_states(runtime)))
        if runtime.settings.safe_start and serving.has_globs(runtime.settings.namespaces):
            watch = serving.watch_namespaces(
                insights, runtime.settings.namespaces, lambda: _namespaces(runtime)
            )
            runtime.background.append(asyncio.ensure_future(watch))

    @kopf.on.cleanup(registry=registry)
    async def close(**_: Any) -> None:
        await passes.stop()
        await runtime.close()
        await runtime.kube.close()

    served = [k for k in runtime.info.kinds if settings.serves(k.kind, k.group)]
    users = usage.ConfigUsers(runtime.info)  # kept by each kind's event handler
    for kind in served:
        _register_kind(registry, runtime, passes, reconciler.Reconciler(runtime, kind), users)
    finalizer_from_passes(registry, served, runtime.settings.finalizer)
    # Configs in use are not deleted.  Every selected kind is asked (one that has no CRD
    # answers 404): a kind the gate has not taken up yet may already have MRs.
    confirm = functools.partial(_list_config_users, runtime, served)
    usage.register(registry, runtime.info, users, confirm)
    _gate_kinds(registry, runtime, insights, served)
    return registry


def _gate_kinds(
    registry: kopf.OperatorRegistry,
    runtime: reconciler.Runtime,
    insights: Insights,
    kinds: list[Kind],
) -> None:
    """With safe-start a kind is served once its CRD is established (see :mod:`.serving`);
    without, kopf serves whatever API discovery shows.  Either way the metric tells."""
    info = runtime.info
    wanted = [serving.Wanted(k.kind, k.group, k.version, k.plural) for k in kinds]
    wanted += [
        serving.Wanted(plural, info.config_group, info.config_version, plural, managed=False)
        for plural in usage.config_plurals(info)
    ]
    runtime.metrics.gauge(
        "jetgen_kinds_served",
        "Managed resource kinds reconciled now (with safe-start: those whose CRD is established).",
        lambda: serving.served_count(insights, wanted),
    )
    selected = len(kinds)
    runtime.metrics.gauge(
        "jetgen_kinds_selected",
        "Managed resource kinds this controller may serve.",
        lambda: selected,
    )
    if runtime.settings.safe_start:
        answers = functools.partial(_answers, runtime.kube)
        serving.register(registry, serving.Gate(wanted, insights, answers))
        logging.getLogger("kopf._core.reactor.observation").addFilter(serving.QuietUnresolved())
        logger.info("safe-start: %d kinds, each served once its CRD is established", len(kinds))
    else:
        logger.info("serving %d kinds: %s", len(kinds), ", ".join(k.kind for k in kinds))


async def _answers(client: kube.KubeClient, resource: kopf.Resource) -> bool:
    """Whether the API server serves ``resource`` yet (a refusal counts: it knows it).

    A label selector that matches nothing keeps the answer empty, and makes the API server
    answer from its watch cache -- the one kopf's watch needs -- instead of passing a
    plain limited list on to etcd while that cache is still initialising."""
    path = kube.object_path(f"{resource.group}/{resource.version}", resource.plural)
    query = {"labelSelector": "jetgen.dev/never-set", "limit": "1"}
    try:
        await client.request("GET", path, query=query)
    except kube.KubeError as exc:
        return exc.status not in (404, 429, 503)
    except (aiohttp.ClientError, OSError, TimeoutError):
        return False
    return True


async def _namespaces(runtime: reconciler.Runtime) -> list[str]:
    items = await runtime.kube.list(kube.object_path("v1", "namespaces"))
    return [item["metadata"]["name"] for item in items]


async def _watched_namespaces(runtime: reconciler.Runtime) -> list[str] | None:
    """The namespaces the controller serves now; None for the whole cluster."""
    patterns = runtime.settings.namespaces
    if not patterns:
        return None
    if serving.has_globs(patterns):
        return sorted(serving.matching(await _namespaces(runtime), patterns))
    return list(patterns)


async def _list_config_users(
    runtime: reconciler.Runtime, kinds: list[Kind], key: usage.ConfigKey
) -> list[usage.UserId]:
    namespaces = functools.partial(_watched_namespaces, runtime)
    return await usage.list_users(runtime.kube, runtime.info, kinds, key, namespaces)


def _register_kind(
    registry: kopf.OperatorRegistry,
    runtime: reconciler.Runtime,
    passes: scheduler.Scheduler,
    rec: reconciler.Reconciler,
    users: usage.ConfigUsers,
) -> None:
    kind = rec.kind
    api = (kind.group, kind.version, kind.plural)

    @kopf.on.event(*api, id="wake", registry=registry)
    async def observe(event: Any, type: str | None, **_: Any) -> None:
        body = event["object"]
        passes.observe(rec, body, type)
        if type == "DELETED":
            users.gone(kind, body)
            # Gone from the API: its state Secret (in our namespace, which the MR cannot
            # own across) goes too.  Missed while no replica ran: state.sweep at start.
            await runtime.store.delete(body)
            return
        users.seen(kind, body)

    @kopf.on.delete(*api, id="finalize", registry=registry)
    async def finalize(body: kopf.Body, **_: Any) -> None:
        memory = passes.memory(rec, body["metadata"]["uid"])
        try:
            await rec.finalize(body, memory)
        except reconciler.Paused as exc:
            raise kopf.TemporaryError(str(exc), delay=runtime.settings.poll_interval) from None
        except resource.ReconcileError as exc:
            raise kopf.TemporaryError(str(exc), delay=rec.retry_delay(memory)) from None


async def run(
    info: ProviderInfo,
    settings: Settings,
    creds: kubeauth.Credentials,
    *,
    stop_flag: asyncio.Event | None = None,
    ready_flag: asyncio.Event | None = None,
) -> None:
    """Run the controller until stopped (SIGTERM / SIGINT or ``stop_flag``).

    Credentials are tried first: :class:`kubeauth.CredentialsError` (no token, a
    failing exec plugin, a 401) ends the run before anything starts.  With leader election
    the process then waits, as a standby, until it holds the Lease; health and metrics are
    served meanwhile.  Only the leader runs kopf, and a leader that loses the Lease ends
    the process at once (see :func:`_abandon`).
    """
    runtime = build_runtime(info, settings, creds)
    try:
        await check_credentials(runtime.kube)
        if settings.safe_start:
            await check_crd_access(runtime.kube)
    except BaseException:
        await runtime.kube.close()
        raise
    logger.info(
        "provider %s (%s %s), terraform %s, poll %ss (%s), %d runs at once",
        info.name,
        info.source,
        info.version,
        settings.binary,
        settings.poll_interval,
        settings.poll_driver,
        settings.max_runs,
    )
    logger.info(drivers.summary(info.kinds, settings.driver, runtime.plugin is not None))
    insights = Insights()
    registry = build_registry(runtime, insights)
    elector = _elector(settings, creds) if settings.leader_election else None

    def role() -> str:
        return "leader" if elector is None or elector.leading else "standby"

    runtime.metrics.gauge(
        "jetgen_leader", "1 while this replica reconciles.", lambda: int(role() == "leader")
    )
    servers = []
    if settings.health_port:
        servers.append(await health.serve(settings.health_port, role))
    if settings.metrics_port:
        servers.append(await runtime.metrics.serve(settings.metrics_port))
        logger.info("metrics on :%s/metrics", settings.metrics_port)
    stop = stop_flag or asyncio.Event()
    try:
        if elector is not None:
            if not await _until_leader(elector, stop):
                return
            if isinstance(runtime.driver, CliDriver):
                runtime.driver.fence = lambda: elector.valid() or _abandon()
        # kopf would name itself after getpass.getuser(), which raises for a UID without a
        # passwd entry: the image's 65532 has none. (kopf's Identity is a NewType of str
        # that kopf does not export, hence the cast.)
        identity = cast(Any, elector.identity if elector else leader.default_identity())
        operator = asyncio.ensure_future(
            kopf.operator(
                registry=registry,
                identity=identity,
                standalone=True,  # kopf's own peering is replaced by the Lease
                clusterwide=not settings.namespaces,
                namespaces=settings.namespaces,
                stop_flag=stop,
                ready_flag=ready_flag,
                memo=kopf.Memo(),
                insights=insights,
            )
        )
        if elector is None:
            await operator
            return
        lost = asyncio.ensure_future(elector.hold())
        await asyncio.wait([operator, lost], return_when=asyncio.FIRST_COMPLETED)
        if lost.done():
            _abandon()
        lost.cancel()
        await operator
    finally:
        if elector is not None:
            with contextlib.suppress(Exception):
                await elector.release()
            await elector.client.close()
        for server in servers:
            await server.cleanup()


async def check_credentials(client: kube.KubeClient) -> None:
    """One authenticated request (API discovery) before anything starts: credentials the
    apiserver refuses stop the controller with one line.  An apiserver that cannot be
    reached is not a credentials problem: kopf retries, and so do passes."""
    await client.credentials.check()
    try:
        await client.request("GET", "/api")
    except kube.KubeError as exc:
        if exc.status == 401:
            raise kubeauth.CredentialsError(
                f"the apiserver at {client.credentials.server} refused the credentials"
                " (401 Unauthorized)"
            ) from None
        logger.warning("API discovery failed: %s", exc)
    except (OSError, aiohttp.ClientError, TimeoutError) as exc:
        logger.warning("apiserver %s not reachable yet: %s", client.credentials.server, exc)


class StartError(Exception):
    """The controller cannot work as configured; the message says what to change."""


async def check_crd_access(client: kube.KubeClient) -> None:
    """Safe-start learns its kinds from the CRDs: without list and watch on them it would
    serve nothing, after a minute of kopf retrying; say so at once instead."""
    path = kube.object_path("authorization.k8s.io/v1", "selfsubjectaccessreviews")
    try:
        reviews = [await client.create(path, review) for review in serving.access_reviews()]
    except (kube.KubeError, OSError, aiohttp.ClientError, TimeoutError) as exc:
        logger.warning("could not check access to customresourcedefinitions: %s", exc)
        return
    refusal = serving.denied(reviews)
    if refusal is not None:
        raise StartError(refusal)


def _elector(settings: Settings, creds: kubeauth.Credentials) -> leader.LeaderElector:
    # Its own client, so Lease renewals never queue behind the rate limit of the passes.
    client = kube.KubeClient(creds, kube_limits(settings))
    return leader.LeaderElector(
        client,
        name=settings.leader_election_id,
        namespace=settings.leader_election_namespace,
        timing=lease_timing(settings),
    )


def lease_timing(settings: Settings) -> leader.LeaseTiming:
    return leader.LeaseTiming(
        duration=settings.lease_duration,
        renew_deadline=settings.renew_deadline,
        retry=settings.retry_period,
        renew=settings.renew_period,
    )


async def _until_leader(elector: leader.LeaderElector, stop: asyncio.Event) -> bool:
    """Wait for the Lease; False if told to stop first (SIGTERM while standby)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    acquire = asyncio.ensure_future(elector.acquire())
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait([acquire, stopped], return_when=asyncio.FIRST_COMPLETED)
    if acquire.done():
        stopped.cancel()
        return True
    acquire.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await acquire
    return False


def _abandon() -> NoReturn:
    """Leadership is lost: another replica may already be taking over our objects, so
    nothing of ours may touch them again -- no graceful shutdown of passes, no state
    writes.  Kill the Terraform runs and exit non-zero; the Deployment restarts us as a
    standby.  (Provider processes of the plugin poll die with us: PR_SET_PDEATHSIG.)"""
    killed = kill_running()
    logger.critical("leader election lost: exiting now (%d Terraform runs killed)", killed)
    logging.shutdown()
    sys.stdout.flush()
    os._exit(1)
