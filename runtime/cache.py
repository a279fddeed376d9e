"""Reads from informer-style caches: what a pass reads costs no request while nothing changed.

A pass reads the ProviderConfig its MR names, that config's credentials Secret, the
Secrets its ``...SecretRef`` fields name, the objects its references point at and its own
connection Secret.  Asking the apiserver for each on every poll made a settled MR cost
four or five requests a poll (700-1,000 a second at 10,000 MRs and a 60 s poll).  Here
each kind is instead listed once and watched, per namespace, and a read is answered from
memory.

What is watched, and what is kept (memory and the apiserver's work both scale with it):

* one :class:`Informer` per (kind, namespace) a read asked for -- only the namespaces of
  served MRs and those a cluster-scoped config names, never "every Secret of the
  cluster"; cluster-scoped kinds (ClusterProviderConfig) have one for the cluster;
* Secrets: the watch leaves out the state Secrets (label selector ``!<state label>``:
  they are big and never read per pass), and only the Secrets a read asked for by name
  are kept; the rest of a namespace's Secrets pass by.  A connection Secret is kept as a
  digest of its data, not the data;
* configs: whole; referenced kinds: only name, labels, the external name, the controller
  owner and the paths a reference takes its value from (``Projection``).

A name not (yet) kept is read from the apiserver once and kept from then on (the watch
brings every later change), so the first pass after a start costs what it always did and
the next ones nothing.  A name read and found absent is remembered absent (the watch says
when it appears): a provider without credentials and without a ``default`` config polls
without asking for it.  The cache answers only while its watch runs: before the first
list, and while a watch fails (a 403, an apiserver away), reads go to the apiserver as
before.  A watch that the apiserver ends is resumed from the last resourceVersion; one
that is too old (410 Gone) lists again.

Nothing crosses a namespace: an informer holds one namespace's objects and a read names
the namespace (checked by :mod:`jetgen.runtime.names` before it gets here), so a cache
answer is the answer the apiserver would give to the same path.  Values are never logged.

Writes go to the apiserver; the object a write returns goes into the cache, so a pass
reading its own connection Secret right after writing it sees what it wrote (a watch
event older than that is not allowed to replace it: resourceVersions are compared).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import logging
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from jetgen.runtime import kube

logger = logging.getLogger(__name__)

Obj = dict[str, Any]
Key = tuple[str | None, str]  # (namespace, name); None for cluster-scoped objects
# What a projection makes of an object: the part worth keeping.
Projection = Callable[[Obj], Obj]


@dataclass(frozen=True)
class Scope:
    """One list+watch: a kind (api version and plural) in one namespace or the cluster."""

    api_version: str
    plural: str
    namespace: str | None
    label_selector: str | None = None

    def path(self, name: str | None = None) -> str:
        return kube.object_path(self.api_version, self.plural, self.namespace, name)

    def __str__(self) -> str:
        where = f"namespace {self.namespace}" if self.namespace else "the cluster"
        return f"{self.plural} ({self.api_version}) in {where}"


def newer(candidate: str | None, than: str | None) -> bool:
    """Whether resourceVersion ``candidate`` is newer than ``than``.  They are etcd
    revisions in every apiserver this runs against (Kubernetes calls them opaque, so
    anything that is not two integers counts as newer: the later word wins)."""
    if than is None or candidate is None:
        return True
    if candidate.isdigit() and than.isdigit():
        return int(candidate) > int(than)
    return True


def key_of(obj: Obj) -> Key:
    meta = obj.get("metadata") or {}
    return meta.get("namespace") or None, str(meta.get("name"))


def whole(obj: Obj) -> Obj:
    return obj


def digest(data: dict[str, str] | None) -> str:
    """A Secret's (base64) data as one hash: equal data, equal digest."""
    return hashlib.sha256(json.dumps(data or {}, sort_keys=True).encode()).hexdigest()


@dataclass
class Counts:
    """What the caches did; the metrics read it (see operator.py)."""

    hits: int = 0  # answered from memory
    fetches: int = 0  # a name not kept yet, or a cache not running: asked the apiserver
    lists: int = 0  # full lists (first sync, 410 Gone, a failed watch)
    events: int = 0  # watch events applied


@dataclass
class Informer:
    """One kind in one namespace (or the cluster), listed once then watched.

    ``keep_all`` keeps every object (after ``project``); otherwise only the names
    :meth:`want` was called for (Secrets).  Names wanted and known not to exist are in
    ``absent`` (with the deletion's resourceVersion when a watch event told us).
    """

    client: kube.KubeClient
    scope: Scope
    project: Projection = whole
    keep_all: bool = True
    counts: Counts = field(default_factory=Counts)
    page: int = 500  # objects per list request (Secrets: fewer, they can be 1 MiB each)
    watch_seconds: float = 300.0  # the apiserver ends a watch after about this long
    retry_seconds: float = 5.0  # after a failed list or watch
    objects: dict[Key, Obj] = field(default_factory=dict)
    wanted: set[Key] = field(default_factory=set)
    with_data: set[Key] = field(default_factory=set)  # Secrets: those kept with their data
    absent: dict[Key, str | None] = field(default_factory=dict)
    resource_version: str | None = None  # where the watch resumes; None: list first
    live: bool = False  # the watch runs, so memory is current
    last_used: float = 0.0  # when a read last asked this informer (Cache's clock)
    task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.task is None:
            self.task = asyncio.ensure_future(self.run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None
        self.live = False

    # --- reading -----------------------------------------------------------------------

    def lookup(self, key: Key) -> tuple[bool, Obj | None]:
        """(known, object): known is False when only the apiserver can tell."""
        if not self.live:
            return False, None
        if key in self.objects:
            return True, self.objects[key]
        if self.keep_all or key in self.absent:
            return True, None
        return False, None

    def matching(self, namespace: str | None, labels: dict[str, str]) -> list[Obj] | None:
        """The objects of ``namespace`` whose labels include ``labels``; None when only
        the apiserver can tell (not live, or not every object kept)."""
        if not self.live or not self.keep_all:
            return None
        found = []
        for (where, _), obj in self.objects.items():
            if where != namespace:
                continue
            have = (obj.get("metadata") or {}).get("labels") or {}
            if all(have.get(k) == v for k, v in labels.items()):
                found.append(obj)
        return found

    def want(self, key: Key) -> None:
        self.wanted.add(key)

    def put(self, key: Key, obj: Obj | None) -> None:
        """What a read or a write of our own found: kept unless the watch already holds
        something newer (a deletion counts)."""
        if not self.keep_all and key not in self.wanted:
            return
        if obj is None:
            if key not in self.objects:
                self.absent.setdefault(key, None)
            return
        version = _version(obj)
        held = self.objects.get(key)
        if held is not None and not newer(version, _version(held)):
            return
        if key in self.absent and not newer(version, self.absent[key]):
            return  # deleted after this was read
        self.absent.pop(key, None)
        self.objects[key] = self.project(obj)

    # --- keeping current ---------------------------------------------------------------

    async def run(self) -> None:
        """List, then watch from the list's resourceVersion, forever."""
        failures = 0
        while True:
            try:
                if self.resource_version is None:
                    await self._list()
                await self._watch()
                failures = 0
            except asyncio.CancelledError:
                raise
            except kube.Gone:
                self.resource_version = None  # too old: list again, at once
            except Exception as exc:  # noqa: BLE001 - a cache must not stop; reads go direct
                self.live = False
                failures += 1
                level = logging.WARNING if failures in (1, 10) else logging.DEBUG
                logger.log(level, "cache of %s: %s (reads go to the apiserver)", self.scope, exc)
                delay = min(self.retry_seconds * 2 ** min(failures - 1, 5), 300.0)
                await asyncio.sleep(delay * (1 + random.random() / 5))

    async def _list(self) -> None:
        query = {"limit": str(self.page)}
        if self.scope.label_selector:
            query["labelSelector"] = self.scope.label_selector
        # Every object is projected first (a Secret not asked for with its data is a digest,
        # a few hundred bytes) and only then filtered by what is wanted: a read may ask for
        # a name from a page already listed while later pages are fetched.
        listed: dict[Key, Obj] = {}
        while True:
            page = await self.client.request("GET", self.scope.path(), query=query)
            for obj in page.get("items") or []:
                listed[key_of(obj)] = self.project(obj)
            meta = page.get("metadata") or {}
            if not meta.get("continue"):
                break
            query["continue"] = meta["continue"]
        version = meta.get("resourceVersion")
        objects: dict[Key, Obj] = {}
        for key, obj in listed.items():
            if not (self.keep_all or key in self.wanted):
                continue
            if key in self.with_data and "data" not in obj:
                continue  # asked for with its data after its page was listed: read it again
            objects[key] = obj
        for key, obj in self.objects.items():
            # Read by a GET while listing, and made after the list's snapshot.
            if key not in listed and newer(_version(obj), version):
                objects[key] = obj
        self.counts.lists += 1
        self.objects = objects
        self.absent = {key: None for key in self.wanted if key not in objects and key not in listed}
        self.resource_version = version
        self.live = True

    async def _watch(self) -> None:
        query = {
            "resourceVersion": self.resource_version or "",
            "allowWatchBookmarks": "true",
            # Spread: watches started together do not all end together.
            "timeoutSeconds": str(int(self.watch_seconds * (1 + random.random() / 5))),
        }
        if self.scope.label_selector:
            query["labelSelector"] = self.scope.label_selector
        timeout = self.watch_seconds * 1.2 + 60
        async for event in self.client.watch(self.scope.path(), query, timeout):
            self.live = True
            self.apply(event)

    def apply(self, event: Obj) -> None:
        """One watch event (raises kube.Gone for the 410 the stream may end with)."""
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            code = obj.get("code")
            message = str(obj.get("message") or "")[:300]
            if code == 410:
                raise kube.Gone(410, message)
            raise kube.KubeError(int(code or 500), message)
        version = _version(obj)
        if version:
            self.resource_version = version
        if kind == "BOOKMARK":
            return
        self.counts.events += 1
        key = key_of(obj)
        if kind == "DELETED":
            self.objects.pop(key, None)
            if key in self.wanted:
                self.absent[key] = version
        elif self.keep_all or key in self.wanted:
            self.absent.pop(key, None)
            self.objects[key] = self.project(obj)


def _version(obj: Obj) -> str | None:
    version = (obj.get("metadata") or {}).get("resourceVersion")
    return version if isinstance(version, str) else None


class Cache:
    """The reads a pass makes, answered by informers started on first use.

    ``enabled=False`` sends every read to the apiserver (``--no-kube-cache``), as before
    the cache existed.  ``projections`` maps (api version, plural) to what to keep of
    such objects; unnamed kinds are kept whole.
    """

    def __init__(
        self,
        client: kube.KubeClient,
        *,
        enabled: bool = True,
        secret_selector: str | None = None,
        projections: dict[tuple[str, str], Projection] | None = None,
        retry_seconds: float = 5.0,
        max_informers: int = 256,
        cluster_wide: bool = False,
        idle_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.retry_seconds = retry_seconds
        self.max_informers = max_informers
        self.cluster_wide = cluster_wide
        self.idle_seconds = idle_seconds
        self.clock = clock
        self._swept = clock()
        self._stopping: set[asyncio.Future[None]] = set()
        self.enabled = enabled
        self.secret_selector = secret_selector
        self.projections = projections or {}
        self.counts = Counts()
        self.informers: dict[Scope, Informer] = {}

    @property
    def size(self) -> int:
        """Objects held, over every informer."""
        return sum(len(i.objects) for i in self.informers.values())

    async def close(self) -> None:
        for informer in self.informers.values():
            await informer.stop()
        for stopping in list(self._stopping):
            await stopping

    def _sweep(self, now: float) -> None:
        """Stop the informers no read asked for in ``idle_seconds`` (a namespace whose MRs
        are gone): their watches and objects go; a later read starts one again."""
        if self.idle_seconds is None or now - self._swept < min(self.idle_seconds, 60.0):
            return
        self._swept = now
        for scope, informer in list(self.informers.items()):
            if now - informer.last_used > self.idle_seconds:
                del self.informers[scope]
                stopping = asyncio.ensure_future(informer.stop())
                self._stopping.add(stopping)
                stopping.add_done_callback(self._stopping.discard)

    def informer(self, api_version: str, plural: str, namespace: str | None) -> Informer | None:
        """The informer of a kind in a namespace, started on first use; None once
        ``max_informers`` run (a cluster-scoped MR may name Secrets in any namespace: one
        watch each would be a way to exhaust the controller), and reads go direct."""
        secrets = api_version == "v1" and plural == "secrets"
        if secrets:
            scope = Scope(api_version, plural, namespace, self.secret_selector)
        else:
            # The provider's own kinds (configs, referenced MRs): one watch for the whole
            # cluster when the controller serves the whole cluster.
            scope = Scope(api_version, plural, None if self.cluster_wide else namespace)
        now = self.clock()
        self._sweep(now)
        informer = self.informers.get(scope)
        if informer is None:
            if len(self.informers) >= self.max_informers:
                return None
            informer = Informer(
                self.client,
                scope,
                keep_all=not secrets,
                counts=self.counts,
                page=50 if secrets else 500,
                retry_seconds=self.retry_seconds,
            )
            if secrets:
                informer.project = functools.partial(_secret_view_of, informer.with_data)
            else:
                informer.project = self.projections.get((api_version, plural), whole)
            self.informers[scope] = informer
            informer.start()
        informer.last_used = now
        return informer

    async def get(
        self, api_version: str, plural: str, namespace: str | None, name: str
    ) -> Obj | None:
        """The object (projected), or None when it does not exist."""
        path = kube.object_path(api_version, plural, namespace, name)
        informer = self.informer(api_version, plural, namespace) if self.enabled else None
        if informer is None:
            return await self.client.get(path)
        return await self._read(informer, path, (namespace, name))

    async def secret(self, namespace: str, name: str, *, data: bool = True) -> Obj | None:
        """A Secret as kept here: its identity, owner references, ``digest`` of its data
        and, unless ``data=False`` (a connection Secret is only compared), ``data``."""
        path = kube.secret_path(namespace, name)
        informer = self.informer("v1", "secrets", namespace) if self.enabled else None
        if informer is None:
            found = await self.client.get(path)
            return None if found is None else secret_view(found, keep_data=True)
        key = (namespace, name)
        if data and key not in informer.with_data:
            informer.with_data.add(key)
            informer.objects.pop(key, None)  # held without its data: read it again
        return await self._read(informer, path, key)

    async def _read(self, informer: Informer, path: str, key: Key) -> Obj | None:
        known, obj = informer.lookup(key)
        if known:
            self.counts.hits += 1
            return obj
        informer.want(key)
        self.counts.fetches += 1
        found = await self.client.get(path)
        informer.put(key, found)
        return informer.project(found) if found is not None else None

    async def select(
        self, api_version: str, plural: str, namespace: str | None, labels: dict[str, str]
    ) -> list[Obj]:
        """The objects of a kind whose labels include ``labels`` (a selector's matchLabels)."""
        informer = self.informer(api_version, plural, namespace) if self.enabled else None
        if informer is not None:
            found = informer.matching(namespace, labels)
            if found is not None:
                self.counts.hits += 1
                return found
            self.counts.fetches += 1
        query = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        path = kube.object_path(api_version, plural, namespace)
        return await self.client.list(path, query)

    def wrote_secret(self, secret: Obj) -> None:
        """A Secret a write of ours returned: reads see it from now on."""
        if not self.enabled or not isinstance(secret, dict):
            return
        meta = secret.get("metadata") or {}
        scope = Scope("v1", "secrets", meta.get("namespace"), self.secret_selector)
        informer = self.informers.get(scope)
        if informer is not None and isinstance(meta.get("name"), str):
            informer.put(key_of(secret), secret)


def secret_view(secret: Obj, *, keep_data: bool) -> Obj:
    """What is kept of a Secret: its identity, owner references, the digest of its data
    and, with ``keep_data``, the (base64) data itself."""
    meta = secret.get("metadata") or {}
    kept = {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion") if k in meta}
    kept["ownerReferences"] = meta.get("ownerReferences") or []
    view: Obj = {"metadata": kept, "digest": digest(secret.get("data"))}
    if keep_data:
        view["data"] = secret.get("data") or {}
    return view


def _secret_view_of(with_data: set[Key], secret: Obj) -> Obj:
    return secret_view(secret, keep_data=key_of(secret) in with_data)


def reference_projection(paths: Iterable[str], external_name: str) -> Projection:
    """Keep of a referenced object what resolving a reference reads: name, labels, the
    external-name annotation, owner references and each ``paths`` (dotted)."""
    split = [p.split(".") for p in paths]

    def project(obj: Obj) -> Obj:
        meta = obj.get("metadata") or {}
        annotations = meta.get("annotations") or {}
        kept_meta = {k: meta[k] for k in ("name", "namespace", "resourceVersion") if k in meta}
        kept_meta["labels"] = meta.get("labels") or {}
        kept_meta["ownerReferences"] = meta.get("ownerReferences") or []
        if external_name in annotations:
            kept_meta["annotations"] = {external_name: annotations[external_name]}
        out: Obj = {"metadata": kept_meta}
        for parts in split:
            _copy_path(obj, out, parts)
        return out

    return project


def _copy_path(source: Obj, target: Obj, parts: list[str]) -> None:
    """Copy ``source``'s value at ``parts`` into ``target``; a list on the way is copied
    whole (an index inside it is read later, by transforms.lookup)."""
    value: Any = source
    taken: list[str] = []
    for part in parts:
        if not isinstance(value, dict):
            break
        if part not in value:
            return
        value = value[part]
        taken.append(part)
    if not taken:
        return
    here = target
    for part in taken[:-1]:
        here = here.setdefault(part, {})
    here[taken[-1]] = value
