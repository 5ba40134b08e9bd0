"""A TTL cache with single-flight loading: N concurrent misses for a key make one load."""

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

V = TypeVar("V")
K = TypeVar("K")
T = TypeVar("T")

# What a load failure leaves to remember: how to raise it again, or None (not remembered).
MissingRule = Callable[[BaseException], Callable[[], Exception] | None]


class SingleFlightCache(Generic[V]):
    """Caches successful loads for `ttl` seconds, and failures that `missing` says mean "no
    such value" for `missing_ttl` seconds; other failed loads are not cached.

    `missing(error)` returns how to make that error again (a fresh exception per hit, so
    nothing of the failed load, its cause or traceback, is kept), or None. Values and
    remembered misses are bounded apart, `max_entries` each: misses evict no value.
    With `ttl` 0 the cache is off and every call loads, missing or not.
    """

    def __init__(
        self,
        ttl: float,
        max_entries: int,
        on_lookup: Callable[[bool], None] = lambda hit: None,
        clock: Callable[[], float] = time.monotonic,
        *,
        missing_ttl: float = 0.0,
        missing: MissingRule = lambda error: None,
    ) -> None:
        self._ttl = ttl
        self._max_entries = max_entries
        self._on_lookup = on_lookup
        self._clock = clock
        self._missing_ttl = missing_ttl
        self._missing_rule = missing
        self._entries: OrderedDict[str, tuple[float, V]] = OrderedDict()
        self._missing: OrderedDict[str, tuple[float, Callable[[], Exception]]] = OrderedDict()
        self._inflight: dict[str, asyncio.Future[V]] = {}

    async def get(self, key: str, load: Callable[[], Awaitable[V]]) -> V:
        """The cached value for `key`, loading it (once, however many callers wait) when stale."""
        if self._ttl <= 0:
            self._on_lookup(False)
            return await load()
        now = self._clock()
        entry = self._entries.get(key)
        if entry is not None and entry[0] > now:
            self._on_lookup(True)
            return entry[1]
        miss = self._missing.get(key)
        if miss is not None and miss[0] > now:
            self._on_lookup(True)
            raise miss[1]()
        self._on_lookup(False)
        pending = self._inflight.get(key)
        if pending is None:
            # The load runs as its own task so a cancelled caller cannot fail the others.
            pending = asyncio.ensure_future(self._load(key, load))
            pending.add_done_callback(_retrieve_exception)
            self._inflight[key] = pending
        return await asyncio.shield(pending)

    async def _load(self, key: str, load: Callable[[], Awaitable[V]]) -> V:
        try:
            value = await load()
            self._missing.pop(key, None)
            _store(self._entries, key, (self._clock() + self._ttl, value), self._max_entries)
            return value
        except Exception as error:
            again = self._missing_rule(error) if self._missing_ttl > 0 else None
            if again is not None:
                expires = self._clock() + self._missing_ttl
                _store(self._missing, key, (expires, again), self._max_entries)
            raise
        finally:
            self._inflight.pop(key, None)

    def clear(self) -> None:
        """Forget every cached value and remembered miss."""
        self._entries.clear()
        self._missing.clear()


def _store(entries: "OrderedDict[K, T]", key: K, entry: T, max_entries: int) -> None:
    """Put `entry` last in `entries`, the oldest dropped beyond `max_entries`."""
    entries[key] = entry
    entries.move_to_end(key)
    while len(entries) > max_entries:
        entries.popitem(last=False)


def _retrieve_exception(task: "asyncio.Future[Any]") -> None:
    """Mark a failed load's exception retrieved even when every waiter went away."""
    if not task.cancelled():
        task.exception()
