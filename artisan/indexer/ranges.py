"""Adaptive block-range sizing for log queries: grow while answers are small, halve on refusal."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class RangeSizer:
    """The number of blocks the next log query asks for.

    Grows (doubling) after a full-size range whose logs stayed under half of ``target_logs``;
    halves after one above it, and after the node refused a range as too large or timed out.
    """

    # Start small and grow: the density of a chain's logs is unknown until the first answers,
    # and the first query is fetched whole before anything is written (the writer waits on
    # it: 100 blocks of 1,500 logs each kept it idle for a second). A few light queries cost
    # little; doubling reaches 10,000 blocks in ten.
    size: int = 10
    minimum: int = 1
    maximum: int = 100_000
    target_logs: int = 20_000

    def __post_init__(self) -> None:
        if not 1 <= self.minimum <= self.size <= self.maximum:
            raise ValueError("need 1 <= minimum <= size <= maximum")

    def succeeded(self, blocks: int, logs: int) -> None:
        """Adjust after a range of ``blocks`` blocks returned ``logs`` logs."""
        if logs > self.target_logs:
            self.size = max(self.minimum, self.size // 2)
        elif blocks >= self.size and logs < self.target_logs // 2:
            self.size = min(self.maximum, self.size * 2)

    def refused(self) -> bool:
        """Halve after the node refused a range; False if already at the minimum."""
        if self.size <= self.minimum:
            return False
        self.size = max(self.minimum, self.size // 2)
        return True
