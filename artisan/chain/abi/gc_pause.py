"""Pausing Python's cyclic garbage collector around bulk parsing and decoding.

Parsing a large ``eth_getLogs`` answer and decoding it allocate hundreds of thousands of
dicts, lists and tuples, none of them in a reference cycle; every 700 allocations the
collector wakes and walks the young ones, and now and then everything alive. Measured on a
backfill here, that doubled the cost of ``orjson.loads`` and added a fifth to decoding. Paused,
the objects are still freed by reference counting; only cycles made meanwhile (by any thread)
wait for the next collection.

The collector is process-wide, so the pause is counted across threads (the prefetch thread
and the writer may both be inside one): the last one out re-enables it, and only if it was
enabled when the first one came in.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator


class _Pauses:
    """How many pauses are open, and whether the collector was on before the first."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.open = 0
        self.was_enabled = False


# One per process, like the collector it guards.
_PAUSES = _Pauses()


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Run the block with the cyclic collector paused (re-entrant and thread-safe)."""
    with _PAUSES.lock:
        if _PAUSES.open == 0:
            _PAUSES.was_enabled = gc.isenabled()
            gc.disable()
        _PAUSES.open += 1
    try:
        yield
    finally:
        with _PAUSES.lock:
            _PAUSES.open -= 1
            if _PAUSES.open == 0 and _PAUSES.was_enabled:
                gc.enable()
