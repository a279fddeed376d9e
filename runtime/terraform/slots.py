"""Run slots: how many Terraform runs at once, and which waiting run goes first."""

from __future__ import annotations

import asyncio
import contextvars
import heapq
from collections.abc import Callable

# Lower runs first.  Finishing work already started (apply after its plan, destroy, import)
# beats starting new work, and new or changed objects beat routine drift checks, so a
# burst of new objects or a big periodic poll never starves what users are waiting for.
FINISH, CHANGE, POLL = 0, 1, 2

# Told, in the task that set it, each time a run of that task gets its slot: a run waiting
# in the queue has not started (see the reconciler's Creating notice).
run_started: contextvars.ContextVar[Callable[[], None] | None] = contextvars.ContextVar(
    "run_started", default=None
)


class RunSlots:
    """A semaphore whose waiters are served by priority, then first come first served."""

    def __init__(self, size: int):
        self.size = size
        self.busy = 0
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._counter = 0

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def acquire(self, priority: int) -> None:
        await self._acquire(priority)
        started = run_started.get()
        if started is not None:
            started()

    async def _acquire(self, priority: int) -> None:
        if self.busy < self.size and not self._waiters:
            self.busy += 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._counter += 1
        heapq.heappush(self._waiters, (priority, self._counter, future))
        try:
            await future  # release() hands its slot over: busy stays counted
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # the slot arrived just as we were cancelled: pass it on
            else:
                self._waiters = [w for w in self._waiters if w[2] is not future]
                heapq.heapify(self._waiters)
            raise

    def release(self) -> None:
        while self._waiters:
            _, _, future = heapq.heappop(self._waiters)
            if not future.done():
                future.set_result(None)
                return
        self.busy -= 1
