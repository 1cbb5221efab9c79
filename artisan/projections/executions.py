"""Projection ``executions``: the execution trails, with their credits and ratings.

Append-only and set-based: each statement reads its events straight from ``live_events``
with ``INSERT ... SELECT``, so a batch never leaves Postgres. An execution's ``Settlement``
credits are stored in its row, as arrays in emission order (``execution_settlements`` and
``execution_trails`` in schema.sql unfold and sum them by role). A ``Rated`` event is kept only if
its execution id matches an execution (a made-up request only burns its sender's rating; see
docs/PROTOCOL.md): on chain an execution always precedes its rating, so matching against the
executions already projected, this batch's included, is exact. The ledger allows one rating per
execution; should a second ever appear, the first stands. With the execution trail on
(``artisan.logs.EXECUTIONS``, off by default), each row written is logged with its
``execution_id``, ``tx_hash`` and ``log_index`` (in the step's transaction: a step that rolls
back is applied, and logged, again).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import psycopg

from artisan.domain.events import InferenceExecuted, Rated, Settlement
from artisan.logs import EXECUTIONS
from artisan.projections import history
from artisan.projections.events import Event, args_as
from artisan.projections.tables import Row, TableSpec

_RANGE = "e.chain_id = %(chain)s AND e.position > %(after)s AND e.position <= %(upto)s"

# Credits are gathered per execution from the same batch: batches end at block ends (runner),
# and the ledger emits an execution's Settlements in its transaction, right after it. The
# grouping key is hex in the "C" collation: sorting it bytewise costs a third less than in the
# database's locale, and the order is never seen.
_EXECUTIONS = f"""
WITH credits AS (
    SELECT (e.args->>'executionId') COLLATE "C" AS execution_id,
        array_agg(e.args->>'recipient' ORDER BY e.position) AS recipients,
        array_agg((e.args->>'role')::smallint ORDER BY e.position) AS roles,
        array_agg((e.args->>'amount')::numeric ORDER BY e.position) AS amounts
    FROM live_events e
    WHERE e.event_name = 'Settlement' AND {_RANGE}
    GROUP BY 1
)
INSERT INTO proj_executions (execution_id, model_id, user_address, operator, input_digest,
    output_digest, params_hash, priority, input_units, gpu_micros, latency_micros, storage_bytes,
    concurrent_load, cost, rates_version, block_number, block_hash, block_timestamp, tx_hash,
    log_index, credit_recipients, credit_roles, credit_amounts)
SELECT e.args->>'executionId', (e.args->>'modelId')::bigint, e.args->>'user',
    e.args->>'operator', e.args->>'inputDigest', e.args->>'outputDigest', e.args->>'paramsHash',
    (e.args->>'priority')::smallint, (e.args->'meter'->>'inputUnits')::numeric,
    (e.args->'meter'->>'gpuMicros')::numeric, (e.args->'meter'->>'latencyMicros')::numeric,
    (e.args->'meter'->>'storageBytes')::numeric, (e.args->'meter'->>'concurrentLoad')::bigint,
    (e.args->>'cost')::numeric, (e.args->>'ratesVersion')::bigint, e.block_number, e.block_hash,
    e.block_timestamp, e.tx_hash, e.log_index, coalesce(c.recipients, '{{}}'),
    coalesce(c.roles, '{{}}'), coalesce(c.amounts, '{{}}')
FROM live_events e
LEFT JOIN credits c ON c.execution_id = e.args->>'executionId'
WHERE e.event_name = 'InferenceExecuted' AND {_RANGE}
"""

# The same, naming each row written (only while the execution trail is logged).
_EXECUTIONS_LOGGED = _EXECUTIONS + " RETURNING execution_id, tx_hash, log_index, block_number"

trail = logging.getLogger(EXECUTIONS)

_RATINGS = f"""
INSERT INTO proj_ratings (execution_id, model_id, user_address, rating, block_number, log_index,
    tx_hash)
SELECT x.execution_id, x.model_id, e.args->>'user', (e.args->>'rating')::smallint,
    e.block_number, e.log_index, e.tx_hash
FROM live_events e
JOIN proj_executions x ON x.execution_id = e.args->>'executionId'
WHERE e.event_name = 'Rated' AND {_RANGE}
ORDER BY e.position
ON CONFLICT (execution_id) DO NOTHING
"""

EXECUTION_COLUMNS = (
    "execution_id", "model_id", "user_address", "operator", "input_digest", "output_digest",
    "params_hash", "priority", "input_units", "gpu_micros", "latency_micros", "storage_bytes",
    "concurrent_load", "cost", "rates_version", "block_number", "block_hash", "block_timestamp",
    "tx_hash", "log_index", "credit_recipients", "credit_roles", "credit_amounts",
)  # fmt: skip
RATING_COLUMNS = (
    "execution_id", "model_id", "user_address", "rating", "block_number", "log_index", "tx_hash",
)  # fmt: skip


class ExecutionsProjection:
    """One row per execution, its credits and its rating."""

    name = "executions"
    events = ("InferenceExecuted", "Settlement", "Rated")
    tables = (
        TableSpec("proj_executions", EXECUTION_COLUMNS, (0,)),
        TableSpec("proj_ratings", RATING_COLUMNS, (0,)),
    )
    # Ratings match executions through the primary key, which stays.
    reader_indexes = (
        "proj_executions_block", "proj_executions_model", "proj_executions_input",
        "proj_executions_output", "proj_executions_user", "proj_ratings_block",
    )  # fmt: skip

    def apply(self, conn: psycopg.Connection[Any], chain_id: int, after: int, upto: int) -> None:
        params = {"chain": chain_id, "after": after, "upto": upto}
        # Executions first: ratings of this batch match against them.
        if trail.isEnabledFor(logging.INFO):
            for execution_id, tx_hash, log_index, block in conn.execute(
                _EXECUTIONS_LOGGED, params
            ).fetchall():
                trail.info(
                    "execution %s projected: tx %s, log %d, block %d", execution_id, tx_hash,
                    log_index, block,
                    extra={"execution_id": execution_id, "stage": "projected",
                           "tx_hash": tx_hash, "log_index": log_index, "block_number": block},
                )  # fmt: skip
        else:
            conn.execute(_EXECUTIONS, params)
        conn.execute(_RATINGS, params)

    def revert(self, conn: psycopg.Connection[Any], ancestor: int) -> None:
        for table in ("proj_ratings", "proj_executions"):
            history.revert_appended(conn, table, ancestor)

    def memory(self) -> MemoryExecutions:
        return MemoryExecutions()


class MemoryExecutions:
    """The in-memory twin: the same rows, built event by event."""

    def __init__(self) -> None:
        self.executions: dict[str, Row] = {}
        self.credits: dict[str, list[tuple[str, int, int]]] = {}
        self.ratings: dict[str, Row] = {}

    def apply(self, event: Event) -> None:
        if event.name == "InferenceExecuted":
            a = args_as(event, InferenceExecuted)
            m = a["meter"]
            self.executions[a["executionId"]] = (
                a["executionId"], int(a["modelId"]), a["user"], a["operator"], a["inputDigest"],
                a["outputDigest"], a["paramsHash"], int(a["priority"]), int(m["inputUnits"]),
                int(m["gpuMicros"]), int(m["latencyMicros"]), int(m["storageBytes"]),
                int(m["concurrentLoad"]), int(a["cost"]), int(a["ratesVersion"]),
                event.block_number, event.block_hash, event.block_timestamp, event.tx_hash,
                event.log_index,
            )  # fmt: skip
        elif event.name == "Settlement":
            s = args_as(event, Settlement)
            credit = (s["recipient"], int(s["role"]), int(s["amount"]))
            self.credits.setdefault(s["executionId"], []).append(credit)
        elif event.name == "Rated":
            r = args_as(event, Rated)
            execution = self.executions.get(r["executionId"])
            if execution is not None and r["executionId"] not in self.ratings:
                self.ratings[r["executionId"]] = (
                    r["executionId"], execution[1], r["user"], int(r["rating"]),
                    event.block_number, event.log_index, event.tx_hash,
                )  # fmt: skip

    def credits_of(self, execution_id: str) -> list[tuple[str, int, int]]:
        return self.credits.get(execution_id, [])

    def rows(self, table: str) -> Iterable[Row]:
        if table == "proj_ratings":
            return self.ratings.values()
        out = []
        for execution_id, row in self.executions.items():
            credits = self.credits_of(execution_id)
            out.append(
                (
                    *row,
                    [c[0] for c in credits],
                    [c[1] for c in credits],
                    [c[2] for c in credits],
                )
            )
        return out
