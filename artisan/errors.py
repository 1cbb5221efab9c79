"""The one error base of Artisan, with a small tree per subsystem.

Driver and RPC errors are translated into these at one boundary each, so that callers
catch ours and never a library's.
"""

from __future__ import annotations


class ArtisanError(Exception):
    """Base of every error Artisan raises on purpose."""


class ConfigError(ArtisanError):
    """A setting is missing or invalid; the message names the key."""


class ToolchainError(ArtisanError):
    """A required tool (anvil, node, compiled artifacts) is missing or failed to start."""


class ChainError(ArtisanError):
    """A JSON-RPC call or a transaction failed."""


class TransientChainError(ChainError):
    """A chain failure worth retrying: timeout, dropped connection, rate limit."""


class ContractRevert(ChainError):
    """A call or transaction reverted; ``reason`` carries the decoded reason when known."""

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason


class StorageError(ArtisanError):
    """The database could not be reached or refused a write."""


class DomainError(ArtisanError):
    """Input that breaks a rule of the protocol (metering, splits, Merkle trees)."""
