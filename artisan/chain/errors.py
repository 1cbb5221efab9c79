"""The node boundary's errors, under ``ChainError`` (``artisan.errors``). ``chain.jsonrpc`` is
the one place where HTTP and JSON-RPC failures become these, so every process sees the same
ones: ``except TransientChainError`` catches an unreachable node wherever it happens, and only
the transient ones are retried (``artisan.retry``)."""

from __future__ import annotations

from artisan.errors import ArtisanError, ChainError, TransientChainError


class NodeUnavailable(TransientChainError):
    """A timeout, dropped connection, rate limit, server error or garbled answer: retried."""


class NodeError(ChainError):
    """The node answered a JSON-RPC call with an error that retrying will not cure."""

    def __init__(self, method: str, code: int | None, message: str) -> None:
        super().__init__(f"{method}: {message} (code {code})")
        self.method = method
        self.code = code
        self.message = message


class LogRangeTooLarge(TransientChainError):
    """The node refused a log query as too large (too many results, timeout): shrink the range."""


class ChainMoved(TransientChainError):
    """Answers fetched for one range disagree (the chain moved between calls): refetch."""


class TransactionRefused(ChainError):
    """The node refused a signed transaction for a reason that retrying will not fix."""


class AbiError(ArtisanError):
    """A contract ABI given to a decoder is malformed, or uses a type we do not decode."""
