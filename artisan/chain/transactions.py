"""Signed EIP-1559 transactions that their sender records before broadcasting: pricing
(replacements included), signing, broadcasting, and the head they are priced against.

Shared by the processes that own their transactions' fate across crashes and reorgs (the
executor's emitter, the reward publisher): each persists a ``SignedTx`` before it sends it,
so that the same bytes can be sent again, or replaced by nonce, and never a second copy of
the same intent under a new nonce by mistake."""

from __future__ import annotations

import time
from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from eth_utils.address import to_checksum_address
from hexbytes import HexBytes

from artisan.chain.errors import NodeError, TransactionRefused
from artisan.chain.jsonrpc import JsonRpc
from artisan.config import redact_url
from artisan.errors import ChainError
from artisan.retry import STARTUP, call_with_retries

GWEI = 10**9

# Nodes refuse a replacement unless both fee caps rise by at least 10%; 12.5% leaves margin
# for rounding and for pools (some) that ask for more.
REPLACEMENT_BUMP_PPM = 1_125_000


@dataclass(frozen=True, slots=True)
class SignedTx:
    tx_hash: str
    raw: bytes
    nonce: int
    max_fee: int
    priority_fee: int


@dataclass(frozen=True, slots=True)
class Head:
    number: int
    base_fee: int
    gas_limit: int


def read_head(rpc: JsonRpc) -> Head:
    block = rpc.call("eth_getBlockByNumber", "latest", False)
    return Head(
        number=int(block["number"], 16),
        base_fee=int(block.get("baseFeePerGas") or "0x0", 16),
        gas_limit=int(block["gasLimit"], 16),
    )


@dataclass(frozen=True, slots=True)
class Fees:
    max_fee: int
    priority_fee: int


def fresh_fees(base_fee: int, priority_fee: int) -> Fees:
    """Caps for a new transaction: room for the base fee to double before it is stuck."""
    return Fees(max_fee=2 * base_fee + priority_fee, priority_fee=priority_fee)


def bumped_fees(old: Fees, base_fee: int, priority_fee: int) -> Fees:
    """Caps for a replacement of ``old``: at least 12.5% above both, and above the market."""
    tip = max(_bump(old.priority_fee), priority_fee)
    return Fees(max_fee=max(_bump(old.max_fee), 2 * base_fee + tip), priority_fee=tip)


def _bump(value: int) -> int:
    return -(-value * REPLACEMENT_BUMP_PPM // 1_000_000)  # rounds up, so 1 wei still grows


def sign_call(
    account: LocalAccount,
    *,
    chain_id: int,
    to: str,
    data: bytes,
    nonce: int,
    gas: int,
    fees: Fees,
) -> SignedTx:
    signed = account.sign_transaction(
        {
            "type": 2,
            "chainId": chain_id,
            "nonce": nonce,
            "to": to_checksum_address(to),
            "data": data,
            "value": 0,
            "gas": gas,
            "maxFeePerGas": fees.max_fee,
            "maxPriorityFeePerGas": fees.priority_fee,
        }
    )
    return SignedTx(
        tx_hash="0x" + bytes(signed.hash).hex(),
        raw=bytes(signed.raw_transaction),
        nonce=nonce,
        max_fee=fees.max_fee,
        priority_fee=fees.priority_fee,
    )


def replacement(
    account: LocalAccount, latest: SignedTx, *, chain_id: int, base_fee: int, priority_fee: int
) -> SignedTx:
    """``latest`` signed again at its nonce, same call and gas, with fees bumped past it and
    the market: a stuck transaction's replacement (only one of the two can ever be mined)."""
    old = TypedTransaction.from_bytes(HexBytes(latest.raw)).as_dict()
    fees = bumped_fees(Fees(latest.max_fee, latest.priority_fee), base_fee, priority_fee)
    return sign_call(
        account, chain_id=chain_id, to="0x" + bytes(old["to"]).hex(), data=bytes(old["data"]),
        nonce=latest.nonce, gas=int(old["gas"]), fees=fees,
    )  # fmt: skip


def check_chain(rpc: JsonRpc, chain_id: int) -> None:
    """Refuse a node that serves another chain than the one we sign for (a transient failure
    of the node is retried a few times first: this is asked as a service starts)."""
    answer = call_with_retries(lambda: rpc.call("eth_chainId"), STARTUP, time.sleep,
                               "reading the chain id")  # fmt: skip
    node_chain = int(answer, 16)
    if node_chain != chain_id:
        raise ChainError(f"the node at {redact_url(rpc.url)} is chain {node_chain}, not {chain_id}")


# Refusals that mean "this nonce already has a transaction (maybe this very one)": the next
# reconciliation pass finds out which, from receipts and the account's nonce.
_BENIGN_REFUSALS = (
    "already known",
    "already imported",
    "known transaction",
    "already exists",
    "nonce too low",
    "replacement transaction underpriced",
    "underpriced",
)


def broadcast(rpc: JsonRpc, tx: SignedTx) -> bool:
    """Send a signed transaction; False if the node already has one at its nonce."""
    try:
        rpc.call("eth_sendRawTransaction", "0x" + tx.raw.hex())
    except NodeError as exc:
        if any(m in exc.message.lower() for m in _BENIGN_REFUSALS):
            return False
        raise TransactionRefused(f"nonce {tx.nonce} ({tx.tx_hash}): {exc.message}") from exc
    return True
