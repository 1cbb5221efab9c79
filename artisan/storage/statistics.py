"""Planner statistics refreshed where bulk work changes them, never left to autovacuum.

A store backfilled in minutes holds millions of rows the planner has never seen: with no
statistics it takes ``events`` for a small table and picks plans that read it whole for every
batch (a first catch-up of 200,088 events ran for more than 10 minutes without finishing; after
``ANALYZE events``, 0.6 s, it took 3-5 s). Autovacuum would analyse it in time on a default
server, but its thresholds lag a backfill, and it may be off. So the writers that change a
table in bulk analyse it themselves, when the rows changed since its last analysis pass a
threshold: the indexer after a backfill, the projection runner before and after a catch-up.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg
from psycopg import sql

MIN_CHANGED = 10_000  # rows changed since the last analysis before a table is analysed again
CHANGED_FRACTION = 0.1  # ... and at least this part of its rows

# Rows changed since the last analysis: Postgres counts them (``n_mod_since_analyze``) but
# resets the count only when a whole table is analysed, not some of its columns; so the count
# of all changes at our last analysis is kept too (``statistics_marks``), and the smaller of the
# two is what changed (an analysis by autovacuum resets the first).
_STALE = """
SELECT s.relname,
       least(s.n_mod_since_analyze,
             s.n_tup_ins + s.n_tup_upd + s.n_tup_del - coalesce(m.changes, 0)),
       greatest(c.reltuples, 0)::bigint,
       s.n_tup_ins + s.n_tup_upd + s.n_tup_del
FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
LEFT JOIN statistics_marks m ON m.relname = s.relname
WHERE s.schemaname = current_schema() AND s.relname = ANY(%s)
"""
_MARK = """
INSERT INTO statistics_marks (relname, changes) VALUES (%s, %s)
ON CONFLICT (relname) DO UPDATE SET changes = excluded.changes
"""


def flush(conn: psycopg.Connection[Any]) -> None:
    """Publish this connection's pending row counts now (Postgres 15 and later batch them for
    up to a second, or ten when idle), so that a check made right after sees its writes."""
    if conn.info.server_version >= 150000:
        conn.execute("SELECT pg_stat_force_next_flush()")


def _stale(conn: psycopg.Connection[Any], tables: Iterable[str]) -> dict[str, int]:
    conn.execute("SELECT pg_stat_clear_snapshot()")  # not the view as this transaction saw it
    rows = conn.execute(_STALE, (list(tables),)).fetchall()
    return {name: total for name, changed, known, total in rows
            if changed >= MIN_CHANGED and changed >= CHANGED_FRACTION * known}  # fmt: skip


def stale(conn: psycopg.Connection[Any], tables: Iterable[str]) -> list[str]:
    """The ``tables`` whose rows changed since their last analysis past the thresholds."""
    return sorted(_stale(conn, tables))


# Columns that queries filter, join and sort on, for tables whose other columns are large
# (the event store's arguments, topics and data; an execution's credit arrays, which no query
# filters on, only reads with their row): sampling those costs most of an ANALYZE and plans
# nothing (without the arrays, analysing the executions takes half the time: 0.4 s instead of
# 0.8 s). Other tables are analysed whole.
PLANNED_COLUMNS: dict[str, tuple[str, ...]] = {
    "events": ("chain_id", "block_number", "block_hash", "tx_hash", "log_index", "event_name",
               "position", "incarnation"),
    "proj_executions": (
        "execution_id", "model_id", "user_address", "operator", "input_digest", "output_digest",
        "params_hash", "priority", "input_units", "gpu_micros", "latency_micros",
        "storage_bytes", "concurrent_load", "cost", "rates_version", "block_number",
        "block_hash", "block_timestamp", "tx_hash", "log_index",
    ),
}  # fmt: skip


def refresh(conn: psycopg.Connection[Any], tables: Iterable[str]) -> list[str]:
    """ANALYZE each stale table of ``tables`` (outside a transaction block, or inside one:
    ANALYZE runs in either); the tables analysed."""
    found = _stale(conn, tables)
    for name, total in sorted(found.items()):
        columns = PLANNED_COLUMNS.get(name)
        target = sql.Identifier(name) if columns is None else sql.SQL("{} ({})").format(
            sql.Identifier(name), sql.SQL(", ").join(map(sql.Identifier, columns)))  # fmt: skip
        conn.execute(sql.SQL("ANALYZE {}").format(target))
        conn.execute(_MARK, (name, total))
    return sorted(found)
