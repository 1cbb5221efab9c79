"""Realistic protocol histories without a chain: for property tests and the replay benchmark.

``HistoryGenerator`` plays the protocol forward from a seed (``synthetic_actions``: models,
remixes, term changes, executions priced by the real metering rule and settled by the real
splits, ratings, now and then a made-up one, signals, epochs, claims) and emits event rows
exactly as the indexer's decoder stores them: integers as decimal strings, lowercase hex,
tuples as objects. ``fork`` copies the state to grow a competing branch from the same block.
"""

from __future__ import annotations

import copy
import hashlib
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from eth_utils.crypto import keccak

from artisan.domain.defaults import DEV_RATES
from artisan.domain.types import Rates
from artisan.storage.chain_records import BlockHeader, EventRow
from artisan.testing.synthetic_actions import Actions, random_hex

CONTRACT_EVENTS = {
    "ModelRegistry": (
        "ModelRegistered", "PricingSet", "AccessSet", "AccessGranted", "AccessRevoked",
        "LicenseSet", "DaoSet", "KindSet", "ModelTransferred",
    ),
    "ExecutionLedger": (
        "RatesSet", "InferenceExecuted", "Settlement", "TreasurySet", "Deposited",
        "WithdrawalRequested", "EscrowWithdrawn", "Withdrawn",
    ),
    "Curation": ("Signaled", "Unsignaled"),
    "Feedback": ("Rated",),
    "RewardDistributor": ("EpochPublished", "Claimed"),
}  # fmt: skip
ADDRESSES = {c: "0x" + hashlib.sha256(c.encode()).hexdigest()[:40] for c in CONTRACT_EVENTS}
_ADDRESS_OF = {e: ADDRESSES[c] for c, events in CONTRACT_EVENTS.items() for e in events}
# Emitted only where a test mines it (``mine``): no action of the mix makes a rejection.
_ADDRESS_OF["ExecutionRejected"] = ADDRESSES["ExecutionLedger"]
RATES = DEV_RATES
# Relative frequency of each action per transaction.
DEFAULT_MIX: Mapping[str, int] = {
    "register": 3, "remix": 3, "terms": 2, "transfer": 1, "access": 1, "execute": 30,
    "rate": 10, "signal": 8, "unsignal": 3, "epoch": 1, "withdraw": 2, "exit": 2,
}  # fmt: skip


def stored(value: Any) -> Any:
    """A value as the decoder stores it: integers as decimal strings, containers recursively."""
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list | tuple):
        return [stored(v) for v in value]
    if isinstance(value, dict):
        return {k: stored(v) for k, v in value.items()}
    raise TypeError(f"no stored form for {type(value).__name__}")


def rates_args(version: int, r: Rates) -> dict[str, Any]:
    """``RatesSet`` arguments (before ``stored``)."""
    return {
        "version": version,
        "rates": {
            "unitRate": list(r.unit_rate), "gpuRate": r.gpu_rate, "latencyRate": r.latency_rate,
            "storageRate": r.storage_rate, "priorityBps": list(r.priority_bps),
            "loadBpsPerUnit": r.load_bps_per_unit, "loadCapacity": r.load_capacity,
            "maxLoadBps": r.max_load_bps, "operatorBps": r.operator_bps,
            "treasuryBps": r.treasury_bps,
        },
    }  # fmt: skip


@dataclass(frozen=True, slots=True)
class SyntheticBlock:
    header: BlockHeader
    rows: list[EventRow]


class HistoryGenerator:
    """A deterministic protocol history, one block at a time."""

    def __init__(
        self,
        seed: int,
        *,
        chain_id: int = 31337,
        accounts: int = 12,
        mix: Mapping[str, int] = DEFAULT_MIX,
        start_block: int = 1,
    ) -> None:
        self.chain_id = chain_id
        self.mix = dict(mix)
        pick = random.Random(f"accounts:{chain_id}")  # the same accounts on every branch
        users = [random_hex(pick, 20) for _ in range(accounts)]
        self.actions = Actions(
            rng=random.Random(seed),
            rates=RATES,
            users=users,
            creators=users[: max(2, accounts // 3)],
            operators=[random_hex(pick, 20) for _ in range(2)],
            treasury=random_hex(pick, 20),
            daos=[random_hex(pick, 20) for _ in range(2)],
        )
        self.number = start_block - 1
        self.parent = "0x" + "00" * 32
        self.timestamp = 1_700_000_000
        self._tag = str(seed)
        self._rows: list[EventRow] = []
        self._header = BlockHeader(self.number, self.parent, self.parent, self.timestamp)
        self._tx = ("", 0)
        self._rates_set = False

    def fork(self, seed: int) -> HistoryGenerator:
        """An independent copy of this history that goes on with its own randomness."""
        other = copy.deepcopy(self)
        other.actions.rng = random.Random(seed)
        other._tag = f"{self._tag}/{seed}"
        return other

    def blocks(self, count: int, txs: int = 4) -> list[SyntheticBlock]:
        return [self.next_block(txs) for _ in range(count)]

    def mine(self, events: Sequence[tuple[str, dict[str, Any]]]) -> SyntheticBlock:
        """Mine one block holding exactly ``events`` (name, arguments), one transaction each."""
        self._open_block()
        for i, (name, args) in enumerate(events):
            self._begin(i)
            self.emit(name, **args)
        return SyntheticBlock(self._header, self._rows)

    def _open_block(self) -> None:
        self.number += 1
        self.timestamp += 12
        digest = hashlib.sha256(f"{self._tag}:{self.number}:{self.parent}".encode()).hexdigest()
        self._header = BlockHeader(self.number, "0x" + digest, self.parent, self.timestamp)
        self.parent = self._header.hash
        self._rows = []

    def next_block(self, txs: int = 4, executions: int = 0) -> SyntheticBlock:
        """Mine one block of 1..``txs`` transactions (the very first also sets the rates).

        With ``executions``, the block is one batch of that many executions instead.
        """
        self._open_block()
        self.actions.now = self.timestamp
        if not self._rates_set:
            self._rates_set = True
            self._begin(0)
            self.emit("RatesSet", **rates_args(1, RATES))
        rng = self.actions.rng
        if executions:
            self._begin(1)
            self.actions.execute(self.emit, executions)
            return SyntheticBlock(self._header, self._rows)
        names, weights = list(self.mix), list(self.mix.values())
        for i in range(rng.randint(1, txs) if txs else 0):
            self._begin(i + 1)
            action = rng.choices(names, weights)[0]
            if action == "epoch":
                self.actions.epoch(self.emit, self.number)
            else:
                getattr(self.actions, action)(self.emit)
        return SyntheticBlock(self._header, self._rows)

    def _begin(self, index: int) -> None:
        tx = hashlib.sha256(f"tx:{self._header.hash}:{index}".encode()).hexdigest()
        self._tx = ("0x" + tx, index)

    def emit(self, name: str, **args: Any) -> None:
        """Append one event row to the block being mined."""
        h, (tx_hash, tx_index) = self._header, self._tx
        self._rows.append(
            EventRow(
                self.chain_id,
                h.number,
                h.hash,
                h.timestamp,
                tx_hash,
                tx_index,
                len(self._rows),
                _ADDRESS_OF[name],
                name,
                orjson.dumps(stored(args)).decode(),
                ["0x" + keccak(text=name).hex()],  # a stand-in: projections read no topics
                "0x",
            )
        )
