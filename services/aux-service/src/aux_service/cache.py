"""A TTL cache with single-flight loading: N concurrent misses for a key make one load."""

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

V = TypeVar("V")


class _Missing:
    """A cached failure that says the key has no value (raised again on a hit)."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class SingleFlightCache(Generic[V]):
    """Caches successful loads for `ttl` seconds, and failures that `is_missing` says mean
    "no such value" for `missing_ttl` seconds; other failed loads are not cached.

    With `ttl` 0 the cache is off and every call loads.
    """

    def __init__(
        self,
        ttl: float,
        max_entries: int,
        on_lookup: Callable[[bool], None] = lambda hit: None,
        clock: Callable[[], float] = time.monotonic,
        *,
        missing_ttl: float = 0.0,
        is_missing: Callable[[BaseException], bool] = lambda error: False,
    ) -> None:
        self._ttl = ttl
        self._max_entries = max_entries
        self._on_lookup = on_lookup
        self._clock = clock
        self._missing_ttl = missing_ttl
        self._is_missing = is_missing
        self._entries: OrderedDict[str, tuple[float, V | _Missing]] = OrderedDict()
        self._inflight: dict[str, asyncio.Future[V]] = {}

    async def get(self, key: str, load: Callable[[], Awaitable[V]]) -> V:
        """The cached value for `key`, loading it (once, however many callers wait) when stale."""
        if self._ttl <= 0:
            self._on_lookup(False)
            return await load()
        entry = self._entries.get(key)
        if entry is not None and entry[0] > self._clock():
            self._on_lookup(True)
            value = entry[1]
            if isinstance(value, _Missing):
                # The one error object, raised afresh: its traceback is this raise's only.
                raise value.error.with_traceback(None)
            return value
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
            self._store(key, value, self._ttl)
            return value
        except Exception as error:
            if self._missing_ttl > 0 and self._is_missing(error):
                self._store(key, _Missing(error), self._missing_ttl)
            raise
        finally:
            self._inflight.pop(key, None)

    def _store(self, key: str, value: V | _Missing, ttl: float) -> None:
        self._entries[key] = (self._clock() + ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget every cached value."""
        self._entries.clear()


def _retrieve_exception(task: "asyncio.Future[Any]") -> None:
    """Mark a failed load's exception retrieved even when every waiter went away."""
    if not task.cancelled():
        task.exception()
