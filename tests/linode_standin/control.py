"""The tests' side door into the stand-in: no token, under /_control/.

What a person could do in the web console (delete a cluster, resize a pool) and what a
test needs to see (creates per label, every call made, problems of the stand-in itself),
plus fault injection (answer the next N matching calls with an error).
"""

from __future__ import annotations

from aiohttp import web

from .api import Failure, LinodeApi, json_response


def add_routes(router: web.UrlDispatcher, api: LinodeApi) -> None:
    async def state(request: web.Request) -> web.Response:
        clusters = []
        for cluster in api.clusters.values():
            view = api.cluster_view(cluster)
            view["pools"] = [
                api.pool_view(p) for p in api.pools.values() if p["cluster_id"] == cluster["id"]
            ]
            clusters.append(view)
        domains = list(api.domains.items.values())
        return json_response({"clusters": clusters, "events": api.events, "domains": domains})

    async def delete_cluster(request: web.Request) -> web.Response:
        cluster_id = int(request.match_info["cid"])
        if cluster_id not in api.clusters:
            raise web.HTTPNotFound(text=f"no cluster {cluster_id}")
        api.remove_cluster(cluster_id)
        return json_response({})

    async def resize_pool(request: web.Request) -> web.Response:
        pool_id = int(request.match_info["pid"])
        if pool_id not in api.pools:
            raise web.HTTPNotFound(text=f"no pool {pool_id}")
        body = await request.json()
        return json_response(api.pool_view(api.resize(pool_id, int(body["count"]))))

    async def creates(request: web.Request) -> web.Response:
        return json_response(
            {
                "clusters": dict(api.creates),
                "cluster_requests": dict(api.create_requests),
                "pools": {str(k): v for k, v in api.pool_creates.items()},
            }
        )

    async def calls(request: web.Request) -> web.Response:
        return json_response(api.calls)

    async def call_count(request: web.Request) -> web.Response:
        # The calls so far, without their details: cheap to ask often (benchmarks).
        return json_response({"total": len(api.calls)})

    async def fail(request: web.Request) -> web.Response:
        body = await request.json()
        failure = Failure(
            int(body["count"]),
            int(body.get("status", 500)),
            str(body.get("reason", "Internal Server Error")),
            body.get("method"),
            body.get("path"),
        )
        api.failures.append(failure)
        return json_response({})

    async def settings(request: web.Request) -> web.Response:
        try:
            api.settings.update(await request.json())
        except KeyError as exc:
            raise web.HTTPBadRequest(text=f"no setting {exc}") from None
        return json_response({})

    async def problems(request: web.Request) -> web.Response:
        return json_response(api.problems)

    router.add_get("/_control/state", state)
    router.add_delete("/_control/clusters/{cid}", delete_cluster)
    router.add_put("/_control/pools/{pid}", resize_pool)
    router.add_get("/_control/creates", creates)
    router.add_get("/_control/calls", calls)
    router.add_get("/_control/call-count", call_count)
    router.add_post("/_control/fail", fail)
    router.add_put("/_control/settings", settings)
    router.add_get("/_control/problems", problems)
