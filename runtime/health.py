"""The liveness endpoint: ``GET /healthz`` answers 200 while the process runs.

Served by the runtime itself rather than by kopf, because a standby replica (waiting for
the leader Lease, see :mod:`jetgen.runtime.leader`) runs no kopf operator yet must pass its
probes; the body says which role the process has.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web


async def serve(port: int, role: Callable[[], str]) -> web.AppRunner:
    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text=f"ok ({role()})\n")

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "0.0.0.0", port).start()
    return runner
