"""Why the executor refuses a request before running it: one class per problem.

Each refusal has a stable ``code`` (the API sends it with the message) and, where the ledger
would reject the same item, the ``RejectReason`` it would give: the executor refuses off-chain
what the ledger would refuse on-chain, before any compute is spent or anything is charged.
Bad tensors (wrong shape, dtype, names) are the runner's ``InvalidInput`` errors.
"""

from __future__ import annotations

from typing import ClassVar

from artisan.domain.types import RejectReason
from artisan.executor.errors import ExecutorError


class Refused(ExecutorError):
    """A request the executor will not run; nothing was run, stored or charged."""

    code: ClassVar[str] = "refused"
    reason: ClassVar[RejectReason | None] = None


class MalformedRequest(Refused):
    """The body or a request field cannot be read (syntax, type, range)."""

    code = "malformed_request"


class BadPriority(Refused):
    """A priority outside the tiers 0..3."""

    code = "bad_priority"
    reason = RejectReason.BAD_PRIORITY


class Expired(Refused):
    """The deadline has passed, or passes before the execution could be recorded."""

    code = "expired"
    reason = RejectReason.EXPIRED


class InputDigestMismatch(Refused):
    """The inputs sent do not hash to the signed ``inputDigest``."""

    code = "input_digest_mismatch"


class UnknownModel(Refused):
    """No model with this id is registered."""

    code = "unknown_model"
    reason = RejectReason.UNKNOWN_MODEL


class ModelNotPinned(Refused):
    """The model is registered but this executor does not hold its file."""

    code = "model_not_pinned"


class ModelUnusable(Refused):
    """The model is registered and pinned, but this executor cannot load or run it (a corrupt
    file, an unsupported operator, a graph that fails on any input): refused, and remembered,
    so that it is not loaded again for every request."""

    code = "model_unusable"


class BadSignature(Refused):
    """The signature does not recover to the request's user."""

    code = "bad_signature"
    reason = RejectReason.BAD_SIGNATURE


class NoAccess(Refused):
    """An ALLOWLIST model, and the user is neither its owner nor granted."""

    code = "no_access"
    reason = RejectReason.NO_ACCESS


class NonceUsed(Refused):
    """The nonce is used on the ledger, or already admitted here and not yet settled."""

    code = "nonce_used"
    reason = RejectReason.NONCE_USED


class CostAboveMax(Refused):
    """The quote exceeds the signed ``maxCost``."""

    code = "cost_above_max"
    reason = RejectReason.COST_ABOVE_MAX


class InsufficientEscrow(Refused):
    """Escrow, less what admitted executions may still take, cannot cover the quote."""

    code = "insufficient_escrow"
    reason = RejectReason.INSUFFICIENT_ESCROW
