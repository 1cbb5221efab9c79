"""The records the event store keeps about a chain: block headers, events, checkpoints, reorgs.

A leaf module: the indexer builds these, the event store writes and reads them. Hashes and
addresses are lowercase 0x-hex strings, exactly as JSON-RPC returns them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple


@dataclass(frozen=True, slots=True)
class BlockHeader:
    """The part of a block header that places it in the chain."""

    number: int
    hash: str
    parent_hash: str
    timestamp: int


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The last block indexed on a chain; ``hash`` is None before the first block is indexed."""

    number: int
    hash: str | None


class EventRow(NamedTuple):
    """One log as it is copied into ``events`` (column order of the staging table)."""

    chain_id: int
    block_number: int
    block_hash: str
    block_timestamp: int
    tx_hash: str
    tx_index: int
    log_index: int
    address: str
    event_name: str | None
    args_json: str | None
    topics: list[str]
    data: str


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One row of ``live_events`` (or ``events``) as read back."""

    position: int
    chain_id: int
    block_number: int
    block_hash: str
    block_timestamp: int
    tx_hash: str
    tx_index: int
    log_index: int
    address: str
    event_name: str | None
    args: dict[str, Any] | None
    topics: list[str]
    data: str


@dataclass(frozen=True, slots=True)
class ReorgRecord:
    """A reorganization as recorded: what was orphaned above which common ancestor."""

    id: int
    chain_id: int
    ancestor: Checkpoint
    depth: int
    old_tip_number: int
    orphaned_hashes: tuple[str, ...]
    removed_events: int
    detected_at: datetime


@dataclass(frozen=True, slots=True)
class AppendResult:
    """What one appended batch changed."""

    inserted: int
    duplicates: int
    checkpoint: Checkpoint
