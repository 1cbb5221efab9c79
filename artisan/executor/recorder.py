"""Group commit: completed executions and their assets reach disk in few steps, none lost.

Requests complete one by one, from many threads; written one by one, each would cost two
fsynced asset files (its input and its output) and a commit (a WAL flush). One writer thread
takes everything waiting and, for the whole group: writes every asset with one fsync per file
and one per directory (``AssetStore.put_many``), then the executions in one ``sink.record``
call (one transaction), and only then resolves each caller's future. A recorded execution's
assets are therefore always on disk before its outbox row commits, a caller learns its
execution is durable, and a failed write fails every execution in its group.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future, InvalidStateError
from typing import NamedTuple

from artisan.executor.assets import AssetStore, StoredAsset
from artisan.executor.errors import ExecutorError
from artisan.executor.records import Completed, ExecutionSink

log = logging.getLogger(__name__)

Asset = tuple[StoredAsset, bytes]  # an address (``assets.address``) and the bytes it names


class RecordFailed(ExecutorError):
    """The sink could not keep a group of executions; none of them is recorded."""


class _Queued(NamedTuple):
    execution: Completed
    assets: Sequence[Asset]
    future: Future[None]


class GroupRecorder:
    """One writer thread in front of an asset store and an ``ExecutionSink``."""

    def __init__(
        self, sink: ExecutionSink, store: AssetStore | None = None, *, max_group: int = 1024
    ) -> None:
        self.sink = sink
        self._store = store
        self._max_group = max_group
        self._queue: queue.SimpleQueue[_Queued | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="recorder", daemon=True)
        self._thread.start()

    def submit(self, execution: Completed, assets: Sequence[Asset] = ()) -> Future[None]:
        """Queue one execution and the assets it refers to (its input and output); its future
        resolves once both are durable."""
        if assets and self._store is None:
            raise ExecutorError("this recorder has no asset store to write assets to")
        future: Future[None] = Future()
        self._queue.put(_Queued(execution, assets, future))
        return future

    def close(self) -> None:
        """Write what is queued, then stop."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group, stop = [first], False
            while len(group) < self._max_group:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                group.append(item)
            self._write(group)
            if stop:
                return

    def _write(self, group: list[_Queued]) -> None:
        try:
            assets = [asset for queued in group for asset in queued.assets]
            if assets and self._store is not None:
                self._store.put_many(assets)
            self.sink.record([queued.execution for queued in group])
        except Exception as exc:  # a disk or database failure must fail its callers, not us
            log.exception("recording %d executions failed", len(group))
            error = RecordFailed(f"the executions could not be recorded: {exc}")
            for queued in group:
                with contextlib.suppress(InvalidStateError):
                    queued.future.set_exception(error)
            return
        for queued in group:
            with contextlib.suppress(InvalidStateError):
                queued.future.set_result(None)
