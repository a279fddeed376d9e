"""Runs every managed resource's passes at their times: one scheduler for all MRs.

kopf's daemons gave each MR an asyncio task of its own for its whole life, a live copy of
its body kept current by every event, a stopper and a logger: several KiB per MR while it
sleeps out its poll interval, which is nearly always.  Here an MR between passes is one
small :class:`Entry` -- its reconciler, its :class:`~jetgen.runtime.reconciler.Memory`,
its body once (compact JSON, without ``managedFields``, which no pass reads) and its due
time in one heap shared by all.  A task exists only while a pass runs.

The entries are kept current by kopf's event handler (:meth:`Scheduler.observe`, every
watch event of a served kind) and the rules are those the daemons had:

* **the first pass at once**: the event that shows a new MR plans its first pass; the
  pass puts the finalizer on with the create-pending mark (operator.finalizer_from_passes),
  so nothing is created that a delete would not wait for;
* **a start's first passes are spread**: the first pass waits ``Reconciler.first_delay``
  (a random phase of the interval for an MR already settled, see :mod:`.schedule`);
* **a change wakes**: an event whose trigger (:func:`trigger`) differs plans a pass at
  once -- or, during a pass, right after it;
* **one pass at a time per MR**, and a pass never overlaps the deletion handler (both take
  ``Memory.lock``);
* **deletion stops the passes**: once the MR carries a deletionTimestamp it gets no new
  pass, and one running is given ``grace`` seconds, then cancelled (its Terraform run is
  interrupted like Ctrl-C, which saves state); the deletion handler does the rest;
* **stop**: on exit passes waiting for their time end at once, a running one gets
  ``grace`` seconds to finish, then is cancelled and given ``timeout`` more.

Nothing here needs to survive a restart: kopf lists every object when it starts, and each
one's first event builds its entry again.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import json
import logging
from collections.abc import Mapping
from typing import Any, Protocol

from jetgen.runtime import resource
from jetgen.runtime.reconciler import Memory

logger = logging.getLogger(__name__)


class Passes(Protocol):
    """What the scheduler needs of a kind's reconciler."""

    async def run_pass(self, body: Any, memory: Memory) -> float: ...

    def first_delay(self, body: Any) -> float: ...


def trigger(body: Mapping[str, Any]) -> tuple[Any, ...]:
    """What, when changed, deserves a pass before the next poll (not the finalizer: the
    pass's own patch puts it on)."""
    meta = body.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    return (
        meta.get("generation"),
        annotations.get(resource.PAUSED),
        annotations.get(resource.RECONCILE_REQUESTED_AT),
        annotations.get(resource.POLL_INTERVAL),
    )


def has_finalizer(body: Mapping[str, Any], finalizer: str) -> bool:
    return finalizer in ((body.get("metadata") or {}).get("finalizers") or [])


def compact(body: Mapping[str, Any]) -> bytes:
    """The body as kept between passes: JSON without ``managedFields`` (the apiserver's
    field ownership, which lists every spec field again and no pass reads)."""
    meta = body.get("metadata") or {}
    if "managedFields" in meta:
        body = {**body, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}
    return json.dumps(body, separators=(",", ":")).encode()


def _first_delay(passes: Passes, body: Mapping[str, Any]) -> float:
    """The first pass's delay; at once if the body cannot tell (the pass will say why)."""
    try:
        return passes.first_delay(body)
    except Exception:  # noqa: BLE001 - a hostile body must not leave the MR without passes
        logger.debug("first delay not computed; passing at once", exc_info=True)
        return 0.0


class Entry:
    """One MR between passes."""

    __slots__ = (
        "passes",
        "memory",
        "body",
        "trigger",
        "started",
        "ticket",
        "task",
        "again",
        "deleting",
    )

    def __init__(self, passes: Passes) -> None:
        self.passes = passes
        self.memory = Memory()
        self.body = b""
        self.trigger: tuple[Any, ...] | None = None
        self.started = False  # its first pass is planned
        self.ticket: int | None = None  # its place in the heap; None: no pass planned
        self.task: asyncio.Task[None] | None = None  # the pass running now
        self.again = False  # changed during the pass: the next one at once
        self.deleting = False


class Scheduler:
    """The MRs of all served kinds, keyed by uid, and when each one's next pass is due."""

    def __init__(self, *, grace: float = 2.0, timeout: float = 30.0) -> None:
        self.grace = grace
        self.timeout = timeout
        self.entries: dict[str, Entry] = {}
        self._heap: list[tuple[float, int, str]] = []
        self._tickets = itertools.count()
        self._changed = asyncio.Event()
        self._stopping = False
        self._runner: asyncio.Task[None] | None = None

    # --- what kopf tells ---------------------------------------------------------------

    def observe(self, passes: Passes, body: Mapping[str, Any], event_type: str | None) -> None:
        """One watch event of an MR (``event_type`` None: kopf's listing at start)."""
        if self._runner is None and not self._stopping:
            # Started from kopf's handler, not at start-up: the passes must inherit the
            # context kopf sets for its handlers (kopf.event() posts through it).
            self._runner = asyncio.ensure_future(self.run())
            self._runner.add_done_callback(_report_end)
        uid = body["metadata"]["uid"]
        if event_type == "DELETED":
            self.forget(uid)
            return
        entry = self.entries.get(uid)
        if entry is None:
            entry = self.entries[uid] = Entry(passes)
        entry.body = compact(body)
        before, entry.trigger = entry.trigger, trigger(body)
        if (body.get("metadata") or {}).get("deletionTimestamp"):
            if not entry.deleting:
                self._stop_passes(entry)
        elif not entry.started:
            entry.started = True
            self._plan(uid, entry, _first_delay(passes, body))
        elif entry.trigger != before:
            if entry.task is not None:
                entry.again = True
            else:
                self._plan(uid, entry, 0.0)

    def memory(self, passes: Passes, uid: str) -> Memory:
        """The MR's memory (the deletion handler's, shared with its passes)."""
        entry = self.entries.get(uid)
        if entry is None:
            entry = self.entries[uid] = Entry(passes)
        return entry.memory

    def forget(self, uid: str) -> None:
        """The MR is gone from the API."""
        entry = self.entries.pop(uid, None)
        if entry is not None:
            self._stop_passes(entry)

    # --- the loop ----------------------------------------------------------------------

    async def run(self) -> None:
        """Start each pass when it is due; runs until :meth:`stop` (or cancelled)."""
        loop = asyncio.get_running_loop()
        while True:
            self._changed.clear()
            now = loop.time()
            while self._heap and self._heap[0][0] <= now:
                _, ticket, uid = heapq.heappop(self._heap)
                entry = self.entries.get(uid)
                if entry is not None and entry.ticket == ticket:
                    self._start(uid, entry)
            wait = self._heap[0][0] - now if self._heap else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), wait)

    async def stop(self) -> None:
        """No new passes; running ones get ``grace`` seconds, then are cancelled."""
        self._stopping = True
        if self._runner is not None:
            self._runner.cancel()
        running = {e.task for e in self.entries.values() if e.task is not None}
        if not running:
            return
        _, late = await asyncio.wait(running, timeout=self.grace)
        for task in late:
            task.cancel()
        if late:
            _, hung = await asyncio.wait(late, timeout=self.timeout)
            if hung:
                logger.warning("%d passes still running after cancelling", len(hung))

    def _plan(self, uid: str, entry: Entry, delay: float) -> None:
        due = asyncio.get_running_loop().time() + max(0.0, delay)
        entry.ticket = next(self._tickets)
        heapq.heappush(self._heap, (due, entry.ticket, uid))
        if self._heap[0][1] == entry.ticket:
            self._changed.set()  # earlier than what the loop sleeps for

    def _start(self, uid: str, entry: Entry) -> None:
        entry.ticket = None
        entry.again = False  # a change during the pass must plan the next one at once
        entry.task = asyncio.create_task(self._pass(uid, entry), name=f"pass {uid}")

    async def _pass(self, uid: str, entry: Entry) -> None:
        delay = 0.0
        try:
            delay = await entry.passes.run_pass(json.loads(entry.body), entry.memory)
        except Exception:  # run_pass never raises: this is a bug, but not a reason to stop
            logger.exception("a pass failed unexpectedly; tried again in a minute")
            delay = 60.0
        finally:
            entry.task = None
        if self._stopping or entry.deleting or self.entries.get(uid) is not entry:
            return
        self._plan(uid, entry, 0.0 if entry.again else delay)

    def _stop_passes(self, entry: Entry) -> None:
        """No further pass; the running one is cancelled after ``grace`` seconds."""
        entry.deleting = True
        entry.ticket = None
        if entry.task is not None:
            asyncio.get_running_loop().call_later(self.grace, entry.task.cancel)


def _report_end(runner: asyncio.Task[None]) -> None:
    """The loop ends only by :meth:`Scheduler.stop`; anything else is a bug to log."""
    if not runner.cancelled() and runner.exception() is not None:
        logger.error("the scheduler stopped: no further passes", exc_info=runner.exception())
