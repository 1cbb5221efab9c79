"""Errors of the emission side of the executor (outbox and emitter), under ``ExecutorError``."""

from __future__ import annotations

from artisan.executor.errors import ExecutorError


class EmissionError(ExecutorError):
    """Base of every error the outbox or the emitter raises on purpose."""


class EmitterBusy(EmissionError):
    """Another emitter already holds the lock of this operator key on this chain."""


class BatchReverted(EmissionError):
    """A mined ``recordBatch`` reverted as a whole (gas too low, role revoked, no rates)."""


class OutboxConflict(EmissionError):
    """The outbox changed under the emitter: rows it owns were moved by another writer."""


class OutboxStorageError(EmissionError):
    """Postgres failed under the emitter; its lock may be gone with the connection, so it stops."""
