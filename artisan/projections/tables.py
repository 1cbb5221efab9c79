"""What a projection's tables hold, described once for digests and in-memory twins.

A table is either append-only (each row carries the block of the event that made it) or
versioned (each row is one version of a keyed entity, valid over ``block_range``). Content
"as of block B" is defined here once: append-only rows with ``block <= B``; versions that
started at or before B, with an end above B read as open.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

Row = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class TableSpec:
    """A read-model table: content columns, canonical sort key, and how rows meet blocks.

    ``order`` lists the column indexes of the canonical sort key. A versioned table's rows,
    as read for digests, are its columns followed by (lower, upper) of ``block_range``; its
    sort key is ``order`` then lower. An append-only table names its ``block_column``.
    """

    name: str
    columns: tuple[str, ...]
    order: tuple[int, ...]
    versioned: bool = False
    block_column: str = "block_number"

    @property
    def block_index(self) -> int:
        return self.columns.index(self.block_column)


def canon(value: Any) -> Any:
    """One spelling per value: numerics as int, arrays as lists (Decimal comes from numeric)."""
    if isinstance(value, Decimal):
        return int(value)
    if isinstance(value, list | tuple):
        return [canon(v) for v in value]
    return value


def as_of(spec: TableSpec, rows: Iterable[Row], block: int) -> list[Row]:
    """The table's content as of ``block``, canonical values, in canonical order."""
    out: list[Row] = []
    if spec.versioned:
        for row in rows:
            lower, upper = row[-2], row[-1]
            if lower > block:
                continue
            clipped = None if upper is None or upper > block else upper
            out.append((*(canon(v) for v in row[:-1]), clipped))
        width = len(spec.columns)
        out.sort(key=lambda r: (*_sort_key(r, spec.order), r[width]))
    else:
        at = spec.block_index
        out = [tuple(canon(v) for v in row) for row in rows if row[at] <= block]
        out.sort(key=lambda r: _sort_key(r, spec.order))
    return out


def _sort_key(row: Row, order: tuple[int, ...]) -> tuple[Any, ...]:
    return tuple(row[i] for i in order)


def encode(row: Row) -> Iterator[Any]:
    """JSON-ready cells: integers as decimal strings (uint256 does not fit a JSON number)."""
    for value in row:
        if isinstance(value, bool) or value is None or isinstance(value, str):
            yield value
        elif isinstance(value, int):
            yield str(value)
        elif isinstance(value, list):
            yield list(encode(tuple(value)))
        else:
            raise TypeError(f"cannot encode {type(value).__name__} in a digest row")
