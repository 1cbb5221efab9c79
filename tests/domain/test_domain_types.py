"""Value types refuse what the contracts could not hold, naming the field."""

from __future__ import annotations

import dataclasses

import pytest

from artisan.domain.types import (
    InferenceRequest,
    Meter,
    ModelTerms,
    PricingKind,
    Rates,
    RejectReason,
    SettlementRole,
    normalize_address,
)
from artisan.errors import DomainError

OWNER = "0x" + "aa" * 20
DAO = "0x" + "dd" * 20


def rates(**changes: object) -> Rates:
    base = Rates(
        unit_rate=(1, 2, 3, 4),
        gpu_rate=1,
        latency_rate=1,
        storage_rate=1,
        priority_bps=(8000, 10000, 15000, 20000),
        load_bps_per_unit=100,
        load_capacity=10,
        max_load_bps=20000,
        operator_bps=1000,
        treasury_bps=500,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def tiered(thresholds: tuple[int, ...], prices: tuple[int, ...]) -> ModelTerms:
    return ModelTerms(
        owner=OWNER,
        size_class=0,
        pricing_kind=PricingKind.TIERED,
        thresholds=thresholds,
        prices=prices,
    )


def test_enum_codes_match_the_protocol() -> None:
    """Settlement roles and reject reasons carry the codes PROTOCOL.md assigns."""
    assert [r.value for r in SettlementRole] == [0, 1, 2, 3, 4]
    assert int(SettlementRole.CREATOR) == 0 and int(SettlementRole.REMIX_ANCESTOR) == 4
    assert [r.value for r in RejectReason] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert [r.name for r in RejectReason] == [
        "EXPIRED",
        "NONCE_USED",
        "UNKNOWN_MODEL",
        "BAD_PRIORITY",
        "BAD_SIGNATURE",
        "NO_ACCESS",
        "COST_ABOVE_MAX",
        "INSUFFICIENT_ESCROW",
    ]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("input_units", 2**64),
        ("gpu_micros", -1),
        ("latency_micros", 2**64),
        ("storage_bytes", 2**64),
        ("concurrent_load", 2**32),
    ],
)
def test_meter_bounds_name_the_field(field: str, value: int) -> None:
    """A meter value outside its uint width is refused with the field's name."""
    values = {f.name: 0 for f in dataclasses.fields(Meter)} | {field: value}
    with pytest.raises(DomainError, match=field):
        Meter(**values)


def test_meter_accepts_the_widths_limits() -> None:
    """The largest uint64 and uint32 values are accepted."""
    Meter(2**64 - 1, 2**64 - 1, 2**64 - 1, 2**64 - 1, 2**32 - 1)


def test_bool_is_not_an_amount() -> None:
    """True is refused where an integer belongs, even though bool subclasses int."""
    with pytest.raises(DomainError, match="input_units"):
        Meter(True, 0, 0, 0, 0)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"priority_bps": (8000, 0, 15000, 20000)}, r"priority_bps\[1\]"),
        ({"priority_bps": (8000, 10000, 15000)}, "priority_bps"),
        ({"unit_rate": (1, 2, 2**64, 4)}, r"unit_rate\[2\]"),
        ({"gpu_rate": 2**64}, "gpu_rate"),
        ({"max_load_bps": 9999}, "max_load_bps"),
        ({"load_capacity": 2**32}, "load_capacity"),
        ({"operator_bps": 9000, "treasury_bps": 1001}, "operator_bps \\+ treasury_bps"),
        ({"treasury_bps": 2**16}, "treasury_bps"),
    ],
)
def test_rates_constraints_name_the_field(changes: dict[str, object], field: str) -> None:
    """Each constraint on Rates from PROTOCOL.md is enforced, naming the field."""
    with pytest.raises(DomainError, match=field):
        rates(**changes)


def test_rates_allow_a_priority_surcharge_and_full_fees() -> None:
    """priority_bps may exceed 10000 and operator + treasury may reach exactly 10000."""
    r = rates(priority_bps=(1, 10000, 30000, 65535), operator_bps=6000, treasury_bps=4000)
    assert r.priority_bps[3] == 65535


@pytest.mark.parametrize(
    ("thresholds", "prices", "field"),
    [
        ((), (), "thresholds must hold"),
        ((1, 5), (10, 5), r"thresholds\[0\]"),
        ((0, 5, 5), (3, 2, 1), r"strictly ascending, broken at thresholds\[2\]"),
        ((0, 5), (3,), "prices must have as many"),
        (tuple(range(17)), tuple(range(17)), "1..16"),
        ((0, 2**256), (1, 1), r"thresholds\[1\]"),
    ],
)
def test_tier_shape_is_checked(
    thresholds: tuple[int, ...], prices: tuple[int, ...], field: str
) -> None:
    """A TIERED curve must start at 0, ascend strictly and match its prices, 1..16 tiers."""
    with pytest.raises(DomainError, match=field):
        tiered(thresholds, prices)


def test_sixteen_tiers_are_allowed() -> None:
    """Sixteen tiers is the most the registry accepts, and is accepted."""
    assert len(tiered(tuple(range(16)), tuple(range(16))).prices) == 16


def test_dao_treasury_zero_iff_share_zero() -> None:
    """A DAO share needs a treasury and a treasury needs a share."""
    with pytest.raises(DomainError, match="dao_treasury"):
        ModelTerms(owner=OWNER, size_class=0, pricing_kind=PricingKind.FIXED, dao_share_bps=5)
    with pytest.raises(DomainError, match="dao_treasury"):
        ModelTerms(owner=OWNER, size_class=0, pricing_kind=PricingKind.FIXED, dao_treasury=DAO)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"size_class": 4}, "size_class"),
        ({"remix_share_bps": 10001}, "remix_share_bps"),
        ({"dao_share_bps": 10001, "dao_treasury": DAO}, "dao_share_bps"),
        ({"pricing_kind": 2}, "pricing_kind"),
        ({"fixed_price": -1}, "fixed_price"),
        ({"owner": "0x1234"}, "owner"),
    ],
)
def test_model_terms_name_the_field(changes: dict[str, object], field: str) -> None:
    """Out-of-range model terms are refused with the field's name."""
    values: dict[str, object] = {
        "owner": OWNER,
        "size_class": 0,
        "pricing_kind": PricingKind.FIXED,
    } | changes
    with pytest.raises(DomainError, match=field):
        ModelTerms(**values)  # type: ignore[arg-type]


def test_pricing_kind_int_becomes_the_enum() -> None:
    """A pricing kind given as its code is stored as the enum member."""
    terms = ModelTerms(owner=OWNER, size_class=3, pricing_kind=1, thresholds=(0,), prices=(9,))  # type: ignore[arg-type]
    assert terms.pricing_kind is PricingKind.TIERED


def test_addresses_are_stored_lowercase() -> None:
    """Checksummed input is accepted and stored lowercase; a broken checksum is refused."""
    checksummed = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
    assert normalize_address(checksummed, "x") == checksummed.lower()
    assert normalize_address(checksummed.upper().replace("0X", "0x"), "x") == checksummed.lower()
    with pytest.raises(DomainError, match="checksum"):
        normalize_address("0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "who")
    terms = ModelTerms(owner=checksummed, size_class=0, pricing_kind=PricingKind.FIXED)
    assert terms.owner == checksummed.lower()


def test_request_keeps_a_bad_priority_but_not_a_bad_digest() -> None:
    """A request may carry priority 200 (the ledger rejects it) but not a 31-byte digest."""
    digest = bytes(32)
    request = InferenceRequest(OWNER, 1, digest, digest, 200, 0, 0, 0)
    assert request.priority == 200
    with pytest.raises(DomainError, match="priority"):
        InferenceRequest(OWNER, 1, digest, digest, 256, 0, 0, 0)
    with pytest.raises(DomainError, match="input_digest"):
        InferenceRequest(OWNER, 1, bytes(31), digest, 0, 0, 0, 0)
    with pytest.raises(DomainError, match="nonce"):
        InferenceRequest(OWNER, 1, digest, digest, 0, 0, 2**256, 0)


def test_values_are_frozen() -> None:
    """Domain values cannot be changed after construction."""
    meter = Meter(1, 2, 3, 4, 5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        meter.gpu_micros = 9  # type: ignore[misc]
