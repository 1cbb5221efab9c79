"""recordBatch on anvil: signed requests are checked, bad items rejected, good ones charged."""

from __future__ import annotations

import secrets

import pytest
from web3 import Web3

from artisan.chain.actions import BatchItem, ModelSpec, events_in, record_batch, register_model
from artisan.chain.protocol import WAD, Protocol
from artisan.chain.signer import Signer
from artisan.domain.eip712 import execution_id, sign_request
from artisan.domain.types import InferenceRequest, Meter, RejectReason
from artisan.errors import ContractRevert
from tests.chain.helpers import User, new_user

pytestmark = pytest.mark.usefixtures("chain_snapshot")

METER = Meter(
    input_units=64, gpu_micros=150, latency_micros=2_000, storage_bytes=512, concurrent_load=1
)


def _request(user: User, model_id: int, nonce: int, *, deadline: int = 2**40) -> InferenceRequest:
    return InferenceRequest(
        user=user.address,
        model_id=model_id,
        input_digest=secrets.token_bytes(32),
        params_hash=secrets.token_bytes(32),
        priority=1,
        max_cost=10 * WAD,
        nonce=nonce,
        deadline=deadline,
    )


def _item(
    protocol: Protocol,
    user: User,
    req: InferenceRequest,
    *,
    chain_id: int | None = None,
    ledger: str | None = None,
) -> BatchItem:
    sig = sign_request(
        req,
        user.key,
        chain_id if chain_id is not None else protocol.deployment.chain_id,
        ledger or protocol.deployment.ledger,
    )
    return BatchItem(request=req, signature=sig, meter=METER, output_digest=secrets.token_bytes(32))


def _outcomes(protocol: Protocol, receipt: object) -> tuple[list[bytes], dict[bytes, int]]:
    led = protocol.ledger
    executed = [
        bytes(e["args"]["executionId"]) for e in events_in(led, "InferenceExecuted", receipt)
    ]
    rejected = {
        bytes(e["args"]["executionId"]): int(e["args"]["reason"])
        for e in events_in(led, "ExecutionRejected", receipt)
    }
    return executed, rejected


@pytest.fixture
def model_id(protocol: Protocol, deployer: Signer) -> int:
    return register_model(
        deployer, protocol, ModelSpec(cid_digest=secrets.token_bytes(32), fixed_price=10**15)
    )


def test_valid_request_is_executed_and_charged(
    w3: Web3, protocol: Protocol, deployer: Signer, operator: Signer, model_id: int
) -> None:
    """A correctly signed request is executed under its EIP-712 digest and debited from escrow."""
    user = new_user(w3, protocol, deployer)
    req = _request(user, model_id, nonce=7)
    before = protocol.ledger.functions.escrowOf(user.address).call()
    executed, rejected = _outcomes(
        protocol, record_batch(operator, protocol, [_item(protocol, user, req)])
    )
    assert executed == [execution_id(req, protocol.deployment.chain_id, protocol.deployment.ledger)]
    assert rejected == {}
    assert protocol.ledger.functions.escrowOf(user.address).call() < before
    assert protocol.ledger.functions.nonceUsed(user.address, 7).call()


def test_signature_for_another_chain_or_ledger_is_rejected(
    w3: Web3, protocol: Protocol, deployer: Signer, operator: Signer, model_id: int
) -> None:
    """A signature made for another chain id or another ledger address is BAD_SIGNATURE."""
    user = new_user(w3, protocol, deployer)
    other_chain = _item(protocol, user, _request(user, model_id, 1), chain_id=1)
    other_ledger = _item(
        protocol, user, _request(user, model_id, 2), ledger=protocol.deployment.token
    )
    before = protocol.ledger.functions.escrowOf(user.address).call()
    executed, rejected = _outcomes(
        protocol, record_batch(operator, protocol, [other_chain, other_ledger])
    )
    assert executed == []
    assert sorted(rejected.values()) == [RejectReason.BAD_SIGNATURE] * 2
    assert protocol.ledger.functions.escrowOf(user.address).call() == before
    assert not protocol.ledger.functions.nonceUsed(user.address, 1).call()


def test_reused_nonce_is_rejected_and_not_charged_twice(
    w3: Web3, protocol: Protocol, deployer: Signer, operator: Signer, model_id: int
) -> None:
    """A second request with a used nonce, in the same batch or a later one, is NONCE_USED."""
    user = new_user(w3, protocol, deployer)
    first = _item(protocol, user, _request(user, model_id, 42))
    same_batch = _item(protocol, user, _request(user, model_id, 42))
    executed, rejected = _outcomes(protocol, record_batch(operator, protocol, [first, same_batch]))
    assert len(executed) == 1 and list(rejected.values()) == [RejectReason.NONCE_USED]
    escrow = protocol.ledger.functions.escrowOf(user.address).call()
    executed, rejected = _outcomes(protocol, record_batch(operator, protocol, [first]))
    assert executed == [] and list(rejected.values()) == [RejectReason.NONCE_USED]
    assert protocol.ledger.functions.escrowOf(user.address).call() == escrow


def test_expired_request_is_rejected(
    w3: Web3, protocol: Protocol, deployer: Signer, operator: Signer, model_id: int
) -> None:
    """A request whose deadline has passed is EXPIRED and costs nothing."""
    user = new_user(w3, protocol, deployer)
    now = w3.eth.get_block("latest")["timestamp"]
    stale = _item(protocol, user, _request(user, model_id, 3, deadline=now - 1))
    executed, rejected = _outcomes(protocol, record_batch(operator, protocol, [stale]))
    assert executed == [] and list(rejected.values()) == [RejectReason.EXPIRED]


def test_non_operator_cannot_record(
    w3: Web3, protocol: Protocol, deployer: Signer, model_id: int
) -> None:
    """recordBatch from an account without OPERATOR_ROLE reverts; nothing is charged."""
    user = new_user(w3, protocol, deployer)
    item = _item(protocol, user, _request(user, model_id, 5))
    with pytest.raises(ContractRevert):
        record_batch(user.signer, protocol, [item])
    assert not protocol.ledger.functions.nonceUsed(user.address, 5).call()


def test_bad_item_does_not_stop_the_batch(
    w3: Web3, protocol: Protocol, deployer: Signer, operator: Signer, model_id: int
) -> None:
    """Between two good items, an unknown model and an over-budget request are rejected alone."""
    user = new_user(w3, protocol, deployer, escrow=WAD)
    good1 = _item(protocol, user, _request(user, model_id, 10))
    unknown = _item(protocol, user, _request(user, 10_000, 11))
    broke = _request(user, model_id, 12)
    broke = InferenceRequest(
        **{**{f: getattr(broke, f) for f in broke.__dataclass_fields__}, "max_cost": 1}
    )
    good2 = _item(protocol, user, _request(user, model_id, 13))
    executed, rejected = _outcomes(
        protocol,
        record_batch(operator, protocol, [good1, unknown, _item(protocol, user, broke), good2]),
    )
    assert len(executed) == 2
    assert sorted(rejected.values()) == [RejectReason.UNKNOWN_MODEL, RejectReason.COST_ABOVE_MAX]
