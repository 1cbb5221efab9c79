"""Calls run on threads of their own, for tests that hold one call up and watch the others."""

from __future__ import annotations

import threading
from collections.abc import Callable


def in_thread(call: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    """``call`` started on a daemon thread; the list gets its value, or the exception it
    raised, when it ends."""
    out: list[object] = []

    def run() -> None:
        try:
            out.append(call())
        except Exception as exc:  # handed to the test to assert on
            out.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out
