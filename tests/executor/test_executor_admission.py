"""Admission's rules: quotes bound what is charged, holds cover what the chain cannot see yet."""

from __future__ import annotations

import secrets

import pytest
from hypothesis import given
from hypothesis import strategies as st

from artisan.chain.protocol import DEFAULT_RATES
from artisan.domain.metering import meter_cost, model_price
from artisan.domain.types import Meter, ModelTerms, PricingKind
from artisan.executor.admission import AdmissionPolicy, highest_price
from artisan.executor.client import ExecutorApiError
from artisan.executor.estimate import clamp
from artisan.executor.reservations import Hold, Reservations
from tests.executor.api_helpers import Api, rows

OWNER = "0x" + "aa" * 20
meters = st.builds(
    Meter,
    st.integers(0, 10**9),
    st.integers(0, 10**9),
    st.integers(0, 10**9),
    st.integers(0, 10**9),
    st.integers(0, 10**4),
)


@given(measured=meters, bound=meters, priority=st.integers(0, 3), size_class=st.integers(0, 3))
def test_charged_cost_never_exceeds_the_quote(
    measured: Meter, bound: Meter, priority: int, size_class: int
) -> None:
    """The cost of the measured meter clamped to the bound is at most the bound's cost: a quote
    made at admission caps what the ledger charges."""
    charged = clamp(measured, bound)
    base = 10**15
    assert meter_cost(DEFAULT_RATES, size_class, base, charged, priority) <= meter_cost(
        DEFAULT_RATES, size_class, base, bound, priority
    )


@given(
    prices=st.lists(st.integers(0, 10**18), min_size=1, max_size=6),
    gaps=st.lists(st.integers(1, 5), min_size=5, max_size=5),
    low=st.integers(0, 30),
    pending=st.integers(0, 30),
)
def test_highest_price_covers_every_possible_prior_count(
    prices: list[int], gaps: list[int], low: int, pending: int
) -> None:
    """With held executions that may or may not settle, the base price quoted is the highest
    over every prior count the ledger might see."""
    thresholds = [0]
    for gap in gaps[: len(prices) - 1]:
        thresholds.append(thresholds[-1] + gap)
    terms = ModelTerms(OWNER, 0, PricingKind.TIERED, thresholds=tuple(thresholds),
                       prices=tuple(prices))  # fmt: skip
    want = max(model_price(terms, n) for n in range(low, low + pending + 1))
    assert highest_price(terms, low, low + pending) == want


def test_holds_are_found_by_user_and_nonce_and_released_once() -> None:
    """Holds add up per user and count per model; a released or expired one no longer counts."""
    holds = Reservations()
    user, other = "0x" + "01" * 20, "0x" + "02" * 20
    ids = [secrets.token_bytes(32) for _ in range(3)]
    holds.hold(Hold(ids[0], user, 1, nonce=5, quote=100, deadline=1_000))
    holds.hold(Hold(ids[1], user, 2, nonce=6, quote=50, deadline=2_000))
    holds.hold(Hold(ids[2], other, 1, nonce=5, quote=7, deadline=2_000))
    assert holds.pending(user, 1).count_for_model == 1
    assert holds.pending(user, 1).total_quote == 150
    assert holds.nonce_held(user, 5) and holds.nonce_held(other, 5)
    assert not holds.nonce_held(user, 7)
    assert holds.expired(1_500) == [ids[0]]
    assert holds.release([ids[0], ids[0], b"unknown"]) == 1
    assert holds.pending(user, 1).total_quote == 50 and not holds.nonce_held(user, 5)
    assert len(holds) == 2


def test_contract_wallets_pass_only_when_allowed(api: Api, mlp_model: int) -> None:
    """A signature that does not recover to the user is refused, unless contract wallets are
    allowed and the user address holds code (an EIP-1271 wallet the ledger will ask)."""
    user = api.user()
    signed = api.sign(user, mlp_model, rows(1))
    other_key = secrets.token_bytes(32)
    forged = api.client.sign(other_key, user.address, mlp_model, rows(1), max_cost=10**18)
    with pytest.raises(ExecutorApiError) as refused:
        api.client.submit(forged)
    assert refused.value.status == 401 and refused.value.code == "bad_signature"

    api.service.admission.policy = AdmissionPolicy(allow_contract_wallets=True)
    with pytest.raises(ExecutorApiError):  # still an EOA: no code, no pass
        api.client.submit(forged)
    api.w3.provider.make_request("anvil_setCode", [user.address, "0x00"])  # type: ignore[arg-type]
    assert api.client.submit(forged)["status"] == "ran"
    assert api.client.submit(signed)["status"] == "ran"
