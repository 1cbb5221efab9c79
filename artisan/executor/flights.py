"""One load per key at a time: callers that ask for a key while it is loading share that load.

The executor's caches (``sessions.SessionCache``, ``catalog``) load what they miss outside
their own locks, so that a slow load (a model file, a chain read) holds up only the callers
that need that very key; ``Flights`` makes the callers that miss the same key meanwhile wait
for the one load under way and take its value, or its error, instead of loading it again.
Nothing is kept after a load ends: the cache keeps what it wants of the value.

A waiter raises the very exception object the load raised (its traceback then holds the
frames of every thread that raised it: a load's error is logged or turned into a refusal by
message, never re-raised in a loop). A load stopped by something other than an error (an
interrupt, an exit) is not handed on: each waiter tries the load itself.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class _Interrupted(Exception):
    """The load a caller waited for was stopped by a BaseException that is not an error."""


class Flights(Generic[K, V]):
    """Loads under way, by key."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loading: dict[K, Future[V]] = {}
        self._waiting: Counter[K] = Counter()

    def waiting(self, key: K) -> int:
        """How many callers wait for the load of ``key`` now (besides the one loading)."""
        with self._lock:
            return self._waiting[key]

    def load(self, key: K, load: Callable[[], V]) -> V:
        """``load()``'s value, or that of the load of ``key`` already under way (its error is
        raised to every caller that waited for it)."""
        while True:
            with self._lock:
                loading = self._loading.get(key)
                first = loading is None
                if loading is None:
                    loading = self._loading[key] = Future()
                else:
                    self._waiting[key] += 1
            if first:
                return self._run(key, loading, load)
            try:
                return loading.result()
            except _Interrupted:
                continue  # that load never ended: this caller loads it
            finally:
                with self._lock:
                    self._waiting[key] -= 1
                    if not self._waiting[key]:
                        del self._waiting[key]

    def _run(self, key: K, loading: Future[V], load: Callable[[], V]) -> V:
        try:
            value = load()
        except Exception as exc:
            loading.set_exception(exc)
            raise
        except BaseException:
            loading.set_exception(_Interrupted())
            raise
        else:
            loading.set_result(value)
            return value
        finally:
            with self._lock:
                del self._loading[key]
