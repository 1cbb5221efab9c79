"""The indexer's own errors: what halts it. Node errors are ``artisan.chain.errors``."""

from __future__ import annotations

from artisan.errors import ArtisanError


class IndexerError(ArtisanError):
    """Base of the indexer's own failures."""


class IndexerAlreadyRunning(IndexerError):
    """Another indexer holds this chain's writer lock; this one must exit."""


class DeepReorgError(IndexerError):
    """The chain forked below a block the store holds as finalized: halt, write nothing."""
