"""The Linode API v4 stand-in: LKE clusters, node pools and nodes, kubeconfigs, events
(and DNS domains, domains.py).

State lives in one `LinodeApi` object, used from one asyncio loop (the aiohttp server's),
so handlers need no locks. IDs are chosen by the server; node statuses, cluster status and
the kubeconfig become ready after configurable delays, as on the real service (where they
take minutes). Deleting a cluster or pool removes its nodes after a delay and then posts
a `linode_delete` event per node Linode, which the provider waits for.

What the real API does and this one copies (public API reference, v4):

* `Authorization: Bearer <token>`; a wrong or missing token is `401 {"errors":
  [{"reason": "Invalid Token"}]}`;
* errors are `{"errors": [{"reason": ..., "field": ...}]}` (`field` only where one is
  at fault), unknown paths and IDs are 404 `Not found`;
* lists are paged (`page`, `page_size`) and take `X-Filter` (see listing.py);
* the kubeconfig of a new cluster answers 503 "Cluster kubeconfig is not yet available.
  Please try again later." until it is (linodego retries 503s).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import random
import re
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from . import listing
from .domains import Domains
from .kube import ClusterAccess, NodeRegistry

REGIONS = ("us-east", "us-central", "us-west", "us-southeast", "eu-west", "eu-central",
           "ap-south", "ap-northeast", "ca-central", "us-ord", "us-iad")  # fmt: skip
K8S_VERSIONS = ("1.33", "1.32")
LINODE_TYPES = ("g6-nanode-1", "g6-standard-1", "g6-standard-2", "g6-standard-4", "g6-dedicated-2")
LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_-]{0,30}[A-Za-z0-9])?$")
# Both API versions the provider's `api_version` may choose; v4beta adds beta-only fields.
API = "/{api:v4|v4beta}"
BETA_FIELDS = ("tier",)
KUBECONFIG_PENDING = "Cluster kubeconfig is not yet available. Please try again later."


@dataclass
class Settings:
    token: str = field(repr=False)
    node_ready_seconds: float = 2.0  # a new node is `not_ready` this long
    kubeconfig_seconds: float = 3.0  # the kubeconfig answers 503 this long after create
    node_delete_seconds: float = 1.0  # a deleted node's `linode_delete` event comes this late
    page_size: int = listing.DEFAULT_PAGE_SIZE  # default `page_size` of list endpoints

    def update(self, changes: dict[str, Any]) -> None:
        for name, value in changes.items():
            if name not in self.__dataclass_fields__:
                raise KeyError(name)
            setattr(self, name, type(getattr(self, name))(value))


@dataclass
class Failure:
    """Answer the next `remaining` matching calls with `status` and `reason`."""

    remaining: int
    status: int
    reason: str
    method: str | None = None
    path: str | None = None  # a prefix of the request path, e.g. /v4/lke/clusters

    def matches(self, request: web.Request) -> bool:
        if self.method and request.method != self.method:
            return False
        return not self.path or request.path.startswith(self.path)


class ApiError(Exception):
    def __init__(self, status: int, *errors: tuple[str, str | None]):
        super().__init__(errors[0][0])
        self.status, self.errors = status, errors

    def response(self) -> web.Response:
        body = [{"reason": r, **({"field": f} if f else {})} for r, f in self.errors]
        return json_response({"errors": body}, status=self.status)


def json_response(value: Any, status: int = 200) -> web.Response:
    """JSON with the exact Content-Type the API sends (linodego refuses a charset suffix)."""
    return web.Response(
        body=json.dumps(value).encode(), status=status, content_type="application/json"
    )


def not_found() -> ApiError:
    return ApiError(404, ("Not found", None))


def _beta(request: web.Request) -> bool:
    return request.match_info.get("api") == "v4beta"


def now_text() -> str:
    """The API's timestamp format (UTC, no zone suffix)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")


class LinodeApi:
    def __init__(self, settings: Settings, access: ClusterAccess | None = None):
        self.settings = settings
        self.access = access
        self.registry = NodeRegistry(access) if access else None
        self.clusters: dict[int, dict] = {}
        self.pools: dict[int, dict] = {}
        self.events: list[dict] = []
        self.calls: list[dict] = []
        self.failures: list[Failure] = []
        self.problems: list[str] = []  # things the stand-in itself failed at
        self.creates: Counter[str] = Counter()  # clusters created, by label
        self.create_requests: Counter[str] = Counter()  # POST /lke/clusters received, by label
        self.pool_creates: Counter[int] = Counter()  # pools created, by cluster ID
        self._tasks: set[asyncio.Task] = set()
        # Server-chosen IDs, from ranges that do not overlap so a mix-up shows, at a base
        # drawn per stand-in: several stand-ins register Node objects (labelled with their
        # cluster ID) on one shared API server, so two must never hand out the same ID.
        base = random.randrange(1, 10_000)
        self._cluster_ids = itertools.count(24001 + 100 * base)
        self._pool_ids = itertools.count(3_700_001 + 100 * base)
        self._instance_ids = itertools.count(61_000_001 + 1000 * base)
        self._event_ids = itertools.count(900001)
        self.domains = Domains(ApiError, 5_000_001 + 1000 * base)

    # --- the aiohttp application -----------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        r = app.router
        r.add_get(API + "/lke/clusters", self.list_clusters)
        r.add_post(API + "/lke/clusters", self.create_cluster)
        r.add_get(API + "/lke/clusters/{cid}", self.get_cluster)
        r.add_put(API + "/lke/clusters/{cid}", self.update_cluster)
        r.add_delete(API + "/lke/clusters/{cid}", self.delete_cluster)
        r.add_get(API + "/lke/clusters/{cid}/pools", self.list_pools)
        r.add_post(API + "/lke/clusters/{cid}/pools", self.create_pool)
        r.add_get(API + "/lke/clusters/{cid}/pools/{pid}", self.get_pool)
        r.add_put(API + "/lke/clusters/{cid}/pools/{pid}", self.update_pool)
        r.add_delete(API + "/lke/clusters/{cid}/pools/{pid}", self.delete_pool)
        r.add_post(API + "/lke/clusters/{cid}/pools/{pid}/recycle", self.recycle)
        r.add_get(API + "/lke/clusters/{cid}/nodes/{nid}", self.get_node)
        r.add_delete(API + "/lke/clusters/{cid}/nodes/{nid}", self.delete_node)
        r.add_post(API + "/lke/clusters/{cid}/nodes/{nid}/recycle", self.recycle)
        r.add_post(API + "/lke/clusters/{cid}/recycle", self.recycle)
        r.add_get(API + "/lke/clusters/{cid}/kubeconfig", self.get_kubeconfig)
        r.add_delete(API + "/lke/clusters/{cid}/kubeconfig", self.delete_kubeconfig)
        r.add_get(API + "/lke/clusters/{cid}/api-endpoints", self.list_endpoints)
        r.add_get(API + "/lke/clusters/{cid}/dashboard", self.get_dashboard)
        r.add_get(API + "/lke/clusters/{cid}/control_plane_acl", self.get_acl)
        r.add_get(API + "/lke/versions", self.list_versions)
        r.add_get(API + "/lke/versions/{version}", self.get_version)
        r.add_get(API + "/lke/tiers/{tier}/versions", self.list_versions)
        r.add_get(API + "/lke/tiers/{tier}/versions/{version}", self.get_version)
        r.add_get(API + "/account/events", self.list_events)
        r.add_get(API + "/profile", self.get_profile)
        r.add_get(API + "/linode/types", self.list_types)
        self.domains.add_routes(r, API, self._body, self._listed, json_response)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler) -> web.StreamResponse:
        if request.path.startswith("/_control/"):
            return await handler(request)
        call = {
            "method": request.method,
            "path": request.path,
            "query": dict(request.query),
            "filter": request.headers.get("X-Filter"),
            "at": time.time(),
        }
        self.calls.append(call)
        try:
            response = await self._answer(request, handler)
        except ApiError as exc:
            response = exc.response()
        call["status"] = response.status
        return response

    async def _answer(self, request: web.Request, handler) -> web.StreamResponse:
        auth = request.headers.get("Authorization", "")
        if not secrets.compare_digest(auth.encode(), f"Bearer {self.settings.token}".encode()):
            raise ApiError(401, ("Invalid Token", None))
        for failure in self.failures:
            if failure.remaining > 0 and failure.matches(request):
                failure.remaining -= 1
                raise ApiError(failure.status, (failure.reason, None))
        try:
            return await handler(request)
        except web.HTTPNotFound:
            raise not_found() from None
        except web.HTTPMethodNotAllowed:
            raise ApiError(405, ("Method Not Allowed", None)) from None

    # --- helpers ---------------------------------------------------------------------

    def _cluster(self, request: web.Request) -> dict:
        try:
            cluster = self.clusters.get(int(request.match_info["cid"]))
        except ValueError:
            cluster = None
        if cluster is None:
            raise not_found()
        return cluster

    def _pool(self, request: web.Request) -> dict:
        cluster = self._cluster(request)
        try:
            pool = self.pools.get(int(request.match_info["pid"]))
        except ValueError:
            pool = None
        if pool is None or pool["cluster_id"] != cluster["id"]:
            raise not_found()
        return pool

    async def _body(self, request: web.Request) -> dict:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ApiError(400, ("Invalid JSON", None)) from None
        if not isinstance(body, dict):
            raise ApiError(400, ("Request body must be a JSON object", None))
        return body

    def _listed(self, request: web.Request, items: list[dict]) -> web.Response:
        try:
            condition = listing.parse_filter(request.headers.get("X-Filter"))
            chosen = listing.select(items, condition)
            envelope = listing.page(chosen, dict(request.query), self.settings.page_size)
        except listing.ListingError as exc:
            raise ApiError(400, (exc.reason, exc.field)) from None
        return json_response(envelope)

    def _spawn(self, coroutine) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- views -----------------------------------------------------------------------

    def cluster_view(self, cluster: dict, beta: bool = True) -> dict:
        """A cluster as the API shows it; v4 leaves out the beta-only fields (the provider
        refuses a `tier` in its state unless its api_version is v4beta)."""
        ready = time.monotonic() >= cluster["kubeconfig_at"]
        hidden = () if beta else BETA_FIELDS
        view = {k: v for k, v in cluster.items() if not k.endswith("_at") and k not in hidden}
        view["status"] = "ready" if ready else "not_ready"
        return view

    def pool_view(self, pool: dict) -> dict:
        view = {k: v for k, v in pool.items() if k not in ("cluster_id",)}
        view["nodes"] = [dict(n) for n in pool["nodes"]]
        return view

    # --- clusters --------------------------------------------------------------------

    async def list_clusters(self, request: web.Request) -> web.Response:
        views = [self.cluster_view(c, _beta(request)) for c in self.clusters.values()]
        return self._listed(request, views)

    async def create_cluster(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        label = body.get("label")
        self.create_requests[str(label)] += 1
        errors = self._cluster_errors(body)
        if errors:
            raise ApiError(400, *errors)
        cluster_id = next(self._cluster_ids)
        stamp = now_text()
        control_plane = body.get("control_plane") or {}
        cluster = {
            "id": cluster_id,
            "created": stamp,
            "updated": stamp,
            "label": label,
            "region": body["region"],
            "k8s_version": body["k8s_version"],
            "tags": sorted(set(body.get("tags") or [])),
            "control_plane": {
                "high_availability": bool(control_plane.get("high_availability", False)),
                "audit_logs_enabled": bool(control_plane.get("audit_logs_enabled", False)),
            },
            "tier": body.get("tier") or "standard",
            "apl_enabled": bool(body.get("apl_enabled", False)),
            "subnet_id": body.get("subnet_id") or 0,
            "vpc_id": body.get("vpc_id") or 0,
            "stack_type": body.get("stack_type") or "ipv4",
            "kubeconfig_at": time.monotonic() + self.settings.kubeconfig_seconds,
        }
        self.clusters[cluster_id] = cluster
        self.creates[label] += 1
        for spec in body["node_pools"]:
            self._add_pool(cluster, spec)
        return json_response(self.cluster_view(cluster, _beta(request)))

    def _cluster_errors(self, body: dict) -> list[tuple[str, str | None]]:
        errors: list[tuple[str, str | None]] = []
        label = body.get("label")
        if not isinstance(label, str) or not label:
            errors.append(("label is required", "label"))
        elif not LABEL.match(label):
            errors.append(("Label must be 1-32 characters: letters, digits, '-' and '_'", "label"))
        elif any(c["label"] == label for c in self.clusters.values()):
            errors.append(("Label must be unique among your LKE Clusters", "label"))
        if body.get("region") not in REGIONS:
            errors.append(("region is not valid", "region"))
        if body.get("k8s_version") not in K8S_VERSIONS:
            errors.append((f"k8s_version must be one of {', '.join(K8S_VERSIONS)}", "k8s_version"))
        pools = body.get("node_pools")
        if not isinstance(pools, list) or not pools:
            errors.append(("At least one node pool is required", "node_pools"))
        else:
            for index, spec in enumerate(pools):
                errors += self._pool_errors(spec, f"node_pools[{index}].")
        return errors

    def _pool_errors(self, spec: Any, prefix: str = "") -> list[tuple[str, str | None]]:
        if not isinstance(spec, dict):
            return [("must be an object", prefix.rstrip("."))]
        errors: list[tuple[str, str | None]] = []
        if not isinstance(spec.get("type"), str) or not spec["type"].startswith("g"):
            errors.append(("type is not a valid Linode type", f"{prefix}type"))
        count = spec.get("count")
        if not isinstance(count, int) or not 1 <= count <= 100:
            errors.append(("count must be between 1 and 100", f"{prefix}count"))
        return errors

    async def get_cluster(self, request: web.Request) -> web.Response:
        return json_response(self.cluster_view(self._cluster(request), _beta(request)))

    async def update_cluster(self, request: web.Request) -> web.Response:
        cluster = self._cluster(request)
        body = await self._body(request)
        if "label" in body and body["label"] != cluster["label"]:
            label = body["label"]
            if not isinstance(label, str) or not LABEL.match(label):
                raise ApiError(400, ("Label must be 1-32 characters", "label"))
            if any(c["label"] == label for c in self.clusters.values()):
                raise ApiError(400, ("Label must be unique among your LKE Clusters", "label"))
            cluster["label"] = label
        if "k8s_version" in body:
            if body["k8s_version"] not in K8S_VERSIONS:
                raise ApiError(400, ("k8s_version is not valid", "k8s_version"))
            cluster["k8s_version"] = body["k8s_version"]
        if body.get("tags") is not None:
            cluster["tags"] = sorted(set(body["tags"]))
        plane = body.get("control_plane") or {}
        for key in ("high_availability", "audit_logs_enabled"):
            if key in plane:
                cluster["control_plane"][key] = bool(plane[key])
        cluster["updated"] = now_text()
        return json_response(self.cluster_view(cluster, _beta(request)))

    async def delete_cluster(self, request: web.Request) -> web.Response:
        self.remove_cluster(self._cluster(request)["id"])
        return json_response({})

    def remove_cluster(self, cluster_id: int) -> None:
        """Delete a cluster with its pools; its nodes go away a little later."""
        self.clusters.pop(cluster_id)
        for pool in [p for p in self.pools.values() if p["cluster_id"] == cluster_id]:
            self._remove_pool(pool)

    # --- pools and nodes -------------------------------------------------------------

    def _add_pool(self, cluster: dict, spec: dict) -> dict:
        pool_id = next(self._pool_ids)
        count = spec["count"]
        autoscaler = spec.get("autoscaler") or {}
        pool = {
            "id": pool_id,
            "cluster_id": cluster["id"],
            "count": count,
            "type": spec["type"],
            "disks": spec.get("disks") or [],
            "nodes": [],
            "tags": sorted(set(spec.get("tags") or [])),
            "labels": spec.get("labels") or {},
            "taints": spec.get("taints") or [],
            "label": spec.get("label"),
            "autoscaler": {
                "enabled": bool(autoscaler.get("enabled", False)),
                "min": autoscaler.get("min", count),
                "max": autoscaler.get("max", count),
            },
            "disk_encryption": spec.get("disk_encryption") or "disabled",
        }
        if spec.get("firewall_id") is not None:
            pool["firewall_id"] = spec["firewall_id"]
        self.pools[pool_id] = pool
        self.pool_creates[cluster["id"]] += 1
        self._resize(pool, count)
        return pool

    def _resize(self, pool: dict, count: int) -> None:
        while len(pool["nodes"]) < count:
            node = {
                "id": f"{pool['id']}-{secrets.token_hex(4)}",
                "instance_id": next(self._instance_ids),
                "status": "not_ready",
            }
            pool["nodes"].append(node)
            self._spawn(self._bring_up(pool, node))
        while len(pool["nodes"]) > count:
            self._spawn(self._take_down(pool, pool["nodes"].pop()))
        pool["count"] = count

    def _node_name(self, pool: dict, node: dict) -> str:
        return f"lke{pool['cluster_id']}-{node['id']}"

    async def _bring_up(self, pool: dict, node: dict) -> None:
        await asyncio.sleep(self.settings.node_ready_seconds)
        if node not in pool["nodes"] or pool["id"] not in self.pools:
            return
        if self.registry is not None:
            labels = {
                "lke.linode.com/pool-id": str(pool["id"]),
                "lke.linode.com/cluster-id": str(pool["cluster_id"]),
            }
            try:
                await self.registry.register(self._node_name(pool, node), labels)
            except Exception as exc:  # noqa: BLE001 - reported through the control API
                self.problems.append(f"registering node {node['id']}: {exc}")
                return
        node["status"] = "ready"

    async def _take_down(self, pool: dict, node: dict) -> None:
        await asyncio.sleep(self.settings.node_delete_seconds)
        if self.registry is not None:
            try:
                await self.registry.delete(self._node_name(pool, node))
            except Exception as exc:  # noqa: BLE001 - reported through the control API
                self.problems.append(f"deleting node {node['id']}: {exc}")
        self.events.append(
            {
                "id": next(self._event_ids),
                "action": "linode_delete",
                "created": now_text(),
                "status": "finished",
                "percent_complete": 100,
                "read": False,
                "seen": False,
                "username": "jetgen",
                "message": None,
                "duration": self.settings.node_delete_seconds,
                "rate": None,
                "entity": {
                    "id": node["instance_id"],
                    "label": self._node_name(pool, node),
                    "type": "linode",
                    "url": f"/v4/linode/instances/{node['instance_id']}",
                },
                "secondary_entity": None,
            }
        )

    def _remove_pool(self, pool: dict) -> None:
        self.pools.pop(pool["id"])
        for node in pool["nodes"]:
            self._spawn(self._take_down(pool, node))
        pool["nodes"] = []

    def resize(self, pool_id: int, count: int) -> dict:
        """Change a pool's node count (the API's PUT, or the web console)."""
        pool = self.pools[pool_id]
        self._resize(pool, count)
        return pool

    async def list_pools(self, request: web.Request) -> web.Response:
        cluster = self._cluster(request)
        pools = [self.pool_view(p) for p in self.pools.values() if p["cluster_id"] == cluster["id"]]
        return self._listed(request, pools)

    async def create_pool(self, request: web.Request) -> web.Response:
        cluster = self._cluster(request)
        body = await self._body(request)
        errors = self._pool_errors(body)
        if errors:
            raise ApiError(400, *errors)
        return json_response(self.pool_view(self._add_pool(cluster, body)))

    async def get_pool(self, request: web.Request) -> web.Response:
        return json_response(self.pool_view(self._pool(request)))

    async def update_pool(self, request: web.Request) -> web.Response:
        pool = self._pool(request)
        body = await self._body(request)
        if "count" in body:
            count = body["count"]
            if not isinstance(count, int) or not 1 <= count <= 100:
                raise ApiError(400, ("count must be between 1 and 100", "count"))
            self._resize(pool, count)
        for key in ("labels", "taints", "label", "firewall_id"):
            if body.get(key) is not None:
                pool[key] = body[key]
        if body.get("tags") is not None:
            pool["tags"] = sorted(set(body["tags"]))
        if body.get("autoscaler") is not None:
            pool["autoscaler"] = {**pool["autoscaler"], **body["autoscaler"]}
        return json_response(self.pool_view(pool))

    async def delete_pool(self, request: web.Request) -> web.Response:
        self._remove_pool(self._pool(request))
        return json_response({})

    def _node(self, request: web.Request) -> tuple[dict, dict]:
        cluster = self._cluster(request)
        for pool in self.pools.values():
            if pool["cluster_id"] != cluster["id"]:
                continue
            for node in pool["nodes"]:
                if node["id"] == request.match_info["nid"]:
                    return pool, node
        raise not_found()

    async def get_node(self, request: web.Request) -> web.Response:
        return json_response(dict(self._node(request)[1]))

    async def delete_node(self, request: web.Request) -> web.Response:
        # The pool keeps its count: LKE replaces a deleted node with a new one.
        pool, node = self._node(request)
        pool["nodes"].remove(node)
        self._spawn(self._take_down(pool, node))
        self._resize(pool, pool["count"])
        return json_response({})

    async def recycle(self, request: web.Request) -> web.Response:
        self._cluster(request)
        return json_response({})

    # --- kubeconfig, endpoints and the rest of a cluster -----------------------------

    async def get_kubeconfig(self, request: web.Request) -> web.Response:
        cluster = self._cluster(request)
        if time.monotonic() < cluster["kubeconfig_at"]:
            raise ApiError(503, (KUBECONFIG_PENDING, None))
        if self.access is None:
            raise ApiError(503, (KUBECONFIG_PENDING, None))
        text = self.access.kubeconfig(cluster["id"])
        return json_response({"kubeconfig": base64.b64encode(text.encode()).decode()})

    async def delete_kubeconfig(self, request: web.Request) -> web.Response:
        # Regenerating takes as long as the first one did.
        cluster = self._cluster(request)
        cluster["kubeconfig_at"] = time.monotonic() + self.settings.kubeconfig_seconds
        return json_response({})

    async def list_endpoints(self, request: web.Request) -> web.Response:
        self._cluster(request)
        server = self.access.server if self.access else "https://127.0.0.1:6443"
        return self._listed(request, [{"endpoint": server}])

    async def get_dashboard(self, request: web.Request) -> web.Response:
        cluster = self._cluster(request)
        return json_response({"url": f"https://dashboard.stand-in.invalid/lke/{cluster['id']}"})

    async def get_acl(self, request: web.Request) -> web.Response:
        self._cluster(request)
        acl = {"enabled": False, "addresses": {"ipv4": [], "ipv6": []}, "revision-id": ""}
        return json_response({"acl": acl})

    async def list_versions(self, request: web.Request) -> web.Response:
        tier = request.match_info.get("tier")
        versions = [{"id": v, **({"tier": tier} if tier else {})} for v in K8S_VERSIONS]
        return self._listed(request, versions)

    async def get_version(self, request: web.Request) -> web.Response:
        version = request.match_info["version"]
        if version not in K8S_VERSIONS:
            raise not_found()
        tier = request.match_info.get("tier")
        return json_response({"id": version, **({"tier": tier} if tier else {})})

    async def list_events(self, request: web.Request) -> web.Response:
        return self._listed(request, list(reversed(self.events)))

    async def list_types(self, request: web.Request) -> web.Response:
        # The provider lists these when it configures itself, as a check that the API answers.
        return self._listed(request, [{"id": t, "label": t} for t in LINODE_TYPES])

    async def get_profile(self, request: web.Request) -> web.Response:
        return json_response({"username": "jetgen", "email": "jetgen@stand-in.invalid"})

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self.registry is not None:
            await self.registry.close()
