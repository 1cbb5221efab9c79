"""Value types of the protocol, mirroring the Solidity structs in docs/PROTOCOL.md.

A leaf module: every other domain module imports it, it imports nothing of ours but
``artisan.errors``. Each type checks its ranges on construction, so a value that exists is
one the contracts could hold; the error message names the offending field.

Addresses are stored as lowercase ``0x``-prefixed hex: one canonical spelling, so that
equality, sorting and dictionary keys never depend on how a caller wrote an address.
Mixed-case input must carry a valid EIP-55 checksum (a typo is caught, not normalised away).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum

from eth_utils.address import is_checksum_address

from artisan.errors import DomainError

UINT8_MAX = 2**8 - 1
UINT16_MAX = 2**16 - 1
UINT32_MAX = 2**32 - 1
UINT64_MAX = 2**64 - 1
UINT256_MAX = 2**256 - 1
BPS = 10_000
SIZE_CLASSES = 4
PRIORITIES = 4
MAX_TIERS = 16
MAX_REMIX_DEPTH = 8
ZERO_ADDRESS = "0x" + "00" * 20

_ADDRESS_RE = re.compile(r"0x[0-9a-fA-F]{40}")


def require_uint(value: int, bits: int, field: str) -> int:
    """Return ``value`` if it fits an unsigned integer of ``bits`` bits, else raise."""
    # bool is an int subclass; a True where an amount belongs is a bug, not a 1.
    if not isinstance(value, int) or isinstance(value, bool):
        raise DomainError(f"{field} must be an int, got {type(value).__name__}")
    if not 0 <= value < 1 << bits:
        raise DomainError(f"{field} must fit uint{bits}, got {value}")
    return value


def require_bps(value: int, field: str) -> int:
    """Return ``value`` if it is a basis-point share in 0..10000, else raise."""
    require_uint(value, 16, field)
    if value > BPS:
        raise DomainError(f"{field} must be <= {BPS} bps, got {value}")
    return value


def require_bytes32(value: bytes, field: str) -> bytes:
    """Return ``value`` if it is exactly 32 bytes, else raise."""
    if not isinstance(value, bytes) or len(value) != 32:
        raise DomainError(f"{field} must be 32 bytes")
    return value


def normalize_address(value: str, field: str) -> str:
    """Return the lowercase spelling of a 20-byte hex address, else raise naming ``field``."""
    if not isinstance(value, str) or _ADDRESS_RE.fullmatch(value) is None:
        raise DomainError(f"{field} must be a 0x-prefixed 20-byte hex address, got {value!r}")
    body = value[2:]
    if body != body.lower() and body != body.upper() and not is_checksum_address(value):
        raise DomainError(f"{field} has an invalid EIP-55 checksum: {value}")
    return value.lower()


class Priority(IntEnum):
    """Index into ``Rates.priority_bps``; the request carries it as a uint8."""

    LOW = 0
    NORMAL = 1
    HIGH = 2
    URGENT = 3


class SettlementRole(IntEnum):
    """``role`` of a ``Settlement`` event."""

    CREATOR = 0
    OPERATOR = 1
    TREASURY = 2
    DAO = 3
    REMIX_ANCESTOR = 4


class RejectReason(IntEnum):
    """``reason`` of an ``ExecutionRejected`` event, in the order the ledger checks them."""

    EXPIRED = 1
    NONCE_USED = 2
    UNKNOWN_MODEL = 3
    BAD_PRIORITY = 4
    BAD_SIGNATURE = 5
    NO_ACCESS = 6
    COST_ABOVE_MAX = 7
    INSUFFICIENT_ESCROW = 8


class SignalKind(IntEnum):
    """``kind`` of a curation signal."""

    LIKE = 0
    STAR = 1
    FORK = 2
    CITE = 3


class TargetKind(IntEnum):
    """``targetKind`` of a curation signal: a model id or an asset digest."""

    MODEL = 0
    ASSET = 1


class PricingKind(IntEnum):
    """``pricingKind`` of a model."""

    FIXED = 0
    TIERED = 1


class ModelKind(IntEnum):
    """``kind`` of a model; only a curator sets CURATED."""

    CUSTOM = 0
    CURATED = 1


class Access(IntEnum):
    """``access`` of a model."""

    PUBLIC = 0
    ALLOWLIST = 1


@dataclass(frozen=True, slots=True)
class Meter:
    """What one execution measured (``Meter`` in Solidity)."""

    input_units: int
    gpu_micros: int
    latency_micros: int
    storage_bytes: int
    concurrent_load: int

    def __post_init__(self) -> None:
        require_uint(self.input_units, 64, "input_units")
        require_uint(self.gpu_micros, 64, "gpu_micros")
        require_uint(self.latency_micros, 64, "latency_micros")
        require_uint(self.storage_bytes, 64, "storage_bytes")
        require_uint(self.concurrent_load, 32, "concurrent_load")


@dataclass(frozen=True, slots=True)
class Rates:
    """One version of the ledger's metering rates (``Rates`` in Solidity)."""

    unit_rate: tuple[int, int, int, int]
    gpu_rate: int
    latency_rate: int
    storage_rate: int
    priority_bps: tuple[int, int, int, int]
    load_bps_per_unit: int
    load_capacity: int
    max_load_bps: int
    operator_bps: int
    treasury_bps: int

    def __post_init__(self) -> None:
        if not isinstance(self.unit_rate, tuple) or len(self.unit_rate) != SIZE_CLASSES:
            raise DomainError(f"unit_rate must be a tuple of {SIZE_CLASSES} rates")
        for i, rate in enumerate(self.unit_rate):
            require_uint(rate, 64, f"unit_rate[{i}]")
        require_uint(self.gpu_rate, 64, "gpu_rate")
        require_uint(self.latency_rate, 64, "latency_rate")
        require_uint(self.storage_rate, 64, "storage_rate")
        if not isinstance(self.priority_bps, tuple) or len(self.priority_bps) != PRIORITIES:
            raise DomainError(f"priority_bps must be a tuple of {PRIORITIES} values")
        for i, bps in enumerate(self.priority_bps):
            # May exceed 10000: a priority can be a surcharge as well as a discount.
            require_uint(bps, 16, f"priority_bps[{i}]")
            if bps == 0:
                raise DomainError(f"priority_bps[{i}] must be > 0")
        require_uint(self.load_bps_per_unit, 32, "load_bps_per_unit")
        require_uint(self.load_capacity, 32, "load_capacity")
        require_uint(self.max_load_bps, 32, "max_load_bps")
        if self.max_load_bps < BPS:
            raise DomainError(f"max_load_bps must be >= {BPS}, got {self.max_load_bps}")
        require_uint(self.operator_bps, 16, "operator_bps")
        require_uint(self.treasury_bps, 16, "treasury_bps")
        if self.operator_bps + self.treasury_bps > BPS:
            raise DomainError(
                f"operator_bps + treasury_bps must be <= {BPS}, "
                f"got {self.operator_bps} + {self.treasury_bps}"
            )


@dataclass(frozen=True, slots=True)
class InferenceRequest:
    """The EIP-712 request a user signs (``InferenceRequest`` in Solidity).

    ``priority`` is the raw uint8 as signed: a value above 3 is representable because the
    ledger must be able to reject it (``BAD_PRIORITY``) rather than fail to decode it.
    """

    user: str
    model_id: int
    input_digest: bytes
    params_hash: bytes
    priority: int
    max_cost: int
    nonce: int
    deadline: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "user", normalize_address(self.user, "user"))
        require_uint(self.model_id, 256, "model_id")
        require_bytes32(self.input_digest, "input_digest")
        require_bytes32(self.params_hash, "params_hash")
        require_uint(self.priority, 8, "priority")
        require_uint(self.max_cost, 256, "max_cost")
        require_uint(self.nonce, 256, "nonce")
        require_uint(self.deadline, 256, "deadline")


@dataclass(frozen=True, slots=True)
class ModelTerms:
    """The part of a registered model that pricing and settlement read.

    ``thresholds`` and ``prices`` describe the TIERED curve and are checked only for a
    TIERED model; ``fixed_price`` is read only for a FIXED one. ``remix_share_bps`` is this
    model's own license: the share a remix of it pays up to it.
    """

    owner: str
    size_class: int
    pricing_kind: PricingKind
    fixed_price: int = 0
    thresholds: tuple[int, ...] = ()
    prices: tuple[int, ...] = ()
    dao_treasury: str = ZERO_ADDRESS
    dao_share_bps: int = 0
    parent_id: int = 0
    remix_share_bps: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "owner", normalize_address(self.owner, "owner"))
        object.__setattr__(
            self, "dao_treasury", normalize_address(self.dao_treasury, "dao_treasury")
        )
        require_uint(self.size_class, 8, "size_class")
        if self.size_class >= SIZE_CLASSES:
            raise DomainError(f"size_class must be 0..{SIZE_CLASSES - 1}, got {self.size_class}")
        object.__setattr__(self, "pricing_kind", _pricing_kind(self.pricing_kind))
        require_uint(self.fixed_price, 256, "fixed_price")
        for i, threshold in enumerate(self.thresholds):
            require_uint(threshold, 256, f"thresholds[{i}]")
        for i, price in enumerate(self.prices):
            require_uint(price, 256, f"prices[{i}]")
        if self.pricing_kind is PricingKind.TIERED:
            _check_tiers(self.thresholds, self.prices)
        require_bps(self.dao_share_bps, "dao_share_bps")
        if (self.dao_treasury == ZERO_ADDRESS) != (self.dao_share_bps == 0):
            raise DomainError("dao_treasury must be zero exactly when dao_share_bps is zero")
        require_uint(self.parent_id, 256, "parent_id")
        require_bps(self.remix_share_bps, "remix_share_bps")


def _pricing_kind(value: int) -> PricingKind:
    try:
        return PricingKind(value)
    except ValueError:
        raise DomainError(f"pricing_kind must be 0 (FIXED) or 1 (TIERED), got {value}") from None


def _check_tiers(thresholds: tuple[int, ...], prices: tuple[int, ...]) -> None:
    if not isinstance(thresholds, tuple) or not isinstance(prices, tuple):
        raise DomainError("thresholds and prices must be tuples")
    if not 1 <= len(thresholds) <= MAX_TIERS:
        raise DomainError(f"thresholds must hold 1..{MAX_TIERS} tiers, got {len(thresholds)}")
    if len(prices) != len(thresholds):
        raise DomainError(
            f"prices must have as many entries as thresholds ({len(thresholds)}), got {len(prices)}"
        )
    if thresholds[0] != 0:
        raise DomainError(f"thresholds[0] must be 0, got {thresholds[0]}")
    for i in range(1, len(thresholds)):
        if thresholds[i] <= thresholds[i - 1]:
            raise DomainError(f"thresholds must be strictly ascending, broken at thresholds[{i}]")
