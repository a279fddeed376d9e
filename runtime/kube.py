"""A small asyncio Kubernetes client for what kopf does not do for us.

kopf watches the managed resources and posts events; the runtime also reads Secrets and
ProviderConfigs, writes connection and state Secrets, and patches status.  For that we
need a handful of REST calls, so this module speaks plain JSON over the aiohttp session
stack kopf already depends on, with the credentials of :mod:`jetgen.runtime.kubeauth`
(lightkube's kubeconfig loader; the same token kopf logs in with).  Paths are built here,
segment by segment, because names in a spec are hostile input.  Why not the official
``kubernetes`` client or lightkube's request layer: see docs/runtime.md ("The Kubernetes
client") and benchmarks/kube_client_rss.py.
"""

from __future__ import annotations

import asyncio
import base64
import builtins
import contextlib
import json
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import yarl
from jetgen.runtime.kubeauth import Credentials, CredentialsError
from jetgen.runtime.ratelimit import TokenBucket, retry_after

logger = logging.getLogger(__name__)

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
# What a list asks for to get only the objects' metadata (no spec, status or data).
METADATA_ONLY = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
LIST_PAGE = 500  # objects per page of a long list


class KubeError(Exception):
    def __init__(self, status: int, message: str):
        self.status = status
        super().__init__(f"HTTP {status}: {message}")


class NotFound(KubeError):
    pass


class Conflict(KubeError):
    pass


class Gone(KubeError):
    """410: the resourceVersion a watch asked for is older than the apiserver keeps."""


def object_path(
    api_version: str,
    plural: str,
    namespace: str | None = None,
    name: str | None = None,
    subresource: str | None = None,
) -> str:
    """``/apis/<group>/<version>/namespaces/<ns>/<plural>/<name>/<sub>`` (``/api/v1`` core).

    Every segment is percent-encoded with nothing kept safe, so a ``/`` in a name cannot
    add a segment; ``.`` and ``..`` (which URL normalisation would fold into the parent)
    and empty segments are refused.  Names are checked against their rules before they
    get here (:mod:`jetgen.runtime.names`); this is the last line, not the first.
    """
    base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    parts = [base]
    if namespace is not None:
        parts += ["namespaces", segment(namespace)]
    parts.append(segment(plural))
    if name is not None:
        parts.append(segment(name))
    if subresource is not None:
        parts.append(segment(subresource))
    return "/".join(parts)


def segment(value: object) -> str:
    """One URL path segment, fully encoded; raises ValueError for ``''``, ``.``, ``..``."""
    if not isinstance(value, str) or value in ("", ".", ".."):
        raise ValueError(f"not a usable path segment: {value!r}")
    return quote(value, safe="")


def secret_path(namespace: str, name: str | None = None) -> str:
    return object_path("v1", "secrets", namespace, name)


def decode_secret(secret: dict[str, Any]) -> dict[str, str]:
    """A Secret's ``data`` decoded to text (``stringData`` never comes back from the API)."""
    out = {}
    for key, value in (secret.get("data") or {}).items():
        out[key] = base64.b64decode(value).decode(errors="replace")
    return out


def encode_data(data: dict[str, bytes]) -> dict[str, str]:
    return {key: base64.b64encode(value).decode() for key, value in data.items()}


@dataclass(frozen=True)
class Limits:
    """How hard this client may press the apiserver (see ratelimit.py)."""

    qps: float = 20.0
    """Requests per second on average; 0 turns the limit off."""

    burst: int = 30
    """Requests at once before ``qps`` applies."""

    max_retry_after: float = 30.0
    """A 429's Retry-After is obeyed up to this many seconds per wait."""

    max_throttled: int = 5
    """429s in a row for one request before it fails with the 429."""


class KubeClient:
    """Just enough of the Kubernetes API: get, list, create, patch, delete.

    Every request waits for the client-side rate limit, carries the current credentials
    (a 401 refreshes an expiring token once, see kubeauth.py) and is retried after the
    Retry-After seconds when the apiserver answers 429 (API Priority and Fairness).
    """

    def __init__(
        self,
        credentials: Credentials,
        limits: Limits | None = None,
        *,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.credentials = credentials
        self.limits = limits or Limits()
        self.bucket = TokenBucket(self.limits.qps, self.limits.burst)
        self.throttled = 0  # 429s answered so far
        # Told of every answer: its HTTP status and the seconds its request waited for
        # the rate limit (operator.py feeds the metrics with it).
        self.observer: Callable[[int, float], None] | None = None
        self._sleep = sleep
        self._session: aiohttp.ClientSession | None = None
        # Watches hold their connection for minutes: their own pool, without a limit, so
        # they never take the connections requests need (aiohttp's default is 100).
        self._watch_session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        for session in (self._session, self._watch_session):
            if session is not None:
                await session.close()
        self._session = self._watch_session = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        content_type: str = "application/json",
        query: dict[str, str] | None = None,
        accept: str = "application/json",
    ) -> dict[str, Any]:
        url = self.credentials.server + path + (("?" + urlencode(query)) if query else "")
        data = json.dumps(body) if body is not None else None
        refreshed = False
        throttled = 0
        while True:
            waited = await self.bucket.acquire()
            try:
                authorization = await self.credentials.authorization()
            except CredentialsError as exc:
                raise KubeError(401, f"no credentials: {exc}") from None
            status, headers, text = await self._send(
                method, url, data, content_type if data is not None else None, authorization, accept
            )
            if self.observer is not None:
                self.observer(status, waited)
            if status == 401 and not refreshed:
                refreshed = True
                try:
                    if await self.credentials.rejected(authorization):
                        continue  # a new token: try once more with it
                except CredentialsError as exc:
                    raise KubeError(401, f"credentials refresh failed: {exc}") from None
            if status == 429 and throttled < self.limits.max_throttled:
                throttled += 1
                self.throttled += 1
                delay = retry_after(headers, _json_or_none(text), default=1.0)
                # Up to 20% more, never less (but within the bound): requests refused
                # together do not all come back in the same instant.
                delay = min(delay * (1 + 0.2 * random.random()), self.limits.max_retry_after)
                logger.debug(
                    "429 from the apiserver for %s %s: retrying in %gs", method, path, delay
                )
                await self._sleep(delay)
                continue
            if status >= 400:
                message = _status_message(text)
                if status == 404:
                    raise NotFound(404, message)
                if status == 409:
                    raise Conflict(409, message)
                if status == 410:
                    raise Gone(410, message)
                raise KubeError(status, message)
            return json.loads(text) if text else {}

    async def _send(
        self,
        method: str,
        url: str,
        data: str | None,
        content_type: str | None,
        authorization: str | None,
        accept: str = "application/json",
    ) -> tuple[int, Mapping[str, str], str]:
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(total=60)
            self._session = aiohttp.ClientSession(timeout=timeout)
        headers = {"Accept": accept}
        if authorization:
            headers["Authorization"] = authorization
        if content_type:
            headers["Content-Type"] = content_type
        # encoded=True: the path is already percent-encoded segment by segment; left to
        # itself yarl would decode %2E and fold '..' segments, undoing that.
        async with self._session.request(
            method,
            yarl.URL(url, encoded=True),
            data=data,
            headers=headers,
            ssl=self.credentials.ssl,
        ) as response:
            return response.status, response.headers, await response.text()

    async def watch(
        self, path: str, query: dict[str, str], timeout: float
    ) -> AsyncIterator[dict[str, Any]]:
        """The events of one watch request (``watch=1`` is added), one dict each, until the
        apiserver ends the stream (``timeoutSeconds``) or ``timeout`` passes without a
        byte.  Raises :class:`KubeError` when the watch is refused (:class:`Gone` for
        410); a 401 asks the credentials once for a fresh token, as requests do."""
        if self._watch_session is None or self._watch_session.closed:
            connector = aiohttp.TCPConnector(limit=0)
            self._watch_session = aiohttp.ClientSession(connector=connector)
        url = self.credentials.server + path + "?" + urlencode({**query, "watch": "1"})
        waited = await self.bucket.acquire()
        try:
            authorization = await self.credentials.authorization()
        except CredentialsError as exc:
            raise KubeError(401, f"no credentials: {exc}") from None
        headers = {"Accept": "application/json"}
        if authorization:
            headers["Authorization"] = authorization
        async with self._watch_session.get(
            yarl.URL(url, encoded=True),
            headers=headers,
            ssl=self.credentials.ssl,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=timeout),
        ) as response:
            if self.observer is not None:
                self.observer(response.status, waited)
            if response.status == 401:
                with contextlib.suppress(CredentialsError):
                    await self.credentials.rejected(authorization)
            if response.status >= 400:
                message = _status_message(await response.text())
                raise (Gone if response.status == 410 else KubeError)(response.status, message)
            async for line in _lines(response.content):
                yield json.loads(line)

    async def get(self, path: str) -> dict[str, Any] | None:
        try:
            return await self.request("GET", path)
        except NotFound:
            return None

    async def list(self, path: str, label_selector: str | None = None) -> list[dict[str, Any]]:
        query = {"labelSelector": label_selector} if label_selector else None
        return (await self.request("GET", path, query=query)).get("items") or []

    async def list_all(
        self,
        path: str,
        *,
        label_selector: str | None = None,
        metadata_only: bool = False,
        page: int = LIST_PAGE,
    ) -> builtins.list[dict[str, Any]]:
        """Every object at ``path``, fetched ``page`` at a time (one snapshot: a list
        whose continue token expired, 410, starts over).  ``metadata_only``: the objects'
        metadata alone (PartialObjectMetadata), not their spec, status or data."""
        items: builtins.list[dict[str, Any]] = []
        pages = self.pages(
            path, label_selector=label_selector, metadata_only=metadata_only, page=page
        )
        async for first, objects in pages:
            if first:
                items = []  # the list started over
            items += objects
        return items

    async def pages(
        self,
        path: str,
        *,
        label_selector: str | None = None,
        metadata_only: bool = False,
        page: int = LIST_PAGE,
    ) -> AsyncIterator[tuple[bool, builtins.list[dict[str, Any]]]]:
        """The objects at ``path`` a page at a time, each with whether it is the first
        page of a snapshot: a list whose continue token expired (410) starts over, and
        its pages come again from the first (a caller keeping them by name need not
        care; one keeping a list starts it again)."""
        query = {"limit": str(page)}
        if label_selector:
            query["labelSelector"] = label_selector
        accept = METADATA_ONLY if metadata_only else "application/json"
        while True:
            first = "continue" not in query
            try:
                answer = await self.request("GET", path, query=query, accept=accept)
            except Gone:
                if first:
                    raise
                del query["continue"]  # the snapshot expired: list again from the start
                continue
            yield first, answer.get("items") or []
            token = (answer.get("metadata") or {}).get("continue")
            if not token:
                return
            query["continue"] = token

    async def create(self, path: str, obj: dict[str, Any]) -> dict[str, Any]:
        return await self.request("POST", path, body=obj)

    async def replace(self, path: str, obj: dict[str, Any]) -> dict[str, Any]:
        return await self.request("PUT", path, body=obj)

    async def patch(self, path: str, patch: Any, content_type: str = MERGE_PATCH) -> dict[str, Any]:
        return await self.request("PATCH", path, body=patch, content_type=content_type)

    async def delete(self, path: str) -> None:
        try:
            await self.request("DELETE", path)
        except NotFound:
            pass


async def _lines(stream: aiohttp.StreamReader) -> AsyncIterator[bytes]:
    """Newline-separated lines of any length (aiohttp's readline caps a line's size, and
    one watch event holds a whole object)."""
    pending = b""
    async for chunk in stream.iter_any():
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if line.strip():
                yield line
    if pending.strip():
        yield pending


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _status_message(text: str) -> str:
    try:
        return str(json.loads(text).get("message") or text)[:300]
    except (json.JSONDecodeError, AttributeError):
        return text[:300]
