"""Tracing a fork to the common ancestor of the stored branch and the node's canonical one."""

from __future__ import annotations

from artisan.indexer.errors import DeepReorgError
from artisan.indexer.source import ChainSource
from artisan.storage.chain_records import Checkpoint
from artisan.storage.event_store import EventStore

# Stored blocks compared per round trip; a typical reorg is settled by the first batch.
_BATCH = 128


def find_common_ancestor(
    store: EventStore, source: ChainSource, below: int, start_block: int
) -> Checkpoint:
    """The highest stored canonical block under ``below`` that the node still has.

    The stored window of unfinalized blocks is contiguous, so walking it downwards meets the
    fork point. Meeting a finalized block that the node no longer has means the chain forked
    below finality: ``DeepReorgError``, raised before anything is written. A fork under every
    stored block (only possible while none is finalized) rewinds to before ``start_block``.
    """
    while True:
        stored = store.canonical_blocks(below, _BATCH)
        if not stored:
            return Checkpoint(start_block - 1, None)
        remote = source.headers([block.number for block, _ in stored])
        for (block, finalized), theirs in zip(stored, remote, strict=True):
            if theirs is not None and theirs.hash == block.hash:
                return Checkpoint(block.number, block.hash)
            if finalized:
                raise DeepReorgError(
                    f"chain {store.chain_id} forked below finalized block {block.number}"
                    f" (stored {block.hash}, node has"
                    f" {theirs.hash if theirs else 'no block'}): halting without writing;"
                    " the finality depth is too small for this chain, or the node is wrong"
                )
        below = stored[-1][0].number
