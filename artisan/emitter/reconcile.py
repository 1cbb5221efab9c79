"""Reconciling the emitter's open batches with the chain: one pass, decisions from facts.

For each batch not yet final, in nonce order:

- its block left the canonical chain (reorg): it is in flight again;
- its outcomes on chain: mined; once it has ``confirmations`` blocks, every execution is final
  from them. ``NONCE_USED`` for an execution whose own ``InferenceExecuted`` is already on
  chain (an earlier attempt landed) counts as confirmed;
- no receipt, and the account's nonce has passed the batch's for ``lost_after`` seconds:
  another transaction took the nonce, so its executions go back to pending (a second attempt
  cannot charge twice: the request nonce sees to that). The wait is there because a node
  can report the new nonce before it serves the receipt of the transaction that used it;
- no receipt after ``replace_after`` seconds: a replacement with bumped fees, same nonce;
- no receipt and the node does not know the transaction (dropped, reorged out, or never sent
  because we crashed): the same signed bytes are broadcast again. The node is asked at most
  every ``rebroadcast_after`` seconds per batch (and at once after a restart).

Outcomes come from the ledger's logs (``outcomes``: one ``eth_getLogs`` by topic from the
lowest block a batch whose nonce has passed can be in, or by block hash for a mined batch
coming of age), not from receipts, which carry every log of the call. A receipt is asked for
only where the logs do not account for a whole batch (a revert logs nothing; a lagging node, a
restart with no floor known): it stays the authority. The account's nonce is read before the
logs and the receipts, so a batch mined in between is seen mined.

Each execution made final is logged on the execution trail (``artisan.logs.EXECUTIONS``, off
by default) with its ``execution_id``, ``tx_hash`` and ``log_index``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from eth_account.signers.local import LocalAccount

from artisan.chain.abi.ledger import INFERENCE_EXECUTED_TOPIC, Outcome, outcomes_of
from artisan.chain.errors import ChainMoved, LogRangeTooLarge, NodeError, NodeUnavailable
from artisan.chain.jsonrpc import JsonRpc, no_code
from artisan.chain.transactions import Head, broadcast, replacement
from artisan.domain.types import RejectReason
from artisan.emitter import batches as store
from artisan.emitter import outcomes
from artisan.emitter.batches import EmitterKey, OpenBatch
from artisan.emitter.config import EmitterConfig
from artisan.emitter.errors import BatchReverted, LedgerMissing
from artisan.emitter.metrics import EmitterMetrics
from artisan.logs import EXECUTIONS

log = logging.getLogger(__name__)
trail = logging.getLogger(EXECUTIONS)


@dataclass
class Reconciler:
    conn: psycopg.Connection[Any]
    rpc: JsonRpc
    key: EmitterKey
    account: LocalAccount
    config: EmitterConfig
    metrics: EmitterMetrics
    # When this process last sent or looked up each open batch's latest transaction: asking
    # the node about a transaction returns its whole calldata, so not on every pass.
    _last_seen: dict[int, float] = field(default_factory=dict)
    # When each open batch was first seen with its nonce passed and no receipt.
    _passed_since: dict[int, float] = field(default_factory=dict)
    # A block each unmined batch is known to come after (it was sent, or its nonce was still
    # unused, once this block was the head): where to look for its logs. Without one (after
    # a restart, a reorg), its receipt is asked for instead.
    _floor: dict[int, int] = field(default_factory=dict)

    def note_sent(self, batch_id: int, head: int) -> None:
        """A transaction of the batch went to the node with ``head`` the head (or later)."""
        self._last_seen[batch_id] = time.monotonic()
        self._floor[batch_id] = max(head, self._floor.get(batch_id, head))

    def run(self, head: Head) -> tuple[int, int]:
        """One pass over the open batches: (how many changed state, how many are unmined)."""
        batches = store.open_batches(self.conn, self.key)
        open_ids = {b.id for b in batches}
        for seen in (self._last_seen, self._passed_since, self._floor):
            for gone in seen.keys() - open_ids:
                del seen[gone]
        if not batches:
            return 0, 0
        latest_nonce = int(
            self.rpc.call("eth_getTransactionCount", self.key.operator, "latest"), 16
        )
        changed = 0
        in_flight = [b for b in batches if not b.mined]
        mined = [b for b in batches if b.mined]
        blocks = self.rpc.batch([("eth_getBlockByNumber", [hex(_n(b)), False]) for b in mined])
        of_age: list[OpenBatch] = []
        for b, block in zip(mined, blocks, strict=True):
            if block is None or block["hash"] != b.block_hash:
                log.warning(
                    "batch %d (nonce %d): block %s left the chain", b.id, b.nonce, b.block_hash
                )
                store.set_unmined(self.conn, b.id)
                self._floor.pop(b.id, None)  # it may come back lower than it was
                in_flight.append(b)
                changed += 1
            elif self._deep_enough(_n(b), head):
                of_age.append(b)
        changed += self._finalize_mined(of_age, head)
        # The nonce was read after the head: a batch whose nonce is still unused is in no block
        # up to that head.
        for b in in_flight:
            if latest_nonce <= b.nonce:
                self._floor[b.id] = max(head.number, self._floor.get(b.id, head.number))
        passed = [b for b in in_flight if latest_nonce > b.nonce]
        found = self._outcomes_since(passed)
        unexplained: list[OpenBatch] = []
        for b in passed:
            if b.id in found:
                changed += self._on_outcomes(b, *found[b.id], head)
            else:
                unexplained.append(b)
        calls = [("eth_getTransactionReceipt", [h]) for b in unexplained for h in b.tx_hashes]
        receipts = iter(self.rpc.batch(calls))
        missing = [b for b in in_flight if latest_nonce <= b.nonce]
        for b in unexplained:
            got = [r for r in (next(receipts) for _ in b.tx_hashes) if r is not None]
            if got:
                changed += self._on_receipt(b, got[0], head)
            else:
                missing.append(b)
        changed += self._on_missing(missing, latest_nonce, head)
        unmined = sum(1 for b in missing if latest_nonce <= b.nonce)
        return changed, unmined

    def _deep_enough(self, number: int, head: Head) -> bool:
        # Outcomes can be newer than the head read at the start of the pass: their block is
        # on the chain all the same, so it counts as one confirmation at least.
        return max(head.number, number) - number + 1 >= self.config.confirmations

    def _outcomes_since(self, passed: Sequence[OpenBatch]) -> dict[int, tuple[str, list[Outcome]]]:
        """The batches among ``passed`` whose logs account for all of them: (transaction,
        outcomes) by batch id, from one ``eth_getLogs`` from the lowest floor up."""
        known = [b for b in passed if b.id in self._floor]
        if not known:
            return {}
        first = min(self._floor[b.id] for b in known) + 1
        batch_of = {h: b for b in known for h in b.tx_hashes}
        try:
            found = outcomes.since(self.rpc, self.key.ledger, first, batch_of.keys())
        except (LogRangeTooLarge, NodeError) as exc:  # e.g. the chain got shorter: receipts
            log.warning("reading outcomes from block %d failed, asking receipts: %s", first, exc)
            return {}
        return {
            batch_of[tx].id: (tx, outs)
            for tx, outs in found.items()
            if outcomes.complete(outs, batch_of[tx].size)
        }

    def _on_outcomes(self, b: OpenBatch, tx: str, outs: list[Outcome], head: Head) -> int:
        number, block_hash = outs[0].block_number, outs[0].block_hash
        if self._deep_enough(number, head):
            self._finalize(b, tx, number, block_hash, outs)
        else:
            store.set_mined(self.conn, b.id, tx, number, block_hash)
        return 1

    def _on_receipt(self, b: OpenBatch, receipt: dict[str, Any], head: Head) -> int:
        number, block_hash = int(receipt["blockNumber"], 16), str(receipt["blockHash"])
        tx = str(receipt["transactionHash"])
        if receipt["status"] != "0x1":
            store.requeue(self.conn, b.id, "reverted")
            self.metrics.batches.labels("reverted").inc()
            raise BatchReverted(
                f"recordBatch nonce {b.nonce} ({tx}) reverted in block {number}; its "
                f"{b.size} executions are pending again"
            )
        if self._deep_enough(number, head):
            try:
                outs = outcomes_of(receipt["logs"], self.key.ledger)
            except (KeyError, TypeError, ValueError) as exc:
                raise NodeUnavailable(f"a malformed log in the receipt of {tx} ({exc})") from exc
            if not outs:
                self._check_ledger(b, tx, number)
            self._finalize(b, tx, number, block_hash, outs)
        elif not b.mined or b.block_hash != block_hash:
            store.set_mined(self.conn, b.id, tx, number, block_hash)
        else:
            return 0
        return 1

    def _check_ledger(self, b: OpenBatch, tx: str, number: int) -> None:
        """A successful batch with no outcome at all: the ledger logs one per item, so either
        no code is at its address (raise: sending again would spend gas for nothing, forever)
        or the chain and the outbox disagree (``_finalize`` puts the rows back and says so)."""
        if no_code(self.rpc.call("eth_getCode", self.key.ledger, hex(number))):
            raise LedgerMissing(
                f"recordBatch nonce {b.nonce} ({tx}) succeeded in block {number} without a "
                f"single outcome: no code is at the ledger address {self.key.ledger} on chain "
                f"{self.key.chain_id}. The chain was reset or replaced, or the deployment file "
                f"names the wrong ledger; the emitter stops, its {b.size} executions stay in "
                "their batch, uncharged"
            )

    def _finalize_mined(self, of_age: Sequence[OpenBatch], head: Head) -> int:
        """Finalize mined batches now deep enough, from their blocks' logs (the blocks were
        just found canonical; their logs, asked for by hash, cannot be another block's)."""
        if not of_age:
            return 0
        hashes = sorted({str(b.block_hash) for b in of_age})
        try:
            found = outcomes.in_blocks(
                self.rpc, self.key.ledger, hashes, {b.latest for b in of_age}
            )
        except (ChainMoved, LogRangeTooLarge):  # a node behind the one that served the header
            found = {}
        changed = 0
        for b in of_age:
            outs = found.get(b.latest, [])
            if outcomes.complete(outs, b.size) and outs[0].block_hash == b.block_hash:
                self._finalize(b, b.latest, _n(b), outs[0].block_hash, outs)
                changed += 1
                continue
            receipt = self.rpc.call("eth_getTransactionReceipt", b.latest)
            if receipt is None or receipt["blockHash"] != b.block_hash:
                store.set_unmined(self.conn, b.id)  # moved since we looked: decide next pass
                changed += 1
            else:
                changed += self._on_receipt(b, receipt, head)
        return changed

    def _finalize(
        self, b: OpenBatch, tx: str, number: int, block_hash: str, found: Sequence[Outcome]
    ) -> None:
        final = self._resolve_nonce_used(found, number)
        released = store.finalize(self.conn, b, tx, number, block_hash, final)
        if released:
            log.error("batch %d: %d executions had no outcome; pending again", b.id, released)
        confirmed = sum(1 for o in final if o.executed)
        self.metrics.final(confirmed, len(final) - confirmed)
        if trail.isEnabledFor(logging.INFO):
            for o in final:
                _trail(o)

    def _resolve_nonce_used(self, found: Sequence[Outcome], number: int) -> list[Outcome]:
        """Swap NONCE_USED for the earlier InferenceExecuted of the same execution, if any."""
        used = ["0x" + o.execution_id.hex() for o in found if o.reason is RejectReason.NONCE_USED]
        if not used:
            return list(found)
        logs = self.rpc.call(
            "eth_getLogs",
            {
                "address": self.key.ledger,
                "topics": [INFERENCE_EXECUTED_TOPIC, used],
                "fromBlock": hex(self.config.start_block),
                "toBlock": hex(number),
            },
        )
        try:
            earlier = {o.execution_id: o for o in outcomes_of(logs, self.key.ledger) if o.executed}
        except (KeyError, TypeError, ValueError) as exc:
            raise NodeUnavailable(f"eth_getLogs: a malformed log in the answer ({exc})") from exc
        if earlier:
            log.info("%d executions were already executed by an earlier attempt", len(earlier))
        return [earlier.get(o.execution_id, o) for o in found]

    def _on_missing(self, missing: Sequence[OpenBatch], latest_nonce: int, head: Head) -> int:
        changed, unsure, now = 0, [], time.monotonic()
        for b in missing:
            if latest_nonce > b.nonce:
                since = self._passed_since.setdefault(b.id, now)
                if now - since < self.config.lost_after:
                    continue  # the receipt may not be served yet: look again next pass
                n = store.requeue(self.conn, b.id, "lost")
                self.metrics.batches.labels("lost").inc()
                log.warning("batch %d: nonce %d went to another transaction; %d pending again",
                            b.id, b.nonce, n)  # fmt: skip
                changed += 1
                continue
            self._passed_since.pop(b.id, None)
            if b.latest_age >= self.config.replace_after:
                self._replace(b, head)
                self.metrics.batches.labels("replaced").inc()
                self.note_sent(b.id, head.number)
                changed += 1
            elif now - self._last_seen.get(b.id, -math.inf) >= self.config.rebroadcast_after:
                unsure.append(b)  # first seen by this process, or not looked at for a while
        known = self.rpc.batch([("eth_getTransactionByHash", [b.latest]) for b in unsure])
        for b, tx in zip(unsure, known, strict=True):
            self._last_seen[b.id] = now
            if tx is None:
                log.warning("batch %d: the node lost %s; broadcasting it again", b.id, b.latest)
                broadcast(self.rpc, store.latest_tx(self.conn, b))
                self.metrics.batches.labels("rebroadcast").inc()
                changed += 1
        return changed

    def _replace(self, b: OpenBatch, head: Head) -> None:
        tx = replacement(self.account, store.latest_tx(self.conn, b), chain_id=self.key.chain_id,
                         base_fee=head.base_fee, priority_fee=self.config.priority_fee)  # fmt: skip
        store.add_replacement(self.conn, b.id, tx)  # before the send, as for the original
        log.warning("batch %d: no receipt after %.1f s; replacing %s with %s",
                    b.id, b.latest_age, b.latest, tx.tx_hash)  # fmt: skip
        broadcast(self.rpc, tx)


def _trail(o: Outcome) -> None:
    execution_id = "0x" + o.execution_id.hex()
    outcome = "confirmed" if o.executed else "rejected"
    trail.info(
        "execution %s %s on chain: tx %s, log %d, block %d", execution_id, outcome, o.tx_hash,
        o.log_index, o.block_number,
        extra={"execution_id": execution_id, "stage": outcome, "tx_hash": o.tx_hash,
               "log_index": o.log_index, "block_number": o.block_number,
               "reject_reason": None if o.reason is None else o.reason.name},
    )  # fmt: skip


def _n(b: OpenBatch) -> int:
    assert b.block_number is not None  # mined batches always have one
    return b.block_number
