"""Leader election with a ``coordination.k8s.io/v1`` Lease, the way client-go does it.

Any number of replicas may run; only the holder of the Lease reconciles.  A candidate
takes the Lease when it is free (no holder, or released) or when the holder has not
renewed it for a whole ``leaseDurationSeconds``.  Expiry is judged by the candidate's own
clock from the moment it last *saw the record change* (client-go's rule), never by comparing
the holder's timestamps with local time, so clock skew between nodes cannot make two
leaders.  Writes carry the ``resourceVersion`` they were based on, so of two candidates
racing for a free Lease the apiserver lets exactly one win.

The leader renews every ``renew`` seconds.  If it cannot renew for ``renew_deadline``
seconds (shorter than the lease duration, so it notices before anyone may take over) it
has lost: the caller must stop reconciling at once.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import socket
import time
import uuid
from dataclasses import dataclass
from typing import Any

from jetgen.runtime import kube

logger = logging.getLogger(__name__)

API = "coordination.k8s.io/v1"


@dataclass(frozen=True)
class LeaseTiming:
    duration: float = 15.0
    """A holder that has not renewed for this long may be replaced."""

    renew_deadline: float = 10.0
    """The leader gives up after failing to renew for this long (< duration)."""

    retry: float = 2.0
    """How often candidates try, and the leader retries a failed renewal."""

    renew: float = 5.0
    """How often the leader renews."""

    def check(self) -> None:
        if not (0 < self.retry and 0 < self.renew < self.renew_deadline < self.duration):
            raise ValueError(
                "leader election needs 0 < renew < renew deadline < lease duration "
                f"(got renew {self.renew:g}s, deadline {self.renew_deadline:g}s, "
                f"duration {self.duration:g}s)"
            )


def default_identity() -> str:
    """Unique per process: the pod name (hostname) plus a random suffix, as client-go."""
    return f"{socket.gethostname()}_{uuid.uuid4().hex[:12]}"


def micro_time(at: float | None = None) -> str:
    """A Kubernetes MicroTime."""
    moment = datetime.datetime.fromtimestamp(at if at is not None else time.time(), datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    def __init__(
        self,
        client: kube.KubeClient,
        *,
        name: str,
        namespace: str,
        identity: str | None = None,
        timing: LeaseTiming | None = None,
    ):
        self.client = client
        self.name = name
        self.namespace = namespace
        self.identity = identity or default_identity()
        self.timing = timing or LeaseTiming()
        self.timing.check()
        self.path = kube.object_path(API, "leases", namespace, name)
        # What we last saw of the record, and when (monotonic) we first saw it like that.
        self._observed: tuple[Any, ...] | None = None
        self._observed_at = 0.0
        self._resource_version: str | None = None
        self._transitions = 0
        self.leading = False
        self.renewed_at = 0.0  # monotonic time the last successful renewal was sent

    # --- one attempt ---------------------------------------------------------------------

    async def try_acquire_or_renew(self) -> bool:
        """One round: True if we hold the Lease afterwards."""
        lease = await self.client.get(self.path)
        now = time.monotonic()
        if lease is None:
            return await self._create()
        spec = lease.get("spec") or {}
        record = (
            spec.get("holderIdentity"),
            spec.get("renewTime"),
            spec.get("acquireTime"),
            spec.get("leaseDurationSeconds"),
            spec.get("leaseTransitions"),
        )
        if record != self._observed:
            self._observed, self._observed_at = record, now
        self._resource_version = lease["metadata"].get("resourceVersion")
        self._transitions = int(spec.get("leaseTransitions") or 0)
        holder = spec.get("holderIdentity") or ""
        duration = float(spec.get("leaseDurationSeconds") or self.timing.duration)
        if holder and holder != self.identity and now < self._observed_at + duration:
            return False  # someone else holds a live lease
        taking_over = holder != self.identity
        return await self._write(spec, taking_over)

    async def _create(self) -> bool:
        now = micro_time()
        lease = {
            "apiVersion": API,
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": self._spec(acquired=now, renewed=now, transitions=0),
        }
        try:
            collection = kube.object_path(API, "leases", self.namespace)
            created = await self.client.create(collection, lease)
        except kube.Conflict:
            return False  # another candidate created it first
        self._resource_version = created["metadata"].get("resourceVersion")
        return True

    async def _write(self, spec: dict[str, Any], taking_over: bool) -> bool:
        now = micro_time()
        transitions = self._transitions + (1 if taking_over else 0)
        acquired = now if taking_over else (spec.get("acquireTime") or now)
        lease = {
            "apiVersion": API,
            "kind": "Lease",
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "resourceVersion": self._resource_version,
            },
            "spec": self._spec(acquired=acquired, renewed=now, transitions=transitions),
        }
        try:
            written = await self.client.replace(self.path, lease)
        except kube.Conflict:
            return False  # it changed under us: someone else renewed or took it
        self._resource_version = written["metadata"].get("resourceVersion")
        return True

    def _spec(self, *, acquired: str, renewed: str, transitions: int) -> dict[str, Any]:
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": max(1, round(self.timing.duration)),
            "acquireTime": acquired,
            "renewTime": renewed,
            "leaseTransitions": transitions,
        }

    async def _attempt(self) -> bool:
        try:
            # A hung request must not outlive the renew deadline.
            return await asyncio.wait_for(
                self.try_acquire_or_renew(), self.timing.renew_deadline / 2
            )
        except Exception as exc:  # noqa: BLE001 - an unreachable apiserver is a failed round
            logger.warning("leader election: lease %s/%s: %s", self.namespace, self.name, exc)
            return False

    # --- the loops -----------------------------------------------------------------------

    async def acquire(self) -> None:
        """Wait until we hold the Lease."""
        logger.info(
            "leader election: %s waiting for lease %s/%s", self.identity, self.namespace, self.name
        )
        while True:
            started = time.monotonic()
            if await self._attempt():
                break
            await asyncio.sleep(self.timing.retry)
        self.renewed_at, self.leading = started, True
        logger.info("leader election: %s is the leader", self.identity)

    def valid(self) -> bool:
        """Whether we may act as leader right now: we renewed (counting from when the
        request was *sent*) within the renew deadline.  Checked before every Terraform run,
        so even a process frozen and thawed after losing the Lease starts nothing."""
        return self.leading and time.monotonic() - self.renewed_at < self.timing.renew_deadline

    async def hold(self) -> None:
        """Renew until we cannot; returns when leadership is lost."""
        while self.valid():
            await asyncio.sleep(self.timing.renew)
            while self.valid():
                started = time.monotonic()
                if await self._attempt():
                    self.renewed_at = started
                    break
                if self.valid():
                    await asyncio.sleep(self.timing.retry)
        self.leading = False
        logger.error(
            "leader election: %s lost lease %s/%s (not renewed for %.0fs)",
            self.identity,
            self.namespace,
            self.name,
            time.monotonic() - self.renewed_at,
        )

    async def release(self) -> None:
        """Give the Lease up on a clean stop, so a standby takes over at once."""
        if not self.leading:
            return
        self.leading = False
        lease = await self.client.get(self.path)
        if lease is None or (lease.get("spec") or {}).get("holderIdentity") != self.identity:
            return
        lease["spec"]["holderIdentity"] = ""
        lease["spec"]["leaseDurationSeconds"] = 1
        try:
            await self.client.replace(self.path, lease)
            logger.info("leader election: %s released the lease", self.identity)
        except kube.KubeError as exc:
            logger.warning("leader election: could not release the lease: %s", exc)
