"""Settlement splits: a worked remix chain by hand and the sum-to-cost property."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from artisan.domain.splits import Credit, settle
from artisan.domain.types import ModelTerms, PricingKind, Rates, SettlementRole
from artisan.errors import DomainError

OPERATOR = "0x" + "01" * 20
TREASURY = "0x" + "02" * 20
DAO = "0x" + "03" * 20
ALICE = "0x" + "0a" * 20
BOB = "0x" + "0b" * 20
CAROL = "0x" + "0c" * 20

RATES = Rates(
    unit_rate=(1, 1, 1, 1),
    gpu_rate=0,
    latency_rate=0,
    storage_rate=0,
    priority_bps=(10000, 10000, 10000, 10000),
    load_bps_per_unit=0,
    load_capacity=0,
    max_load_bps=10000,
    operator_bps=1000,
    treasury_bps=500,
)


def model(owner: str, parent: int = 0, remix_share: int = 0, dao_bps: int = 0) -> ModelTerms:
    return ModelTerms(
        owner=owner,
        size_class=0,
        pricing_kind=PricingKind.FIXED,
        dao_treasury=DAO if dao_bps else "0x" + "00" * 20,
        dao_share_bps=dao_bps,
        parent_id=parent,
        remix_share_bps=remix_share,
    )


# 1 (Alice, original, licenses remixes at 50%) <- 2 (Bob, licenses at 20%) <- 3 (Carol, DAO 10%)
CHAIN = {
    1: model(ALICE, remix_share=5000),
    2: model(BOB, parent=1, remix_share=2000),
    3: model(CAROL, parent=2, dao_bps=1000),
}


def test_worked_remix_chain() -> None:
    """A hand-computed settlement of 2121 wei up a three-model remix chain."""
    # operator     = 2121 * 1000 / 10000 = 212       (212.1)
    # creatorSide  = 2121 * 8500 / 10000 = 1802      (1802.85)
    # treasury     = 2121 - 212 - 1802   = 107       (not 106: it holds the remainder)
    # dao          = 1802 * 1000 / 10000 = 180       (model 3's DAO share)
    # amount       = 1802 - 180          = 1622
    # 3 -> 2: up = 1622 * 2000 / 10000 = 324 (model 2's license); Carol gets 1622 - 324 = 1298
    # 2 -> 1: up = 324 * 5000 / 10000  = 162 (model 1's license); Bob gets 324 - 162 = 162
    # Alice, at the top, gets the rest: 162
    credits = settle(2121, RATES, 3, CHAIN, operator=OPERATOR, treasury=TREASURY)
    assert credits == (
        Credit(OPERATOR, SettlementRole.OPERATOR, 212),
        Credit(TREASURY, SettlementRole.TREASURY, 107),
        Credit(DAO, SettlementRole.DAO, 180),
        Credit(CAROL, SettlementRole.CREATOR, 1298),
        Credit(BOB, SettlementRole.REMIX_ANCESTOR, 162),
        Credit(ALICE, SettlementRole.REMIX_ANCESTOR, 162),
    )
    assert 212 + 107 + 180 + 1298 + 162 + 162 == 2121


def test_original_model_owner_is_the_creator() -> None:
    """An original model's owner is credited once, as CREATOR, with the whole creator side."""
    # operator 100, creatorSide 850, treasury 50; no DAO, no parent
    credits = settle(1000, RATES, 1, CHAIN, operator=OPERATOR, treasury=TREASURY)
    assert credits == (
        Credit(OPERATOR, SettlementRole.OPERATOR, 100),
        Credit(TREASURY, SettlementRole.TREASURY, 50),
        Credit(ALICE, SettlementRole.CREATOR, 850),
    )


def test_zero_credits_are_omitted() -> None:
    """No operator fee, no DAO share and a 0% license leave those credits out."""
    free_rates = dataclasses.replace(RATES, operator_bps=0, treasury_bps=0)
    models = {1: model(ALICE, remix_share=0), 2: model(BOB, parent=1)}
    # creatorSide = 500; up = 500 * 0 / 10000 = 0: Alice's 0 is not emitted
    credits = settle(500, free_rates, 2, models, operator=OPERATOR, treasury=TREASURY)
    assert credits == (Credit(BOB, SettlementRole.CREATOR, 500),)


def test_full_license_leaves_the_remixer_nothing() -> None:
    """A 100% license passes everything up and the remixer's zero credit is omitted."""
    free_rates = dataclasses.replace(RATES, operator_bps=0, treasury_bps=0)
    models = {1: model(ALICE, remix_share=10000), 2: model(BOB, parent=1)}
    credits = settle(500, free_rates, 2, models, operator=OPERATOR, treasury=TREASURY)
    assert credits == (Credit(ALICE, SettlementRole.REMIX_ANCESTOR, 500),)


def test_zero_cost_has_no_credits() -> None:
    """A free execution settles nothing."""
    assert settle(0, RATES, 3, CHAIN, operator=OPERATOR, treasury=TREASURY) == ()


def test_same_account_twice_stays_two_credits() -> None:
    """An owner who remixed their own model gets two separate credits."""
    models = {1: model(ALICE, remix_share=5000), 2: model(ALICE, parent=1)}
    # creatorSide 850; up = 425; Alice 425 as CREATOR and 425 as REMIX_ANCESTOR
    credits = settle(1000, RATES, 2, models, operator=OPERATOR, treasury=TREASURY)
    assert credits[2:] == (
        Credit(ALICE, SettlementRole.CREATOR, 425),
        Credit(ALICE, SettlementRole.REMIX_ANCESTOR, 425),
    )


def test_operator_may_also_be_the_treasury() -> None:
    """One account as operator and treasury gets two credits, in emission order."""
    credits = settle(1000, RATES, 1, CHAIN, operator=OPERATOR, treasury=OPERATOR)
    assert [c.role for c in credits] == [
        SettlementRole.OPERATOR,
        SettlementRole.TREASURY,
        SettlementRole.CREATOR,
    ]


def test_unknown_or_cyclic_models_are_refused() -> None:
    """An unknown model, a missing ancestor or a cycle is bad input, not a silent loop."""
    with pytest.raises(DomainError, match="unknown model 9"):
        settle(1, RATES, 9, CHAIN, operator=OPERATOR, treasury=TREASURY)
    with pytest.raises(DomainError, match="unknown model 1"):
        settle(1, RATES, 2, {2: model(BOB, parent=1)}, operator=OPERATOR, treasury=TREASURY)
    cyclic = {1: model(ALICE, parent=2), 2: model(BOB, parent=1)}
    with pytest.raises(DomainError, match="cyclic"):
        settle(1, RATES, 1, cyclic, operator=OPERATOR, treasury=TREASURY)


def test_depth_eight_is_the_limit() -> None:
    """A chain of depth 8 settles; one of depth 9 cannot exist and is refused."""
    models = {1: model(ALICE, remix_share=5000)}
    for i in range(2, 11):
        models[i] = model(BOB, parent=i - 1, remix_share=5000)
    settle(10**18, RATES, 9, models, operator=OPERATOR, treasury=TREASURY)  # depth 8
    with pytest.raises(DomainError, match="deeper than 8"):
        settle(10**18, RATES, 10, models, operator=OPERATOR, treasury=TREASURY)


def test_credit_refuses_zero() -> None:
    """A Credit of zero cannot exist: the ledger never emits one."""
    with pytest.raises(DomainError, match="amount"):
        Credit(ALICE, SettlementRole.CREATOR, 0)


ADDRESSES = st.sampled_from([ALICE, BOB, CAROL, OPERATOR])
BPS = st.integers(0, 10000)


@st.composite
def chains(draw: st.DrawFn) -> tuple[Rates, dict[int, ModelTerms]]:
    operator_bps = draw(BPS)
    treasury_bps = draw(st.integers(0, 10000 - operator_bps))
    rates = dataclasses.replace(RATES, operator_bps=operator_bps, treasury_bps=treasury_bps)
    depth = draw(st.integers(0, 8))
    models: dict[int, ModelTerms] = {}
    for i in range(1, depth + 2):
        models[i] = model(draw(ADDRESSES), parent=i - 1, remix_share=draw(BPS), dao_bps=draw(BPS))
    return rates, models


@given(chains(), st.integers(0, 2**200))
def test_credits_sum_to_cost(chain: tuple[Rates, dict[int, ModelTerms]], cost: int) -> None:
    """Whatever the rates, DAO share and licenses, the credits sum exactly to the cost."""
    rates, models = chain
    executed = max(models)
    credits = settle(cost, rates, executed, models, operator=OPERATOR, treasury=TREASURY)
    assert sum(c.amount for c in credits) == cost
    assert all(c.amount > 0 for c in credits)
    order = [c.role for c in credits]
    assert order == sorted(order, key=_emission_rank)
    assert order.count(SettlementRole.CREATOR) <= 1
    assert order.count(SettlementRole.REMIX_ANCESTOR) <= executed - 1


def _emission_rank(role: SettlementRole) -> int:
    return [
        SettlementRole.OPERATOR,
        SettlementRole.TREASURY,
        SettlementRole.DAO,
        SettlementRole.CREATOR,
        SettlementRole.REMIX_ANCESTOR,
    ].index(role)
