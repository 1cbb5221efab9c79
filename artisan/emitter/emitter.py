"""The emitter: outbox rows into ``recordBatch`` transactions, until each is final on chain.

One emitter per chain and operator key, guarded by a Postgres advisory lock held on the
connection that makes every write, so a second one is refused and a crashed one releases it.
Each pass sends new batches while fewer than ``max_in_flight`` are unmined, then reconciles
the open ones (``emit_reconcile``). A batch is signed and persisted (nonce, hash, raw bytes,
its executions marked broadcast) in one transaction before it is handed to the sender thread
(``emit_sender``) that broadcasts it: after a crash at any point, the next pass finds the
batch and finishes it, so nothing is lost, and nothing is charged twice because the ledger
refuses a request nonce it has seen.

Nonces are the emitter's own: the next one is the larger of the chain's pending count and
one past the highest it ever persisted, then counted locally.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import psycopg
from apscheduler.schedulers.background import BackgroundScheduler
from eth_account import Account

from artisan.chain.abi.ledger import record_batch_calldata
from artisan.chain.jsonrpc import JsonRpc
from artisan.chain.transactions import Head, check_chain, fresh_fees, read_head, sign_call
from artisan.emitter import batches as store
from artisan.emitter.batches import EmitterKey
from artisan.emitter.config import EmitterConfig
from artisan.emitter.errors import EmissionError, EmitterBusy, OutboxStorageError
from artisan.emitter.metrics import EmitterMetrics
from artisan.emitter.reconcile import Reconciler
from artisan.emitter.sender import Sender
from artisan.retry import TRANSIENT_ERRORS, Backoff
from artisan.storage.database import Database
from artisan.storage.service_status import Heartbeat, HeartbeatService
from artisan.storage.writer_lock import (
    WriterLockHeld,
    acquire_writer_connection,
    release_writer_connection,
)

log = logging.getLogger(__name__)

# Named points where a test can stop the emitter dead (see ``emit_main --crash-at``).
CRASH_POINTS = ("persisted", "broadcast")

Hook = Callable[[str], None]


class Emitter:
    """The one emitter of an operator key on a chain; ``run`` it, or drive it with ``step``."""

    def __init__(
        self,
        db: Database,
        rpc_url: str,
        operator_key: str,
        *,
        chain_id: int,
        ledger: str,
        config: EmitterConfig | None = None,
        hook: Hook | None = None,
        metrics: EmitterMetrics | None = None,
    ) -> None:
        self.config = config or EmitterConfig()
        self.metrics = metrics or EmitterMetrics()
        self.account = Account.from_key(operator_key)
        self.key = EmitterKey(chain_id, ledger.lower(), str(self.account.address).lower())
        self._hook = hook or (lambda _point: None)
        self.rpc = JsonRpc(rpc_url)
        try:
            check_chain(self.rpc, chain_id)
            self._stream = f"emitter:{chain_id}:{self.key.operator}"
            try:
                self.conn: psycopg.Connection[Any] = acquire_writer_connection(db, self._stream)
            except WriterLockHeld as exc:
                raise EmitterBusy(
                    f"an emitter for operator {self.key.operator} on chain {chain_id} is running"
                ) from exc
            try:
                store.prefer_lz4(self.conn)
            except BaseException as exc:
                release_writer_connection(self.conn, self._stream)
                if isinstance(exc, psycopg.Error):
                    raise OutboxStorageError(f"the outbox database failed: {exc}") from exc
                raise
        except BaseException:
            self.rpc.close()
            raise
        self._reconciler = Reconciler(
            self.conn, self.rpc, self.key, self.account, self.config, self.metrics
        )
        self._sender = Sender(rpc_url, self._hook)
        self._next_nonce: int | None = None
        # Batches sent and not yet mined, as of the last reconciliation (None: none yet).
        self._unmined: int | None = None

    def close(self) -> None:
        self._sender.close()  # sends what is queued: all of it is persisted already
        release_writer_connection(self.conn, self._stream)
        self.rpc.close()

    def heartbeat(
        self, scheduler: BackgroundScheduler, db: Database, *, instance: str = "",
        seconds: float = 5.0,
    ) -> HeartbeatService:  # fmt: skip
        """This emitter's row in service_status, beaten on ``scheduler`` with its backlog and
        counts (read on the heartbeat's own connection, never the emitter's); its owner calls
        ``starting``, ``start`` and ``finish``."""
        return HeartbeatService(
            scheduler, Heartbeat(db, "emitter", instance),
            lambda conn: self.metrics.measure(conn, self.key), seconds=seconds,
            last_error=lambda: self.metrics.last_error,
        )  # fmt: skip

    def __enter__(self) -> Emitter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def step(self) -> bool:
        """One pass: send what is due, then reconcile. True if anything moved."""
        try:
            return self._step()
        finally:
            self.metrics.passed()  # ended, moved or not, failed or not: the thread is alive

    def _step(self) -> bool:
        self._sender.check()
        if self._sender.take_refusal():
            self._next_nonce = None  # a nonce was taken behind our back: ask the chain again
        try:
            head = read_head(self.rpc)
            changed = 0
            if self._unmined is None:  # first pass: learn what is in flight before sending
                changed, self._unmined = self._reconciler.run(head)
            # Send first, then reconcile: the node mines the new batches while we write down
            # the outcomes of the old ones, instead of waiting for us.
            sent = self._send_due(head, self._unmined)
            reconciled, self._unmined = self._reconciler.run(head)
            self.metrics.in_flight.set(self._unmined)
            changed += reconciled
        except psycopg.Error as exc:
            raise OutboxStorageError(f"the outbox database failed: {exc}") from exc
        return changed + sent > 0

    def flush(self) -> None:
        """Wait until every batch persisted so far has been handed to the node."""
        self._sender.drain()

    def has_work(self) -> bool:
        """Whether anything is pending or in flight for this emitter's key."""
        try:
            return store.has_work(self.conn, self.key)
        except psycopg.Error as exc:
            raise OutboxStorageError(f"the outbox database failed: {exc}") from exc

    def run(self, *, stop: threading.Event | None = None, until_idle: bool = False) -> None:
        """Pass after pass until ``stop`` is set (or, with ``until_idle``, nothing is left).

        An unreachable node (the declared transient errors) is waited out with backoff (full
        jitter, ``artisan.retry``), however long; every other failure stops the emitter
        (its state is in Postgres: a restart carries on where it stopped).
        """
        stop = stop or threading.Event()
        backoff, failures = Backoff(base=0.05, cap=5.0), 0
        while not stop.is_set():
            try:
                moved = self.step()
            except TRANSIENT_ERRORS as exc:
                self.metrics.node_failed(exc)
                failures += 1
                delay = backoff.delay(failures)
                log.warning("node unavailable, retrying in %.2f s: %s", delay, exc)
                stop.wait(delay)
                continue
            failures = 0
            if moved:
                continue
            if until_idle and not self.has_work():
                return
            stop.wait(self.config.poll_interval)

    def _send_due(self, head: Head, unmined: int) -> int:
        cfg = self.config
        fit = max(1, (head.gas_limit - cfg.gas_base) // cfg.gas_per_item)
        limit = min(cfg.max_items, fit)  # a batch must fit a block, whatever max_items says
        sent = 0
        while unmined + sent < cfg.max_in_flight:
            rows = store.claim(self.conn, self.key, limit, cfg.max_wait)
            if not rows:
                break
            tx = sign_call(
                self.account,
                chain_id=self.key.chain_id,
                to=self.key.ledger,
                data=record_batch_calldata([item for _, item in rows]),
                nonce=self._take_nonce(),
                gas=cfg.gas_base + cfg.gas_per_item * len(rows),
                fees=fresh_fees(head.base_fee, cfg.priority_fee),
            )
            try:
                batch_id = store.persist_batch(self.conn, self.key, [eid for eid, _ in rows], tx)
            except BaseException:
                self._next_nonce = None  # that nonce was never used: do not leave a gap
                raise
            self._hook("persisted")
            self.metrics.sent(len(rows))
            self._reconciler.note_sent(batch_id, head.number)
            self._sender.submit(tx)
            sent += 1
        return sent

    def _take_nonce(self) -> int:
        if self._next_nonce is None:
            pending = int(
                self.rpc.call("eth_getTransactionCount", self.key.operator, "pending"), 16
            )
            persisted = store.max_nonce(self.conn, self.key)
            self._next_nonce = max(pending, -1 if persisted is None else persisted + 1)
        nonce = self._next_nonce
        self._next_nonce += 1
        return nonce


def wait_idle(emitter: Emitter, timeout: float) -> None:
    """Run ``emitter`` until nothing is left, or raise after ``timeout`` seconds."""
    stop = threading.Event()
    timer = threading.Timer(timeout, stop.set)
    timer.start()
    try:
        emitter.run(stop=stop, until_idle=True)
    finally:
        timer.cancel()
    if stop.is_set() and emitter.has_work():
        raise EmissionError(f"the outbox was not drained within {timeout} s")
