"""cache.py: informers kept current by list+watch, on a real local HTTP server that
speaks the apiserver's list / watch / get / create / JSON-patch for Secrets and one
custom kind (the same on the real apiserver: test_e2e_cache.py)."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from jetgen.runtime import cache, connection, kube
from jetgen.runtime.kubeauth import Credentials

STATE_LABEL = "jetgen.dev/tfstate-for"


class FakeApiserver:
    """Objects by (plural, namespace, name), a resourceVersion counter, an event log that
    watches replay from a resourceVersion (older than ``oldest`` -> 410), and a log of
    every request (method, path, watch?)."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.version = 100
        self.log: list[tuple[str, str, bool]] = []
        self.events: list[tuple[int, str, str, dict[str, Any]]] = []  # rv, plural, type, obj
        self.oldest = 0  # watches from before this get 410
        self.changed = asyncio.Condition()
        self.refuse_list = False
        self.watch_error: dict[str, Any] | None = None  # sent once as an ERROR event
        self.end_watch = False  # end the stream once, as timeoutSeconds does

    # --- what tests do to the "cluster" ------------------------------------------------

    async def put(self, plural: str, obj: dict[str, Any], type_: str | None = None) -> None:
        meta = obj["metadata"]
        key = (plural, meta["namespace"], meta["name"])
        self.version += 1
        meta["resourceVersion"] = str(self.version)
        meta.setdefault("uid", f"uid-{meta['name']}")
        event = type_ or ("MODIFIED" if key in self.objects else "ADDED")
        self.objects[key] = obj
        await self._emit(plural, event, obj)

    async def remove(self, plural: str, namespace: str, name: str) -> None:
        obj = self.objects.pop((plural, namespace, name))
        self.version += 1
        obj["metadata"]["resourceVersion"] = str(self.version)
        await self._emit(plural, "DELETED", obj)

    async def _emit(self, plural: str, type_: str, obj: dict[str, Any]) -> None:
        self.events.append((self.version, plural, type_, json.loads(json.dumps(obj))))
        async with self.changed:
            self.changed.notify_all()

    def requests(self, method: str = "GET", watch: bool = False) -> list[str]:
        return [p for m, p, w in self.log if m == method and w == watch]

    # --- the HTTP side -----------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        parts = request.path.strip("/").split("/")
        # /api/v1/namespaces/<ns>/<plural>[/<name>] or /apis/<g>/<v>/namespaces/..., or
        # a list or watch of all namespaces: /apis/<g>/<v>/<plural>
        namespace: str | None = None
        name = None
        if "namespaces" in parts:
            at = parts.index("namespaces")
            namespace, plural = parts[at + 1], parts[at + 2]
            name = parts[at + 3] if len(parts) > at + 3 else None
        else:
            plural = parts[-1]
        watching = request.query.get("watch") == "1"
        self.log.append((request.method, request.path, watching))
        if request.method == "GET" and watching:
            return await self._watch(request, plural, namespace)
        if request.method == "GET" and name is None:
            if self.refuse_list:
                return web.json_response({"message": "forbidden"}, status=403)
            items = [
                o
                for (p, ns, _), o in sorted(self.objects.items())
                if p == plural and namespace in (None, ns) and _selected(o, request)
            ]
            meta = {"resourceVersion": str(self.version)}
            return web.json_response({"items": items, "metadata": meta})
        key = (plural, namespace or "", name or "")
        if request.method == "GET":
            if key not in self.objects:
                return web.json_response({"message": "not found"}, status=404)
            return web.json_response(self.objects[key])
        if request.method == "POST":
            obj = await request.json()
            key = (plural, namespace or "", obj["metadata"]["name"])
            if key in self.objects:
                return web.json_response({"message": "already exists"}, status=409)
            await self.put(plural, obj)
            return web.json_response(obj, status=201)
        if request.method == "PATCH":
            obj = json.loads(json.dumps(self.objects[key]))
            for op in await request.json():
                field = op["path"].strip("/").split("/")
                if op["op"] == "test":
                    if _at(obj, field) != op["value"]:
                        return web.json_response({"message": "test failed"}, status=422)
                else:
                    _at(obj, field[:-1])[field[-1]] = op["value"]
            await self.put(plural, obj)
            return web.json_response(obj)
        return web.json_response({"message": "no"}, status=405)

    async def _watch(
        self, request: web.Request, plural: str, namespace: str | None
    ) -> web.StreamResponse:
        since = int(request.query.get("resourceVersion") or 0)
        if since < self.oldest:
            return web.json_response({"message": "too old resource version"}, status=410)
        response = web.StreamResponse()
        await response.prepare(request)
        sent = since
        while request.transport is not None and not request.transport.is_closing():
            if self.watch_error is not None:
                error, self.watch_error = self.watch_error, None
                await response.write(
                    json.dumps({"type": "ERROR", "object": error}).encode() + b"\n"
                )
                return response
            if self.end_watch:
                self.end_watch = False
                return response
            for rv, p, type_, obj in self.events:
                if rv > sent and p == plural and namespace in (None, obj["metadata"]["namespace"]):
                    if _selected(obj, request):
                        line = json.dumps({"type": type_, "object": obj}) + "\n"
                        await response.write(line.encode())
                    sent = rv
            async with self.changed:
                try:
                    await asyncio.wait_for(self.changed.wait(), 0.2)
                except TimeoutError:
                    pass
        return response


def _selected(obj: dict[str, Any], request: web.Request) -> bool:
    selector = request.query.get("labelSelector", "")
    labels = obj["metadata"].get("labels") or {}
    if selector.startswith("!"):
        return selector[1:] not in labels
    wanted = dict(term.split("=", 1) for term in selector.split(",") if term)
    return all(labels.get(k) == v for k, v in wanted.items())


def _at(obj: Any, path: list[str]) -> Any:
    for part in path:
        obj = obj[part]
    return obj


def secret(name: str, namespace: str = "a", **data: str) -> dict[str, Any]:
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    return {"kind": "Secret", "metadata": {"name": name, "namespace": namespace}, "data": encoded}


def run(test: Callable[[FakeApiserver, cache.Cache], Awaitable[None]], **options: Any) -> None:
    async def main() -> None:
        server = FakeApiserver()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", server.handle)
        runner = web.AppRunner(app, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        creds = Credentials(f"http://127.0.0.1:{port}")
        client = kube.KubeClient(creds, kube.Limits(qps=0))
        reads = cache.Cache(client, secret_selector=f"!{STATE_LABEL}", **options)
        try:
            await asyncio.wait_for(test(server, reads), 30)
        finally:
            await reads.close()
            await client.close()
            await runner.cleanup()

    asyncio.run(main())


async def until(check: Callable[[], Any], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


def synced(reads: cache.Cache) -> Callable[[], bool]:
    return lambda: bool(reads.informers) and all(i.live for i in reads.informers.values())


def decoded(view: dict[str, Any] | None) -> dict[str, str]:
    assert view is not None
    return {k: base64.b64decode(v).decode() for k, v in view["data"].items()}


# --- reads ------------------------------------------------------------------------------


def test_a_read_asks_once_then_the_watch_keeps_it_current():
    async def test(server: FakeApiserver, reads: cache.Cache) -> None:
        await server.put("secrets", secret("creds", token="one"))
        assert decoded(await reads.secret("a", "creds")) == {"token": "one"}
        await until(synced(reads))
        gets = len(server.requests())
        for _ in range(20):
            assert decoded(await reads.secret("a", "creds")) == {"token": "one"}
        assert len(server.requests()) == gets  # no request while nothing changed

        await server.put("secrets", secret("creds", token="rotated"))
        await until(lambda: reads.counts.events >= 1)
        assert decoded(await reads.secret("a", "creds")) == {"token": "rotated"}
        await server.remove("secrets", "a", "creds")
        await until(lambda: reads.counts.events >= 2)
        assert await reads.secret("a", "creds") is None
        assert len(server.requests()) == gets  # all of it from the watch

    run(test)


def test_only_secrets_asked_for_are_kept_and_state_secrets_are_not_watched():
    async def test(server: FakeApiserver, reads: cache.Cache) -> None:
        for i in range(5):
            await server.put("secrets", secret(f"unrelated-{i}", x="y" * 1000))
        state = secret("jetgen-tfstate-1", tfstate="big")
        state["metadata"]["labels"] = {STATE_LABEL: "1"}
        await server.put("secrets", state)
        await server.put("secrets", secret("creds", token="t"))
        await reads.secret("a", "creds")
        await until(synced(reads))
        informer = next(iter(reads.informers.values()))
        assert set(informer.objects) == {("a", "creds")}
        await server.put("secrets", secret("unrelated-0", x="changed"))
        await server.put("secrets", state)
        await until(lambda: informer.resource_version == str(server.version - 1))
        assert set(informer.objects) == {("a", "creds")}
        assert reads.size == 1
        lists = [p for m, p, w in server.log if m == "GET" and not w and p.endswith("/secrets")]
        assert lists  # the list carried the selector that leaves state Secrets out

    run(test)


def test_a_name_found_absent_is_not_asked_again_until_it_appears():
    async def test(server: FakeApiserver, reads: cache.Cache) -> None:
        path = "/apis/x.io/v1/namespaces/a/providerconfigs"
        assert await reads.get("x.io/v1", "providerconfigs", "a", "default") is None
        await until(synced(reads))
        before = len(server.requests())
        assert await reads.get("x.io/v1", "providerconfigs", "a", "default") is None
        assert len(server.requests()) == before
        config = {"metadata": {"name": "default", "namespace": "a"}, "spec": {"v": 1}}
        await server.put("providerconfigs", config)
        await until(lambda: reads.counts.events >= 1)
        found = await reads.get("x.io/v1", "providerconfigs", "a", "default")
        assert found is not None and found["spec"] == {"v": 1}
        assert len(server.requests()) == before
        assert server.requests()[0] == path + "/default"

    run(test)


def test_namespaces_never_mix():
    async def test(server: FakeApiserver, reads: cache.Cache) -> None:
        await server.put("secrets", secret("creds", "a", token="tenant-a"))
        await server.put("secrets", secret("creds", "b", token="tenant-b"))
        assert decoded(await reads.secret("a", "creds")) == {"token": "tenant-a"}
        await until(synced(reads))
        assert await reads.secret("c", "creds") is None
        assert decoded(await reads.secret("b", "creds")) == {"token": "tenant-b"}
        await until(synced(reads))
        assert decoded(await reads.secret("a", "creds")) == {"token": "tenant-a"}
        assert {s.namespace for s in reads.informers} == {"a", "b", "c"}

    run(test)


def test_selectors_are_answered_from_a_kept_kind_with_only_what_references_read():
    async def test(server: FakeApiserver, reads: cache.Cache) -> None:
        for name, team in (("x2", "red"), ("x1", "red"), ("y", "blue")):
            obj = {
                "metadata": {
                    "name": name,
                    "namespace": "a",
                    "labels": {"team": team},
                    "annotations": {"crossplane.io/external-name": f"ext-{name}", "big": "z"},
                },
                "spec": {"forProvider": {"huge": "q" * 1000}},
                "status": {"atProvider": {"id": name, "other": 1}},
            }
            await server.put("ids", obj)
        found = await reads.select("x.io/v1", "ids", "a", {"team": "red"})
        assert sorted(o["metadata"]["name"] for o in found) == ["x1", "x2"]
        await until(synced(reads))
        before = len(server.log)
        found = await reads.select("x.io/v1", "ids", "a", {"team": "red"})
        assert sorted(o["metadata"]["name"] for o in found) == ["x1", "x2"]
        held = await reads.get("x.io/v1", "ids", "a", "y")
        assert len(server.log) == before
        assert held == {
            "metadata": {
                "name": "y",
                "namespace": "a",
                "resourceVersion": held["metadata"]["resourceVersion"],
                "labels": {"team": "blue"},
                "ownerReferences": [],
                "annotations": {"crossplane.io/external-name": "ext-y"},
            },
            "status": {"atProvider": {"id": "y"}},
        }

    projection = cache.reference_projection(["status.atProvider.id"], "crossplane.io/external-name")
    run(test, projections={("x.io/v1", "ids"): projection})


# --- keeping current --------------------------------------------------------------------


def test_410_gone_lists_again_and_an_ended_watch_resumes_without_a_list():
    async def test(server: FakeApiserver, reads: cache.Cache) -> None:
        await server.put("secrets", secret("creds", token="one"))
        await reads.secret("a", "creds")
        await until(synced(reads))
        assert reads.counts.lists == 1
        # The apiserver compacts its history, then ends the watch with 410 in the stream.
        await server.put("secrets", secret("creds", token="two"))
        server.oldest = server.version + 1
        server.watch_error = {"kind": "Status", "code": 410, "message": "too old"}
        await server.put("secrets", secret("creds", token="three"))
        await until(lambda: reads.counts.lists >= 2)
        await until(synced(reads))
        assert decoded(await reads.secret("a", "creds")) == {"token": "three"}
        lists = reads.counts.lists
        # An error other than 410 in the stream: after a pause (reads meanwhile go to the
        # apiserver) the watch resumes from where it was, without a list.
        server.oldest = 0
        server.watch_error = {"kind": "Status", "code": 500, "message": "internal"}
        await until(lambda: not next(iter(reads.informers.values())).live)
        await server.put("secrets", secret("creds", token="four"))
        await until(synced(reads))
        await until(
            lambda: (
                decoded(next(iter(reads.informers.values())).objects[("a", "creds")])
                == {"token": "four"}
            )
        )
        assert decoded(await reads.secret("a", "creds")) == {"token": "four"}
        assert reads.counts.lists == lists
        # The apiserver ends a watch (timeoutSeconds): resumed at once, no list either.
        informer = next(iter(reads.informers.values()))
        version = informer.resource_version
        watches = len(server.requests(watch=True))
        server.end_watch = True
        await until(lambda: len(server.requests(watch=True)) > watches)
        await server.put("secrets", secret("creds", token="five"))
        await until(lambda: informer.resource_version != version)
        assert reads.counts.lists == lists

    run(test, retry_seconds=0.05)


def test_a_cache_that_cannot_list_sends_reads_to_the_apiserver():
    async def test(server: FakeApiserver, reads: cache.Cache) -> None:
        server.refuse_list = True  # a ClusterRole without list/watch on Secrets
        await server.put("secrets", secret("creds", token="one"))
        for _ in range(3):
            assert decoded(await reads.secret("a", "creds")) == {"token": "one"}
            await asyncio.sleep(0.05)
        assert len(server.requests()) >= 3 + 1  # every read, plus the refused list
        await server.put("secrets", secret("creds", token="two"))
        assert decoded(await reads.secret("a", "creds")) == {"token": "two"}

    run(test)


def test_disabled_cache_asks_every_time():
    async def test(server: FakeApiserver, reads: cache.Cache) -> None:
        await server.put("secrets", secret("creds", token="one"))
        for _ in range(3):
            await reads.secret("a", "creds")
        assert len(server.requests()) == 3
        assert not reads.informers

    run(test, enabled=False)


def test_a_watch_event_older_than_what_was_read_does_not_win():
    informer = cache.Informer(None, cache.Scope("v1", "secrets", "a"), keep_all=False)  # type: ignore[arg-type]
    key = ("a", "s")
    informer.want(key)
    informer.live = True
    newer = secret("s", token="new")
    newer["metadata"]["resourceVersion"] = "20"
    informer.put(key, newer)
    older = secret("s", token="old")
    older["metadata"]["resourceVersion"] = "10"
    informer.put(key, older)
    assert informer.lookup(key)[1]["data"] == newer["data"]
    # Deleted (event at 30) after a read returned version 20: the read does not revive it.
    deleted = {"name": "s", "namespace": "a", "resourceVersion": "30"}
    informer.apply({"type": "DELETED", "object": {"metadata": deleted}})
    informer.put(key, newer)
    assert informer.lookup(key) == (True, None)
    with pytest.raises(kube.Gone):
        informer.apply({"type": "ERROR", "object": {"code": 410, "message": "gone"}})
    informer.apply({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "40"}}})
    assert informer.resource_version == "40"


# --- the connection Secret: writes direct, reads after them current ---------------------


def mr_body() -> dict[str, Any]:
    return {
        "apiVersion": "x.io/v1",
        "kind": "Thing",
        "metadata": {"name": "m", "namespace": "a", "uid": "mr-uid"},
        "spec": {"writeConnectionSecretToRef": {"name": "conn"}},
    }


def test_connection_secret_read_back_after_its_own_write_and_a_stale_cache_heals():
    async def test(server: FakeApiserver, reads: cache.Cache) -> None:
        client = reads.client
        body = mr_body()
        assert await connection.publish(client, reads, body, {"password": b"one"})
        await until(synced(reads))
        writes = lambda: [m for m, _, _ in server.log if m in ("POST", "PATCH")]  # noqa: E731
        gets = len(server.requests())
        # Right after its own write the same data is no write, and no read either.
        assert not await connection.publish(client, reads, body, {"password": b"one"})
        assert await connection.publish(client, reads, body, {"password": b"two"})
        assert not await connection.publish(client, reads, body, {"password": b"two"})
        assert writes() == ["POST", "PATCH"]
        assert len(server.requests()) == gets
        informer = next(i for s, i in reads.informers.items() if s.plural == "secrets")
        assert "data" not in informer.objects[("a", "conn")]  # a connection Secret: digest

        # Someone else's write the cache has not seen yet: the patch's test fails (422),
        # publish reads the Secret afresh and writes once more.
        await informer.stop()
        informer.live = True  # frozen, as a cache behind by one event would be
        key = ("secrets", "a", "conn")
        changed = json.loads(json.dumps(server.objects[key]))
        await server.put("secrets", changed)
        assert await connection.publish(client, reads, body, {"password": b"three"})
        assert writes() == ["POST", "PATCH", "PATCH", "PATCH"]
        data = server.objects[key]["data"]
        assert base64.b64decode(data["password"]) == b"three"

    run(test)


def test_informers_are_capped_then_reads_go_direct():
    async def test(server: FakeApiserver, reads: cache.Cache) -> None:
        # A cluster-scoped MR may name Secrets in any namespace: watches stop at the cap.
        for ns in ("a", "b", "c"):
            await server.put("secrets", secret("s", ns, token=ns))
            assert decoded(await reads.secret(ns, "s")) == {"token": ns}
        assert {s.namespace for s in reads.informers} == {"a", "b"}
        before = len(server.requests())
        assert decoded(await reads.secret("c", "s")) == {"token": "c"}
        assert len(server.requests()) == before + 1

    run(test, max_informers=2)


def test_a_cluster_wide_informer_of_configs_keeps_namespaces_apart():
    async def test(server: FakeApiserver, reads: cache.Cache) -> None:
        for ns in ("a", "b"):
            config = {"metadata": {"name": "cfg", "namespace": ns}, "spec": {"tenant": ns}}
            await server.put("providerconfigs", config)
        found = await reads.get("x.io/v1", "providerconfigs", "a", "cfg")
        assert found is not None and found["spec"] == {"tenant": "a"}
        await until(synced(reads))
        before = len(server.requests())
        for ns in ("a", "b"):
            found = await reads.get("x.io/v1", "providerconfigs", ns, "cfg")
            assert found is not None and found["spec"] == {"tenant": ns}
        assert await reads.get("x.io/v1", "providerconfigs", "c", "cfg") is None
        assert len(server.requests()) == before
        assert [s.namespace for s in reads.informers] == [None]  # one watch, all namespaces
        # Secrets are still watched per namespace.
        await reads.secret("a", "creds")
        assert {s.namespace for s in reads.informers if s.plural == "secrets"} == {"a"}

    run(test, cluster_wide=True)


def test_a_name_asked_for_while_its_page_was_already_listed_is_kept():
    """Pages are filtered by what is wanted only once the whole list is in: a read of a
    name from page one while page two is fetched must not leave it 'absent'."""

    class PagedClient:
        def __init__(self) -> None:
            self.informer: cache.Informer | None = None

        async def request(self, method: str, path: str, query: dict[str, str]) -> dict:
            if "continue" not in query:
                item = secret("early", token="t")
                item["metadata"]["resourceVersion"] = "5"
                return {"items": [item], "metadata": {"continue": "page-2"}}
            assert self.informer is not None
            key = ("a", "early")
            self.informer.want(key)  # a pass asks for it now, with its data
            self.informer.with_data.add(key)
            late = secret("late", token="x")
            late["metadata"]["resourceVersion"] = "6"
            return {"items": [late], "metadata": {"resourceVersion": "9"}}

    client = PagedClient()
    informer = cache.Informer(client, cache.Scope("v1", "secrets", "a"), keep_all=False)  # type: ignore[arg-type]
    informer.project = lambda obj: cache.secret_view(
        obj, keep_data=cache.key_of(obj) in informer.with_data
    )
    client.informer = informer
    asyncio.run(informer._list())
    # Listed before it was asked for with its data: unknown (read again), never absent.
    assert informer.lookup(("a", "early")) == (False, None)
    informer.want(("a", "other"))
    asyncio.run(informer._list())
    assert informer.lookup(("a", "early"))[1]["data"] == secret("early", token="t")["data"]
    assert informer.lookup(("a", "other")) == (True, None)
    assert informer.lookup(("a", "late")) == (False, None)  # not asked for: not kept


def test_informers_no_read_asked_for_are_stopped():
    now = [0.0]

    async def test(server: FakeApiserver, reads: cache.Cache) -> None:
        await server.put("secrets", secret("s", "a", token="a"))
        await server.put("secrets", secret("s", "b", token="b"))
        await reads.secret("a", "s")
        await reads.secret("b", "s")
        await until(synced(reads))
        gone = next(i for s, i in reads.informers.items() if s.namespace == "b")
        now[0] = 500.0
        await reads.secret("a", "s")  # namespace a stays in use
        now[0] = 1100.0
        assert decoded(await reads.secret("a", "s")) == {"token": "a"}
        assert {s.namespace for s in reads.informers} == {"a"}
        await until(lambda: gone.task is None)  # its watch is stopped
        before = reads.counts.lists
        assert decoded(await reads.secret("b", "s")) == {"token": "b"}  # started again
        await until(lambda: reads.counts.lists == before + 1)

    run(test, idle_seconds=900.0, clock=lambda: now[0])
