"""kube.py's request layer on a real local HTTP server: the client-side rate limit, 429
Retry-After, and a 401 that refreshes an exec plugin's token for kube.py and kopf alike.
(The same against the real apiserver: test_e2e_kube_access.py.)"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from jetgen.runtime import kube, kubeauth, ratelimit
from jetgen.runtime.kubeauth import Credentials, StaticToken

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def _serve(handler: Handler) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


def _run(handler: Handler, body: Callable[[str], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        runner, url = await _serve(handler)
        try:
            return await body(url)
        finally:
            await runner.cleanup()

    return asyncio.run(main())


# --- the token bucket, on a fake clock ----------------------------------------------------


def test_token_bucket_allows_a_burst_then_qps():
    now = [0.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    bucket = ratelimit.TokenBucket(4.0, 3, clock=lambda: now[0], sleep=sleep)

    async def take(n: int) -> list[float]:
        return [await bucket.acquire() for _ in range(n)]

    waits = asyncio.run(take(7))
    assert waits[:3] == [0.0, 0.0, 0.0]  # the burst
    assert waits[3:] == pytest.approx([0.25] * 4)  # then one every 1/qps
    assert now[0] == pytest.approx(1.0)
    now[0] += 10.0  # idle: the bucket refills, but only up to the burst
    waits = asyncio.run(take(4))
    assert waits == pytest.approx([0.0, 0.0, 0.0, 0.25])


def test_token_bucket_off_and_bad_burst():
    assert asyncio.run(ratelimit.TokenBucket(0, 1).acquire()) == 0.0
    with pytest.raises(ValueError):
        ratelimit.TokenBucket(1, 0)


def test_retry_after_sources():
    assert ratelimit.retry_after({"Retry-After": "3"}, None, 1.0) == 3.0
    body = {"details": {"retryAfterSeconds": 7}}
    assert ratelimit.retry_after({}, body, 1.0) == 7.0
    assert ratelimit.retry_after({"Retry-After": "soon"}, body, 1.0) == 7.0
    assert ratelimit.retry_after({}, {"details": {"retryAfterSeconds": True}}, 1.0) == 1.0
    assert ratelimit.retry_after({"Retry-After": "-4"}, None, 1.0) == 0.0


# --- the client on a real HTTP server ----------------------------------------------------


def test_requests_keep_to_qps_and_burst():
    """12 requests at once with qps 10 and burst 2: the server sees 2 at once, then one
    every 0.1 s, so the last arrives at least 1.0 s after the first."""
    arrivals: list[float] = []

    async def record(request: web.Request) -> web.Response:
        arrivals.append(time.monotonic())
        return web.json_response({})

    async def body(url: str) -> None:
        client = kube.KubeClient(Credentials(url), kube.Limits(qps=10, burst=2))
        try:
            await asyncio.gather(*(client.get("/api/v1/x") for _ in range(12)))
        finally:
            await client.close()

    _run(record, body)
    assert len(arrivals) == 12
    arrivals.sort()
    # The server's clock sees the client's pacing plus its own scheduling delays (this
    # machine is shared): the span and the typical gap, not every single gap.
    assert arrivals[-1] - arrivals[0] >= 0.9
    gaps = [b - a for a, b in zip(arrivals[2:], arrivals[3:], strict=False)]
    assert statistics.median(gaps) >= 0.08, gaps


def test_429_is_retried_after_retry_after():
    seen: list[float] = []

    async def busy_twice(request: web.Request) -> web.Response:
        seen.append(time.monotonic())
        if len(seen) <= 2:
            status = {"kind": "Status", "code": 429, "message": "too many requests"}
            return web.json_response(status, status=429, headers={"Retry-After": "1"})
        return web.json_response({"kind": "Secret", "ok": True})

    statuses: list[int] = []

    async def body(url: str) -> tuple[Any, float, int]:
        client = kube.KubeClient(Credentials(url))
        client.observer = lambda status, waited: statuses.append(status)
        try:
            started = time.monotonic()
            got = await client.get("/api/v1/namespaces/t/secrets/s")
            return got, time.monotonic() - started, client.throttled
        finally:
            await client.close()

    got, took, throttled = _run(busy_twice, body)
    assert got == {"kind": "Secret", "ok": True}
    assert throttled == 2
    assert statuses == [429, 429, 200]
    assert took >= 2.0
    assert seen[1] - seen[0] >= 1.0 and seen[2] - seen[1] >= 1.0


def test_429_waits_are_bounded_and_give_up():
    calls = 0

    async def always_busy(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        return web.json_response({"message": "busy"}, status=429, headers={"Retry-After": "600"})

    async def body(url: str) -> float:
        limits = kube.Limits(max_retry_after=0.1, max_throttled=3)
        client = kube.KubeClient(Credentials(url), limits)
        started = time.monotonic()
        try:
            with pytest.raises(kube.KubeError) as caught:
                await client.get("/api/v1/x")
            assert caught.value.status == 429
        finally:
            await client.close()
        return time.monotonic() - started

    took = _run(always_busy, body)
    assert calls == 4  # the first try and 3 retries
    assert 0.3 <= took < 5


def _exec_plugin(tmp_path: Path, tokens: list[str], expires: str | None = None) -> Path:
    """A real exec credential plugin: prints the next token of ``tokens`` per run and
    counts its runs in ``runs``."""
    script = tmp_path / "plugin.py"
    status: dict[str, Any] = {}
    if expires:
        status["expirationTimestamp"] = expires
    script.write_text(
        f"""import json, pathlib, os
runs = pathlib.Path({str(tmp_path / "runs")!r})
n = int(runs.read_text()) if runs.exists() else 0
runs.write_text(str(n + 1))
tokens = {tokens!r}
info = json.loads(os.environ["KUBERNETES_EXEC_INFO"])
assert info["kind"] == "ExecCredential", info
status = {status!r}
status["token"] = tokens[min(n, len(tokens) - 1)]
print(json.dumps({{"apiVersion": info["apiVersion"], "kind": "ExecCredential",
                   "status": status}}))
"""
    )
    return script


def _exec_kubeconfig(tmp_path: Path, server: str, script: Path, api: str) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "users": [
            {
                "name": "u",
                "user": {
                    "exec": {
                        "apiVersion": api,
                        "command": sys.executable,
                        "args": [str(script)],
                        "env": [{"name": "PLUGIN_FLAVOUR", "value": "test"}],
                        "interactiveMode": "Never",
                    }
                },
            }
        ],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "c",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(config))
    return path


@pytest.mark.parametrize(
    "api",
    [
        "client.authentication.k8s.io/v1",
        "client.authentication.k8s.io/v1beta1",
        "client.authentication.k8s.io/v1alpha1",
    ],
)
def test_a_401_refreshes_the_exec_token_once_for_kube_and_kopf(tmp_path, api):
    """The server takes only token 'second'; the plugin hands out 'first' then 'second'.
    kube.py's request gets a 401, runs the plugin again and succeeds; kopf, logging in
    after its own 401 on 'first', gets 'second' without another plugin run."""
    authorizations: list[str | None] = []

    async def second_only(request: web.Request) -> web.Response:
        authorizations.append(request.headers.get("Authorization"))
        if request.headers.get("Authorization") != "Bearer second":
            return web.json_response({"message": "Unauthorized"}, status=401)
        return web.json_response({"ok": True})

    script = _exec_plugin(tmp_path, ["first", "second", "third"])

    async def body(url: str) -> tuple[Any, Any, Any]:
        creds = kubeauth.load(str(_exec_kubeconfig(tmp_path, url, script, api)))
        kopf_first = await creds.connection_info()  # kopf's first login: 'first'
        client = kube.KubeClient(creds)
        try:
            got = await client.get("/api/v1/x")
        finally:
            await client.close()
        kopf_again = await creds.connection_info()  # kopf's re-login after its 401
        return got, kopf_first, kopf_again

    got, kopf_first, kopf_again = _run(second_only, body)
    assert got == {"ok": True}
    assert authorizations == ["Bearer first", "Bearer second"]
    assert kopf_first.token == "first"
    assert kopf_again.token == "second"
    assert (tmp_path / "runs").read_text() == "2"


def test_an_expiring_exec_token_is_renewed_before_use(tmp_path):
    """A token whose expirationTimestamp is within the margin is not used again."""
    soon = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 5))
    script = _exec_plugin(tmp_path, ["a", "b"], expires=soon)
    creds = kubeauth.load(str(_exec_kubeconfig(tmp_path, "http://127.0.0.1:9", script, "x")))
    with pytest.raises(kubeauth.CredentialsError, match="apiVersion 'x' is unknown"):
        asyncio.run(creds.check())
    creds = kubeauth.load(
        str(
            _exec_kubeconfig(
                tmp_path, "http://127.0.0.1:9", script, "client.authentication.k8s.io/v1"
            )
        )
    )

    async def twice() -> list[str | None]:
        return [await creds.authorization(), await creds.authorization()]

    assert asyncio.run(twice()) == ["Bearer a", "Bearer b"]
    info = asyncio.run(creds.connection_info())
    assert info.expiration is not None


def test_the_exec_plugin_runs_only_once_for_many_requests(tmp_path):
    hits = 0

    async def ok(request: web.Request) -> web.Response:
        nonlocal hits
        hits += 1
        return web.json_response({})

    script = _exec_plugin(tmp_path, ["only"])

    async def body(url: str) -> None:
        path = _exec_kubeconfig(tmp_path, url, script, "client.authentication.k8s.io/v1")
        client = kube.KubeClient(kubeauth.load(str(path)))
        try:
            await asyncio.gather(*(client.get("/api/v1/x") for _ in range(20)))
        finally:
            await client.close()

    _run(ok, body)
    assert hits == 20
    assert (tmp_path / "runs").read_text() == "1"


def test_static_token_401_is_not_retried():
    calls = 0

    async def refuse(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        return web.json_response({"message": "Unauthorized"}, status=401)

    async def body(url: str) -> int:
        client = kube.KubeClient(Credentials(url, tokens=StaticToken("t")))
        try:
            with pytest.raises(kube.KubeError) as caught:
                await client.get("/api/v1/x")
        finally:
            await client.close()
        return caught.value.status

    assert _run(refuse, body) == 401
    assert calls == 1
