"""SingleFlightCache on its own: ordering, failures, cancellation, bounds."""

import asyncio
from collections.abc import Callable

import pytest

from aux_service.cache import SingleFlightCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_concurrent_callers_share_one_load() -> None:
    loads = 0

    async def load() -> str:
        nonlocal loads
        loads += 1
        await asyncio.sleep(0.01)
        return "v"

    async def main() -> list[str]:
        cache: SingleFlightCache[str] = SingleFlightCache(30, 10)
        return await asyncio.gather(*(cache.get("k", load) for _ in range(100)))

    assert asyncio.run(main()) == ["v"] * 100
    assert loads == 1


def test_a_failed_load_reaches_every_waiter_and_is_retried_next_time() -> None:
    attempts = 0

    async def load() -> str:
        nonlocal attempts
        attempts += 1
        await asyncio.sleep(0.01)
        if attempts == 1:
            raise KeyError("boom")
        return "ok"

    async def main() -> tuple[list[object], str]:
        cache: SingleFlightCache[str] = SingleFlightCache(30, 10)
        first = await asyncio.gather(
            *(cache.get("k", load) for _ in range(5)), return_exceptions=True
        )
        return first, await cache.get("k", load)

    first, second = asyncio.run(main())
    assert all(isinstance(result, KeyError) for result in first)
    assert second == "ok"
    assert attempts == 2


def test_cancelled_leader_does_not_fail_the_others() -> None:
    async def load() -> str:
        await asyncio.sleep(0.05)
        return "v"

    async def main() -> str:
        cache: SingleFlightCache[str] = SingleFlightCache(30, 10)
        leader = asyncio.ensure_future(cache.get("k", load))
        await asyncio.sleep(0)
        follower = asyncio.ensure_future(cache.get("k", load))
        await asyncio.sleep(0)
        leader.cancel()
        return await follower

    assert asyncio.run(main()) == "v"


def test_entries_expire_and_the_size_is_bounded() -> None:
    clock = Clock()
    lookups: list[bool] = []

    async def main() -> None:
        cache: SingleFlightCache[str] = SingleFlightCache(10, 2, lookups.append, clock)
        for key in ("a", "b", "c"):
            await cache.get(key, lambda key=key: _value(key))
        await cache.get("c", lambda: _value("c2"))  # hit
        assert await cache.get("a", lambda: _value("a2")) == "a2"  # evicted: oldest
        clock.now = 11
        assert await cache.get("c", lambda: _value("c3")) == "c3"  # expired

    asyncio.run(main())
    assert lookups == [False, False, False, True, False, False]


async def _value(value: str) -> str:
    return value


@pytest.mark.parametrize("ttl", [0, -1])
def test_non_positive_ttl_always_loads(ttl: float) -> None:
    loads = 0

    async def load() -> int:
        nonlocal loads
        loads += 1
        return loads

    async def main() -> list[int]:
        cache: SingleFlightCache[int] = SingleFlightCache(ttl, 10)
        return [await cache.get("k", load) for _ in range(3)]

    assert asyncio.run(main()) == [1, 2, 3]


class NotThere(Exception):
    pass


def _not_there(error: BaseException) -> Callable[[], Exception] | None:
    return (lambda: NotThere("no such key")) if isinstance(error, NotThere) else None


def test_a_missing_value_is_remembered_for_missing_ttl_and_other_failures_are_not() -> None:
    clock = Clock()
    calls: list[str] = []
    failures: list[BaseException] = []

    async def load(outcome: str) -> str:
        calls.append(outcome)
        if outcome == "missing":
            failures.append(NotThere("no such key"))
            raise failures[-1]
        if outcome == "broken":
            raise KeyError("boom")
        return outcome

    async def main() -> None:
        cache: SingleFlightCache[str] = SingleFlightCache(
            30, 10, clock=clock, missing_ttl=5, missing=_not_there
        )
        raised = []
        for _ in range(3):
            with pytest.raises(NotThere) as error:
                await cache.get("m", lambda: load("missing"))
            raised.append(error.value)
        # A hit raises a fresh error: nothing of the failed load (traceback, cause) is kept.
        assert raised[0] is failures[0]
        assert len({id(error) for error in raised}) == 3
        for _ in range(2):
            with pytest.raises(KeyError):
                await cache.get("b", lambda: load("broken"))
        clock.now = 5.1  # the missing TTL is over; a value's would not be
        assert await cache.get("m", lambda: load("there")) == "there"
        clock.now = 30  # the value's TTL counts from its load, at 5.1
        assert await cache.get("m", lambda: load("again")) == "there"

    asyncio.run(main())
    assert calls == ["missing", "broken", "broken", "there"]


def test_remembered_misses_evict_no_value() -> None:
    async def missing() -> str:
        raise NotThere("no such key")

    async def main() -> None:
        cache: SingleFlightCache[str] = SingleFlightCache(30, 2, missing_ttl=5, missing=_not_there)
        assert await cache.get("a", lambda: _value("a")) == "a"
        assert await cache.get("b", lambda: _value("b")) == "b"
        for key in ("x", "y", "z"):  # more misses than max_entries
            with pytest.raises(NotThere):
                await cache.get(key, missing)
        # Both values still cached (a load would give "new"); the oldest miss was dropped.
        assert await cache.get("a", lambda: _value("new")) == "a"
        assert await cache.get("b", lambda: _value("new")) == "b"
        assert await cache.get("x", lambda: _value("made")) == "made"

    asyncio.run(main())
