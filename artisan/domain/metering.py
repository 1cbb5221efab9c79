"""The metering rule of docs/PROTOCOL.md: what one execution costs, in $ART wei.

Every division floors, at each step, in the order the rule writes it; reordering the
steps (say, multiplying by load before dividing by 10000 for priority) would change the
figure by a few wei and break agreement with the ledger. Where the ledger's checked
uint256 arithmetic would revert, this module raises ``DomainError`` instead.
"""

from __future__ import annotations

from bisect import bisect_right

from artisan.domain.types import (
    BPS,
    PRIORITIES,
    SIZE_CLASSES,
    UINT256_MAX,
    Meter,
    ModelTerms,
    PricingKind,
    Rates,
    require_uint,
)
from artisan.errors import DomainError


def model_price(terms: ModelTerms, prior_count: int) -> int:
    """The ``base`` price for a user who has executed this model ``prior_count`` times."""
    require_uint(prior_count, 256, "prior_count")
    if terms.pricing_kind is PricingKind.FIXED:
        return terms.fixed_price
    # thresholds[0] == 0 and ascend strictly, so the largest i with thresholds[i] <= n
    # always exists and is the insertion point to the right of n, minus one.
    return terms.prices[bisect_right(terms.thresholds, prior_count) - 1]


def load_bps(rates: Rates, concurrent_load: int) -> int:
    """The load multiplier in bps: 10000 up to capacity, then rising per unit, capped."""
    excess = max(0, concurrent_load - rates.load_capacity)
    return min(BPS + rates.load_bps_per_unit * excess, rates.max_load_bps)


def meter_cost(rates: Rates, size_class: int, base: int, meter: Meter, priority: int) -> int:
    """The cost of one execution: the metering rule applied to ``base`` and ``meter``."""
    if not 0 <= size_class < SIZE_CLASSES:
        raise DomainError(f"size_class must be 0..{SIZE_CLASSES - 1}, got {size_class}")
    if not 0 <= priority < PRIORITIES:
        # The ledger rejects such an item (BAD_PRIORITY) before it would price it.
        raise DomainError(f"priority must be 0..{PRIORITIES - 1}, got {priority}")
    require_uint(base, 256, "base")
    compute = (
        meter.input_units * rates.unit_rate[size_class]
        + meter.gpu_micros * rates.gpu_rate
        + meter.latency_micros * rates.latency_rate
        + meter.storage_bytes * rates.storage_rate
    )
    # Each product is nondecreasing in its factors (bps > 0), so checking the products is
    # enough to catch every intermediate overflow the ledger would revert on.
    scaled = _checked((base + compute) * rates.priority_bps[priority], "(base + compute) * bps")
    sub = scaled // BPS
    return _checked(sub * load_bps(rates, meter.concurrent_load), "sub * load") // BPS


def quote(terms: ModelTerms, prior_count: int, rates: Rates, meter: Meter, priority: int) -> int:
    """The cost of running the model described by ``terms``: its price, then the meter."""
    return meter_cost(rates, terms.size_class, model_price(terms, prior_count), meter, priority)


def _checked(value: int, what: str) -> int:
    if value > UINT256_MAX:
        raise DomainError(f"{what} overflows uint256")
    return value
