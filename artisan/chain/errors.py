"""The node boundary's errors, under ``ChainError`` (``artisan.errors``): every process that
talks JSON-RPC through ``artisan.chain.jsonrpc`` sees these, so ``except TransientChainError``
catches an unreachable node wherever it happens."""

from __future__ import annotations

from artisan.errors import ChainError, TransientChainError


class NodeUnavailable(TransientChainError):
    """The node could not be reached or did not answer in time: worth retrying."""


class NodeError(ChainError):
    """The node answered a JSON-RPC call with an error object."""

    def __init__(self, method: str, code: int | None, message: str) -> None:
        super().__init__(f"{method}: {message} (code {code})")
        self.method = method
        self.code = code
        self.message = message


class TransactionRefused(ChainError):
    """The node refused a signed transaction for a reason that retrying will not fix."""
