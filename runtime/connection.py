"""The connection Secret: sensitive outputs plus the kind's extra connection details.

Keys are ``attribute.<terraform path>`` for every sensitive attribute of the state (as
Upjet names them) and one key per configured :class:`~jetgen.runtime.config.ConnectionDetail`,
whose value is an attribute passed through its transform (``base64decode`` turns a
provider's base64 kubeconfig into one ``kubectl`` reads).  The Secret is owned by the
managed resource and rewritten only when a value changed.

The controller writes only a Secret it controls: it creates it with a controller owner
reference to the MR (so garbage collection removes it with the MR), and refuses to touch a
Secret of that name that is not controlled by this MR -- someone else's Secret, or one an
MR in the same namespace wrote -- reporting ``Synced=False`` instead.
"""

from __future__ import annotations

import logging
from typing import Any

from jetgen.runtime import cache, kube, names, state, transforms
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
    at = "spec.writeConnectionSecretToRef"
    names.object_name(f"{at}.name", name)
    # A namespaced MR writes into its own namespace only; a cluster-scoped one names it.
    namespace = names.own_namespace(
        f"{at}.namespace", ref.get("namespace"), body["metadata"].get("namespace")
    )
    if not namespace:
        raise ConnectionDetailError("writeConnectionSecretToRef.namespace is required")
    return namespace, name


def controlled_by(obj: dict[str, Any], uid: str) -> bool:
    """Whether ``obj``'s controller owner reference points at the object with ``uid``."""
    owners = (obj.get("metadata") or {}).get("ownerReferences") or []
    return any(o.get("controller") and o.get("uid") == uid for o in owners)


async def publish(
    client: kube.KubeClient, reads: cache.Cache, body: dict[str, Any], data: dict[str, bytes]
) -> bool:
    """Create or update the connection Secret; returns whether anything was written.

    The Secret as it is comes from the cache (a settled MR's pass asks nothing); what a
    write returns goes back into it.  Should the cache be behind -- someone else wrote the
    Secret a moment ago -- the write fails its precondition (the create its name, the
    patch its resourceVersion test) and is tried once more on a fresh read."""
    where = target(body)
    if where is None:
        return False
    namespace, name = where
    try:
        current = await reads.secret(namespace, name, data=False)
        return await _publish(client, current, body, where, data, reads)
    except kube.KubeError as exc:
        if exc.status not in (409, 422):
            raise
        existing = await client.get(kube.secret_path(namespace, name))
        view = None if existing is None else cache.secret_view(existing, keep_data=False)
        return await _publish(client, view, body, where, data, reads)


async def _publish(
    client: kube.KubeClient,
    existing: dict[str, Any] | None,
    body: dict[str, Any],
    where: tuple[str, str],
    data: dict[str, bytes],
    reads: cache.Cache,
) -> bool:
    namespace, name = where
    encoded = kube.encode_data(data)
    path = kube.secret_path(namespace, name)
    if existing is not None:
        if not controlled_by(existing, body["metadata"]["uid"]):
            raise ConnectionDetailError(
                f"writeConnectionSecretToRef: Secret {namespace}/{name} already exists and is "
                "not controlled by this resource; refusing to take it over (delete it or "
                "choose another name)"
            )
        if existing["digest"] == cache.digest(encoded):
            return False
        meta = existing["metadata"]
        patch = [
            # Only the very object checked above: not a Secret replaced in between.
            {"op": "test", "path": "/metadata/uid", "value": meta["uid"]},
            {"op": "test", "path": "/metadata/resourceVersion", "value": meta["resourceVersion"]},
            # add replaces a member that exists (RFC 6902), and makes one that does not.
            {"op": "add", "path": "/data", "value": encoded},
        ]
        reads.wrote_secret(await client.patch(path, patch, kube.JSON_PATCH))
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
    reads.wrote_secret(await client.create(kube.secret_path(namespace), secret))
    return True
