"""The chain reader the indexer depends on: a Protocol, so a node and a scripted fake both fit.

Logs are raw JSON-RPC log objects (hex strings, as ``eth_getLogs`` returns them): the indexer
parses the few fields it needs itself instead of paying for a library's formatters. A source
hands them over with lowercase hex, as nodes answer (``JsonRpcSource`` lowercases an answer
that is not): the decoder does not lowercase every field of every log again, and the event
store refuses a row with any other character in a hex field.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from artisan.chain.types import RawLog
from artisan.storage.chain_records import BlockHeader

__all__ = ["ChainSource", "HeadSignal", "RawLog"]


class ChainSource(Protocol):
    """Reads block headers and contract logs from one chain.

    Failures are raised as ``artisan.errors.ChainError`` subclasses: the transient ones from
    ``artisan.indexer.errors`` are retried, anything else halts the indexer.
    """

    def head_number(self) -> int:
        """The number of the newest block."""
        ...

    def headers(self, numbers: Sequence[int]) -> list[BlockHeader | None]:
        """Headers at the given heights, in order; None where there is no block (yet)."""
        ...

    def logs(self, from_block: int, to_block: int, addresses: Sequence[str]) -> list[RawLog]:
        """Logs of ``addresses`` in blocks ``from_block..to_block`` (inclusive), in chain order."""
        ...

    def block_logs(
        self, block_hashes: Sequence[str], addresses: Sequence[str]
    ) -> list[list[RawLog]]:
        """Logs of ``addresses`` in exactly these blocks (EIP-234), one list per hash.

        Raises ``ChainMoved`` when the node no longer knows one of the blocks.
        """
        ...

    def transactions(self, hashes: Sequence[str]) -> list[dict[str, Any] | None]:
        """The transactions with these hashes, in order (None: not known to the source); the
        indexer reads the ledger's for their calldata (``requests.py``)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class HeadSignal(Protocol):
    """Something that can wait for the next block to be announced (see ``heads.NewHeads``)."""

    def wait(self, timeout: float) -> bool:
        """Block until a new head was announced (True) or ``timeout`` seconds passed (False)."""
        ...
