"""The transactional outbox: executions to put on chain, and the status the API reads back.

The executor calls ``enqueue`` inside the transaction that records an inference's result, so
an execution exists here exactly when its result does; nothing is sent yet. The emitter
(``emitter.py``) is the only writer after that. The execution id (the request's EIP-712
digest) is the key: enqueueing the same execution again is a no-op, never a second charge.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from artisan.chain.abi.ledger import ItemFields, encode_item
from artisan.domain.eip712 import execution_id as eip712_execution_id
from artisan.domain.types import InferenceRequest, Meter, RejectReason, normalize_address
from artisan.storage.database import Database


class OutboxStatus(StrEnum):
    PENDING = "pending"  # written, in no transaction yet
    BROADCAST = "broadcast"  # in a signed recordBatch, not yet final
    CONFIRMED = "confirmed"  # InferenceExecuted with enough confirmations: charged once
    REJECTED = "rejected"  # ExecutionRejected: not charged; see reject_reason


@dataclass(frozen=True)
class OutboxEntry:
    """A finished inference, as the ledger will be asked to record it."""

    execution_id: bytes
    chain_id: int
    ledger: str
    operator: str  # the key that will emit it: one emitter per operator key
    request: InferenceRequest
    signature: bytes
    meter: Meter
    output_digest: bytes
    output_cid: str
    metering: Mapping[str, Any] = field(default_factory=dict)  # batch id, size, share...

    @classmethod
    def create(
        cls,
        request: InferenceRequest,
        signature: bytes,
        meter: Meter,
        output_digest: bytes,
        output_cid: str,
        *,
        chain_id: int,
        ledger: str,
        operator: str,
        metering: Mapping[str, Any] | None = None,
    ) -> OutboxEntry:
        """An execution whose id is computed from the request, as the ledger will compute it."""
        return cls(
            execution_id=eip712_execution_id(request, chain_id, ledger),
            chain_id=chain_id,
            ledger=normalize_address(ledger, "ledger"),
            operator=normalize_address(operator, "operator"),
            request=request,
            signature=signature,
            meter=meter,
            output_digest=output_digest,
            output_cid=output_cid,
            metering=dict(metering or {}),
        )

    def item_fields(self) -> ItemFields:
        r, m = self.request, self.meter
        return ItemFields(
            user=bytes.fromhex(r.user[2:]), model_id=r.model_id, input_digest=r.input_digest,
            params_hash=r.params_hash, priority=r.priority, max_cost=r.max_cost, nonce=r.nonce,
            deadline=r.deadline, signature=self.signature,
            meter=(m.input_units, m.gpu_micros, m.latency_micros, m.storage_bytes,
                   m.concurrent_load),
            output_digest=self.output_digest,
        )  # fmt: skip

    def row(self) -> tuple[Any, ...]:
        r, m = self.request, self.meter
        return (
            self.execution_id, self.chain_id, self.ledger.lower(), self.operator.lower(),
            bytes.fromhex(r.user[2:]), r.model_id, r.input_digest, r.params_hash, r.priority,
            r.max_cost, r.nonce, r.deadline, self.signature,
            m.input_units, m.gpu_micros, m.latency_micros, m.storage_bytes, m.concurrent_load,
            self.output_digest, self.output_cid,
            # Encoded here, in the executor's many workers, so that the one emitter per key
            # only concatenates: it is the emission pipeline's serial stage.
            encode_item(self.item_fields()),
            Jsonb(dict(self.metering)),
        )  # fmt: skip


_COLUMNS = (
    "execution_id, chain_id, ledger, operator, user_address, model_id, input_digest, "
    "params_hash, priority, max_cost, nonce, deadline, signature, input_units, gpu_micros, "
    "latency_micros, storage_bytes, concurrent_load, output_digest, output_cid, item_abi, metering"
)
_INSERT = (
    f"INSERT INTO outbox_executions ({_COLUMNS}) VALUES "
    f"({', '.join(['%s'] * 22)}) ON CONFLICT (execution_id) DO NOTHING"
)


def enqueue(conn: psycopg.Connection[Any], execution: OutboxEntry) -> bool:
    """Write one execution in the caller's transaction; False if it was already there."""
    cur = conn.execute(_INSERT, execution.row())
    return cur.rowcount == 1


def enqueue_many(conn: psycopg.Connection[Any], executions: Sequence[OutboxEntry]) -> int:
    """Write many executions in the caller's transaction (COPY); return how many were new."""
    if not executions:
        return 0
    # COPY has no ON CONFLICT: copy into a temporary table, then insert what is new.
    conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS outbox_staging "
        "(LIKE outbox_executions INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )
    with conn.cursor().copy(f"COPY outbox_staging ({_COLUMNS}) FROM STDIN") as copy:
        for ex in executions:
            copy.write_row(ex.row())
    cur = conn.execute(
        f"INSERT INTO outbox_executions ({_COLUMNS}) SELECT {_COLUMNS} FROM outbox_staging "
        "ON CONFLICT (execution_id) DO NOTHING"
    )
    conn.execute("DELETE FROM outbox_staging")  # the caller's transaction may go on
    return cur.rowcount


@dataclass(frozen=True)
class ExecutionStatus:
    """Where one execution stands, for ``GET /v1/executions/{id}``."""

    execution_id: bytes
    status: OutboxStatus
    reject_reason: RejectReason | None
    output_cid: str
    attempts: int
    nonce: int | None  # the operator nonce of its latest batch
    tx_hash: str | None  # the outcome's transaction once final, else the latest sent
    block_number: int | None  # set once final
    block_hash: str | None
    cost: int | None  # what the ledger charged (confirmed only)
    created_at: datetime
    updated_at: datetime

    @property
    def api_state(self) -> str:
        """The state ``GET /v1/executions/{id}`` shows once the result is recorded: ran
        (not yet in a transaction), emitted, confirmed or rejected."""
        return _API_STATES[self.status]


_API_STATES = {
    OutboxStatus.PENDING: "ran",
    OutboxStatus.BROADCAST: "emitted",
    OutboxStatus.CONFIRMED: "confirmed",
    OutboxStatus.REJECTED: "rejected",
}


_STATUS = """
SELECT e.execution_id, e.status, e.reject_reason, e.output_cid, e.attempts, b.nonce,
       coalesce(e.tx_hash, b.tx_hash) AS tx_hash, e.block_number, e.block_hash, e.cost,
       e.created_at, e.updated_at
FROM outbox_executions e LEFT JOIN outbox_batches b ON b.id = e.batch_id
WHERE e.execution_id = %s
"""


def fetch_status(conn: psycopg.Connection[Any], execution_id: bytes) -> ExecutionStatus | None:
    """The status of one execution on an open connection (a pooled one, for the API)."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(_STATUS, (execution_id,)).fetchone()
    if row is None:
        return None
    reason, cost, nonce = row["reject_reason"], row["cost"], row["nonce"]
    return ExecutionStatus(
        execution_id=bytes(row["execution_id"]),
        status=OutboxStatus(row["status"]),
        reject_reason=RejectReason(reason) if reason is not None else None,
        output_cid=row["output_cid"],
        attempts=row["attempts"],
        nonce=int(nonce) if nonce is not None else None,
        tx_hash=row["tx_hash"],
        block_number=row["block_number"],
        block_hash=row["block_hash"],
        cost=int(cost) if cost is not None else None,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def get(db: Database, execution_id: bytes) -> ExecutionStatus | None:
    """The status of one execution, or None if the outbox has never seen it."""
    with db.connect(autocommit=True) as conn:
        return fetch_status(conn, execution_id)
