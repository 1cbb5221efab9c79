"""Reading one entity's rows as of a block: the one SELECT every field runs.

A read is the entity's rows as of the block (versioned rows open at it; appended rows at or
below it; a computed source as of it), narrowed by the compiled `where`, in a total order (the
field, then the id), cut by LIMIT and either OFFSET (`skip`) or a keyset condition after a sort
key (cursors). The keyset is a row comparison on the order's own columns, so a page deep in the
order costs what the first one costs where an index serves the order.

A nested filter ``field_: {...}`` is an EXISTS over the related entity as of the same block;
an order ``field__child`` sorts by the related row's column; a to-many relation under a page
of parents is one statement, a LATERAL join of each parent's own page.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import sql
from psycopg.sql import Composable

from artisan.graphql.entities import BY_NAME, Entity, Relation
from artisan.graphql.errors import QueryError
from artisan.graphql.grammar import Column, Params, Scope, compile_filter, select_list
from artisan.graphql.session import Session

SORT = "_sort"  # the column a child order's value is selected as (its cursors read it)


@dataclass(frozen=True, slots=True)
class Order:
    """A total order: the field (None: the id alone; ``rel__child``: a related row's column)
    and the direction."""

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


def source(entity: Entity) -> Composable:
    """Where ``entity``'s rows come from: its table, or its subquery as of ``%(block)s``."""
    return _source(entity.name)


@functools.cache
def _source(entity_name: str) -> Composable:
    entity = BY_NAME[entity_name]
    if entity.source is None:
        return sql.SQL(sql.Identifier(entity.table).as_string(None))
    composed = sql.SQL(entity.source).format(
        block=sql.Placeholder("block"), chain=sql.Placeholder("chain")
    )
    return sql.SQL(composed.as_string(None))


def as_of(entity: Entity, alias: str) -> Composable:
    """The condition that keeps ``alias``'s rows as of ``%(block)s``."""
    if entity.versioned:
        return sql.SQL("{}.block_range @> {}::bigint").format(
            sql.Identifier(alias), sql.Placeholder("block")
        )
    if entity.block_column is not None:
        return sql.SQL("{} <= {}").format(
            sql.Identifier(alias, entity.block_column), sql.Placeholder("block")
        )
    return sql.SQL("TRUE")  # computed as of the block by its source


def _changed(entity: Entity, alias: str) -> str | None:
    if entity.versioned:
        return f"lower({alias}.block_range)"
    return None if entity.block_column is None else f"{alias}.{entity.block_column}"


def _join(relation: Relation, outer: str, inner: str) -> Composable:
    """``inner``'s rows related to ``outer``'s row by ``relation`` (owner outer, target inner)."""
    owner, target = BY_NAME[relation.owner], BY_NAME[relation.target]
    return sql.SQL("{} = {}").format(
        target.by_name[relation.remote].ref(inner), owner.by_name[relation.local].ref(outer)
    )


def _scope(entity: Entity, alias: str, nested: bool = True) -> Scope:
    def child_filter(key: str, value: Mapping[str, Any], params: Params) -> Composable | None:
        relation = entity.relations.get(key[:-1])
        if relation is None:
            return None
        target, inner = BY_NAME[relation.target], f"{alias}_{relation.name}"
        if any(k.endswith("_") and k != "_change_block" and isinstance(v, Mapping)
               for k, v in value.items()):  # fmt: skip
            raise QueryError(f"Child filter nesting not supported by value `{key}`:"
                             f" `{relation.name}`")  # fmt: skip
        compiled = compile_filter(_scope(target, inner, nested=False), value, params)
        return sql.SQL("EXISTS (SELECT 1 FROM {} {} WHERE {} AND {} AND ({}))").format(
            source(target), sql.Identifier(inner), as_of(target, inner),
            _join(relation, alias, inner), compiled.condition,
        )  # fmt: skip

    return Scope(entity.name, entity.by_name, alias, _changed(entity, alias),
                 child_filter if nested else None)  # fmt: skip


def _where(
    entity: Entity, where: dict[str, Any] | None, block: int
) -> tuple[Composable, dict[str, Any]]:
    """``<as of block> AND <where>`` over the alias ``t``, and its parameters."""
    compiled = compile_filter(_scope(entity, "t"), where)
    condition = sql.SQL("{} AND ({})").format(as_of(entity, "t"), compiled.condition)
    return condition, {**compiled.params, "block": block}


def order_column(entity: Entity, key: str) -> Column:
    """The column an order key sorts by: one of the entity's own, or ``rel__child``'s, read
    from the related row as of the same block."""
    if key in entity.by_name:
        return entity.by_name[key]
    name, _, child = key.partition("__")
    relation = entity.relations.get(name)
    if relation is None or relation.many or child not in BY_NAME[relation.target].by_name:
        raise QueryError(f"Ordering by `{key}` is not supported for type `{entity.name}`")
    target = BY_NAME[relation.target]
    inner = f"o_{name}"
    ref = sql.SQL("(SELECT {} FROM {} {} WHERE {} AND {} LIMIT 1)").format(
        target.by_name[child].ref(inner), source(target), sql.Identifier(inner),
        as_of(target, inner), _join(relation, "{t}", inner),
    )  # fmt: skip
    return Column(key, ref.as_string(None).replace('"{t}"', "{t}"), target.by_name[child].kind,
                  expression=True)  # fmt: skip


def _order_refs(entity: Entity, order: Order) -> list[Composable]:
    refs = [entity.by_name["id"].ref()]
    if order.field not in (None, "id"):
        refs.insert(0, order_column(entity, order.key).ref())
    return refs


def _selected(entity: Entity, order: Order) -> Composable:
    return _select_list(entity.name, None if order.field in entity.by_name else order.field)


@functools.cache
def _select_list(entity_name: str, child_order: str | None) -> Composable:
    """An entity's select list (and a child order's sort column), composed once: composing
    SQL is a good part of a small request's CPU."""
    entity = BY_NAME[entity_name]
    columns: list[Column] = [*entity.columns, *entity.extra]
    if child_order is not None:
        sort = order_column(entity, child_order)
        columns.append(Column(SORT, sort.sql, sort.kind, expression=True))
    return sql.SQL(select_list(columns, "t").as_string(None))


def _page(
    entity: Entity, condition: Composable, params: dict[str, Any], order: Order, *,
    limit: int, skip: int, after: tuple[Any, ...] | None,
) -> sql.Composed:  # fmt: skip
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
    params.update(limit=limit, skip=skip)
    return sql.SQL(
        "SELECT {cols} FROM {source} t WHERE {condition}{keyset} ORDER BY {order} LIMIT {limit}"
        "{offset}"
    ).format(
        cols=_selected(entity, order), source=source(entity), condition=condition, keyset=keyset,
        order=sql.SQL(", ").join(sql.Composed([r, way]) for r in refs),
        limit=sql.Placeholder("limit"),
        offset=sql.SQL(" OFFSET {}").format(sql.Placeholder("skip")) if skip else sql.SQL(""),
    )  # fmt: skip


def select(
    entity: Entity, where: dict[str, Any] | None, order: Order, block: int, *, limit: int,
    skip: int = 0, after: tuple[Any, ...] | None = None,
) -> Select:  # fmt: skip
    """The rows of ``entity`` as of ``block``: ``limit`` of them, past ``skip`` rows or past
    the sort key ``after`` (a cursor's values, one per column of the order)."""
    condition, params = _where(entity, where, block)
    query = _page(entity, condition, params, order, limit=limit, skip=skip, after=after)
    return Select(query, params)


def select_children(
    relation: Relation, keys: Sequence[Any], where: dict[str, Any] | None, order: Order,
    block: int, *, limit: int, skip: int,
) -> Select:  # fmt: skip
    """Each parent's page of ``relation`` (a to-many one) in one statement: the rows carry
    their parent's key as ``_parent``."""
    target = BY_NAME[relation.target]
    condition, params = _where(target, where, block)
    remote = target.by_name[relation.remote].ref("t")
    linked = sql.SQL("{} AND {} = parents.key").format(condition, remote)
    page = _page(target, linked, params, order, limit=limit, skip=skip, after=None)
    params["parents"] = list(keys)
    query = sql.SQL(
        "SELECT parents.key AS _parent, page.* FROM unnest({}::{}[]) AS parents (key)"
        " CROSS JOIN LATERAL ({}) page"
    ).format(sql.Placeholder("parents"), sql.SQL(relation.key_type), page)
    return Select(query, params)


def count(entity: Entity, where: dict[str, Any] | None, block: int) -> Select:
    condition, params = _where(entity, where, block)
    query = sql.SQL("SELECT count(*) FROM {} t WHERE {}").format(source(entity), condition)
    return Select(query, params)


async def fetch(session: Session, read: Select) -> list[dict[str, Any]]:
    return await session.rows(read.query, read.params)


def to_entity(entity: Entity, row: dict[str, Any], at: int) -> Any:
    """A row as the entity's GraphQL object, read at block ``at``."""
    fields = {key: value for key, value in row.items() if key not in (SORT, "_parent")}
    fields["_at"] = at
    return entity.type(**(entity.build(fields) if entity.build else fields))
