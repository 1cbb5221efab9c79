"""The one retry policy: only the declared transient errors are retried, with exponential
backoff and full jitter, and given up after too many failures in a row.

Every service that talks to the node retries through ``call_with_retries`` (the indexer's
fetches, the emitter's passes, the projection runner's steps): what is transient is declared
once, as ``TransientChainError`` subclasses raised at the node boundary (``artisan.chain``).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from artisan.errors import ArtisanError, TransientChainError

T = TypeVar("T")

# The declared set: a failure of one of these kinds is retried; anything else halts.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (TransientChainError,)


class RetriesExhausted(ArtisanError):
    """A transient failure kept coming back: given up after ``max_failures`` in a row."""


@dataclass
class Backoff:
    """Delays for consecutive failures: uniform in [0, min(cap, base * 2**n)] ("full jitter").

    Jitter keeps several processes hitting one recovering node from retrying in lockstep.
    """

    base: float = 0.05
    cap: float = 10.0
    max_failures: int = 12
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, failures: int) -> float:
        return self.rng.uniform(0.0, min(self.cap, self.base * 2 ** min(failures, 30)))

    def exhausted(self, failures: int) -> bool:
        return failures > self.max_failures


# A service starting up: a node that does not answer within a few seconds is reported, not
# waited for (a node that answers now and then, as one behind a rate limit does, is waited for).
STARTUP = Backoff(base=0.1, cap=2.0, max_failures=6)


def call_with_retries(
    attempt: Callable[[], T],
    backoff: Backoff,
    sleep: Callable[[float], None],
    what: str,
    *,
    again_now: Callable[[Exception], bool] = lambda _exc: False,
    errors: tuple[type[Exception], ...] = TRANSIENT_ERRORS,
    give_up: Callable[[Exception], Exception] | None = None,
) -> T:
    """Run ``attempt`` until it succeeds, retrying only ``errors`` (the declared transient ones).

    A failure that ``again_now`` accepts (say, a log range refused as too large, once the range
    was made smaller) is retried at once; others wait out a backoff delay. After too many
    failures in a row the last one is raised as ``RetriesExhausted`` (or as ``give_up`` makes
    it).
    """
    failures = 0
    while True:
        try:
            return attempt()
        except errors as exc:
            if again_now(exc):
                continue
            failures += 1
            if backoff.exhausted(failures):
                if give_up is not None:
                    raise give_up(exc)  # noqa: B904 (give_up chains it, or re-raises it)
                raise RetriesExhausted(
                    f"{what}: giving up after {failures} failures in a row: {exc}"
                ) from exc
            sleep(backoff.delay(failures))
