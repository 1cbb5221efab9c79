"""The indexer: contract logs of one chain into the append-only event store, reorg-safe.

Each step reads the next block range, checks that it extends the stored tip by parent hash,
and writes its blocks, events and checkpoint in one transaction. A range that does not extend
the tip means the chain reorganized: the fork is traced to the common ancestor inside the
stored window of unfinalized blocks, the reorg is recorded, the orphaned blocks' events are
marked removed, and indexing goes on from the ancestor.

One indexer per chain: the writer lock is taken when the indexer is built and held on its
write connection for its lifetime; a second one is refused at once.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import psycopg

from artisan.chain.abi.decoder import ContractAbi, EventDecoder
from artisan.chain.errors import LogRangeTooLarge
from artisan.indexer.errors import IndexerAlreadyRunning, IndexerError
from artisan.indexer.fetch import FetchedRange, fetch_range, split_range
from artisan.indexer.pipeline import Batch, Prefetcher
from artisan.indexer.ranges import RangeSizer
from artisan.indexer.reorg import find_common_ancestor
from artisan.indexer.requests import RequestEvents
from artisan.indexer.source import ChainSource, HeadSignal
from artisan.retry import Backoff, call_with_retries
from artisan.storage import statistics
from artisan.storage.chain_records import Checkpoint, EventRow, ReorgRecord
from artisan.storage.copy_text import event_copy_text
from artisan.storage.database import Database
from artisan.storage.event_store import EventStore
from artisan.storage.writer_lock import (
    WriterLockHeld,
    acquire_writer_connection,
    release_writer_connection,
)

T = TypeVar("T")

# Events per append while backfilling: a large fetched range is decoded and written in parts
# of about this many, so that decoding one part overlaps with writing the one before.
_WRITE_BATCH_LOGS = 10_000


@dataclass(frozen=True, slots=True)
class Progress:
    """What one step did: appended a range, followed a reorg, or found nothing new."""

    kind: Literal["append", "reorg", "idle"]
    checkpoint: Checkpoint
    head: int
    events: int = 0
    reorg: ReorgRecord | None = None


# What a backfill writes in bulk (their statistics are refreshed after it).
STORE_TABLES = ("events", "blocks")


class Indexer:
    """Indexes the logs of ``contracts`` on chain ``chain_id`` from ``source`` into ``db``.

    ``on_progress`` sees every append and reorg (for progress bars and metrics). The source
    belongs to the caller: ``close`` releases only the indexer's own connection and lock.
    """

    def __init__(
        self,
        db: Database,
        source: ChainSource,
        chain_id: int,
        contracts: Sequence[ContractAbi],
        *,
        finality_depth: int = 64,
        start_block: int = 0,
        ranges: RangeSizer | None = None,
        backoff: Backoff | None = None,
        sleep: Callable[[float], None] = time.sleep,
        on_progress: Callable[[Progress], None] | None = None,
        requests: bool = True,
    ) -> None:
        if finality_depth < 1 or start_block < 0:
            raise IndexerError("finality_depth must be >= 1 and start_block >= 0")
        if not contracts:
            raise IndexerError("no contracts to index (a log query without addresses reads all)")
        self.source = source
        self.chain_id = chain_id
        self.decoder = EventDecoder(contracts)
        ledger = next((c.address for c in contracts if any(
            e.get("type") == "event" and e.get("name") == "InferenceExecuted" for e in c.abi)),
            None)  # fmt: skip
        self.requests = RequestEvents(ledger) if requests and ledger is not None else None
        self.finality_depth = finality_depth
        self.start_block = start_block
        self.ranges = ranges or RangeSizer()
        self.backoff = backoff or Backoff()
        self._sleep = sleep
        self._on_progress = on_progress or (lambda _progress: None)
        self._stream = f"artisan.indexer:{chain_id}"
        try:
            self._conn: psycopg.Connection[Any] = acquire_writer_connection(db, self._stream)
        except WriterLockHeld as exc:
            raise IndexerAlreadyRunning(
                f"another indexer is already running for chain {chain_id}; exiting"
            ) from exc
        try:
            self.store = EventStore(self._conn, chain_id)
            self.checkpoint = self.store.checkpoint(start_block)
        except BaseException:
            release_writer_connection(self._conn, self._stream)
            raise

    def close(self) -> None:
        """Release the writer lock and its connection."""
        release_writer_connection(self._conn, self._stream)

    def __enter__(self) -> Indexer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run_once(self) -> Progress:
        """One step, without retries: append the next range, follow a reorg, or idle."""
        head = self.source.head_number()
        tip = self.checkpoint
        if head <= tip.number:
            if self._tip_forked(head):
                return self._follow_reorg(below=tip.number + 1, head=head)
            return Progress("idle", tip, head)
        last = min(head, tip.number + self.ranges.size)
        fetched = fetch_range(
            self.source,
            self.decoder.addresses,
            tip.number + 1,
            last,
            unfinalized_from=head - self.finality_depth + 1,
        )
        if tip.hash is not None and fetched.headers[tip.number + 1].parent_hash != tip.hash:
            return self._follow_reorg(below=tip.number + 1, head=head)
        fetched = self._with_calldata(fetched)
        rows = self._rows(fetched)
        new = Checkpoint(last, fetched.headers[last].hash)
        result = self.store.append(
            tip, new, list(fetched.headers.values()), rows, head - self.finality_depth
        )
        self.checkpoint = new
        self.ranges.succeeded(last - tip.number, len(rows))
        return Progress("append", new, head, events=result.inserted)

    def step(self) -> Progress:
        """One step, retrying the declared transient errors with backoff; others propagate."""
        progress = self._retrying(self.run_once, "indexing")
        if progress.kind != "idle":
            self._on_progress(progress)
        return progress

    def backfill(self, to_block: int | None = None) -> Checkpoint:
        """Index up to ``to_block`` (default: the head when called); returns the checkpoint.

        Finalized ranges are fetched ahead on a thread while earlier ones are written; the
        unfinalized rest goes step by step, with reorg checks.
        """
        head = self._retrying(self.source.head_number, "reading the head")
        target = head if to_block is None else to_block
        self._backfill_finalized(min(target, head - self.finality_depth), head)
        # Bulk writes: the planner's statistics are refreshed here, not left to autovacuum.
        statistics.flush(self._conn)
        statistics.refresh(self._conn, STORE_TABLES)
        while self.checkpoint.number < target:
            if self.step().kind == "idle":
                break
        return self.checkpoint

    def catch_up(self) -> Progress:
        """Step until nothing is new: a periodic job's unit of work."""
        while True:
            progress = self.step()
            if progress.kind == "idle":
                return progress

    def follow(
        self, stop: threading.Event, poll_interval: float = 1.0, heads: HeadSignal | None = None
    ) -> None:
        """Follow the head until ``stop`` is set: woken by ``heads`` if given, else by polling."""
        while not stop.is_set():
            self.catch_up()
            if heads is None:
                stop.wait(poll_interval)
            else:
                heads.wait(poll_interval)

    def _retrying(self, attempt: Callable[[], T], what: str) -> T:
        return call_with_retries(
            attempt,
            self.backoff,
            self._sleep,
            f"chain {self.chain_id}: {what}",
            # A range refused as too large is fetched again at once, smaller, while it can be.
            again_now=lambda exc: isinstance(exc, LogRangeTooLarge) and self.ranges.refused(),
        )

    def _fetch_finalized(self, first: int, last: int) -> FetchedRange:
        """Fetch the finalized range from ``first`` (on the fetch thread)."""

        def attempt() -> FetchedRange:
            end = min(last, first + self.ranges.size - 1)
            fetched = fetch_range(self.source, self.decoder.addresses, first, end, end + 1)
            return self._with_calldata(fetched)

        fetched = self._retrying(attempt, f"fetching blocks from {first}")
        self.ranges.succeeded(fetched.last - first + 1, len(fetched.logs))
        return fetched

    def _decode_finalized(self, fetched: FetchedRange) -> Iterator[Batch]:
        """Decode a fetched range part by part, and encode each for COPY (on the decode thread):
        the writer appends one part while the next is decoded."""
        for i, part in enumerate(split_range(fetched, _WRITE_BATCH_LOGS)):
            rows = self._rows(part)
            yield Batch(part, rows, continues=i > 0, copy_text=event_copy_text(rows))

    def _backfill_finalized(self, last: int, head: int) -> None:
        """Append finalized ranges up to ``last``, fetched ahead of the writes."""
        if last <= self.checkpoint.number:
            return
        fetch = functools.partial(self._fetch_finalized, last=last)
        first = self.checkpoint.number + 1
        with Prefetcher(fetch, self._decode_finalized, first, last) as batches:
            for batch in batches:
                tip, fetched = self.checkpoint, batch.fetched
                linked = batch.continues or tip.hash is None
                if not linked and fetched.headers[fetched.first].parent_hash != tip.hash:
                    return  # a fork: the step-by-step path traces it (or halts)
                new = Checkpoint(fetched.last, fetched.headers[fetched.last].hash)
                headers = list(fetched.headers.values())
                result = self.store.append(
                    tip, new, headers, batch.rows, head - self.finality_depth,
                    copy_text=batch.copy_text,
                )  # fmt: skip
                self.checkpoint = new
                self._on_progress(Progress("append", new, head, events=result.inserted))

    def _with_calldata(self, fetched: FetchedRange) -> FetchedRange:
        """The range with its ledger transactions' calldata, for the request events."""
        return fetched if self.requests is None else self.requests.fetch(self.source, fetched)

    def _rows(self, fetched: FetchedRange) -> list[EventRow]:
        rows = self.decoder.rows(self.chain_id, fetched.logs, fetched.timestamps)
        return rows if self.requests is None else self.requests.rows(rows, fetched.calldata)

    def _tip_forked(self, head: int) -> bool:
        """Whether the stored tip is gone from the node's chain (replaced, or the chain shrank).

        A node whose head is at or above our tip has forked if its block at the tip's height is
        another. A node that reports a lower head is either behind (a replica that lags behind
        a load balancer, or a node still syncing) or on a shorter branch: it has forked only if
        its block at the highest height we both have differs from ours. One that has our block
        there, or none, is behind: the indexer waits for it instead of rewinding (a lag is not
        a reorg).
        """
        tip = self.checkpoint
        if tip.hash is None:
            return False
        if head >= tip.number:
            theirs = self.source.headers([tip.number])[0]
            return theirs is None or theirs.hash != tip.hash
        stored = self.store.canonical_blocks(head + 1, 1)
        if not stored:
            return False  # nothing stored at or below its head to compare with: wait
        ours = stored[0][0]
        theirs = self.source.headers([ours.number])[0]
        return theirs is not None and theirs.hash != ours.hash

    def _follow_reorg(self, below: int, head: int) -> Progress:
        ancestor = find_common_ancestor(self.store, self.source, below, self.start_block)
        record = self.store.record_reorg(self.checkpoint, ancestor)
        self.checkpoint = ancestor
        return Progress("reorg", ancestor, head, reorg=record)


__all__ = ["ContractAbi", "Indexer", "Progress"]
