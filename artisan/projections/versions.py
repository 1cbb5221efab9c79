"""Block-range versions of keyed entities, in pure Python: the fold's output and memory twin.

A projection's fold turns events into ``Version``s: (key, block, values) in chain order. Within
one block only the last state of an entity counts (a block is atomic to readers), so versions
of one key in one block collapse into one, as graph-node writes one entity version per block.
``VersionLog`` keeps every version with its range, exactly as ``history`` writes them to
Postgres, so that the two can be compared by digest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

Key = tuple[Any, ...]
Values = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Version:
    """The state ``values`` of entity ``key`` from ``block`` on."""

    key: Key
    block: int
    values: Values


@dataclass(frozen=True, slots=True)
class Ranged:
    """A version with its range ``[lower, upper)``; ``upper`` None while it is current."""

    key: Key
    lower: int
    upper: int | None
    values: Values


def collapse(versions: Iterable[Version]) -> list[Version]:
    """Keep the last version per (key, block)."""
    last: dict[tuple[Key, int], Version] = {}
    for v in versions:
        last[(v.key, v.block)] = v
    return list(last.values())


def ranged(versions: Sequence[Version]) -> list[Ranged]:
    """Ranges for collapsed versions: each ends where the next version of its key starts."""
    by_key: dict[Key, list[Version]] = {}
    for v in versions:
        by_key.setdefault(v.key, []).append(v)
    out: list[Ranged] = []
    for key, vs in by_key.items():
        vs.sort(key=lambda v: v.block)
        for this, after in zip(vs, [*vs[1:], None], strict=True):
            out.append(Ranged(key, this.block, None if after is None else after.block, this.values))
    return out


class Overlay:
    """Current states during a fold: those changed in this batch over those already stored."""

    def __init__(self, stored: Callable[[Key], Values | None]) -> None:
        self._stored = stored
        self._changed: dict[Key, Values] = {}
        self.versions: list[Version] = []

    def get(self, key: Key) -> Values | None:
        if key in self._changed:
            return self._changed[key]
        return self._stored(key)

    def put(self, key: Key, block: int, values: Values) -> None:
        self._changed[key] = values
        self.versions.append(Version(key, block, values))


class VersionLog:
    """Every version of every entity of one table, kept in memory."""

    def __init__(self) -> None:
        self._versions: dict[Key, list[Ranged]] = {}

    def current(self, key: Key) -> Values | None:
        versions = self._versions.get(key)
        if not versions or versions[-1].upper is not None:
            return None
        return versions[-1].values

    def put(self, versions: Iterable[Version]) -> None:
        """Apply versions in chain order, with the same rules ``history.write`` applies."""
        for v in versions:
            log = self._versions.setdefault(v.key, [])
            if log and log[-1].upper is None:
                if log[-1].lower >= v.block:
                    log.pop()  # superseded within its own block
                else:
                    last = log.pop()
                    log.append(Ranged(last.key, last.lower, v.block, last.values))
            log.append(Ranged(v.key, v.block, None, v.values))

    def rows(self) -> Iterator[tuple[Any, ...]]:
        """Rows as the table holds them: key, values, lower, upper."""
        for versions in self._versions.values():
            for r in versions:
                yield (*r.key, *r.values, r.lower, r.upper)

    def at(self, key: Key, block: int) -> Values | None:
        """The state of ``key`` as of ``block``."""
        for r in reversed(self._versions.get(key, ())):
            if r.lower <= block and (r.upper is None or block < r.upper):
                return r.values
        return None
