"""Run the stand-in on a loopback port in a background thread; drive it from tests.

`StandIn` owns an asyncio loop in a daemon thread serving the aiohttp app. Its methods
are synchronous and go through the HTTP control API (`Control`), so a test never touches
the state behind the loop's back; the same methods drive a stand-in run as a separate
process (`python -m tests.linode_standin`, see __main__.py) through `RemoteStandIn`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import threading
import urllib.error
import urllib.request
from typing import Any

from aiohttp import web

from . import control
from .api import LinodeApi, Settings
from .kube import ClusterAccess


class StandInError(RuntimeError):
    pass


class Control:
    """The control API of a running stand-in, at `self.url`."""

    @property
    def url(self) -> str:
        raise NotImplementedError

    def _control(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}/_control/{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=20) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise StandInError(f"{method} /_control/{path}: {exc.code} {exc.read()!r}") from exc

    def clusters(self) -> list[dict]:
        """Every cluster with its pools and nodes, as the API shows them."""
        return self._control("GET", "state")["clusters"]

    def events(self) -> list[dict]:
        return self._control("GET", "state")["events"]

    def domains(self) -> list[dict]:
        return self._control("GET", "state")["domains"]

    def cluster_by_label(self, label: str) -> dict | None:
        return next((c for c in self.clusters() if c["label"] == label), None)

    def delete_cluster(self, cluster_id: int) -> None:
        """What deleting the cluster in the web console does."""
        self._control("DELETE", f"clusters/{cluster_id}")

    def resize_pool(self, pool_id: int, count: int) -> dict:
        """Change a pool's node count out of band (web console)."""
        return self._control("PUT", f"pools/{pool_id}", {"count": count})

    def creates(self) -> dict:
        """{"clusters": {label: created}, "cluster_requests": {label: POSTs}, "pools": ...}"""
        return self._control("GET", "creates")

    def calls(self) -> list[dict]:
        return self._control("GET", "calls")

    def call_count(self) -> int:
        """How many API calls were made so far (cheaper than `calls()`)."""
        return self._control("GET", "call-count")["total"]

    def fail_next(
        self, count: int, status: int = 500, reason: str = "Internal Server Error",
        method: str | None = None, path: str | None = None,
    ) -> None:  # fmt: skip
        body = {"count": count, "status": status, "reason": reason}
        body.update({k: v for k, v in (("method", method), ("path", path)) if v})
        self._control("POST", "fail", body)

    def configure(self, **settings: Any) -> None:
        self._control("PUT", "settings", settings)

    def problems(self) -> list[str]:
        return self._control("GET", "problems")


class RemoteStandIn(Control):
    """A stand-in served by another process, at `url`."""

    def __init__(self, url: str):
        self._url = url

    @property
    def url(self) -> str:
        return self._url


class StandIn(Control):
    """``host``: the address to listen on, one of this machine's own: loopback (the
    default), or the test bed node's bridge address for a provider running in a Pod."""

    def __init__(
        self,
        token: str,
        access: ClusterAccess | None = None,
        host: str = "127.0.0.1",
        **settings: Any,
    ):
        if ipaddress.ip_address(host).is_unspecified:
            # Binding fails for an address that is not this machine's; a wildcard would not.
            raise ValueError(f"the stand-in listens on one address, not {host}")
        self.api = LinodeApi(Settings(token=token, **settings), access)
        self.host = host
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.port = 0

    @property
    def token(self) -> str:
        """The one API token the stand-in accepts."""
        return self.api.settings.token

    # The provider's `url` argument: scheme, host and port; linodego adds /v4.
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> StandIn:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(10)
        return self

    async def _serve(self) -> None:
        app = self.api.app()
        control.add_routes(app.router, self.api)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # port 0: the one bound

    def stop(self) -> None:
        async def shutdown() -> None:
            await self.api.close()
            if self._runner is not None:
                await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(20)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def __enter__(self) -> StandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
