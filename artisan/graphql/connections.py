"""Keyset cursors: Relay-style ``...Connection`` fields whose cursors are the sort key itself.

A cursor is opaque to the client: base64url of the order it was made for (field and
direction) and the row's values of that order's columns (the field, then the id). ``after``
reads the rows past it with a row comparison, never an OFFSET, so page 20,000 costs what page
1 costs; ``before`` reads the order reversed and turns the page back. A cursor made for another
order is refused, as is a cursor that is not one of ours. ``totalCount`` is its own
``count(*)``, run only when selected.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

import orjson
import strawberry
from strawberry.types import Info

from artisan.graphql import reads
from artisan.graphql.entities import Entity
from artisan.graphql.errors import QueryError
from artisan.graphql.grammar import parse_value

T = TypeVar("T")


@strawberry.type(name="PageInfo")
class PageInfo:
    hasNextPage: bool
    hasPreviousPage: bool
    startCursor: str | None
    endCursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


async def _total_count(root: Connection[Any], info: Info) -> int:
    rows = await reads.fetch(info.context, root._count)
    return int(rows[0]["count"])


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    pageInfo: PageInfo
    _count: strawberry.Private[reads.Select]

    @strawberry.field
    def nodes(self) -> list[T]:
        return [edge.node for edge in self.edges]

    totalCount: int = strawberry.field(
        resolver=_total_count,
        description="How many rows match `where` as of the block: one count(*), run only when"
        " asked",
    )


def encode(order: reads.Order, values: Sequence[Any]) -> str:
    doc = [order.key, "desc" if order.desc else "asc", [str(v) for v in values]]
    return base64.urlsafe_b64encode(orjson.dumps(doc)).decode().rstrip("=")


def decode(entity: Entity, order: reads.Order, cursor: str) -> tuple[Any, ...]:
    """The sort key in ``cursor``, checked to belong to ``order`` and typed per its column."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key, direction, values = orjson.loads(raw)
        if not (isinstance(key, str) and isinstance(values, list)):
            raise ValueError(cursor)
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise QueryError(f"Invalid cursor `{cursor[:60]}`: pass a cursor this API gave") from None
    made = f"{key} {direction}"
    wanted = f"{order.key} {'desc' if order.desc else 'asc'}"
    if made != wanted:
        raise QueryError(f"The cursor was made for `orderBy: {made}`, not `{wanted}`: keep the"
                         " order and the filter across pages")  # fmt: skip
    columns = [reads.order_column(entity, name) for name in dict.fromkeys((order.key, "id"))]
    if len(values) != len(columns):
        raise QueryError(f"Invalid cursor `{cursor[:60]}`: pass a cursor this API gave")
    return tuple(parse_value(column, value) for column, value in zip(columns, values, strict=True))


def sort_values(order: reads.Order, row: dict[str, Any]) -> list[Any]:
    """The row's values of ``order``'s columns (a child order's is selected as ``_sort``)."""
    return [
        row[reads.SORT if name not in row else name] for name in dict.fromkeys((order.key, "id"))
    ]


async def page(
    info: Info, entity: Entity, where: dict[str, Any] | None, order: reads.Order, block: int,
    *, first: int | None, after: str | None, last: int | None, before: str | None,
    max_first: int,
) -> Connection[Any]:  # fmt: skip
    """One page of a connection: ``first`` after ``after``, or ``last`` before ``before``."""
    if after is not None and before is not None:
        raise QueryError("Cannot specify both before and after cursors.")
    if first is not None and last is not None:
        raise QueryError("Cannot specify both `first` and `last`: page one way at a time")
    backwards = last is not None or before is not None
    asked = last if backwards else first
    size = 100 if asked is None else asked
    name = "last" if backwards else "first"
    if not 0 <= size <= max_first:
        raise QueryError(f"The `{name}` argument must be between 0 and {max_first}, but is {size}")
    cursor = before if backwards else after
    walk = reads.Order(order.field, order.desc != backwards)  # reversed for `before`/`last`
    key = None if cursor is None else decode(entity, order, cursor)
    read = reads.select(entity, where, walk, block, limit=size + 1, after=key)
    rows = await reads.fetch(info.context, read)
    more = len(rows) > size
    rows = rows[:size]
    if backwards:
        rows.reverse()
    edges = [Edge(cursor=encode(order, sort_values(order, row)),
                  node=reads.to_entity(entity, row, block)) for row in rows]  # fmt: skip
    page_info = PageInfo(
        hasNextPage=more if not backwards else before is not None,
        hasPreviousPage=more if backwards else after is not None,
        startCursor=edges[0].cursor if edges else None,
        endCursor=edges[-1].cursor if edges else None,
    )
    return Connection(edges=edges, pageInfo=page_info, _count=reads.count(entity, where, block))
