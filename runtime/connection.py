"""The connection Secret: sensitive outputs plus the kind's extra connection details.

Keys are ``attribute.<terraform path>`` for every sensitive attribute of the state (as
Upjet names them) and one key per configured :class:`~jetgen.runtime.config.ConnectionDetail`,
whose value is an attribute passed through its transform (``base64decode`` turns a
provider's base64 kubeconfig into one ``kubectl`` reads).  The Secret is owned by the
managed resource and rewritten only when a value changed.
"""

from __future__ import annotations

import logging
from typing import Any

from jetgen.runtime import kube, state, transforms
from jetgen.runtime.config import ConnectionDetail

logger = logging.getLogger(__name__)


class ConnectionDetailError(ValueError):
    pass


class DetailBuilder:
    """Compiled connection details of one kind (transforms resolved once)."""

    def __init__(self, details: list[ConnectionDetail]):
        self.details = [(d, transforms.compile_transform(d.transform)) for d in details]

    def build(self, attributes: dict[str, Any], sensitive: dict[str, str]) -> dict[str, bytes]:
        """All keys of the Secret.  A missing attribute leaves its key out (it may appear
        after a later apply); a transform that fails is an error naming the key only."""
        data = {key: transforms.to_bytes(value) for key, value in sensitive.items()}
        for detail, transform in self.details:
            try:
                value = transforms.lookup(attributes, detail.attribute)
            except KeyError:
                continue
            if value is None:
                continue
            try:
                data[detail.key] = transform(value, attributes)
            except transforms.TransformError as exc:
                raise ConnectionDetailError(f"connection detail {detail.key!r}: {exc}") from None
        return data


def target(body: dict[str, Any]) -> tuple[str, str] | None:
    """(namespace, name) of ``spec.writeConnectionSecretToRef``, if set."""
    ref = (body.get("spec") or {}).get("writeConnectionSecretToRef") or {}
    name = ref.get("name")
    if not name:
        return None
    namespace = body["metadata"].get("namespace") or ref.get("namespace")
    if not namespace:
        raise ConnectionDetailError("writeConnectionSecretToRef.namespace is required")
    return namespace, name


async def publish(client: kube.KubeClient, body: dict[str, Any], data: dict[str, bytes]) -> bool:
    """Create or update the connection Secret; returns whether anything was written."""
    where = target(body)
    if where is None:
        return False
    namespace, name = where
    encoded = kube.encode_data(data)
    path = kube.secret_path(namespace, name)
    existing = await client.get(path)
    if existing is not None:
        if (existing.get("data") or {}) == encoded:
            return False
        owners = existing["metadata"].get("ownerReferences") or []
        if owners and all(o.get("uid") != body["metadata"]["uid"] for o in owners):
            raise ConnectionDetailError(
                f"Secret {namespace}/{name} exists and belongs to another object"
            )
        await client.patch(
            path,
            [{"op": "replace" if "data" in existing else "add", "path": "/data", "value": encoded}],
            kube.JSON_PATCH,
        )
        return True
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "connection.crossplane.io/v1alpha1",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "ownerReferences": [state.owner_reference(body) | {"controller": True}],
        },
        "data": encoded,
    }
    await client.create(kube.secret_path(namespace), secret)
    return True
