"""SingleFlightCache on its own: ordering, failures, cancellation, bounds."""

import asyncio

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


def test_a_missing_value_is_remembered_for_missing_ttl_and_other_failures_are_not() -> None:
    clock = Clock()
    calls: list[str] = []

    async def load(outcome: str) -> str:
        calls.append(outcome)
        if outcome == "missing":
            raise NotThere("no such key")
        if outcome == "broken":
            raise KeyError("boom")
        return outcome

    async def main() -> None:
        cache: SingleFlightCache[str] = SingleFlightCache(
            30, 10, clock=clock, missing_ttl=5, is_missing=lambda e: isinstance(e, NotThere)
        )
        depths = []
        for _ in range(3):
            with pytest.raises(NotThere) as raised:
                await cache.get("m", lambda: load("missing"))
            depths.append(_depth(raised.value.__traceback__))
        # Raised again, the one error does not grow a traceback per hit.
        assert depths[1] == depths[2]
        for _ in range(2):
            with pytest.raises(KeyError):
                await cache.get("b", lambda: load("broken"))
        clock.now = 5.1  # the missing TTL is over; a value's would not be
        assert await cache.get("m", lambda: load("there")) == "there"
        clock.now = 30  # the value's TTL counts from its load, at 5.1
        assert await cache.get("m", lambda: load("again")) == "there"

    asyncio.run(main())
    assert calls == ["missing", "broken", "broken", "there"]


def _depth(traceback: object) -> int:
    depth = 0
    while traceback is not None:
        depth += 1
        traceback = traceback.tb_next  # type: ignore[attr-defined]
    return depth
