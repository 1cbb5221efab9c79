"""The indexer's errors: what halts it, and the declared set of transient ones it retries."""

from __future__ import annotations

from artisan.errors import ArtisanError, ChainError, TransientChainError


class IndexerError(ArtisanError):
    """Base of the indexer's own failures."""


class IndexerAlreadyRunning(IndexerError):
    """Another indexer holds this chain's writer lock; this one must exit."""


class DeepReorgError(IndexerError):
    """The chain forked below a block the store holds as finalized: halt, write nothing."""


class AbiError(IndexerError):
    """A contract ABI given to the indexer is malformed."""


class RpcError(ChainError):
    """The node answered a JSON-RPC call with an error that retrying will not cure."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class RpcTransientError(TransientChainError):
    """A timeout, dropped connection, rate limit or server error: retried with backoff."""


class LogRangeTooLarge(TransientChainError):
    """The node refused a log query as too large (too many results, timeout): shrink the range."""


class ChainMoved(TransientChainError):
    """Answers fetched for one range disagree (the chain moved between calls): refetch."""
