"""A fault-injecting proxy between one controller and the test bed's kube-apiserver.

The controller is given a kubeconfig pointing at plain HTTP on loopback; the proxy
forwards every request to the real apiserver (watch streams included, chunk by chunk) with
the controller's own token. A test arms rules that act on one chosen request, which is
how it reaches a point inside the controller without any hook in the runtime:

- ``kill_before``: SIGKILL the controller when the request arrives; it never reaches the
  apiserver (the write is lost, as if the process had died just before it).
- ``kill_after``: forward the request, and SIGKILL the controller once the apiserver has
  accepted it but before the answer reaches it (the write happened; the controller never
  learnt so). A refused request (say a replace of a Secret that does not exist yet) is
  answered normally and the rule stays armed.
- ``lose_answer``: forward the request, and once the apiserver has accepted it answer the
  controller with a 500 instead, leaving it running (the write happened; the controller
  learns only that it failed -- an exception inside the pass, right after that write).
- ``note``: pass the request on untouched and record when it came (``Rule.at``).

``stall_watches`` makes the watch streams open at that moment (those a test names) stop
forwarding anything, their connections left open: an apiserver, or a connection, that
stopped feeding a watch.  Streams opened later pass normally.

Everything else passes through untouched.  Every request the apiserver answered is also
kept in ``seen`` (method, path with query, body, status): a test can count what the
controller asked for.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

# Hop-by-hop headers and those aiohttp recomputes (it decodes gzip bodies itself).
DROPPED = {
    "host",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "content-encoding",
}

Match = Callable[[str, str, bytes], bool]  # (method, path with query, body)
# What ``lose_answer`` tells the controller: the apiserver's own shape of an internal error
# (as when etcd commits a write but the apiserver times out waiting for it).
LOST = {
    "kind": "Status",
    "apiVersion": "v1",
    "status": "Failure",
    "message": "the server was unable to return a response in the time allotted (fault proxy)",
    "reason": "InternalError",
    "code": 500,
}


def state_secret_write(method: str, path: str, body: bytes) -> bool:
    """A write of a Terraform state Secret (named and labelled ``...tfstate...``)."""
    if method not in ("POST", "PUT", "PATCH") or "/secrets" not in path:
        return False
    return "tfstate" in path or b"tfstate" in body


def pending_mark_write(method: str, path: str, body: bytes) -> bool:
    """A patch of a managed resource setting ``crossplane.io/external-create-pending``."""
    return method == "PATCH" and "/secrets" not in path and b"external-create-pending" in body


def pending_mark_set(method: str, path: str, body: bytes) -> bool:
    """A patch that sets ``crossplane.io/external-create-pending`` (a create about to
    start), not one that only mentions it (a status message saying what to do)."""
    if not pending_mark_write(method, path, body):
        return False
    try:
        annotations = (json.loads(body).get("metadata") or {}).get("annotations") or {}
    except (ValueError, AttributeError):
        return False
    return bool(annotations.get("crossplane.io/external-create-pending"))


@dataclass
class Rule:
    match: Match
    action: str  # "kill_before" | "kill_after" | "lose_answer" | "note"
    fired: threading.Event = field(default_factory=threading.Event)
    request: str = ""  # what it fired on, for the record
    at: float = 0.0  # time.monotonic() when it fired


@dataclass(frozen=True)
class Seen:
    """One request the controller made, and the status it was answered with."""

    method: str
    path: str  # with the query
    body: bytes
    status: int


class FaultProxy:
    def __init__(self, apiserver: Any, victim: Callable[[], int | None]):
        """``victim`` returns the process group to SIGKILL (None: nothing running)."""
        self.upstream = apiserver.url
        self.token = apiserver.token
        self.ssl = ssl.create_default_context(cafile=str(apiserver.ca_file))
        self.victim = victim
        self.rules: list[Rule] = []
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self.seen: list[Seen] = []
        self._stall: tuple[Callable[[str], bool], float] | None = None

    # --- control, from the test's thread --------------------------------------------------

    def arm(self, match: Match, action: str) -> Rule:
        rule = Rule(match, action)
        with self._lock:
            self.rules.append(rule)
        return rule

    def stall_watches(self, match: Callable[[str], bool]) -> None:
        """Watch streams open now whose path (with query) ``match`` takes forward nothing
        from now on, and stay open until the controller drops them."""
        with self._lock:
            self._stall = (match, time.monotonic())

    def _stalled(self, path: str, opened: float) -> bool:
        with self._lock:
            stall = self._stall
        return stall is not None and opened < stall[1] and stall[0](path)

    def write_kubeconfig(self, path: Path) -> Path:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "proxy", "cluster": {"server": f"http://127.0.0.1:{self.port}"}}],
            "users": [{"name": "proxy", "user": {"token": self.token}}],
            "contexts": [{"name": "proxy", "context": {"cluster": "proxy", "user": "proxy"}}],
            "current-context": "proxy",
        }
        path.write_text(json.dumps(config))
        path.chmod(0o600)
        return path

    def start(self) -> FaultProxy:
        self._thread = threading.Thread(target=self._serve, daemon=True, name="fault-proxy")
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("fault proxy did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    # --- the proxy itself ---------------------------------------------------------------

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        session: aiohttp.ClientSession | None = None

        async def setup() -> web.AppRunner:
            nonlocal session
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=10)
            session = aiohttp.ClientSession(timeout=timeout, auto_decompress=True)
            app = web.Application(client_max_size=16 * 1024 * 1024)

            async def handler(request: web.Request) -> web.StreamResponse:
                return await self._handle(session, request)

            app.router.add_route("*", "/{tail:.*}", handler)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            return runner

        runner = loop.run_until_complete(setup())
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(runner.cleanup())
            if session is not None:
                loop.run_until_complete(session.close())
            loop.close()

    def _take(self, method: str, path: str, body: bytes) -> Rule | None:
        with self._lock:
            for rule in self.rules:
                if rule.match(method, path, body):
                    rule.request = f"{method} {path.split('?')[0]}"
                    rule.at = time.monotonic()
                    self.rules.remove(rule)
                    return rule
        return None

    def _put_back(self, rule: Rule) -> None:
        with self._lock:
            self.rules.append(rule)

    def _kill(self, rule: Rule) -> None:
        group = self.victim()
        if group is not None:
            try:
                os.killpg(group, signal.SIGKILL)
            except ProcessLookupError:
                pass
        rule.fired.set()

    async def _handle(self, session: Any, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        rule = self._take(request.method, request.path_qs, body)
        if rule is not None and rule.action == "kill_before":
            self._kill(rule)
            return web.Response(status=503, text="controller killed before this request")
        if rule is not None and rule.action == "note":
            rule.fired.set()
            rule = None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in DROPPED}
        async with session.request(
            request.method,
            self.upstream + request.path_qs,
            headers=headers,
            data=body or None,
            ssl=self.ssl,
        ) as upstream:
            if rule is not None and upstream.status < 300 and rule.action == "lose_answer":
                await upstream.read()  # the write happened; the controller is told otherwise
                rule.fired.set()
                return web.json_response(LOST, status=500)
            if rule is not None and upstream.status < 300:
                # kill_after: the write happened, the answer is withheld
                await upstream.read()
                self._kill(rule)
                return web.Response(status=503, text="controller killed after this request")
            if rule is not None:
                self._put_back(rule)
            with self._lock:
                self.seen.append(Seen(request.method, request.path_qs, body, upstream.status))
            response = web.StreamResponse(status=upstream.status)
            for key, value in upstream.headers.items():
                if key.lower() not in DROPPED:
                    response.headers[key] = value
            await response.prepare(request)
            opened = time.monotonic()
            try:
                async for chunk in upstream.content.iter_any():
                    if self._stalled(request.path_qs, opened):
                        break
                    await response.write(chunk)
                if self._stalled(request.path_qs, opened):
                    await _hold(request)
                    return response
                await response.write_eof()
            except (ConnectionResetError, aiohttp.ClientError):
                pass  # the controller went away mid-stream (killed): nothing to tell
            return response


async def _hold(request: web.Request) -> None:
    """Keep a stalled stream's connection open, sending nothing, until the client drops it."""
    while request.transport is not None and not request.transport.is_closing():
        await asyncio.sleep(0.5)
