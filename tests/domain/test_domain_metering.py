"""The metering rule: worked examples by hand and properties of tiered pricing."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from artisan.domain.metering import load_bps, meter_cost, model_price, quote
from artisan.domain.types import Meter, ModelTerms, PricingKind, Priority, Rates
from artisan.errors import DomainError

OWNER = "0x" + "aa" * 20

RATES = Rates(
    unit_rate=(10, 20, 30, 40),
    gpu_rate=3,
    latency_rate=2,
    storage_rate=1,
    priority_bps=(8000, 10000, 15001, 20000),
    load_bps_per_unit=500,
    load_capacity=4,
    max_load_bps=20000,
    operator_bps=1000,
    treasury_bps=500,
)
METER = Meter(input_units=7, gpu_micros=11, latency_micros=13, storage_bytes=17, concurrent_load=6)
FIXED = ModelTerms(owner=OWNER, size_class=2, pricing_kind=PricingKind.FIXED, fixed_price=1000)


def test_worked_example_floors_at_each_step() -> None:
    """A hand-computed cost, and proof that flooring once at the end would differ."""
    # compute = 7*30 + 11*3 + 13*2 + 17*1 = 210 + 33 + 26 + 17 = 286
    # sub     = (1000 + 286) * 15001 / 10000 = 19_291_286 / 10000 = 1929   (1929.1286)
    # load    = min(10000 + 500 * max(0, 6 - 4), 20000) = 11000
    # cost    = 1929 * 11000 / 10000 = 21_219_000 / 10000 = 2121          (2121.9)
    assert meter_cost(RATES, 2, 1000, METER, Priority.HIGH) == 2121
    # One division at the end: 1286 * 15001 * 11000 / 10^8 = 2122.04146 -> 2122.
    assert 1286 * 15001 * 11000 // 10**8 == 2122
    assert quote(FIXED, 0, RATES, METER, Priority.HIGH) == 2121


def test_size_class_picks_the_unit_rate() -> None:
    """Only the executed model's size class's unit rate applies to input units."""
    only_units = Meter(7, 0, 0, 0, 0)
    # (0 + 7*10) * 10000 / 10000 = 70; then * 10000 / 10000 = 70.
    assert meter_cost(RATES, 0, 0, only_units, Priority.NORMAL) == 70
    # 7*40 = 280
    assert meter_cost(RATES, 3, 0, only_units, Priority.NORMAL) == 280


def test_priority_discount() -> None:
    """A LOW priority at 8000 bps charges 80%, floored."""
    # (1000 + 286) * 8000 / 10000 = 1028.8 -> 1028; load 11000: 1028 * 1.1 = 1130.8 -> 1130
    assert meter_cost(RATES, 2, 1000, METER, Priority.LOW) == 1130


@pytest.mark.parametrize(
    ("concurrent_load", "expected"),
    [
        (0, 10000),  # max(0, 0 - 4) = 0: no surcharge below capacity
        (4, 10000),  # at capacity
        (5, 10500),  # 10000 + 500 * 1
        (24, 20000),  # 10000 + 500 * 20 = 20000, exactly the cap
        (100, 20000),  # 10000 + 500 * 96 = 58000, capped at 20000
        (2**32 - 1, 20000),
    ],
)
def test_load_multiplier(concurrent_load: int, expected: int) -> None:
    """Load is 10000 bps up to capacity, then rises per unit, then stops at the cap."""
    assert load_bps(RATES, concurrent_load) == expected


def test_load_cap_applies_to_the_cost() -> None:
    """Far past capacity the cost is exactly doubled, the 20000 bps cap."""
    busy = dataclasses.replace(METER, concurrent_load=100)
    # sub = 1929 as above; 1929 * 20000 / 10000 = 3858
    assert meter_cost(RATES, 2, 1000, busy, Priority.HIGH) == 3858


def test_zero_meter_and_zero_price_cost_nothing() -> None:
    """A free model with nothing measured costs zero."""
    assert meter_cost(RATES, 0, 0, Meter(0, 0, 0, 0, 0), Priority.URGENT) == 0


@pytest.mark.parametrize(("size_class", "priority"), [(4, 0), (-1, 0), (0, 4), (0, -1)])
def test_bad_size_class_or_priority(size_class: int, priority: int) -> None:
    """A size class or priority outside 0..3 cannot be priced."""
    with pytest.raises(DomainError):
        meter_cost(RATES, size_class, 0, METER, priority)


def test_overflow_is_refused_like_checked_arithmetic() -> None:
    """A cost whose intermediate product leaves uint256 raises, as the ledger would revert."""
    with pytest.raises(DomainError, match="overflows uint256"):
        meter_cost(RATES, 0, 2**256 - 1, METER, Priority.URGENT)


def test_fixed_price_ignores_the_count() -> None:
    """A FIXED model costs its fixed price whatever the user's history."""
    assert model_price(FIXED, 0) == 1000
    assert model_price(FIXED, 10**9) == 1000


@pytest.mark.parametrize(
    ("prior", "price"),
    [(0, 500), (9, 500), (10, 400), (99, 400), (100, 300), (10**6, 300)],
)
def test_tiered_price_worked_example(prior: int, price: int) -> None:
    """Thresholds (0, 10, 100) with prices (500, 400, 300): each boundary falls right."""
    terms = ModelTerms(
        owner=OWNER,
        size_class=0,
        pricing_kind=PricingKind.TIERED,
        thresholds=(0, 10, 100),
        prices=(500, 400, 300),
    )
    assert model_price(terms, prior) == price


def test_negative_count_is_refused() -> None:
    """A prior count is a uint256 and cannot be negative."""
    with pytest.raises(DomainError, match="prior_count"):
        model_price(FIXED, -1)


@st.composite
def tier_curves(draw: st.DrawFn) -> tuple[tuple[int, ...], tuple[int, ...]]:
    later = draw(st.lists(st.integers(1, 10**6), max_size=15, unique=True))
    thresholds = (0, *sorted(later))
    prices = tuple(
        draw(st.lists(st.integers(0, 10**24), min_size=len(thresholds), max_size=len(thresholds)))
    )
    return thresholds, prices


@given(tier_curves(), st.integers(0, 2 * 10**6))
def test_tiered_price_is_the_last_tier_reached(
    curve: tuple[tuple[int, ...], tuple[int, ...]], prior: int
) -> None:
    """The price is that of the tier whose threshold is the largest one <= the count."""
    thresholds, prices = curve
    terms = ModelTerms(
        owner=OWNER,
        size_class=0,
        pricing_kind=PricingKind.TIERED,
        thresholds=thresholds,
        prices=prices,
    )
    i = max(k for k, t in enumerate(thresholds) if t <= prior)
    assert model_price(terms, prior) == prices[i]
    assert thresholds[i] <= prior
    assert i == len(thresholds) - 1 or prior < thresholds[i + 1]


@given(
    st.integers(0, 10**30),
    st.integers(0, 2**64 - 1),
    st.integers(0, 2**32 - 1),
    st.sampled_from(list(Priority)),
)
def test_cost_follows_the_rule(base: int, units: int, load: int, priority: Priority) -> None:
    """meter_cost equals the PROTOCOL.md formula written out step by step."""
    meter = Meter(units, units // 3, units // 5, units // 7, load)
    compute = units * 30 + (units // 3) * 3 + (units // 5) * 2 + (units // 7) * 1
    sub = (base + compute) * RATES.priority_bps[priority] // 10000
    load_factor = min(10000 + 500 * max(0, load - 4), 20000)
    assert meter_cost(RATES, 2, base, meter, priority) == sub * load_factor // 10000
