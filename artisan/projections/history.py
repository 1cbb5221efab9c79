"""Versioned read models in Postgres: writing block-range versions and reverting a reorg.

A table holds key columns, value columns and ``block_range int8range``; an exclusion
constraint keeps one version per key per block. Writing a batch of versions (from a fold)
closes each key's open version at the first new block, drops an open version that the batch
supersedes within its own block, and copies the new versions in. Reverting to an ancestor
deletes versions that start above it and reopens those closed above it. Identifiers are
composed with ``psycopg.sql``; rows travel by COPY.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from artisan.projections.tables import canon
from artisan.projections.versions import Key, Values, Version, collapse, ranged


@dataclass(frozen=True, slots=True)
class Versioned:
    """A versioned table: its name, key columns with their SQL types, value columns."""

    table: str
    keys: tuple[str, ...]
    key_types: tuple[str, ...]
    values: tuple[str, ...]

    def ids(self, names: Sequence[str], prefix: str | None = None) -> sql.Composed:
        if prefix is None:
            return sql.SQL(", ").join(map(sql.Identifier, names))
        return sql.SQL(", ").join(sql.Identifier(prefix, n) for n in names)


def load_open(
    conn: psycopg.Connection[Any], spec: Versioned, keys: Collection[Key]
) -> dict[Key, Values]:
    """The current (open) versions of ``keys``, as canonical value tuples (``tables.canon``)."""
    if not keys:
        return {}
    arrays = [[k[i] for k in keys] for i in range(len(spec.keys))]
    unnest = sql.SQL(", ").join(
        sql.SQL("{}::{}[]").format(sql.Placeholder(), sql.SQL(t)) for t in spec.key_types
    )
    query = sql.SQL(
        "SELECT {keys}, {values} FROM {table} WHERE upper_inf(block_range)"
        " AND ({keys}) IN (SELECT * FROM unnest({unnest}))"
    ).format(
        keys=spec.ids(spec.keys),
        values=spec.ids(spec.values),
        table=sql.Identifier(spec.table),
        unnest=unnest,
    )
    width = len(spec.keys)
    return {
        tuple(r[:width]): tuple(canon(v) for v in r[width:]) for r in conn.execute(query, arrays)
    }


def write(conn: psycopg.Connection[Any], spec: Versioned, versions: Sequence[Version]) -> None:
    """Store a fold's versions (chain order) over the table's current ones."""
    rows = ranged(collapse(versions))
    if not rows:
        return
    # The first new block of each key, passed as arrays: the table joins them through its
    # open-version index (a staging table needed an ANALYZE per batch for the same plan).
    firsts: dict[Key, int] = {}
    for r in rows:
        if firsts.get(r.key, r.lower) >= r.lower:
            firsts[r.key] = r.lower
    arrays = [[k[i] for k in firsts] for i in range(len(spec.keys))]
    arrays.append(list(firsts.values()))
    unnest = sql.SQL(", ").join(
        sql.SQL("{}::{}[]").format(sql.Placeholder(), sql.SQL(t))
        for t in (*spec.key_types, "bigint")
    )
    f = sql.SQL("unnest({}) AS f ({})").format(unnest, spec.ids((*spec.keys, "first")))
    match = sql.SQL(" AND ").join(
        sql.SQL("{} = {}").format(sql.Identifier("t", k), sql.Identifier("f", k)) for k in spec.keys
    )
    table = sql.Identifier(spec.table)
    # An open version that starts at the batch's first block for its key was superseded
    # within that block: readers never saw it as a block's final state.
    conn.execute(
        sql.SQL(
            "DELETE FROM {table} t USING {f} WHERE {match}"
            " AND upper_inf(t.block_range) AND lower(t.block_range) >= f.first"
        ).format(table=table, f=f, match=match),
        arrays,
    )
    conn.execute(
        sql.SQL(
            "UPDATE {table} t SET block_range = int8range(lower(t.block_range), f.first)"
            " FROM {f} WHERE {match} AND upper_inf(t.block_range)"
        ).format(table=table, f=f, match=match),
        arrays,
    )
    # No open version of these keys is left: the new ones go straight in.
    columns = spec.ids((*spec.keys, *spec.values, "block_range"))
    copy_in = sql.SQL("COPY {} ({}) FROM STDIN").format(table, columns)
    with conn.cursor() as cur, cur.copy(copy_in) as copy:
        for r in rows:
            upper = "" if r.upper is None else str(r.upper)
            copy.write_row((*r.key, *r.values, f"[{r.lower},{upper})"))


def revert_versions(conn: psycopg.Connection[Any], table: str, ancestor: int) -> None:
    """Undo every change above block ``ancestor``."""
    ident = sql.Identifier(table)
    conn.execute(sql.SQL("DELETE FROM {} WHERE lower(block_range) > %s").format(ident), (ancestor,))
    conn.execute(
        sql.SQL(
            "UPDATE {} SET block_range = int8range(lower(block_range), NULL)"
            " WHERE upper(block_range) > %s"
        ).format(ident),
        (ancestor,),
    )


def revert_appended(
    conn: psycopg.Connection[Any], table: str, ancestor: int, column: str = "block_number"
) -> None:
    """Delete the rows of an append-only table made above block ``ancestor``."""
    conn.execute(
        sql.SQL("DELETE FROM {} WHERE {} > %s").format(
            sql.Identifier(table), sql.Identifier(column)
        ),
        (ancestor,),
    )
