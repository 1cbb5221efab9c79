"""Progress as people and machines read it: rates over a recent window, lag, and an ETA.

Pure: fed the indexer's ``Progress`` updates and a clock, it computes blocks and events per
second over the last ``window`` seconds (recent rates: a backfill slows down in busy eras),
and the ETA as the lag over the block rate.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from artisan.indexer.indexer import Progress


@dataclass(frozen=True, slots=True)
class Report:
    """One progress update, with the running totals and rates."""

    kind: str  # append, reorg
    phase: str  # backfill, follow
    block: int
    head: int
    events: int
    events_total: int
    blocks_per_s: float
    events_per_s: float
    eta_s: float | None
    elapsed_s: float
    reorg_depth: int | None = None
    reorg_removed: int | None = None

    @property
    def lag(self) -> int:
        return max(0, self.head - self.block)

    def as_json(self) -> dict[str, Any]:
        """The JSON line of ``artisan index --json``."""
        line: dict[str, Any] = {
            "kind": self.kind,
            "phase": self.phase,
            "block": self.block,
            "head": self.head,
            "lag": self.lag,
            "events": self.events,
            "events_total": self.events_total,
            "blocks_per_s": round(self.blocks_per_s, 1),
            "events_per_s": round(self.events_per_s, 1),
            "eta_s": None if self.eta_s is None else round(self.eta_s, 1),
            "elapsed_s": round(self.elapsed_s, 3),
        }
        if self.reorg_depth is not None:
            line["reorg"] = {"depth": self.reorg_depth, "removed_events": self.reorg_removed}
        return line


class Throughput:
    """Turns ``Progress`` updates into ``Report``s."""

    def __init__(
        self, start_block: int, window: float = 10.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.phase = "backfill"
        self.events_total = 0
        self._clock = clock
        self._window = window
        self._started = clock()
        # (time, block, events_total) samples of the last ``window`` seconds, and one before.
        self._samples: deque[tuple[float, int, int]] = deque([(self._started, start_block, 0)])

    def update(self, progress: Progress) -> Report:
        now = self._clock()
        block = progress.checkpoint.number
        self.events_total += progress.events
        self._samples.append((now, block, self.events_total))
        while len(self._samples) > 2 and self._samples[1][0] < now - self._window:
            self._samples.popleft()
        t0, b0, e0 = self._samples[0]
        span = now - t0
        blocks_per_s = max(0, block - b0) / span if span > 0 else 0.0
        events_per_s = (self.events_total - e0) / span if span > 0 else 0.0
        lag = max(0, progress.head - block)
        eta = 0.0 if lag == 0 else (lag / blocks_per_s if blocks_per_s > 0 else None)
        reorg = progress.reorg
        return Report(
            kind=progress.kind,
            phase=self.phase,
            block=block,
            head=progress.head,
            events=progress.events,
            events_total=self.events_total,
            blocks_per_s=blocks_per_s,
            events_per_s=events_per_s,
            eta_s=eta,
            elapsed_s=now - self._started,
            reorg_depth=None if reorg is None else reorg.depth,
            reorg_removed=None if reorg is None else reorg.removed_events,
        )
