"""Loaded by a controller started with this folder first on PYTHONPATH (see
benchmarks/settled_requests.py): logs every state Secret read and write of the passes,
with the MR and why, as ``statetrace`` lines.  Diagnosis only; nothing here is shipped."""

from __future__ import annotations

import hashlib
import logging
import time

from jetgen.runtime import reconciler, state
from jetgen.runtime.terraform.tfstate import state_serial

log = logging.getLogger("statetrace")
T0 = time.monotonic()
_last: dict[str, tuple[int, str, str | None]] = {}  # uid -> (serial, sha of state, settled)
_passes: dict[str, int] = {}
_prime_done: list[float] = []


def _sha(data: bytes | None) -> str:
    return hashlib.sha256(data or b"").hexdigest()[:8]


def _now() -> str:
    return f"{time.monotonic() - T0:7.1f}"


_load = state.StateStore.load


async def load(self, body):  # type: ignore[no-untyped-def]
    name = state.secret_name(body["metadata"]["uid"])
    primed = name in self._primed and time.monotonic() <= self._primed_until
    since = (
        f"{time.monotonic() - _prime_done[0]:.1f}s after prime" if _prime_done else "before prime"
    )
    found = await _load(self, body)
    uid = body["metadata"]["uid"]
    if found is not None:
        _last[uid] = (state_serial(found.state)[1], _sha(found.state), found.settled)
    log.info(
        "statetrace %s load %s %s (%s) serial=%s settled=%s pass=%d",
        _now(),
        body["metadata"]["name"],
        "primed" if primed else "GET",
        since,
        state_serial(found.state)[1] if found else None,
        (found.settled or "")[:8] if found else None,
        _passes.get(uid, 0),
    )
    return found


_prime = state.StateStore.prime


async def prime(self, keep_for):  # type: ignore[no-untyped-def]
    started = time.monotonic()
    out = await _prime(self, keep_for)
    _prime_done.append(time.monotonic())
    log.info(
        "statetrace %s prime %d listed, %d kept for %.0fs, took %.1fs",
        _now(),
        len(out),
        len(self._primed),
        keep_for,
        time.monotonic() - started,
    )
    return out


_persist = reconciler.Reconciler._persist


async def persist(self, mr, memory, wd):  # type: ignore[no-untyped-def]
    data = wd.read_state()
    writes = bool(data) and state.stored_digest(data, memory.settled) != memory.saved
    before = _last.get(mr.uid)
    await _persist(self, mr, memory, wd)
    if writes:
        serial = state_serial(data)[1]
        why = []
        if memory.saved is None or before is None:
            why.append("first write")
        else:
            if before[1] != _sha(data):
                why.append(f"state serial {before[0]}->{serial}")
            if before[2] != memory.settled:
                why.append(f"settled {(before[2] or 'none')[:8]}->{(memory.settled or 'none')[:8]}")
        log.info(
            "statetrace %s save %s pass=%d %s",
            _now(),
            mr.name,
            _passes.get(mr.uid, 0),
            ", ".join(why) or "?",
        )
        _last[mr.uid] = (serial, _sha(data), memory.settled)


_restore = reconciler.Reconciler._restore


async def restore(self, mr, memory):  # type: ignore[no-untyped-def]
    first = not memory.state_restored
    _passes[mr.uid] = _passes.get(mr.uid, 0) + 1
    if not first:
        wd = self.rt.driver.workdir(mr.uid)
        if wd.read_state() is None:
            log.info("statetrace %s restore %s: workdir state missing", _now(), mr.name)
    wd = await _restore(self, mr, memory)
    if first:
        before = _last.get(mr.uid)
        local = wd.read_state()
        log.info(
            "statetrace %s restore %s: first pass; workdir serial=%s secret serial=%s settled=%s",
            _now(),
            mr.name,
            state_serial(local)[1],
            before[0] if before else None,
            (memory.settled or "none")[:8],
        )
    return wd


state.StateStore.load = load  # type: ignore[method-assign]
state.StateStore.prime = prime  # type: ignore[method-assign]
reconciler.Reconciler._persist = persist  # type: ignore[method-assign]
reconciler.Reconciler._restore = restore  # type: ignore[method-assign]

from jetgen.runtime import scheduler  # noqa: E402

_observe = scheduler.Scheduler.observe


def observe(self, passes, body, event_type):  # type: ignore[no-untyped-def]
    new = body["metadata"]["uid"] not in self.entries
    _observe(self, passes, body, event_type)
    if new and (len(self.entries) % 100 == 0 or len(self.entries) == 1):
        log.info("statetrace %s observed %d MRs", _now(), len(self.entries))


scheduler.Scheduler.observe = observe  # type: ignore[method-assign]
