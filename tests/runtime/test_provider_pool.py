"""ProviderPool's recycling and start back-off, on scripted providers (the pool's logic;
tests/plugin/ drive it with real provider binaries)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from jetgen.runtime import poll
from jetgen.runtime.backoff import Cooldown

MIB = poll.MIB


class FakeProvider:
    """A provider whose resident size the test sets."""

    count = 0

    def __init__(self, rss: int | None = 20 * MIB) -> None:
        FakeProvider.count += 1
        self.pid = 1000 + FakeProvider.count
        self.alive = True
        self.size = rss
        self.stopped = False

    def rss(self) -> int | None:
        return self.size

    async def configure(self, config) -> None:
        pass

    async def stop(self, grace: float = 5.0) -> None:
        self.stopped = True
        self.alive = False


class Starter:
    """Starts FakeProviders; `fail` makes the next starts raise."""

    def __init__(self, rss: int | None = 20 * MIB) -> None:
        self.started: list[FakeProvider] = []
        self.attempts = 0
        self.fail: Exception | None = None
        self.delay = 0.0
        self.rss = rss

    async def __call__(self, binary: Path, env: dict[str, str]) -> FakeProvider:
        self.attempts += 1
        await asyncio.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        self.started.append(FakeProvider(self.rss))
        return self.started[-1]


BINARY = Path("/nonexistent/terraform-provider-x")


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_a_process_grown_past_the_limit_is_replaced_while_its_calls_go_on():
    start = Starter()
    recycles: list[str] = []

    async def scenario() -> None:
        pool = poll.ProviderPool(
            start, rss_growth=64 * MIB, rss_interval=0, on_recycle=recycles.append
        )
        async with pool.use(BINARY, {}, {}) as old:
            old.size = 20 * MIB + 64 * MIB  # exactly at the limit: kept
            async with pool.use(BINARY, {}, {}) as same:
                assert same is old
            old.size += 1
            start.delay = 0.05  # the replacement takes a while to come up
            async with pool.use(BINARY, {}, {}) as during:
                assert during is old  # not held up by the replacement's start
                async with pool.use(BINARY, {}, {}) as again:
                    assert again is old  # one replacement at a time
                await asyncio.sleep(0.1)
                async with pool.use(BINARY, {}, {}) as fresh:
                    assert fresh is start.started[1]
                assert not old.stopped  # two callers still hold it
            assert not old.stopped
        await settle()
        assert old.stopped  # its last caller is done
        assert recycles == ["rss"]
        assert pool.rss() == 20 * MIB
        await pool.close()

    asyncio.run(scenario())


def test_rss_is_read_at_most_once_per_interval():
    start = Starter()

    async def scenario() -> None:
        pool = poll.ProviderPool(start, rss_growth=MIB, rss_interval=3600)
        async with pool.use(BINARY, {}, {}) as old:
            old.size = 500 * MIB
        async with pool.use(BINARY, {}, {}) as same:
            assert same is old  # not read again yet
        await pool.close()

    asyncio.run(scenario())


def test_without_rss_the_count_is_the_safety_net():
    start = Starter(rss=None)
    recycles: list[str] = []

    async def scenario() -> None:
        pool = poll.ProviderPool(start, recycle_after=3, on_recycle=recycles.append)
        for _ in range(3):
            async with pool.use(BINARY, {}, {}):
                pass
        async with pool.use(BINARY, {}, {}) as provider:
            assert provider is start.started[0]  # the 4th use starts the replacement
        await settle()
        async with pool.use(BINARY, {}, {}) as provider:
            assert provider is start.started[1]
        assert recycles == ["uses"]
        await pool.close()

    asyncio.run(scenario())


def test_a_replacement_that_cannot_start_leaves_the_old_process_serving():
    start = Starter()

    async def scenario() -> None:
        pool = poll.ProviderPool(start, rss_growth=MIB, rss_interval=0, start_backoff=(60, 60))
        async with pool.use(BINARY, {}, {}) as old:
            old.size = 100 * MIB
        start.fail = OSError("exec format error")
        for _ in range(5):
            async with pool.use(BINARY, {}, {}) as provider:
                assert provider is old
            await settle()
        assert start.attempts == 2  # one failed replacement; the next waits its back-off
        await pool.close()
        assert old.stopped

    asyncio.run(scenario())


def test_a_failing_start_is_retried_after_a_back_off_not_by_every_poll():
    start = Starter()
    start.fail = OSError("no such file")

    async def scenario() -> None:
        pool = poll.ProviderPool(start, start_backoff=(10, 100))
        with pytest.raises(OSError):
            async with pool.use(BINARY, {}, {}):
                pass
        # Many polls at once while the back-off runs: none starts a process.
        results = await asyncio.gather(*(_use(pool) for _ in range(20)), return_exceptions=True)
        assert all(isinstance(r, poll.ProviderStartFailed) for r in results)
        assert "no such file" in str(results[0]) and "after a back-off" in str(results[0])
        assert start.attempts == 1
        # Another configuration has its own back-off.
        start.fail = None
        async with pool.use(BINARY, {"other": 1}, {}) as provider:
            assert provider is start.started[0]
        # Once due, one try; it works and every caller shares the process.
        pool._cooldowns[next(iter(pool._cooldowns))].retry_at = 0
        got = await asyncio.gather(*(_use(pool) for _ in range(5)))
        assert start.attempts == 3
        assert all(p is start.started[1] for p in got)
        await pool.close()

    asyncio.run(scenario())


async def _use(pool: poll.ProviderPool):
    async with pool.use(BINARY, {}, {}) as provider:
        await asyncio.sleep(0.01)
        return provider


def test_cooldown_grows_with_jitter_and_resets():
    now = [0.0]
    cooldown = Cooldown(base=2, cap=30, clock=lambda: now[0])
    assert cooldown.blocked() is None
    waits = []
    for _ in range(6):
        waits.append(cooldown.failed(RuntimeError("x")))
    assert 1.5 <= waits[0] <= 2.5 and 3 <= waits[1] <= 5
    assert all(w <= 30 * 1.25 for w in waits) and waits[-1] >= 30 * 0.75
    assert isinstance(cooldown.blocked(), RuntimeError)
    now[0] = cooldown.retry_at
    assert cooldown.blocked() is None
    cooldown.succeeded()
    assert cooldown.failures == 0 and cooldown.blocked() is None
