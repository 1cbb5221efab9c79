"""A scripted chain for tests, as graph-node's test harness has: blocks, branches, faults.

``FakeChain`` holds a tree of blocks; its head picks the canonical branch. Tests mine blocks
with logs, fork at any height, switch back to an old branch, and hook each source call to move
the chain between two calls of one batch. ``FakeChainSource`` serves it as a ``ChainSource``,
behaving like anvil where nodes differ (a block no longer canonical is an "unknown block").
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak

from artisan.chain.abi.decoder import ContractAbi, event_signature
from artisan.chain.errors import ChainMoved, LogRangeTooLarge
from artisan.indexer.source import RawLog
from artisan.storage.chain_records import BlockHeader

TOKEN = "0x00000000000000000000000000000000000a11ce"
_TRANSFER = {
    "type": "event",
    "name": "Transfer",
    "anonymous": False,
    "inputs": [
        {"name": "from", "type": "address", "indexed": True},
        {"name": "to", "type": "address", "indexed": True},
        {"name": "value", "type": "uint256", "indexed": False},
    ],
}
_NOTE = {
    "type": "event",
    "name": "Note",
    "anonymous": False,
    "inputs": [
        {"name": "id", "type": "uint256", "indexed": True},
        {"name": "text", "type": "string", "indexed": False},
        {"name": "tags", "type": "bytes32[]", "indexed": False},
    ],
}
TOKEN_CONTRACT = ContractAbi(TOKEN, [_TRANSFER, _NOTE])


def _hash(*parts: object) -> str:
    return "0x" + hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()


def _topic(event: dict[str, object]) -> str:
    return "0x" + keccak(text=event_signature(event)).hex()


_TRANSFER_TOPIC = _topic(_TRANSFER)
_NOTE_TOPIC = _topic(_NOTE)


def _word(value: int) -> str:
    return "0x" + value.to_bytes(32, "big").hex()


def token_logs(number: int, block_hash: str, count: int) -> list[RawLog]:
    """``count`` logs of the fake token: Transfers and Notes whose content depends on the block."""
    logs: list[RawLog] = []
    seed = int(block_hash[2:10], 16)
    for i in range(count):
        if i % 3 == 2:
            topics = [_NOTE_TOPIC, _word(seed + i)]
            body = abi_encode(["string", "bytes32[]"], [f"note {number}.{i}", [b"\x07" * 32]])
        else:
            topics = [_TRANSFER_TOPIC, _word(seed % 1000 + 1), _word(i + 1)]
            body = abi_encode(["uint256"], [seed * 10**18 + i])
        logs.append(
            {
                "address": TOKEN,
                "topics": topics,
                "data": "0x" + body.hex(),
                "blockNumber": hex(number),
                "blockHash": block_hash,
                "transactionHash": _hash("tx", block_hash, i),
                "transactionIndex": hex(i),
                "logIndex": hex(i),
                "removed": False,
            }
        )
    return logs


@dataclass(frozen=True, slots=True)
class FakeBlock:
    header: BlockHeader
    logs: tuple[RawLog, ...]


class FakeChain:
    """A tree of blocks with a movable head; the canonical branch is the head's ancestry."""

    def __init__(self, logs_per_block: int = 3, start_time: int = 1_700_000_000) -> None:
        genesis = BlockHeader(0, _hash("genesis"), "0x" + "00" * 32, start_time)
        self.blocks: dict[str, FakeBlock] = {genesis.hash: FakeBlock(genesis, ())}
        self.head_hash = genesis.hash
        self.logs_per_block = logs_per_block
        self._mined = 0
        self._canonical: list[FakeBlock] = [self.blocks[genesis.hash]]

    @property
    def head(self) -> BlockHeader:
        return self.blocks[self.head_hash].header

    def canonical(self) -> list[FakeBlock]:
        """The canonical branch from genesis to the head, indexed by block number."""
        return self._canonical

    def mine(self, count: int = 1, logs: int | None = None) -> list[FakeBlock]:
        """Extend the head by ``count`` blocks, each with ``logs`` token logs."""
        made = []
        for _ in range(count):
            self._mined += 1
            parent = self.head
            number = parent.number + 1
            header = BlockHeader(
                number, _hash(parent.hash, number, self._mined), parent.hash, parent.timestamp + 2
            )
            count_logs = self.logs_per_block if logs is None else logs
            block = FakeBlock(header, tuple(token_logs(number, header.hash, count_logs)))
            self.blocks[header.hash] = block
            self.head_hash = header.hash
            self._canonical = [*self._canonical, block]
            made.append(block)
        return made

    def fork(self, at: int) -> None:
        """Move the head back to the canonical block at height ``at``: mining then branches."""
        self.set_head(self._canonical[at].header.hash)

    def reorg(self, depth: int, new_blocks: int | None = None) -> None:
        """Replace the last ``depth`` blocks by a branch of ``new_blocks`` (default: depth + 1)."""
        self.fork(self.head.number - depth)
        self.mine(depth + 1 if new_blocks is None else new_blocks)

    def set_head(self, block_hash: str) -> None:
        """Make the branch ending at ``block_hash`` canonical (also an old, orphaned one)."""
        branch = []
        cursor: str | None = block_hash
        while cursor in self.blocks:
            block = self.blocks[cursor]
            branch.append(block)
            cursor = block.header.parent_hash
        self.head_hash = block_hash
        self._canonical = branch[::-1]


@dataclass
class FakeChainSource:
    """Serves a FakeChain as a ChainSource; hooks run before each call (and each header).

    Like anvil, it answers "unknown block" for logs of a block no longer canonical; with
    ``serves_orphans`` it answers them as geth does, which keeps side-chain blocks. With
    ``max_logs`` it refuses a log query with more results, as hosted nodes do.
    """

    chain: FakeChain
    serves_orphans: bool = False
    max_logs: int | None = None
    before_call: Callable[[str], None] | None = None
    on_header: Callable[[int], None] | None = None
    calls: dict[str, int] = field(default_factory=dict)

    def _enter(self, method: str) -> None:
        self.calls[method] = self.calls.get(method, 0) + 1
        if self.before_call is not None:
            self.before_call(method)

    def head_number(self) -> int:
        self._enter("head_number")
        return self.chain.head.number

    def headers(self, numbers: Sequence[int]) -> list[BlockHeader | None]:
        self._enter("headers")
        out: list[BlockHeader | None] = []
        for n in numbers:
            if self.on_header is not None:
                self.on_header(n)
            canonical = self.chain.canonical()
            out.append(canonical[n].header if 0 <= n < len(canonical) else None)
        return out

    def logs(self, from_block: int, to_block: int, addresses: Sequence[str]) -> list[RawLog]:
        self._enter("logs")
        wanted = {a.lower() for a in addresses}
        blocks = self.chain.canonical()[from_block : to_block + 1]
        found = [log for b in blocks for log in b.logs if log["address"] in wanted]
        if self.max_logs is not None and len(found) > self.max_logs:
            raise LogRangeTooLarge(f"query returned more than {self.max_logs} results")
        return found

    def block_logs(
        self, block_hashes: Sequence[str], addresses: Sequence[str]
    ) -> list[list[RawLog]]:
        self._enter("block_logs")
        wanted = {a.lower() for a in addresses}
        canonical = self.chain.canonical()
        out = []
        for h in block_hashes:
            block = self.chain.blocks.get(h)
            n = -1 if block is None else block.header.number
            orphan = n >= len(canonical) or canonical[n].header.hash != h
            if block is None or (orphan and not self.serves_orphans):
                raise ChainMoved(f"unknown block {h}")
            out.append([log for log in block.logs if log["address"] in wanted])
        return out

    def transactions(self, hashes: Sequence[str]) -> list[dict[str, Any] | None]:
        """A scripted chain has logs, not calldata: each transaction calls no contract the
        indexer reads calldata of (so no request events)."""
        self._enter("transactions")
        return [{"hash": h, "to": None, "input": "0x"} for h in hashes]

    def close(self) -> None:
        return None
