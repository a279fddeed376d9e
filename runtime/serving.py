"""Safe start: a kind is served only while its CRD exists and is established.

Crossplane v2 installs a provider's kinds as ManagedResourceDefinitions that stay inactive
until an activation policy selects them; only then does a CRD appear.  A provider with the
``safe-start`` capability must therefore start with none of its kinds served, healthy, and
take each one up when its CRD becomes established -- without a restart.

kopf can discover kinds at run time itself, but it judges from API discovery, which it
re-reads when a CRD of the group changes.  That is not good enough here:

* discovery is updated a moment *after* a CRD turns Established, so the re-read made for
  that very event can miss the kind, which then stays unserved until some other CRD of its
  group changes;
* a CRD being deleted loses the ``patch`` verb in discovery, and kopf stops serving the
  kind at once -- while the API server is deleting its objects, which wait for our
  finalizer: the external resources are never cleaned up and the CRD never goes away.

So with safe-start the runtime decides from the CRDs themselves.  A kopf event handler on
CustomResourceDefinitions (list/watch, which the generated ClusterRole grants) feeds a
:class:`Gate`; the gate writes the served kinds into kopf's ``Insights`` -- the set of
resources kopf runs watch streams for -- and kopf's own resource scanning is switched off
after its initial scan (``settings.scanning.disabled``).  A kind is served while its CRD is
Established and serves the kind's version, including while the CRD is being deleted (so
the finalizers of its objects run), until the API server reports its objects all removed
or the CRD is gone.

With scanning off kopf takes ``--namespace`` patterns as exact names, so globs are matched
here too (:func:`watch_namespaces`, a poll of the namespace list).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import kopf

# kopf takes an Insights object from its caller (``kopf.operator(insights=...)``) but does
# not export the class; its fields are what kopf's orchestrator reads to start and stop
# watch streams.
from kopf._cogs.structs.references import Insights as Insights  # re-exported for operator.py
from kopf._cogs.structs.references import NamespaceName, match_namespace

logger = logging.getLogger(__name__)

CRDS = ("apiextensions.k8s.io", "v1", "customresourcedefinitions")
HANDLER_ID = "safe-start"
# The CRD finalizer's last word before it lets the CRD go: no objects are left to serve.
ALL_INSTANCES_REMOVED = "InstanceDeletionCompleted"
# How often namespace globs are re-matched against the cluster's namespaces.
NAMESPACE_POLL_SECONDS = 5.0
# How long a kind whose CRD is established may keep answering "not there yet" (404, or 429
# while the API server initialises its storage) before it is served anyway.
ANSWER_TIMEOUT = 30.0
# How long after its first CRD kopf's initial listing of CRDs is taken to be over (it
# hands them over in a moment; the gate is told of each, never of the end).
LISTING_SECONDS = 1.0

Probe = Callable[[kopf.Resource], Awaitable[bool]]


@dataclass(frozen=True)
class Wanted:
    """A resource the operator has handlers for, and what it is to the gate."""

    kind: str
    group: str
    version: str
    plural: str
    managed: bool = True  # a managed resource kind (counted in metrics), else a config kind

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{self.group}"

    @property
    def key(self) -> kopf.Resource:
        """kopf compares resources by group, version and plural only."""
        return kopf.Resource(self.group, self.version, self.plural)


def condition(crd: Mapping[str, Any], type_: str) -> Mapping[str, Any]:
    for cond in (crd.get("status") or {}).get("conditions") or []:
        if isinstance(cond, Mapping) and cond.get("type") == type_:
            return cond
    return {}


def servable(crd: Mapping[str, Any], version: str) -> bool:
    """Whether ``version`` of this CRD's kind can be watched and patched now."""
    if condition(crd, "Established").get("status") != "True":
        return False
    if condition(crd, "Terminating").get("reason") == ALL_INSTANCES_REMOVED:
        return False
    versions = (crd.get("spec") or {}).get("versions") or []
    return any(v.get("name") == version and v.get("served") for v in versions)


def resource_of(crd: Mapping[str, Any], version: str) -> kopf.Resource:
    """The kopf resource of one version of a CRD, as kopf's discovery scan would make it."""
    spec = crd.get("spec") or {}
    names = (crd.get("status") or {}).get("acceptedNames") or spec.get("names") or {}
    row = next(v for v in spec.get("versions") or [] if v.get("name") == version)
    return kopf.Resource(
        group=spec["group"],
        version=version,
        plural=names["plural"],
        kind=names.get("kind"),
        singular=names.get("singular") or str(names.get("kind", "")).lower() or None,
        shortcuts=frozenset(names.get("shortNames") or []),
        categories=frozenset(names.get("categories") or []),
        subresources=frozenset((row.get("subresources") or {}).keys()),
        namespaced=spec.get("scope") == "Namespaced",
        preferred=True,
        verbs=frozenset(
            ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
        ),
    )


class Gate:
    """Which wanted kinds are served, decided from their CRDs and written to kopf.

    ``answers`` tells whether the API server serves a resource yet: it answers 404 until
    its CRD handler has caught up with the Established condition, then 429 ("storage is
    (re)initializing") for a moment, which kopf would log as errors while it retries."""

    def __init__(
        self, wanted: Iterable[Wanted], insights: Insights, answers: Probe | None = None
    ) -> None:
        self.insights = insights
        self.answers = answers
        self.wanted: dict[str, list[Wanted]] = {}
        for item in wanted:
            self.wanted.setdefault(item.crd_name, []).append(item)
        self.served: dict[Wanted, kopf.Resource] = {}
        # Whose CRD the gate has judged (served or not).  kopf's initial scan has already
        # started watch streams for the kinds discovery showed when the CRDs' listing
        # comes, one CRD at a time; dropping the kinds not seen yet would cancel those
        # streams mid-listing and start them again a moment later (and kopf's watch
        # generators, dropped half-way, log "aclose(): asynchronous generator is already
        # running" as they are collected).  So while the listing lasts an unseen kind
        # stays as kopf's scan left it; after it, a kind whose CRD never came is dropped.
        self.seen: set[Wanted] = set()
        self._listing_over = False
        self._summary: asyncio.TimerHandle | None = None
        self._listing_end: asyncio.TimerHandle | None = None
        self._end_publish: asyncio.Task[None] | None = None

    def cares(self, crd_name: str) -> bool:
        return crd_name in self.wanted

    async def observe(
        self, crd: Mapping[str, Any], *, deleted: bool = False, listing: bool = False
    ) -> None:
        """Take in one CRD as last seen (``deleted``: it is gone; ``listing``: from the
        initial listing) and publish any change."""
        name = str((crd.get("metadata") or {}).get("name", ""))
        if listing and self._listing_end is None:
            loop = asyncio.get_running_loop()
            self._listing_end = loop.call_later(LISTING_SECONDS, self._end_listing)
        changes: list[str] = []
        for item in self.wanted.get(name, []):
            serve = not deleted and servable(crd, item.version)
            if not serve and item not in self.seen and item.key in self.insights.watched_resources:
                changes.append(f"not serving {item.kind} ({item.group}/{item.version})")
            if serve and item not in self.served:
                resource = resource_of(crd, item.version)
                await self._answered(resource)
                self.served[item] = resource
                changes.append(f"serving {item.kind} ({item.group}/{item.version})")
            elif not serve and item in self.served:
                del self.served[item]
                why = "CRD deleted" if deleted else "CRD no longer established"
                changes.append(f"stopped serving {item.kind} ({item.group}/{item.version}): {why}")
            self.seen.add(item)  # after the wait for an answer: unseen (kept) until then
        if not changes:
            return
        await self.publish(keep_unseen=listing and not self._listing_over)
        if listing:  # one summary for the whole listing, not a line per kind
            for change in changes:
                logger.debug("%s", change)
            if self._summary is None:
                self._summary = asyncio.get_running_loop().call_later(1.0, self._summarise)
            return
        for change in changes:
            logger.info("%s; %d of %d kinds served", change, self.count(), self.selected())

    async def _answered(self, resource: kopf.Resource) -> None:
        """Wait until the API server answers for ``resource`` (bounded: then kopf retries)."""
        if self.answers is None:
            return
        loop = asyncio.get_running_loop()
        deadline, delay = loop.time() + ANSWER_TIMEOUT, 0.05
        while not await self.answers(resource):
            if loop.time() > deadline:
                logger.warning(
                    "%s: not answered %.0fs after its CRD was established; serving it anyway",
                    resource,
                    ANSWER_TIMEOUT,
                )
                return
            await asyncio.sleep(delay)
            delay = min(2 * delay, 1.0)

    async def publish(self, keep_unseen: bool = False) -> None:
        """Make kopf's set of watched resources match ``served`` (``keep_unseen``: but
        leave the kinds whose CRD is not seen yet as they are).  None is indexed: kopf
        would hold every object's first event until all indexed kinds are listed."""
        async with self.insights.revised:
            for items in self.wanted.values():
                for item in items:
                    if not keep_unseen or item in self.seen:
                        self.insights.watched_resources.discard(item.key)
                    self.insights.indexed_resources.discard(item.key)
            for resource in self.served.values():
                self.insights.watched_resources.add(resource)
            self.insights.revised.notify_all()

    def count(self) -> int:
        """Managed resource kinds served now."""
        return sum(1 for item in self.served if item.managed)

    def selected(self) -> int:
        return sum(1 for items in self.wanted.values() for item in items if item.managed)

    def _end_listing(self) -> None:
        """The initial listing is over: a kind kopf's scan found whose CRD did not come
        (deleted in between) is dropped now."""
        self._listing_over = True
        watched = self.insights.watched_resources
        if any(i not in self.seen and i.key in watched for w in self.wanted.values() for i in w):
            self._end_publish = asyncio.ensure_future(self.publish())
            self._end_publish.add_done_callback(_published)

    def _summarise(self) -> None:
        self._summary = None
        kinds = sorted(item.kind for item in self.served if item.managed)
        shown = ", ".join(kinds[:10]) + (f" and {len(kinds) - 10} more" if len(kinds) > 10 else "")
        logger.info(
            "serving %d of %d kinds whose CRDs are established: %s",
            len(kinds),
            self.selected(),
            shown or "none",
        )


def _published(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.warning("publishing the served kinds failed: %s", task.exception())


class QuietUnresolved(logging.Filter):
    """kopf's initial scan warns about every wanted kind without a CRD; with safe-start that
    is the expected state of an inactive kind, not a problem (the gate says what it serves)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Unresolved resources cannot be served")


def register(registry: kopf.OperatorRegistry, gate: Gate) -> None:
    """Feed the gate from a kopf watch of the CRDs it cares about."""

    def relevant(body: kopf.Body, **_: Any) -> bool:
        return gate.cares(str(body.get("metadata", {}).get("name", "")))

    @kopf.on.event(*CRDS, id=HANDLER_ID, registry=registry, when=relevant)
    async def crd_changed(body: kopf.Body, type: str | None, **_: Any) -> None:
        await gate.observe(body, deleted=type == "DELETED", listing=type is None)


def access_reviews() -> list[dict[str, Any]]:
    """SelfSubjectAccessReviews of what safe-start needs: list and watch on CRDs."""
    return [
        {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {
                "resourceAttributes": {
                    "group": CRDS[0],
                    "resource": CRDS[2],
                    "verb": verb,
                }
            },
        }
        for verb in ("list", "watch")
    ]


def denied(reviews: Iterable[Mapping[str, Any]]) -> str | None:
    """The one-line refusal to start when the reviews deny a verb; None if all allowed."""
    missing = [
        str(review["spec"]["resourceAttributes"]["verb"])
        for review in reviews
        if not (review.get("status") or {}).get("allowed")
    ]
    if not missing:
        return None
    return (
        f"safe-start needs {' and '.join(missing)} on customresourcedefinitions "
        "(apiextensions.k8s.io), which the generated ClusterRole grants; grant them, or run "
        "with --no-safe-start (JETGEN_SAFE_START=0) to serve only the kinds found at start"
    )


def served_count(insights: Insights, wanted: Iterable[Wanted]) -> int:
    """Managed resource kinds kopf watches now (with safe-start or without)."""
    return sum(1 for w in wanted if w.managed and w.key in insights.watched_resources)


def has_globs(patterns: Iterable[str]) -> bool:
    return any(c in pattern for pattern in patterns for c in "*?!,")


def matching(names: Iterable[str], patterns: Iterable[str]) -> set[str]:
    """The namespaces any of kopf's namespace patterns (globs, ``!`` negation) selects."""
    patterns = list(patterns)
    return {n for n in names if any(match_namespace(NamespaceName(n), p) for p in patterns)}


async def watch_namespaces(
    insights: Insights,
    patterns: list[str],
    list_names: Callable[[], Awaitable[list[str]]],
    every: float = NAMESPACE_POLL_SECONDS,
) -> None:
    """Keep kopf's namespaces matching the glob patterns: with scanning off kopf would only
    take patterns that are plain names.  A failed listing keeps the last known set."""
    while True:
        try:
            names = matching(await list_names(), patterns)
        except Exception as exc:  # noqa: BLE001 - an unreachable apiserver is retried
            logger.warning("listing namespaces for %s failed: %s", ", ".join(patterns), exc)
        else:
            if names != insights.namespaces - {None}:
                async with insights.revised:
                    insights.namespaces.clear()
                    insights.namespaces.update(NamespaceName(name) for name in names)
                    insights.revised.notify_all()
                logger.info("watching namespaces: %s", ", ".join(sorted(names)) or "none")
        await asyncio.sleep(every)
