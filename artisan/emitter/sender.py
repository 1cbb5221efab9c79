"""Broadcasting persisted batches on a thread of their own, in nonce order.

Uploading a batch (hundreds of kilobytes of calldata) takes the node tens of milliseconds;
on this thread it overlaps the emitter's Postgres work for the next batch instead of adding
to it. Only batches already persisted are submitted, so the outbox rule holds: if the
process dies with batches still queued here, reconciliation finds them unknown to the node
and broadcasts them again.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

from artisan.chain.jsonrpc import JsonRpc
from artisan.chain.transactions import SignedTx, broadcast


class Sender:
    """A FIFO of signed transactions and the thread that sends them."""

    def __init__(self, rpc_url: str, hook: Callable[[str], None]) -> None:
        self._rpc = JsonRpc(rpc_url)  # its own connection: JsonRpc is not shared across threads
        self._hook = hook
        self._queue: queue.Queue[SignedTx | None] = queue.Queue()
        self._error: BaseException | None = None
        self._refused = threading.Event()
        self._thread = threading.Thread(target=self._run, name="emitter-sender", daemon=True)
        self._thread.start()

    def submit(self, tx: SignedTx) -> None:
        self.check()
        self._queue.put(tx)

    def check(self) -> None:
        """Raise, on the emitter's thread, what went wrong on this one (once: a transient
        failure must not stop the emitter for good; what was skipped meanwhile is still
        persisted, and reconciliation broadcasts it again)."""
        error, self._error = self._error, None
        if error is not None:
            raise error

    def take_refusal(self) -> bool:
        """Whether the node refused a transaction because its nonce was taken (once)."""
        refused = self._refused.is_set()
        self._refused.clear()
        return refused

    def drain(self) -> None:
        """Wait until everything submitted so far has been sent (or failed)."""
        self._queue.join()
        self.check()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)
        self._rpc.close()

    def _run(self) -> None:
        while (tx := self._queue.get()) is not None:
            try:
                if self._error is None:  # after a failure, skip until the emitter has seen it
                    if not broadcast(self._rpc, tx):
                        self._refused.set()
                    self._hook("broadcast")
            except BaseException as exc:  # handed to the emitter's thread by check()
                self._error = exc
            finally:
                self._queue.task_done()
        self._queue.task_done()
