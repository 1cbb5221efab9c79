"""Protocol actions that several callers share: registering models, funding escrow, batches."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_account import Account
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD

from artisan.chain.codec import item_tuple
from artisan.chain.protocol import Protocol
from artisan.chain.signer import Signer
from artisan.domain.types import ZERO_ADDRESS, InferenceRequest, Meter
from artisan.errors import ChainError


@dataclass(frozen=True)
class ModelSpec:
    """What ``ModelRegistry.register`` takes (see docs/PROTOCOL.md)."""

    cid_digest: bytes
    size_class: int = 0
    access: int = 0
    parent_id: int = 0
    remix_allowed: bool = True
    remix_share_bps: int = 0
    dao_treasury: str = ZERO_ADDRESS
    dao_share_bps: int = 0
    pricing_kind: int = 0
    fixed_price: int = 0
    thresholds: tuple[int, ...] = field(default_factory=tuple)
    prices: tuple[int, ...] = field(default_factory=tuple)

    def as_tuple(self) -> tuple[Any, ...]:
        return (
            self.cid_digest,
            self.size_class,
            self.access,
            self.parent_id,
            self.remix_allowed,
            self.remix_share_bps,
            Web3.to_checksum_address(self.dao_treasury),
            self.dao_share_bps,
            self.pricing_kind,
            self.fixed_price,
            list(self.thresholds),
            list(self.prices),
        )


def register_model(signer: Signer, protocol: Protocol, spec: ModelSpec) -> int:
    """Register a model owned by ``signer``; return its id."""
    registry = protocol.registry
    receipt = signer.send(registry.functions.register(spec.as_tuple()))
    events = events_in(registry, "ModelRegistered", receipt)
    if not events:
        raise ChainError("register succeeded but emitted no ModelRegistered event")
    return int(events[0]["args"]["modelId"])


def fund_escrow(minter: Signer, user: Signer, protocol: Protocol, amount: int) -> None:
    """Mint ``amount`` $ART to ``user`` and deposit it into the ledger's escrow."""
    minter.send(protocol.token.functions.mint(user.account.address, amount))
    user.send(protocol.token.functions.approve(protocol.deployment.ledger, amount))
    user.send(protocol.ledger.functions.deposit(amount))


@dataclass(frozen=True)
class BatchItem:
    request: InferenceRequest
    signature: bytes
    meter: Meter
    output_digest: bytes

    def as_tuple(self) -> tuple[Any, ...]:
        return item_tuple(self.request, self.signature, self.meter, self.output_digest)


def record_batch(operator: Signer, protocol: Protocol, items: Sequence[BatchItem]) -> Any:
    """Send one ``recordBatch`` and return its receipt."""
    return operator.send(
        protocol.ledger.functions.recordBatch([it.as_tuple() for it in items]),
    )


def events_in(contract: Contract, name: str, receipt: Any) -> list[Any]:
    """The ``name`` events of ``contract`` in a receipt (other logs are skipped, silently)."""
    return list(contract.events[name]().process_receipt(receipt, errors=DISCARD))


def permit_signature(
    owner_key: bytes, protocol: Protocol, spender: str, value: int, deadline: int
) -> tuple[int, bytes, bytes]:
    """An EIP-2612 permit of ``value`` $ART to ``spender``, signed by ``owner_key``: (v, r, s)."""
    owner = Account.from_key(owner_key)
    token = protocol.token
    nonce = token.functions.nonces(owner.address).call()
    typed = {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "Permit": [
                {"name": "owner", "type": "address"},
                {"name": "spender", "type": "address"},
                {"name": "value", "type": "uint256"},
                {"name": "nonce", "type": "uint256"},
                {"name": "deadline", "type": "uint256"},
            ],
        },
        "primaryType": "Permit",
        "domain": {
            "name": token.functions.name().call(),
            "version": "1",
            "chainId": protocol.deployment.chain_id,
            "verifyingContract": protocol.deployment.token,
        },
        "message": {
            "owner": owner.address,
            "spender": Web3.to_checksum_address(spender),
            "value": value,
            "nonce": nonce,
            "deadline": deadline,
        },
    }
    signed = owner.sign_typed_data(full_message=typed)
    return signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")
