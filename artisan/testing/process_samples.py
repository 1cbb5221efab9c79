"""What a soak samples of its processes over time, read from /proc (resident memory, open file
descriptors), and the memory's growth per hour fitted over those samples.

The fit is least squares with an intercept of its own per process lifetime (a restart starts
a new one, at a new pid), over each lifetime's samples after its warm-up: a pooled slope, so
that a service restarted during the soak still counts every minute it ran past warm-up, and
the drop of a restart is never read as shrinking.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Sample:
    """One process at one moment: ``t`` in seconds since the soak started."""

    name: str
    pid: int
    t: float
    rss_mib: float
    fds: int


def read_sample(name: str, pid: int, t: float) -> Sample | None:
    """The process's resident memory and open descriptors now; None once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            rss_kib = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except (OSError, StopIteration):
        return None  # ended (or a zombie, which has no VmRSS) between the list and the read
    return Sample(name, pid, t, rss_kib / 1024, fds)


@dataclass(frozen=True, slots=True)
class Growth:
    """A process's memory over the soak: ``mib_per_h`` is the fitted slope (None: too few
    samples past warm-up), ``fitted_s`` the seconds of samples it was fitted on."""

    first_mib: float
    last_mib: float
    max_mib: float
    mib_per_h: float | None
    fitted_s: float
    lifetimes: int

    @property
    def fitted_growth_mib(self) -> float:
        """What the slope amounts to over the time it was fitted on."""
        return 0.0 if self.mib_per_h is None else self.mib_per_h * self.fitted_s / 3600


def growth(samples: Iterable[Sample], warmup_s: float) -> Growth:
    """The pooled within-lifetime slope of one process's samples (see the module's doc)."""
    ordered = sorted(samples, key=lambda s: s.t)
    lives: dict[int, list[Sample]] = defaultdict(list)
    for s in ordered:
        lives[s.pid].append(s)
    sxy = sxx = fitted = 0.0
    for life in lives.values():
        kept = [s for s in life if s.t >= life[0].t + warmup_s]
        if len(kept) < 3:
            continue
        tm = sum(s.t for s in kept) / len(kept)
        rm = sum(s.rss_mib for s in kept) / len(kept)
        sxy += sum((s.t - tm) * (s.rss_mib - rm) for s in kept)
        sxx += sum((s.t - tm) ** 2 for s in kept)
        fitted += kept[-1].t - kept[0].t
    slope = round(3600 * sxy / sxx, 1) if sxx > 0 else None
    return Growth(
        first_mib=round(ordered[0].rss_mib, 1),
        last_mib=round(ordered[-1].rss_mib, 1),
        max_mib=round(max(s.rss_mib for s in ordered), 1),
        mib_per_h=slope,
        fitted_s=round(fitted, 1),
        lifetimes=len(lives),
    )
