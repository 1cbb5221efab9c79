"""Publishing epoch roots on the RewardDistributor, exactly once across reorgs and restarts.

A closed epoch's row (epoch, root, total) is the publication's intent, written before anything
is sent. Its steps are transactions from the publisher's key: ``mint`` (dev chains, where
configured: the publisher mints the total to itself), ``approve`` (the distributor pulls the
total) and ``publish`` (``publishEpoch``). Each pass (``step``) reconciles them with the chain
as it is now, never waiting on it, with the emitter's rules (``artisan.chain.transactions``):

- the distributor already holds the epoch's root: the publication is on chain; once its
  ``EpochPublished`` is ``confirmations`` deep it is final and recorded (``publish_tx``). A
  different root is an ``EpochError``;
- every transaction is recorded (``reward_publication_txs``) before it is broadcast, under a
  nonce read from the chain's pending count at that moment (never a cached one);
- an attempt (the transactions of one step at one nonce) with a receipt on the canonical
  chain has done its step; one whose block left the chain has no receipt any more and is in
  flight again: the node is asked whether it still has it, and the same bytes are sent again
  if not (anvil forgets reorged transactions; so do pools that drop them);
- an attempt with no receipt for ``replace_after`` seconds is replaced by nonce (bumped fees);
- an attempt whose nonce went to another transaction (the key sent something else there, and
  none of this attempt's transactions has a receipt) is ``lost`` after ``lost_after`` seconds:
  only then is its step signed again, under a new nonce. So a mint is never sent a second time
  while the first can still land;
- a step is sent only once every step before it is done, and an epoch's steps only once every
  earlier epoch's root is on chain: each send is estimated first, so a step that would revert
  raises ``PublicationError`` instead of burning gas.

On a node that mines at once (anvil) a whole publication goes through in one pass.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import psycopg
from eth_abi.abi import decode, encode
from eth_abi.exceptions import DecodingError
from eth_account import Account

from artisan.chain.contracts import Deployment
from artisan.chain.errors import ChainMoved, NodeError
from artisan.chain.jsonrpc import JsonRpc
from artisan.chain.transactions import (
    GWEI,
    Head,
    SignedTx,
    broadcast,
    check_chain,
    fresh_fees,
    read_head,
    replacement,
    sign_call,
)
from artisan.domain.hashing import keccak
from artisan.errors import ArtisanError
from artisan.projections.errors import EpochError, PublicationError
from artisan.projections.rewards import publications as store
from artisan.projections.rewards.publications import Attempt, PendingEpoch
from artisan.storage.database import Database
from artisan.storage.writer_lock import (
    WriterLockHeld,
    acquire_writer_connection,
    release_writer_connection,
)

log = logging.getLogger(__name__)

ZERO_ROOT = "0x" + "00" * 32
EPOCH_PUBLISHED_TOPIC = (
    "0x" + keccak(b"EpochPublished(uint256,uint64,uint64,uint256,bytes32)").hex()
)


# eth_getLogs ranges of the fallback scan: what public providers accept.
LOG_SCAN_BLOCKS = 10_000


def _selector(signature: str) -> bytes:
    return keccak(signature.encode())[:4]


_MINT = _selector("mint(address,uint256)")
_APPROVE = _selector("approve(address,uint256)")
_PUBLISH = _selector("publishEpoch(uint256,uint64,uint64,uint128,bytes32)")
_EPOCHS = _selector("epochs(uint256)")
_ALLOWANCE = _selector("allowance(address,address)")


@dataclass(frozen=True, slots=True)
class PublisherConfig:
    """How the publisher prices, waits and decides (seconds unless named otherwise)."""

    confirmations: int  # blocks on top of (and including) EpochPublished's: the finality depth
    mint: bool = False  # dev chains: mint each epoch's total to the publisher first
    replace_after: float = 60.0  # no receipt this long: a fee-bumped replacement, same nonce
    rebroadcast_after: float = 2.0  # between asking the node whether it still has a transaction
    lost_after: float = 1.0  # a nonce passed with no receipt this long: the attempt is lost
    priority_fee: int = GWEI
    gas_margin_ppm: int = 1_250_000  # on top of the node's estimate

    def __post_init__(self) -> None:
        if self.confirmations < 1:
            raise ValueError(f"confirmations must be >= 1, got {self.confirmations}")
        for name in ("replace_after", "rebroadcast_after", "lost_after", "priority_fee"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")


@dataclass(frozen=True, slots=True)
class Published:
    """An epoch whose publication became final in this pass."""

    epoch: int
    root: str
    tx_hash: str
    block_number: int


@dataclass(frozen=True, slots=True)
class OnChain:
    tx_hash: str
    block_number: int


class Publisher(Protocol):
    """What the projection service's publish job drives (one pass per run)."""

    def step(self) -> list[Published]: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Contracts:
    """Where the publisher sends: the chain and the two contracts (lowercase addresses)."""

    chain_id: int
    token: str
    distributor: str

    @classmethod
    def of(cls, deployment: Deployment) -> Contracts:
        return cls(deployment.chain_id, deployment.token.lower(), deployment.distributor.lower())


class ChainPublisher:
    """The one publisher of a key on a chain (a Postgres advisory lock, held on the connection
    that makes every write, refuses a second one); drive it with ``step``."""

    def __init__(
        self,
        db: Database,
        rpc_url: str,
        key: str,
        contracts: Contracts,
        config: PublisherConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.account = Account.from_key(key)
        self.address = str(self.account.address).lower()
        self.contracts = contracts
        self.config = config
        self._clock = clock
        self._last_seen: dict[str, float] = {}  # tx hash -> when last sent or looked up
        self._passed_since: dict[tuple[int, str, int], float] = {}
        self.rpc = JsonRpc(rpc_url)
        self._checked = False  # the node's chain id, checked at the first pass (not at start:
        # a node that is down then must not keep the projections from starting)
        # One publisher per distributor, whatever its key: two keys would each mint.
        self._stream = f"publisher:{contracts.chain_id}:{contracts.distributor}"
        try:
            self.conn: psycopg.Connection[Any] = acquire_writer_connection(db, self._stream)
        except WriterLockHeld as exc:
            self.rpc.close()
            raise PublicationError(
                f"a publisher for the distributor {contracts.distributor} on chain"
                f" {contracts.chain_id} is running"
            ) from exc
        except BaseException:
            self.rpc.close()
            raise

    def close(self) -> None:
        release_writer_connection(self.conn, self._stream)
        self.rpc.close()

    def __enter__(self) -> ChainPublisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reads -------------------------------------------------------------------------------

    def published(self, epoch: int) -> tuple[str, int] | None:
        """(root, total) the distributor holds for ``epoch`` now; None if it holds none."""
        data = "0x" + (_EPOCHS + encode(["uint256"], [epoch])).hex()
        answer = self.rpc.call(
            "eth_call", {"to": self.contracts.distributor, "data": data}, "latest"
        )
        try:
            root, _from, _to, total, _claimed = decode(
                ["bytes32", "uint64", "uint64", "uint128", "uint128"], bytes.fromhex(answer[2:])
            )
        except (ValueError, TypeError, DecodingError) as exc:
            raise PublicationError(
                f"the distributor at {self.contracts.distributor} answered epochs({epoch}) with"
                f" {answer!r:.80}: is it the RewardDistributor? ({exc})"
            ) from exc
        hex_root = "0x" + bytes(root).hex()
        return None if hex_root == ZERO_ROOT else (hex_root, int(total))

    # -- one pass ----------------------------------------------------------------------------

    def step(self) -> list[Published]:
        """Move every pending publication as far as the chain allows now; the ones that
        became final."""
        if not self._checked:
            check_chain(self.rpc, self.contracts.chain_id)
            self._checked = True
        head = read_head(self.rpc)
        final: list[Published] = []
        for epoch in store.pending_epochs(self.conn):
            where = self._on_chain(epoch, head)
            if where is None:
                try:
                    self._advance(epoch, head)
                except ArtisanError:
                    if not final:
                        raise
                    # What became final is reported now; the next pass meets this again.
                    log.exception("epoch %d: publishing failed", epoch.epoch)
                break  # later epochs wait: their steps' nonces come after this one's
            if head.number - where.block_number + 1 >= self.config.confirmations:
                store.mark_final(self.conn, epoch.epoch, where.tx_hash, where.block_number)
                log.info("epoch %d: publication final in block %d", epoch.epoch,
                         where.block_number)  # fmt: skip
                final.append(Published(epoch.epoch, epoch.root, where.tx_hash, where.block_number))
        return final

    def _on_chain(self, epoch: PendingEpoch, head: Head) -> OnChain | None:
        held = self.published(epoch.epoch)
        if held is None:
            return None
        root, total = held
        if root != epoch.root or total != epoch.total:
            raise EpochError(
                f"epoch {epoch.epoch}: the distributor holds root {root} (total {total}),"
                f" not {epoch.root} (total {epoch.total})"
            )
        found = self._published_by_us(epoch) or self._published_log(epoch, head)
        if found is None and self.published(epoch.epoch) is None:
            # Seen in the soak: a reorg took the publication away between the two reads. The
            # chain moved (asked again next pass), not a publication that failed.
            raise ChainMoved(
                f"epoch {epoch.epoch}: the distributor's root left the chain while its"
                " EpochPublished was looked up"
            )
        if found is None:
            raise PublicationError(
                f"epoch {epoch.epoch}: the distributor holds its root but no EpochPublished"
                f" since block {epoch.to_block} is on chain"
            )
        return found

    def _published_by_us(self, epoch: PendingEpoch) -> OnChain | None:
        """The EpochPublished in the receipt of one of our own publish transactions."""
        hashes = store.publish_hashes(self.conn, epoch.epoch)
        receipts = self.rpc.batch([("eth_getTransactionReceipt", [h]) for h in hashes])
        for receipt in receipts:
            if receipt is None or receipt.get("status") != "0x1":
                continue
            if any(self._publishes(log_, epoch.epoch) for log_ in receipt.get("logs", ())):
                return OnChain(str(receipt["transactionHash"]), int(receipt["blockNumber"], 16))
        return None

    def _published_log(self, epoch: PendingEpoch, head: Head) -> OnChain | None:
        """The epoch's EpochPublished found by scanning (someone else published it): in
        ranges a public node accepts, newest first."""
        topic = "0x" + epoch.epoch.to_bytes(32, "big").hex()
        high = head.number
        while high >= epoch.to_block:
            low = max(epoch.to_block, high - LOG_SCAN_BLOCKS + 1)
            logs = self.rpc.call("eth_getLogs", {
                "address": self.contracts.distributor, "topics": [EPOCH_PUBLISHED_TOPIC, topic],
                "fromBlock": hex(low), "toBlock": hex(high),
            })  # fmt: skip
            if logs:
                return OnChain(str(logs[-1]["transactionHash"]), int(logs[-1]["blockNumber"], 16))
            high = low - 1
        return None

    def _publishes(self, log_: dict[str, Any], epoch: int) -> bool:
        topics = log_.get("topics") or []
        return (
            str(log_.get("address", "")).lower() == self.contracts.distributor
            and len(topics) >= 2
            and str(topics[0]).lower() == EPOCH_PUBLISHED_TOPIC
            and int(str(topics[1]), 16) == epoch
        )

    def _steps(self) -> tuple[str, ...]:
        return store.STEPS if self.config.mint else store.STEPS[1:]

    def _advance(self, epoch: PendingEpoch, head: Head) -> None:
        steps = self._steps()
        attempts = store.open_attempts(self.conn, epoch.epoch)
        others = sorted({a.publisher for a in attempts} - {self.address})
        if others:
            raise PublicationError(
                f"epoch {epoch.epoch} has transactions in flight from another publisher key"
                f" ({', '.join(others)}): publish it with that key, or wait for them to end"
            )
        attempts = [a for a in attempts if a.step in steps]
        # Two nonces: the chain's now, and the one at the deepest block no reorg we follow
        # can undo. An attempt counts as lost only once the latter has passed it: until then
        # a reorg could still bring it back.
        final_block = max(head.number - self.config.confirmations + 1, 0)
        nonce_now, nonce_final = (int(n, 16) for n in self.rpc.batch([
            ("eth_getTransactionCount", [self.address, "latest"]),
            ("eth_getTransactionCount", [self.address, hex(final_block)]),
        ]))  # fmt: skip
        calls = [("eth_getTransactionReceipt", [t.tx_hash]) for a in attempts for t in a.txs]
        receipts = iter(self.rpc.batch(calls))
        mined: dict[int, dict[str, Any]] = {}  # attempt index -> its receipt
        for i, a in enumerate(attempts):
            found = [r for r in (next(receipts) for _ in a.txs) if r is not None]
            if found:
                mined[i] = found[0]
        with_receipt = {(attempts[i].step, attempts[i].nonce) for i in mined}
        done: set[str] = set()
        unmined: list[Attempt] = []
        failed_at = len(steps)  # the first step with an attempt that can no longer land
        now = self._clock()
        for i, a in enumerate(attempts):
            key = (a.epoch, a.step, a.nonce)
            receipt = mined.get(i)
            if receipt is not None:
                self._passed_since.pop(key, None)
                if receipt["status"] == "0x1":
                    done.add(a.step)
                elif int(receipt["blockNumber"], 16) > final_block:
                    unmined.append(a)  # reverted on this branch; another may still run it
                else:
                    store.close_attempt(self.conn, a, "reverted")
                    log.error("epoch %d: %s (nonce %d, %s) reverted", a.epoch, a.step,
                              a.nonce, receipt["transactionHash"])  # fmt: skip
                    failed_at = min(failed_at, steps.index(a.step))
            elif nonce_final > a.nonce and now - self._passed_since.setdefault(key, now) >= (
                self.config.lost_after
            ):
                store.close_attempt(self.conn, a, "lost")
                self._passed_since.pop(key, None)
                log.warning("epoch %d: %s lost its nonce %d to another transaction",
                            a.epoch, a.step, a.nonce)  # fmt: skip
                failed_at = min(failed_at, steps.index(a.step))
            else:
                if nonce_final <= a.nonce:
                    self._passed_since.pop(key, None)
                unmined.append(a)
        moving: set[str] = set()
        for a in unmined:
            if steps.index(a.step) > failed_at:
                # It would run before the step it needs, which must be signed anew under a
                # higher nonce: drop it and send it again after that step.
                store.close_attempt(self.conn, a, "lost")
                log.warning("epoch %d: %s (nonce %d) abandoned: it needs %s, sent again",
                            a.epoch, a.step, a.nonce, steps[failed_at])  # fmt: skip
                continue
            moving.add(a.step)
            if nonce_now <= a.nonce and (a.step, a.nonce) not in with_receipt:
                # Not passed and no receipt: make sure the node still has it.
                self._keep_alive(a, head, now)
        if "approve" in done and "publish" not in done | moving and self._allowance() < epoch.total:
            done.discard("approve")  # spent since (another epoch's publication): approve again
        # Every new step's nonce comes after those of the steps done: a pending count that
        # does not is a chain that moved under this pass (``_send``).
        after = max((a.nonce for a in attempts if a.step in done), default=None)
        for step in steps:
            if step in done:
                continue
            if step in moving:
                return  # in flight: a later pass sees it mined
            tx = self._send(epoch, step, head, after)
            after = tx.nonce
            receipt = self.rpc.call("eth_getTransactionReceipt", tx.tx_hash)
            if receipt is None or receipt["status"] != "0x1":
                return  # not mined yet (or reverted: a later pass decides)

    def _allowance(self) -> int:
        """What the distributor may pull from the publisher now."""
        data = _ALLOWANCE + encode(["address", "address"],
                                   [self.address, self.contracts.distributor])  # fmt: skip
        call = {"to": self.contracts.token, "data": "0x" + data.hex()}
        return int(self.rpc.call("eth_call", call, "latest"), 16)

    def _keep_alive(self, a: Attempt, head: Head, now: float) -> None:
        """An attempt with no receipt: replace it when stale, re-send it if the node lost it."""
        if a.age >= self.config.replace_after:
            self._replace(a, head)
            return
        if now - self._last_seen.get(a.latest.tx_hash, -math.inf) < self.config.rebroadcast_after:
            return
        self._last_seen[a.latest.tx_hash] = now
        if self.rpc.call("eth_getTransactionByHash", a.latest.tx_hash) is None:
            log.warning("epoch %d: the node lost %s (%s, nonce %d); sending it again",
                        a.epoch, a.latest.tx_hash, a.step, a.nonce)  # fmt: skip
            broadcast(self.rpc, a.latest)

    def _replace(self, a: Attempt, head: Head) -> None:
        tx = replacement(self.account, a.latest, chain_id=self.contracts.chain_id,
                         base_fee=head.base_fee, priority_fee=self.config.priority_fee)  # fmt: skip
        store.record(self.conn, a.epoch, a.step, self.address, tx)  # before the send
        self._last_seen[tx.tx_hash] = self._clock()
        log.warning("epoch %d: %s (nonce %d) unmined after %.1f s; replacing it with %s",
                    a.epoch, a.step, a.nonce, a.age, tx.tx_hash)  # fmt: skip
        broadcast(self.rpc, tx)

    def _send(self, epoch: PendingEpoch, step: str, head: Head, after: int | None) -> SignedTx:
        to, data = self._call(epoch, step)
        call = {"from": self.address, "to": to, "data": "0x" + data.hex()}
        try:
            estimate = int(self.rpc.call("eth_estimateGas", call), 16)
        except NodeError as exc:
            raise PublicationError(
                f"epoch {epoch.epoch}: {step} would revert: {exc.message}"
            ) from exc
        nonce = int(self.rpc.call("eth_getTransactionCount", self.address, "pending"), 16)
        if after is not None and nonce <= after:
            # Seen in the soak: a reorg took the mint away after its receipt was read, the
            # approve went out under the mint's nonce and the publish would then revert.
            raise ChainMoved(
                f"epoch {epoch.epoch}: the pending nonce {nonce} no longer counts the step"
                f" done at nonce {after}: it left the chain during this pass"
            )
        tx = sign_call(
            self.account, chain_id=self.contracts.chain_id, to=to, data=data, nonce=nonce,
            gas=-(-estimate * self.config.gas_margin_ppm // 1_000_000),
            fees=fresh_fees(head.base_fee, self.config.priority_fee),
        )  # fmt: skip
        store.record(self.conn, epoch.epoch, step, self.address, tx)  # before the send
        self._last_seen[tx.tx_hash] = self._clock()
        log.info("epoch %d: %s sent as %s (nonce %d)", epoch.epoch, step, tx.tx_hash, nonce)
        broadcast(self.rpc, tx)  # refused (nonce taken meanwhile): lost after lost_after
        return tx

    def _call(self, epoch: PendingEpoch, step: str) -> tuple[str, bytes]:
        c = self.contracts
        if step == "mint":
            return c.token, _MINT + encode(["address", "uint256"], [self.address, epoch.total])
        if step == "approve":
            return c.token, _APPROVE + encode(["address", "uint256"], [c.distributor, epoch.total])
        args = [epoch.epoch, epoch.from_block, epoch.to_block, epoch.total,
                bytes.fromhex(epoch.root[2:])]  # fmt: skip
        types = ["uint256", "uint64", "uint64", "uint128", "bytes32"]
        return c.distributor, _PUBLISH + encode(types, args)
