"""One load per key at a time: callers that ask for a key while it is loading share that load.

The executor's caches (``sessions.SessionCache``, ``catalog``) load what they miss outside
their own locks, so that a slow load (a model file, a chain read) holds up only the callers
that need that very key; ``Flights`` makes the callers that miss the same key meanwhile wait
for the one load under way and take its value, or its error, instead of loading it again.
Nothing is kept after a load ends: the cache keeps what it wants of the value.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Flights(Generic[K, V]):
    """Loads under way, by key."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loading: dict[K, Future[V]] = {}

    def load(self, key: K, load: Callable[[], V]) -> V:
        """``load()``'s value, or that of the load of ``key`` already under way (its error is
        raised to every caller that waited for it)."""
        with self._lock:
            loading = self._loading.get(key)
            first = loading is None
            if loading is None:
                loading = self._loading[key] = Future()
        if not first:
            return loading.result()
        try:
            value = load()
        except BaseException as exc:
            with self._lock:
                del self._loading[key]
            loading.set_exception(exc)
            raise
        with self._lock:
            del self._loading[key]
        loading.set_result(value)
        return value
