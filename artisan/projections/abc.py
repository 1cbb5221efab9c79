"""The seams of the projections: read models, projections, and their in-memory twins.

A projection declares the events it handles and its tables; ``apply`` turns a position range
of the event store into set-based SQL, ``revert`` undoes everything above an ancestor block.
A read model that is only a view over projections (lineage) has tables and a twin but no
writes. A twin replays events one by one in memory, independently of the store, for
``verify`` and for the tests that hold the two equal by digest.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

import psycopg

from artisan.projections.events import Event
from artisan.projections.tables import Row, TableSpec


class MemoryProjection(Protocol):
    """A projection's content computed in memory from events in chain order."""

    def apply(self, event: Event) -> None:
        """Fold one event (of the projection's declared names) into the content."""
        ...

    def rows(self, table: str) -> Iterable[Row]:
        """All rows of ``table`` (versioned: columns, then lower and upper of the range)."""
        ...


class ReadModel(Protocol):
    """Something readers query and ``verify`` checks: named tables (or views) with a twin."""

    @property
    def name(self) -> str: ...

    @property
    def events(self) -> tuple[str, ...]: ...

    @property
    def tables(self) -> tuple[TableSpec, ...]: ...

    def memory(self) -> MemoryProjection:
        """A fresh in-memory twin."""
        ...


class Projection(ReadModel, Protocol):
    """A read model the runner keeps: it writes its own tables from the event store."""

    @property
    def reader_indexes(self) -> tuple[str, ...]:
        """Indexes of its tables that its appends never read (readers' and reverts' lookups,
        uniqueness a build checks at once): a replay from the first event builds them once at
        the end (``bulk``), the index of a primary key or unique constraint as that constraint."""
        ...

    def apply(self, conn: psycopg.Connection[Any], chain_id: int, after: int, upto: int) -> None:
        """Project the live events with positions in ``(after, upto]``, set-based."""
        ...

    def revert(self, conn: psycopg.Connection[Any], ancestor: int) -> None:
        """Remove every effect of events above block ``ancestor``."""
        ...
