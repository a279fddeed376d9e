"""The Kubernetes side of the stand-in's clusters: the test bed's own kube-apiserver.

Every LKE cluster of the stand-in hands out a kubeconfig for one real API server (the
test bed's), with a credential that server accepts, so `kubectl --kubeconfig` works with
what ends up in a connection Secret. A node that becomes ready is registered there as a
Node with condition Ready=True (what the provider's create waits for, as on real LKE),
and removed when its pool or cluster goes.
"""

from __future__ import annotations

import base64
import json
import ssl
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import yaml


@dataclass(frozen=True)
class ClusterAccess:
    """How clients reach the Kubernetes API the stand-in's clusters stand for."""

    server: str  # https://127.0.0.1:<port>
    ca_file: Path
    # The credential put into every handed-out kubeconfig (a ServiceAccount token).
    user_token: str = field(repr=False)
    # What the stand-in itself uses to register Nodes (the test bed's admin token).
    admin_token: str = field(repr=False)

    def kubeconfig(self, cluster_id: int) -> str:
        """The kubeconfig YAML of one cluster, named as LKE names them."""
        cluster = f"lke{cluster_id}"
        user, context = f"{cluster}-admin", f"{cluster}-ctx"
        ca_data = base64.b64encode(self.ca_file.read_bytes()).decode()
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "preferences": {},
            "clusters": [
                {
                    "name": cluster,
                    "cluster": {"server": self.server, "certificate-authority-data": ca_data},
                }
            ],
            "users": [{"name": user, "user": {"token": self.user_token}}],
            "contexts": [
                {
                    "name": context,
                    "context": {"cluster": cluster, "namespace": "default", "user": user},
                }
            ],
            "current-context": context,
        }
        return yaml.safe_dump(config, sort_keys=False)


class NodeRegistry:
    """Creates and deletes Node objects on the API server with the admin token."""

    def __init__(self, access: ClusterAccess):
        self._access = access
        self._session: aiohttp.ClientSession | None = None

    async def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            context = ssl.create_default_context(cafile=str(self._access.ca_file))
            self._session = aiohttp.ClientSession(
                base_url=self._access.server,
                headers={"Authorization": f"Bearer {self._access.admin_token}"},
                connector=aiohttp.TCPConnector(ssl=context),
                timeout=aiohttp.ClientTimeout(total=20),
            )
        return self._session

    async def register(self, name: str, labels: dict[str, str]) -> None:
        client = await self._client()
        node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}}
        async with client.post("/api/v1/nodes", json=node) as response:
            if response.status not in (201, 409):
                text = await response.text()
                raise RuntimeError(f"creating Node {name}: {response.status} {text}")
        ready = {
            "status": {
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True",
                        "reason": "KubeletReady",
                        "message": "kubelet is posting ready status (Linode API stand-in)",
                    }
                ]
            }
        }
        headers = {"Content-Type": "application/merge-patch+json"}
        path = f"/api/v1/nodes/{name}/status"
        async with client.patch(path, data=json.dumps(ready), headers=headers) as response:
            if response.status != 200:
                raise RuntimeError(f"marking Node {name} Ready: {response.status}")

    async def delete(self, name: str) -> None:
        client = await self._client()
        async with client.delete(f"/api/v1/nodes/{name}") as response:
            if response.status not in (200, 404):
                raise RuntimeError(f"deleting Node {name}: {response.status}")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
