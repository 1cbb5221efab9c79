"""Fetching ahead: finalized ranges fetched and decoded on threads while the writer writes.

Only finalized ranges are fetched ahead: they cannot be reorganized, so a prefetched range
never has to be thrown away. A fetched range may come as several batches (a large range is
decoded part by part, so that decoding overlaps with writing). The threads hand over ranges
and batches through small bounded queues (so memory stays bounded); fetching retries transient
errors itself, and any other exception is passed on, to be raised in the writer's thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeAlias, TypeVar

from artisan.indexer.fetch import FetchedRange
from artisan.storage.chain_records import EventRow


@dataclass(frozen=True, slots=True)
class Batch:
    """A fetched, verified and decoded range, ready to append.

    ``continues`` marks a part of a range after its first: its link to the part before was
    established when the whole range was fetched, and its first block's header may not have
    been read (below finality only the ends and the blocks holding logs are).
    """

    fetched: FetchedRange
    rows: list[EventRow]
    continues: bool = False
    copy_text: bytes | None = None  # the rows encoded for COPY (``event_copy_text``)


class _End:
    pass


T = TypeVar("T")
Item: TypeAlias = T | BaseException | _End  # what a queue between the threads holds


class Prefetcher:
    """Fetches consecutive ranges ``first..last`` on one thread and decodes them on another.

    Two threads, so that the node's work on the next range (waited for, without the GIL)
    overlaps with decoding this one, and both with the writer: ``fetch(first)`` reads one range
    from ``first``, ``decode(range)`` turns it into batches.
    """

    def __init__(
        self,
        fetch: Callable[[int], FetchedRange],
        decode: Callable[[FetchedRange], Iterator[Batch]],
        first: int,
        last: int,
        ahead: int = 3,
    ) -> None:
        self._fetch = fetch
        self._decode = decode
        self._first = first
        self._last = last
        self._fetched: queue.Queue[Item[FetchedRange]] = queue.Queue(maxsize=1)
        self._batches: queue.Queue[Item[Batch]] = queue.Queue(maxsize=ahead)
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._fetching, name="indexer-fetch", daemon=True),
            threading.Thread(target=self._decoding, name="indexer-decode", daemon=True),
        ]

    def __enter__(self) -> Prefetcher:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()  # a thread blocked on a full or empty queue sees it within 50 ms
        for thread in self._threads:
            thread.join()

    def __iter__(self) -> Iterator[Batch]:
        while True:
            item = self._batches.get()
            if isinstance(item, _End):
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def _put(self, into: queue.Queue[Item[T]], item: Item[T]) -> bool:
        while not self._stop.is_set():
            try:
                into.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _get(self, source: queue.Queue[Item[T]]) -> Item[T] | None:
        while not self._stop.is_set():
            try:
                return source.get(timeout=0.05)
            except queue.Empty:
                continue
        return None

    def _fetching(self) -> None:
        first = self._first
        try:
            while first <= self._last and not self._stop.is_set():
                fetched = self._fetch(first)
                if not self._put(self._fetched, fetched):
                    return
                first = fetched.last + 1
        except BaseException as exc:  # passed down to the writer's thread, which raises it
            self._put(self._fetched, exc)
            return
        self._put(self._fetched, _End())

    def _decoding(self) -> None:
        while (item := self._get(self._fetched)) is not None:
            if isinstance(item, BaseException | _End):
                self._put(self._batches, item)
                return
            try:
                for batch in self._decode(item):
                    if not self._put(self._batches, batch):
                        return
            except BaseException as exc:  # handed to the writer's thread, which raises it
                self._put(self._batches, exc)
                return
