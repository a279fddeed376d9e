"""What must survive a controller restart: Terraform state and the create-pending guard.

Terraform state lives in the workdir while the controller runs, and is copied after each
change into a Secret.  A fresh controller, or one whose workdir was lost, restores the
newer of the two.

State decides what Terraform believes exists -- and so what it updates, replaces or
destroys -- so it must not be forgeable by a tenant.  The Secret therefore lives in the
*controller's* namespace (``--state-namespace``, by default the pod's own), never in the
MR's: nobody who may only create MRs can write there.  It is named by the MR's UID and
labelled with it; a Secret there whose label names another UID is not trusted.  A Secret
of the state's name in the MR's namespace (where older versions kept it) is ignored and
reported, never restored.  Namespaced MRs cannot own an object in another namespace, so
the reconciler deletes the Secret itself once the external resource is gone;
cluster-scoped MRs own theirs as well (garbage collection as a backstop).

Crash safety follows Crossplane: before a create starts, the annotation
``crossplane.io/external-create-pending`` gets the current time; afterwards
``...-succeeded`` or ``...-failed`` does.  A pending mark newer than both means a create
was cut short and may have made something the state does not know about, so the
reconciler must not blindly create again (see ``decisions``).

Which outcome counts as *failed* is narrower than in crossplane-runtime (where any error
of ``ExternalClient.Create`` sets ``...-failed``): a Terraform run can be cut short
(timeout, a provider crash, tofu killed) after the provider made the resource, so only a
run that shows nothing was created records a failure (``TerraformError``'s
``nothing_created``); anything else leaves the create *incomplete*.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import gzip
import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from jetgen.runtime import kube

PENDING = "crossplane.io/external-create-pending"
SUCCEEDED = "crossplane.io/external-create-succeeded"
FAILED = "crossplane.io/external-create-failed"

STATE_KEY = "tfstate.gz"
# Beside the state: the configuration digest a successful CLI pass left the resource
# matching (reconciler's settled mark), so a restarted controller may prove an MR
# unchanged over the plugin protocol instead of running a plan (see Stored).
SETTLED_KEY = "settled"
STATE_LABEL = "jetgen.dev/tfstate-for"
STATE_OF = "jetgen.dev/tfstate-of"  # annotation: which MR, for people
# Secrets are capped at 1 MiB; leave room for metadata.
MAX_STATE_BYTES = 1_000_000


def timestamp() -> str:
    # Microseconds, so a create that fails in the same second as it started still orders.
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(value: str | None) -> datetime.datetime | None:
    if not value:
        return None
    # The marks this runtime and Crossplane write are ISO 8601 in UTC, which the C
    # parser reads (every pass reads them; strptime took 5% of a settled pass); what it
    # refuses gets strptime's laxer reading, then the ISO reading below, as before.
    if value.endswith("Z"):
        with contextlib.suppress(ValueError):
            return datetime.datetime.fromisoformat(value[:-1] + "+00:00").replace(tzinfo=None)
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


@dataclass(frozen=True)
class Stored:
    """What a state Secret holds: the Terraform state and the settled mark written with
    it.  The mark vouches for this state only, so both are always written together."""

    state: bytes | None = None
    settled: str | None = None

    def digest(self) -> str:
        """Identifies the pair without keeping the state (what the controller remembers
        of the last write, to skip writing the same again)."""
        return stored_digest(self.state, self.settled)


def stored_digest(data: bytes | None, settled: str | None) -> str:
    return hashlib.sha256(b"%s\0%s" % ((settled or "").encode(), data or b"")).hexdigest()


class UntrustedState(Exception):
    """A state Secret that does not belong to the managed resource asking for it."""


def describe(body: dict[str, Any]) -> str:
    """``<apiVersion> <kind> <namespace>/<name>``: whose state a Secret holds, for people."""
    meta = body["metadata"]
    where = f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta["name"]
    return f"{body['apiVersion']} {body['kind']} {where}"


@dataclass(frozen=True)
class Owner:
    """The MR a state Secret says it holds the state of (its :data:`STATE_OF` annotation)."""

    api_version: str
    kind: str
    namespace: str | None
    name: str


def owner(secret: dict[str, Any]) -> Owner | None:
    """Read back what :func:`describe` wrote; None for anything else."""
    text = ((secret.get("metadata") or {}).get("annotations") or {}).get(STATE_OF)
    if not isinstance(text, str):
        return None
    parts = text.split(" ")
    if len(parts) != 3 or not all(parts):
        return None
    api_version, kind, where = parts
    namespace, _, name = where.rpartition("/")
    return Owner(api_version, kind, namespace or None, name) if name else None


class StateStore:
    """Reads and writes the state Secrets, all in the controller's own namespace."""

    def __init__(self, client: kube.KubeClient, namespace: str):
        self.client = client
        self.namespace = namespace
        # The state Secrets as one list at start read them (see prime), by name, each
        # kept for its MR's first load until ``_primed_until``; and, until that list is
        # read, the Secrets this store read, wrote or deleted (their listed copy may be
        # older: never primed).
        self._primed: dict[str, dict[str, Any]] = {}
        self._primed_until = 0.0
        self._keep_for = 0.0
        self._touched: set[str] | None = set()  # None once prime has run

    def _path(self, body: dict[str, Any]) -> str:
        return kube.secret_path(self.namespace, secret_name(body["metadata"]["uid"]))

    def location(self, body: dict[str, Any]) -> str:
        return f"{self.namespace}/{secret_name(body['metadata']['uid'])}"

    async def load(self, body: dict[str, Any]) -> Stored | None:
        """The state Secret's content; None when there is no Secret."""
        secret = self._take_primed(secret_name(body["metadata"]["uid"]))
        if secret is None:
            secret = await self.client.get(self._path(body))
        if not secret:
            return None
        uid = body["metadata"]["uid"]
        if (secret["metadata"].get("labels") or {}).get(STATE_LABEL) != uid:
            raise UntrustedState(
                f"state Secret {self.location(body)} is not labelled {STATE_LABEL}={uid}; "
                "not trusted"
            )
        data = secret.get("data") or {}
        if STATE_KEY not in data:
            return Stored()
        settled = base64.b64decode(data[SETTLED_KEY]).decode() if SETTLED_KEY in data else None
        return Stored(decode_state(base64.b64decode(data[STATE_KEY])), settled)

    async def foreign(self, body: dict[str, Any]) -> str | None:
        """``namespace/name`` of a Secret with the state's name in the MR's own namespace --
        tenant-writable, so never restored -- or None."""
        namespace = body["metadata"].get("namespace")
        if not namespace or namespace == self.namespace:
            return None
        name = secret_name(body["metadata"]["uid"])
        found = await self.client.get(kube.secret_path(namespace, name))
        return f"{namespace}/{name}" if found is not None else None

    async def delete(self, body: dict[str, Any]) -> None:
        self._touch(secret_name(body["metadata"]["uid"]))
        await self.client.delete(self._path(body))

    async def prime(self, keep_for: float) -> list[dict[str, Any]]:
        """Read every state Secret in one list (a page at a time) and keep each one's
        content for its MR's first :meth:`load` within ``keep_for`` seconds of the list
        or of the last load it answered: a start's first passes then take their state
        from the list, not a GET each (10,000 GETs in the poll interval after a
        10,000-MR restart).  Counted from the last load, not the list alone: the MRs
        of a start are handed to the passes over a while (1,000 over 16 s on a loaded
        machine), each first pass a random phase of the interval after that, so with a
        short interval or thousands of MRs a window counted from the list ended before
        half of them came (567 of 1,000 GETs).  A listed copy is never newer
        than what this store wrote: one this store read, wrote or deleted before the list
        was read is not kept, and a later read, write or delete drops it.  Returns the Secrets'
        metadata (for :meth:`sweep`)."""
        listed: dict[str, dict[str, Any]] = {}
        kept: dict[str, dict[str, Any]] = {}
        try:
            pages = self.client.pages(kube.secret_path(self.namespace), label_selector=STATE_LABEL)
            async for first, secrets in pages:
                if first:
                    listed, kept = {}, {}  # the list started over
                for secret in secrets:
                    meta = secret.get("metadata") or {}
                    name = meta.get("name")
                    if not isinstance(name, str):
                        continue
                    listed[name] = {"metadata": meta}
                    labels = meta.get("labels") or {}
                    kept[name] = {"metadata": {"labels": labels}, "data": secret.get("data")}
            touched = self._touched or set()  # None if a start primed twice
            self._primed = {n: s for n, s in kept.items() if n not in touched}
            self._keep_for = keep_for
            self._primed_until = time.monotonic() + keep_for
        finally:
            self._touched = None
        return list(listed.values())

    def _take_primed(self, name: str) -> dict[str, Any] | None:
        now = time.monotonic()
        if self._primed and now > self._primed_until:
            self._primed = {}  # its MRs had their first passes, or never came
        secret = self._primed.pop(name, None)
        if secret is not None:
            # First passes are still coming: the rest are kept as long again.
            self._primed_until = max(self._primed_until, now + self._keep_for)
        self._touch(name)
        return secret

    def _touch(self, name: str) -> None:
        """This store reads or changes the Secret ``name`` now: no listed copy of it."""
        self._primed.pop(name, None)
        if self._touched is not None:
            self._touched.add(name)

    async def sweep(
        self,
        secrets: list[dict[str, Any]],
        keep: Callable[[list[dict[str, Any]]], Awaitable[set[str]]],
    ) -> int:
        """Delete the state Secrets whose MR is gone (deleted while no replica ran).

        ``secrets`` are the state Secrets as listed (:meth:`prime`) before ``keep`` names
        those whose MR still exists or cannot be judged -- so an MR it finds existed
        after the list, and a Secret made since is not in it.  Returns how many were
        deleted."""
        kept = await keep(secrets)
        removed = 0
        for secret in secrets:
            name = secret["metadata"]["name"]
            if name not in kept:
                self._touch(name)
                await self.client.delete(kube.secret_path(self.namespace, name))
                removed += 1
        return removed

    async def save(
        self, body: dict[str, Any], data: bytes, settled: str | None = None, *, new: bool = False
    ) -> None:
        """Write the state Secret, with the settled mark if there is one.  ``new``: it is
        not known to exist (none was loaded or saved before), so it is created straight
        away -- one request where a replace refused with 404 and then a create would be
        two -- and replaced only if it turns out to exist after all."""
        self._touch(secret_name(body["metadata"]["uid"]))
        metadata: dict[str, Any] = {
            "name": secret_name(body["metadata"]["uid"]),
            "namespace": self.namespace,
            "labels": {STATE_LABEL: body["metadata"]["uid"]},
            "annotations": {STATE_OF: describe(body)},
        }
        if not body["metadata"].get("namespace"):
            # Only a cluster-scoped owner may own an object in another namespace.
            metadata["ownerReferences"] = [owner_reference(body)]
        content = {STATE_KEY: encode_state(data)}
        if settled:
            content[SETTLED_KEY] = settled.encode()
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": metadata,
            "data": kube.encode_data(content),
        }
        if new:
            try:
                await self.client.create(kube.secret_path(self.namespace), secret)
                return
            except kube.Conflict:
                pass
        try:
            await self.client.replace(self._path(body), secret)
        except kube.NotFound:
            await self.client.create(kube.secret_path(self.namespace), secret)
