"""Reading one entity's rows as of a block: the one SELECT every root field runs.

A read is the entity's table as of the block (versioned rows open at it; appended rows at or
below it), narrowed by the compiled `where`, in a total order (the field, then the id), cut
by LIMIT and either OFFSET (`skip`) or a keyset condition after a sort key (cursors). The
keyset is a row comparison on the order's own columns, so a page deep in the order costs what
the first one costs where an index serves the order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import sql
from psycopg.sql import Composable

from artisan.graphql.entities import Entity
from artisan.graphql.errors import QueryError
from artisan.graphql.grammar import compile_filter, select_list
from artisan.graphql.session import Session


@dataclass(frozen=True, slots=True)
class Order:
    """A total order: the field (None: the id alone) and the direction."""

    field: str | None
    desc: bool

    @property
    def key(self) -> str:
        return self.field or "id"


@dataclass(frozen=True, slots=True)
class Select:
    """One read: the SQL and its parameters."""

    query: sql.Composed
    params: dict[str, Any]


def _scope(
    entity: Entity, where: dict[str, Any] | None, block: int
) -> tuple[Composable, dict[str, Any]]:
    """``FROM <table> t WHERE <as of block> AND <where>``, and its parameters."""
    if entity.versioned:
        as_of: Composable = sql.SQL("t.block_range @> {}::bigint").format(sql.Placeholder("block"))
        changed = "lower(t.block_range)"
    else:
        assert entity.block_column is not None
        as_of = sql.SQL("{} <= {}").format(sql.Identifier("t", entity.block_column),
                                           sql.Placeholder("block"))  # fmt: skip
        changed = f"t.{entity.block_column}"
    compiled = compile_filter(entity.name, entity.by_name, where, changed)
    scope = sql.SQL("FROM {} t WHERE {} AND ({})").format(
        sql.Identifier(entity.table), as_of, compiled.condition
    )
    return scope, {**compiled.params, "block": block}


def _order_refs(entity: Entity, order: Order) -> list[Composable]:
    columns = entity.by_name
    if order.field is not None and order.field not in columns:
        raise QueryError(f"Ordering by `{order.field}` is not supported for type `{entity.name}`")
    refs = [columns["id"].ref()]
    if order.field not in (None, "id"):
        refs.insert(0, columns[order.field].ref())
    return refs


def select(
    entity: Entity, where: dict[str, Any] | None, order: Order, block: int, *, limit: int,
    skip: int = 0, after: tuple[Any, ...] | None = None,
) -> Select:  # fmt: skip
    """The rows of ``entity`` as of ``block``: ``limit`` of them, past ``skip`` rows or past
    the sort key ``after`` (a cursor's values, one per column of the order)."""
    scope, params = _scope(entity, where, block)
    refs = _order_refs(entity, order)
    way = sql.SQL(" DESC" if order.desc else " ASC")
    keyset: Composable = sql.SQL("")
    if after is not None:
        if len(after) != len(refs):
            raise QueryError("The cursor does not belong to this query's order")
        marks = [sql.Placeholder(f"k{i}") for i in range(len(refs))]
        params.update({f"k{i}": value for i, value in enumerate(after)})
        keyset = sql.SQL(" AND ({}) {} ({})").format(
            sql.SQL(", ").join(refs), sql.SQL("<" if order.desc else ">"), sql.SQL(", ").join(marks)
        )
    selected = (*entity.columns, *entity.extra)
    query = sql.SQL("SELECT {cols} {scope}{keyset} ORDER BY {order} LIMIT {limit}{offset}").format(
        cols=select_list(selected), scope=scope, keyset=keyset,
        order=sql.SQL(", ").join(sql.Composed([r, way]) for r in refs),
        limit=sql.Placeholder("limit"),
        offset=sql.SQL(" OFFSET {}").format(sql.Placeholder("skip")) if skip else sql.SQL(""),
    )  # fmt: skip
    params.update(limit=limit, skip=skip)
    return Select(query, params)


def count(entity: Entity, where: dict[str, Any] | None, block: int) -> Select:
    scope, params = _scope(entity, where, block)
    return Select(sql.SQL("SELECT count(*) {}").format(scope), params)


async def fetch(session: Session, read: Select) -> list[dict[str, Any]]:
    return await session.rows(read.query, read.params)


def to_entity(entity: Entity, row: dict[str, Any], at: int) -> Any:
    """A row as the entity's GraphQL object, read at block ``at``."""
    fields = {**row, "_at": at}
    return entity.type(**(entity.build(fields) if entity.build else fields))
