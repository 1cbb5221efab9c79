"""Projection ``usage``: executions, fees and GPU time per block, model and user, with the
block's hour: the rollup rows time series read (``executionStats``: per hour or per day, in
total, per model or per user; top models by usage or fees in a window).

A row per (block, model, user) rather than per hour: a reorg then removes exactly the rows of
the blocks it replaced (``history.revert_appended``), so the hour it touched shrinks by what
those blocks added and nothing else is recomputed. Distinct users of a bucket are the distinct
``user_address`` of its rows. Set-based like the executions: one INSERT ... SELECT per batch
(batches end at block ends, so a row is written once).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg

from artisan.domain.events import InferenceExecuted
from artisan.projections import history
from artisan.projections.events import Event, args_as
from artisan.projections.tables import Row, TableSpec

HOUR = 3600
COLUMNS = ("block_number", "model_id", "user_address", "hour", "executions", "fees",
           "gpu_micros")  # fmt: skip
TABLE = "proj_usage"

_APPLY = f"""
INSERT INTO {TABLE} ({", ".join(COLUMNS)})
SELECT e.block_number, (e.args->>'modelId')::bigint, e.args->>'user',
    min(e.block_timestamp) / {HOUR} * {HOUR}, count(*), sum((e.args->>'cost')::numeric),
    sum((e.args->'meter'->>'gpuMicros')::numeric)
FROM live_events e
WHERE e.event_name = 'InferenceExecuted' AND e.chain_id = %(chain)s
  AND e.position > %(after)s AND e.position <= %(upto)s
GROUP BY 1, 2, 3
"""


class UsageProjection:
    """Per block, model and user: executions, fees, GPU microseconds, and the block's hour."""

    name = "usage"
    events = ("InferenceExecuted",)
    tables = (TableSpec(TABLE, COLUMNS, (0, 1, 2)),)
    # The primary key only guards the appends (a row per block, model and user) and serves
    # reverts: a replay from the first event makes it at the end too.
    reader_indexes = (
        "proj_usage_hour", "proj_usage_model_hour", "proj_usage_user_hour", "proj_usage_pkey",
    )  # fmt: skip

    def apply(self, conn: psycopg.Connection[Any], chain_id: int, after: int, upto: int) -> None:
        conn.execute(_APPLY, {"chain": chain_id, "after": after, "upto": upto})

    def revert(self, conn: psycopg.Connection[Any], ancestor: int) -> None:
        history.revert_appended(conn, TABLE, ancestor)

    def memory(self) -> MemoryUsage:
        return MemoryUsage()


class MemoryUsage:
    """The in-memory twin: the same rows, summed event by event."""

    def __init__(self) -> None:
        self.rows_by_key: dict[tuple[int, int, str], list[int]] = {}

    def apply(self, event: Event) -> None:
        if event.name != "InferenceExecuted":
            return
        x = args_as(event, InferenceExecuted)
        key = (event.block_number, int(x["modelId"]), x["user"])
        row = self.rows_by_key.setdefault(key, [event.block_timestamp // HOUR * HOUR, 0, 0, 0])
        row[1] += 1
        row[2] += int(x["cost"])
        row[3] += int(x["meter"]["gpuMicros"])

    def rows(self, table: str) -> Iterable[Row]:
        return [(*key, *values) for key, values in self.rows_by_key.items()]
