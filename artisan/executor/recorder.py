"""Group commit: completed executions reach their sink in few transactions, none lost.

Requests complete one by one, from many threads; a transaction each would cost a commit (a
WAL flush) per request. One writer thread takes everything waiting, writes it in one
``sink.record`` call (one transaction) and resolves each caller's future once it committed, so
a caller learns its execution is durable, and a failed write fails every execution in it.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from concurrent.futures import Future, InvalidStateError

from artisan.executor.errors import ExecutorError
from artisan.executor.records import Completed, ExecutionSink

log = logging.getLogger(__name__)


class RecordFailed(ExecutorError):
    """The sink could not keep a group of executions; none of them is recorded."""


class GroupRecorder:
    """One writer thread in front of an ``ExecutionSink``."""

    def __init__(self, sink: ExecutionSink, *, max_group: int = 1024) -> None:
        self.sink = sink
        self._max_group = max_group
        self._queue: queue.SimpleQueue[tuple[Completed, Future[None]] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="recorder", daemon=True)
        self._thread.start()

    def submit(self, execution: Completed) -> Future[None]:
        """Queue one execution; its future resolves once it is committed."""
        future: Future[None] = Future()
        self._queue.put((execution, future))
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

    def _write(self, group: list[tuple[Completed, Future[None]]]) -> None:
        try:
            self.sink.record([execution for execution, _ in group])
        except Exception as exc:  # a database failure must fail its callers, not this thread
            log.exception("recording %d executions failed", len(group))
            error = RecordFailed(f"the executions could not be recorded: {exc}")
            for _, future in group:
                with contextlib.suppress(InvalidStateError):
                    future.set_exception(error)
            return
        for _, future in group:
            with contextlib.suppress(InvalidStateError):
                future.set_result(None)
