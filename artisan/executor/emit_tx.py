"""Signing ``recordBatch`` transactions (EIP-1559) and pricing them, replacements included."""

from __future__ import annotations

from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address

from artisan.executor.emission_errors import NodeError, TransactionRefused
from artisan.executor.emit_rpc import JsonRpc
from artisan.executor.emit_store import SignedTx

# Nodes refuse a replacement unless both fee caps rise by at least 10%; 12.5% leaves margin
# for rounding and for pools (some) that ask for more.
REPLACEMENT_BUMP_PPM = 1_125_000


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


def sign_batch(
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
