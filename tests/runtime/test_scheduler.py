"""The scheduler that runs every MR's passes (runtime/scheduler.py) keeps the rules the
per-MR kopf daemons had (but the first pass comes at once: it puts the finalizer on), a
start's first passes spread, a change wakes (during a pass: right after it), one pass at a
time, deletion and stop end the passes (a running one after a grace period, by cancelling
it)."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

from jetgen.runtime import scheduler
from jetgen.runtime.reconciler import Memory

FINALIZER = "jetgen.dev/finalizer"


def mr(uid: str = "u1", *, finalizer: bool = True, generation: int = 1) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": uid,
        "namespace": "team",
        "uid": uid,
        "generation": generation,
        "annotations": {},
        "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}],
    }
    if finalizer:
        meta["finalizers"] = [FINALIZER]
    return {"metadata": meta, "spec": {"forProvider": {"byteLength": 8}}}


class Passes:
    """A reconciler that records its passes; each takes ``seconds`` and asks for the next
    one after ``delay``."""

    def __init__(self, seconds: float = 0.0, delay: float = 60.0, first: float = 0.0) -> None:
        self.seconds = seconds
        self.delay = delay
        self.first = first
        self.bodies: list[dict[str, Any]] = []
        self.running = 0
        self.most = 0
        self.cancelled = 0

    async def run_pass(self, body: Any, memory: Memory) -> float:
        self.bodies.append(body)
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await asyncio.sleep(self.seconds)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.running -= 1
        return self.delay

    def first_delay(self, body: Any) -> float:
        return self.first


def run(scenario: Any) -> Any:
    return asyncio.run(asyncio.wait_for(scenario(), 10))


def test_a_new_mr_is_passed_at_once_and_its_finalizer_wakes_no_other_pass():
    """The pass puts the finalizer on (with the create-pending mark): a new MR does not
    wait for it, and the event of that patch plans no second pass."""

    async def scenario() -> tuple[int, int]:
        sched, passes = scheduler.Scheduler(), Passes()
        sched.observe(passes, mr(finalizer=False), None)
        await asyncio.sleep(0.1)
        before = len(passes.bodies)
        sched.observe(passes, mr(), "MODIFIED")  # the pass's own patch came back
        await asyncio.sleep(0.1)
        await sched.stop()
        return before, len(passes.bodies)

    assert run(scenario) == (1, 1)


def test_the_first_pass_waits_its_first_delay_and_a_change_cuts_it_short():
    async def scenario() -> tuple[int, int]:
        sched, passes = scheduler.Scheduler(), Passes(first=30.0)
        sched.observe(passes, mr(), None)  # a settled MR listed at start
        await asyncio.sleep(0.1)
        waiting = len(passes.bodies)
        sched.observe(passes, mr(generation=2), "MODIFIED")  # edited meanwhile
        await asyncio.sleep(0.1)
        await sched.stop()
        return waiting, len(passes.bodies)

    assert run(scenario) == (0, 1)


class Unreadable(Passes):
    """A reconciler that cannot read the body's poll interval (a hostile annotation)."""

    def first_delay(self, body: Any) -> float:
        raise ValueError("crossplane.io/poll-interval: not a duration")


def test_a_body_whose_first_delay_cannot_be_read_is_passed_at_once():
    async def scenario() -> int:
        sched, passes = scheduler.Scheduler(), Unreadable()
        sched.observe(passes, mr(), None)
        await asyncio.sleep(0.1)
        await sched.stop()
        return len(passes.bodies)

    assert run(scenario) == 1


def test_a_poll_comes_after_the_delay_the_pass_returned():
    async def scenario() -> int:
        sched, passes = scheduler.Scheduler(), Passes(delay=0.05)
        sched.observe(passes, mr(), None)
        await asyncio.sleep(0.32)
        await sched.stop()
        return len(passes.bodies)

    assert 4 <= run(scenario) <= 7


def test_an_event_that_changes_no_trigger_does_not_wake():
    async def scenario() -> int:
        sched, passes = scheduler.Scheduler(), Passes()
        sched.observe(passes, mr(), None)
        await asyncio.sleep(0.05)
        status = mr()
        status["status"] = {"conditions": [{"type": "Ready", "status": "True"}]}
        sched.observe(passes, status, "MODIFIED")  # the pass's own status write
        await asyncio.sleep(0.1)
        await sched.stop()
        return len(passes.bodies)

    assert run(scenario) == 1


def test_a_new_mr_gets_one_first_pass_however_late_its_events_are_handled():
    """Under load kopf's handlers ran late: the daemons' first pass began from a body
    already showing the finalizer, and the finalizer's event, handled afterwards, woke a
    second pass at once on a body without the first one's writes.  Here a pass begins only
    from what an event showed, so the finalizer's event, however late, plans one pass, and
    the events of its own writes (repeated as kopf may) plan none."""

    async def scenario() -> tuple[int, int]:
        sched, passes = scheduler.Scheduler(), Passes(seconds=0.05)
        sched.observe(passes, mr(finalizer=False), "ADDED")
        sched.observe(passes, mr(), "MODIFIED")  # kopf's finalizer patch
        await asyncio.sleep(0.01)
        written = mr()
        written["metadata"]["annotations"]["crossplane.io/external-name"] = "abc"
        written["status"] = {"conditions": [{"type": "Ready", "status": "True"}]}
        for _ in range(2):
            sched.observe(passes, mr(), "MODIFIED")
            sched.observe(passes, written, "MODIFIED")
        await asyncio.sleep(0.2)
        once = len(passes.bodies)
        sched.observe(passes, mr(generation=2), "MODIFIED")  # a change no pass has seen
        await asyncio.sleep(0.1)
        await sched.stop()
        return once, len(passes.bodies)

    assert run(scenario) == (1, 2)


def test_a_change_during_a_pass_brings_the_next_right_after_it_never_alongside():
    async def scenario() -> Passes:
        sched, passes = scheduler.Scheduler(), Passes(seconds=0.1)
        sched.observe(passes, mr(), None)
        await asyncio.sleep(0.02)
        sched.observe(passes, mr(generation=2), "MODIFIED")
        sched.observe(passes, mr(generation=3), "MODIFIED")
        await asyncio.sleep(0.3)
        await sched.stop()
        return passes

    passes = run(scenario)
    assert len(passes.bodies) == 2
    assert passes.most == 1
    assert passes.bodies[1]["metadata"]["generation"] == 3  # the latest body


def test_a_pass_reads_the_body_without_managed_fields_from_its_own_copy():
    async def scenario() -> tuple[dict[str, Any], scheduler.Scheduler]:
        sched, passes = scheduler.Scheduler(), Passes()
        body = mr()
        sched.observe(passes, body, None)
        body["spec"]["forProvider"]["byteLength"] = 99  # kopf's dict, changed afterwards
        await asyncio.sleep(0.05)
        await sched.stop()
        return passes.bodies[0], sched

    seen, sched = run(scenario)
    expected = copy.deepcopy(mr())
    del expected["metadata"]["managedFields"]
    assert seen == expected
    assert b"managedFields" not in sched.entries["u1"].body


def test_deletion_stops_the_passes_and_cancels_a_running_one_after_the_grace():
    async def scenario() -> tuple[int, int, int]:
        sched = scheduler.Scheduler(grace=0.1)
        passes = Passes(seconds=5.0, delay=0.0)
        sched.observe(passes, mr(), None)
        await asyncio.sleep(0.02)
        deleting = mr()
        deleting["metadata"]["deletionTimestamp"] = "2026-12-07T07:00:00Z"
        sched.observe(passes, deleting, "MODIFIED")
        await asyncio.sleep(0.05)
        during_grace = passes.cancelled
        await asyncio.sleep(0.2)
        await sched.stop()
        return during_grace, passes.cancelled, len(passes.bodies)

    assert run(scenario) == (0, 1, 1)


def test_the_deletion_handler_shares_the_memory_of_the_passes_and_deleted_forgets():
    async def scenario() -> tuple[bool, bool]:
        sched, passes = scheduler.Scheduler(), Passes()
        sched.observe(passes, mr(), None)
        same = sched.memory(passes, "u1") is sched.entries["u1"].memory
        sched.observe(passes, mr(), "DELETED")
        await sched.stop()
        return same, "u1" in sched.entries

    assert run(scenario) == (True, False)


def test_stop_lets_a_pass_finish_within_the_grace_and_starts_none():
    async def scenario() -> tuple[int, int, int]:
        sched = scheduler.Scheduler(grace=0.5)
        passes = Passes(seconds=0.1, delay=0.0)
        sched.observe(passes, mr(), None)
        await asyncio.sleep(0.02)
        await sched.stop()
        ran = len(passes.bodies)
        await asyncio.sleep(0.1)
        return ran, len(passes.bodies), passes.cancelled

    assert run(scenario) == (1, 1, 0)


def test_stop_cancels_a_pass_still_running_after_the_grace():
    async def scenario() -> tuple[int, float]:
        sched = scheduler.Scheduler(grace=0.1, timeout=1.0)
        passes = Passes(seconds=5.0)
        sched.observe(passes, mr(), None)
        await asyncio.sleep(0.02)
        began = asyncio.get_running_loop().time()
        await sched.stop()
        return passes.cancelled, asyncio.get_running_loop().time() - began

    cancelled, took = run(scenario)
    assert cancelled == 1
    assert 0.1 <= took < 1.0
