"""What must survive a controller restart: Terraform state and the create-pending guard.

Terraform state lives in the workdir while the controller runs, and is copied after each
change into a Secret owned by the managed resource (so it is garbage-collected with it).
A fresh controller, or one whose workdir was lost, restores the newer of the two.

Crash safety follows Crossplane: before a create starts, the annotation
``crossplane.io/external-create-pending`` gets the current time; afterwards
``...-succeeded`` or ``...-failed`` does.  A pending mark newer than both means a create
was cut short and may have made something the state does not know about, so the
reconciler must not blindly create again (see ``decisions``).

Which outcome counts as *failed* is narrower than in crossplane-runtime (where any error
of ``ExternalClient.Create`` sets ``...-failed``): a Terraform run can be cut short
(timeout, a provider crash, tofu killed) after the provider made the resource, so only a
run that shows nothing was created records a failure (``terraform.TerraformError``'s
``nothing_created``); anything else leaves the create *incomplete*.
"""

from __future__ import annotations

import base64
import datetime
import gzip
from typing import Any

from jetgen.runtime import kube

PENDING = "crossplane.io/external-create-pending"
SUCCEEDED = "crossplane.io/external-create-succeeded"
FAILED = "crossplane.io/external-create-failed"

STATE_KEY = "tfstate.gz"
STATE_LABEL = "jetgen.dev/tfstate-for"
# Secrets are capped at 1 MiB; leave room for metadata.
MAX_STATE_BYTES = 1_000_000


def timestamp() -> str:
    # Microseconds, so a create that fails in the same second as it started still orders.
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(value: str | None) -> datetime.datetime | None:
    if not value:
        return None
    for fmt in ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.datetime.strptime(value, fmt)
        except ValueError:
            continue
    try:
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).replace(tzinfo=None)
    except ValueError:
        return None


def create_incomplete(annotations: dict[str, str]) -> bool:
    """Whether the last create started but neither its success nor failure was recorded."""
    pending = _parse(annotations.get(PENDING))
    if pending is None:
        return False
    for other in (annotations.get(SUCCEEDED), annotations.get(FAILED)):
        done = _parse(other)
        if done is not None and done >= pending:
            return False
    return True


NO_CREATE = "none"  # no create was ever started by this controller


def guard(annotations: dict[str, str]) -> str:
    """The create guard's state: ``none``, ``pending`` (incomplete), ``succeeded`` or
    ``failed`` (whichever was recorded last)."""
    if create_incomplete(annotations):
        return "pending"
    marks = {which: _parse(annotations.get(which)) for which in (SUCCEEDED, FAILED)}
    known = {which: at for which, at in marks.items() if at is not None}
    if not known:
        return NO_CREATE
    latest = max(known, key=lambda which: (known[which], which == SUCCEEDED))
    return "succeeded" if latest == SUCCEEDED else "failed"


def mark(which: str, at: str | None = None) -> dict[str, str]:
    """Annotations to patch in for a create-guard transition."""
    return {which: at or timestamp()}


# --- state Secret --------------------------------------------------------------------


def secret_name(uid: str) -> str:
    return f"jetgen-tfstate-{uid}"


def owner_reference(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": body["apiVersion"],
        "kind": body["kind"],
        "name": body["metadata"]["name"],
        "uid": body["metadata"]["uid"],
        # Deleting the MR must not wait for its Secrets.
        "blockOwnerDeletion": False,
    }


def encode_state(data: bytes) -> bytes:
    packed = gzip.compress(data, mtime=0)
    if len(packed) > MAX_STATE_BYTES:
        raise ValueError(f"Terraform state is too big for a Secret ({len(packed)} bytes gzipped)")
    return packed


def decode_state(packed: bytes) -> bytes:
    return gzip.decompress(packed)


class StateStore:
    """Reads and writes one managed resource's state Secret."""

    def __init__(self, client: kube.KubeClient, default_namespace: str):
        self.client = client
        self.default_namespace = default_namespace

    def _where(self, body: dict[str, Any]) -> tuple[str, str]:
        namespace = body["metadata"].get("namespace") or self.default_namespace
        return namespace, secret_name(body["metadata"]["uid"])

    async def load(self, body: dict[str, Any]) -> bytes | None:
        namespace, name = self._where(body)
        secret = await self.client.get(kube.secret_path(namespace, name))
        if not secret or STATE_KEY not in (secret.get("data") or {}):
            return None
        return decode_state(base64.b64decode(secret["data"][STATE_KEY]))

    async def save(self, body: dict[str, Any], data: bytes) -> None:
        namespace, name = self._where(body)
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {STATE_LABEL: body["metadata"]["uid"]},
                "ownerReferences": [owner_reference(body)],
            },
            "data": kube.encode_data({STATE_KEY: encode_state(data)}),
        }
        path = kube.secret_path(namespace, name)
        try:
            await self.client.replace(path, secret)
        except kube.NotFound:
            await self.client.create(kube.secret_path(namespace), secret)
