"""Retrying the declared transient chain errors: exponential backoff with full jitter."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from artisan.errors import TransientChainError
from artisan.indexer.errors import IndexerError, LogRangeTooLarge

T = TypeVar("T")

# The declared set: a failure of one of these kinds is retried; anything else halts.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (TransientChainError,)


@dataclass
class Backoff:
    """Delays for consecutive failures: uniform in [0, min(cap, base * 2**n)] ("full jitter").

    Jitter keeps several indexers hitting one recovering node from retrying in lockstep.
    """

    base: float = 0.05
    cap: float = 10.0
    max_failures: int = 12
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, failures: int) -> float:
        return self.rng.uniform(0.0, min(self.cap, self.base * 2 ** min(failures, 30)))

    def exhausted(self, failures: int) -> bool:
        return failures > self.max_failures


def call_with_retries(
    attempt: Callable[[], T],
    backoff: Backoff,
    sleep: Callable[[float], None],
    shrink: Callable[[], bool],
    what: str,
) -> T:
    """Run ``attempt`` until it succeeds, retrying only the declared transient errors.

    A range refused as too large is retried at once if ``shrink`` could make it smaller;
    other transient failures (and a refusal at the smallest range) wait out a backoff delay.
    After too many failures in a row the last one is raised as an ``IndexerError``.
    """
    failures = 0
    while True:
        try:
            return attempt()
        except LogRangeTooLarge as exc:
            if shrink():
                continue
            failures = _failed(failures, exc, backoff, sleep, what)
        except TRANSIENT_ERRORS as exc:
            failures = _failed(failures, exc, backoff, sleep, what)


def _failed(
    failures: int, exc: Exception, backoff: Backoff, sleep: Callable[[float], None], what: str
) -> int:
    failures += 1
    if backoff.exhausted(failures):
        raise IndexerError(f"{what}: giving up after {failures} failures in a row: {exc}") from exc
    sleep(backoff.delay(failures))
    return failures
