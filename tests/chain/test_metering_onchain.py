"""The Python metering rule and splits agree with the contract's, on random inputs."""

from __future__ import annotations

import secrets

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3 import Web3

from artisan.chain.actions import BatchItem, ModelSpec, events_in, record_batch, register_model
from artisan.chain.codec import meter_tuple, rates_from_tuple, rates_tuple, terms_from_chain
from artisan.chain.protocol import WAD, Protocol
from artisan.chain.signer import Signer
from artisan.domain.eip712 import sign_request
from artisan.domain.metering import meter_cost, quote
from artisan.domain.splits import settle
from artisan.domain.types import InferenceRequest, Meter, Rates
from tests.chain.helpers import new_user

U16 = st.integers(0, 2**16 - 1)
U32 = st.integers(0, 2**32 - 1)
U64 = st.integers(0, 2**64 - 1)

meters = st.builds(Meter, U64, U64, U64, U64, U32)
rates_st = st.builds(
    Rates,
    unit_rate=st.tuples(U64, U64, U64, U64),
    gpu_rate=U64,
    latency_rate=U64,
    storage_rate=U64,
    priority_bps=st.tuples(*[st.integers(1, 2**16 - 1)] * 4),
    load_bps_per_unit=U32,
    load_capacity=U32,
    max_load_bps=st.integers(10_000, 2**32 - 1),
    operator_bps=st.integers(0, 5_000),
    treasury_bps=st.integers(0, 5_000),
)
SLOW = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SLOW
@given(
    rates=rates_st,
    size_class=st.integers(0, 3),
    base=st.integers(0, 2**128 - 1),
    meter=meters,
    priority=st.integers(0, 3),
)
def test_python_cost_equals_contract_cost(
    protocol: Protocol, rates: Rates, size_class: int, base: int, meter: Meter, priority: int
) -> None:
    """meter_cost equals ExecutionLedger.meteringCost for random rates, meters and prices."""
    on_chain = protocol.ledger.functions.meteringCost(
        rates_tuple(rates), size_class, base, meter_tuple(meter), priority
    ).call()
    assert meter_cost(rates, size_class, base, meter, priority) == on_chain


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    depth=st.integers(0, 8),
    shares=st.lists(st.integers(0, 10_000), min_size=9, max_size=9),
    dao_bps=st.integers(0, 10_000),
    meter=st.builds(
        Meter,
        st.integers(0, 10**6),
        st.integers(0, 10**6),
        st.integers(0, 10**7),
        st.integers(0, 10**7),
        st.integers(0, 200),
    ),
    priority=st.integers(0, 3),
    tiered=st.booleans(),
)
def test_settlements_equal_python_splits(
    w3: Web3,
    protocol: Protocol,
    deployer: Signer,
    operator: Signer,
    depth: int,
    shares: list[int],
    dao_bps: int,
    meter: Meter,
    priority: int,
    tiered: bool,
) -> None:
    """A real execution's cost and Settlement events equal quote() and settle() in Python."""
    parent = 0
    ids = []
    for level in range(depth + 1):
        last = level == depth
        owner_dao = (
            Web3.to_checksum_address("0x" + secrets.token_hex(20)) if last and dao_bps else None
        )
        spec = ModelSpec(
            cid_digest=secrets.token_bytes(32),
            size_class=level % 4,
            parent_id=parent,
            remix_share_bps=shares[level],
            dao_treasury=owner_dao or "0x" + "00" * 20,
            dao_share_bps=dao_bps if owner_dao else 0,
            pricing_kind=1 if tiered and last else 0,
            fixed_price=0 if tiered and last else 10**15 + level,
            thresholds=(0, 1, 5) if tiered and last else (),
            prices=(3 * 10**15, 2 * 10**15, 10**15) if tiered and last else (),
        )
        parent = register_model(deployer, protocol, spec)
        ids.append(parent)
    model_id = ids[-1]
    user = new_user(w3, protocol, deployer, escrow=1000 * WAD)
    req = InferenceRequest(
        user=user.address, model_id=model_id, input_digest=secrets.token_bytes(32),
        params_hash=b"\x00" * 32, priority=priority, max_cost=2**255, nonce=1, deadline=2**40,
    )  # fmt: skip
    sig = sign_request(req, user.key, protocol.deployment.chain_id, protocol.deployment.ledger)
    receipt = record_batch(
        operator, protocol, [BatchItem(req, sig, meter, secrets.token_bytes(32))]
    )

    reg = protocol.registry.functions
    models = {i: terms_from_chain(reg.getModel(i).call(), reg.tiers(i).call()) for i in ids}
    rates = rates_from_tuple(protocol.ledger.functions.ratesAt(1).call())
    executed = events_in(protocol.ledger, "InferenceExecuted", receipt)
    assert len(executed) == 1
    cost = int(executed[0]["args"]["cost"])
    assert cost == quote(models[model_id], 0, rates, meter, priority)
    expected = settle(
        cost,
        rates,
        model_id,
        models,
        operator=operator.address,
        treasury=protocol.deployment.treasury,
    )
    seen = [
        (str(e["args"]["recipient"]).lower(), int(e["args"]["role"]), int(e["args"]["amount"]))
        for e in events_in(protocol.ledger, "Settlement", receipt)
    ]
    assert seen == [(c.recipient, int(c.role), c.amount) for c in expected]
    assert sum(amount for _, _, amount in seen) == cost
