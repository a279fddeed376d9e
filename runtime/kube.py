"""A small asyncio Kubernetes client for what kopf does not do for us.

kopf watches the managed resources and posts events; the runtime also reads Secrets and
ProviderConfigs, writes connection and state Secrets, and patches status.  For that we
need a handful of REST calls, so this module speaks plain JSON over the aiohttp session
kopf already depends on, logged in with the very credentials kopf's login handler
returned.  The official ``kubernetes`` client is avoided on purpose: it loads every API
model at import time and costs tens of MB per process, which is a lot for a controller
whose whole job is to wait for Terraform.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import tempfile
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import yarl

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


class KubeError(Exception):
    def __init__(self, status: int, message: str):
        self.status = status
        super().__init__(f"HTTP {status}: {message}")


class NotFound(KubeError):
    pass


class Conflict(KubeError):
    pass


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


def segment(value: str) -> str:
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


class KubeClient:
    """Just enough of the Kubernetes API: get, list, create, patch, delete."""

    def __init__(self) -> None:
        self._server: str | None = None
        self._headers: dict[str, str] = {}
        self._ssl: ssl.SSLContext | bool = True
        self._session: aiohttp.ClientSession | None = None

    def login(self, info: Any) -> None:
        """Adopt a ``kopf.ConnectionInfo`` (as returned by the operator's login handler)."""
        self._server = str(info.server).rstrip("/")
        self._headers = {"Accept": "application/json"}
        if info.token:
            self._headers["Authorization"] = f"{info.scheme or 'Bearer'} {info.token}"
        elif info.username and info.password:
            basic = base64.b64encode(f"{info.username}:{info.password}".encode()).decode()
            self._headers["Authorization"] = f"Basic {basic}"
        # TLS settings go with every request, so a re-login needs no new session.
        self._ssl = _ssl_context(info)

    @property
    def logged_in(self) -> bool:
        return self._server is not None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        content_type: str = "application/json",
        query: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        if self._server is None:
            raise RuntimeError("KubeClient used before login")
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(total=60)
            self._session = aiohttp.ClientSession(timeout=timeout)
        url = self._server + path + (("?" + urlencode(query)) if query else "")
        headers = dict(self._headers)
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = json.dumps(body)
        # encoded=True: the path is already percent-encoded segment by segment; left to
        # itself yarl would decode %2E and fold '..' segments, undoing that.
        async with self._session.request(
            method, yarl.URL(url, encoded=True), data=data, headers=headers, ssl=self._ssl
        ) as response:
            text = await response.text()
            if response.status >= 400:
                message = _status_message(text)
                if response.status == 404:
                    raise NotFound(404, message)
                if response.status == 409:
                    raise Conflict(409, message)
                raise KubeError(response.status, message)
            return json.loads(text) if text else {}

    async def get(self, path: str) -> dict[str, Any] | None:
        try:
            return await self.request("GET", path)
        except NotFound:
            return None

    async def list(self, path: str, label_selector: str | None = None) -> list[dict[str, Any]]:
        query = {"labelSelector": label_selector} if label_selector else None
        return (await self.request("GET", path, query=query)).get("items") or []

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


def _status_message(text: str) -> str:
    try:
        return str(json.loads(text).get("message") or text)[:300]
    except (json.JSONDecodeError, AttributeError):
        return text[:300]


def _ssl_context(info: Any) -> ssl.SSLContext | bool:
    if info.insecure:
        return False
    ctx = ssl.create_default_context()
    if info.ca_path:
        ctx.load_verify_locations(cafile=os.fsdecode(info.ca_path))
    elif info.ca_data:
        ctx.load_verify_locations(cadata=_pem(info.ca_data).decode())
    cert, key = info.certificate_path, info.private_key_path
    if info.certificate_data or info.private_key_data:
        # ssl wants files; keep them private and short-lived.
        with tempfile.TemporaryDirectory() as tmp:
            os.chmod(tmp, 0o700)
            cert = cert or _write(tmp, "cert.pem", _pem(info.certificate_data))
            key = key or _write(tmp, "key.pem", _pem(info.private_key_data))
            ctx.load_cert_chain(os.fsdecode(cert), os.fsdecode(key))
    elif cert:
        ctx.load_cert_chain(os.fsdecode(cert), os.fsdecode(key) if key else None)
    return ctx


def _pem(data: str | bytes) -> bytes:
    """kubeconfig ``*-data`` fields are base64 of PEM; accept raw PEM as well."""
    raw = data.encode() if isinstance(data, str) else data
    if raw.lstrip().startswith(b"-----BEGIN"):
        return raw
    return base64.b64decode(raw)


def _write(directory: str, name: str, data: bytes) -> str:
    path = os.path.join(directory, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return path
