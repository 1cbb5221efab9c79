"""The emitter's errors: one small tree under the one Artisan base (node errors are
``artisan.chain.errors``)."""

from __future__ import annotations

from artisan.errors import ArtisanError


class EmissionError(ArtisanError):
    """Base of every error the emitter raises on purpose."""


class InvalidEmitterConfig(EmissionError, ValueError):
    """An emitter setting outside its allowed range."""


class EmitterBusy(EmissionError):
    """Another emitter already holds the lock of this operator key on this chain."""


class BatchReverted(EmissionError):
    """A mined ``recordBatch`` reverted as a whole (gas too low, role revoked, no rates)."""


class LedgerMissing(EmissionError):
    """A ``recordBatch`` succeeded without a single outcome because no code is at the ledger's
    address: the chain was reset or replaced, or the deployment names the wrong address."""


class OutboxConflict(EmissionError):
    """The outbox changed under the emitter: rows it owns were moved by another writer."""


class OutboxStorageError(EmissionError):
    """Postgres failed under the emitter; its lock may be gone with the connection, so it stops."""
