"""Completed executions into the Postgres outbox, and their fate read back from it.

``record`` writes a group of executions with ``outbox.enqueue_many`` in one transaction: an
execution is in the outbox exactly when its result is recorded, before anything is sent; the
emitter takes it from there. Off-chain details the ledger does not record (the measured meter,
the bound, the quote, the batch share, the assets) go into the row's ``metering`` document.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg_pool import ConnectionPool

from artisan.executor import outbox
from artisan.executor.outbox import OutboxStatus
from artisan.executor.records import Completed, Status, StatusView, reject_name
from artisan.executor.reservations import Hold
from artisan.storage.database import Database

_STATUS = {
    OutboxStatus.PENDING: Status.RAN,
    OutboxStatus.BROADCAST: Status.EMITTED,
    OutboxStatus.CONFIRMED: Status.CONFIRMED,
    OutboxStatus.REJECTED: Status.REJECTED,
}
# Rows written without a quote (by another writer) hold their maxCost: the most they can take.
_UNSETTLED = (
    "SELECT execution_id, user_address, model_id, nonce, deadline,"
    " coalesce((metering->>'quote')::numeric, max_cost) FROM outbox_executions"
    " WHERE chain_id = %s AND ledger = %s AND operator = %s"
    " AND status IN ('pending', 'broadcast')"
)
_SETTLED = (
    "SELECT execution_id FROM outbox_executions"
    " WHERE execution_id = ANY(%s) AND status IN ('confirmed', 'rejected')"
)


def _meter(m: Any) -> list[int]:
    return [m.input_units, m.gpu_micros, m.latency_micros, m.storage_bytes, m.concurrent_load]


def outbox_execution(ex: Completed, *, chain_id: int, ledger: str, operator: str) -> Any:
    """The outbox's row for a completed execution (its id is the one admission computed)."""
    b = ex.batch
    return outbox.OutboxEntry(
        execution_id=ex.execution_id,
        chain_id=chain_id,
        ledger=ledger,
        operator=operator,
        request=ex.request,
        signature=ex.signature,
        meter=ex.meter,
        output_digest=ex.output_digest,
        output_cid=ex.output_cid,
        metering={
            "batch_id": b.batch_id, "batch_size": b.batch_size, "share_ppm": b.share_ppm,
            "batch_micros": b.batch_micros, "measured": _meter(ex.measured),
            "bound": _meter(ex.bound), "quote": str(ex.quote), "expected_cost": str(ex.cost),
            "rates_version": ex.rates_version, "model_cid": ex.model_cid,
            "input_cid": ex.input_cid, "provider": ex.provider,
        },
    )  # fmt: skip


class OutboxSink:
    """The outbox of one operator key on one ledger, through a small connection pool."""

    def __init__(
        self, db: Database, *, chain_id: int, ledger: str, operator: str, max_connections: int = 4
    ) -> None:
        self.chain_id, self.ledger, self.operator = chain_id, ledger.lower(), operator.lower()
        self._pool: ConnectionPool[Any] = ConnectionPool(
            db.url, min_size=1, max_size=max_connections, open=True, name="executor-outbox"
        )

    def record(self, executions: Sequence[Completed]) -> None:
        rows = [
            outbox_execution(ex, chain_id=self.chain_id, ledger=self.ledger, operator=self.operator)
            for ex in executions
        ]
        with self._pool.connection() as conn, conn.transaction():
            outbox.enqueue_many(conn, rows)

    def status(self, execution_id: bytes) -> StatusView | None:
        with self._pool.connection() as conn:
            found = outbox.fetch_status(conn, execution_id)
        if found is None:
            return None
        return StatusView(
            execution_id=execution_id,
            status=_STATUS[found.status],
            reason=reject_name(found.reject_reason),
            output_cid=found.output_cid,
            cost=found.cost,
            tx_hash=found.tx_hash,
            block_number=found.block_number,
        )

    def settled(self, execution_ids: Sequence[bytes]) -> list[bytes]:
        if not execution_ids:
            return []
        with self._pool.connection() as conn:
            rows = conn.execute(_SETTLED, (list(execution_ids),)).fetchall()
        return [bytes(row[0]) for row in rows]

    def unsettled(self) -> list[Hold]:
        with self._pool.connection() as conn:
            rows = conn.execute(_UNSETTLED, (self.chain_id, self.ledger, self.operator)).fetchall()
        return [
            Hold(
                bytes(ex),
                "0x" + bytes(user).hex(),
                int(model),
                int(nonce),
                int(quote),
                int(deadline),
            )
            for ex, user, model, nonce, deadline, quote in rows
        ]

    def close(self) -> None:
        self._pool.close()
