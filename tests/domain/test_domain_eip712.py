"""The signed request: a hand-built EIP-712 digest that eth_account agrees with."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_hash.auto import keccak
from hypothesis import given
from hypothesis import strategies as st

from artisan.domain.eip712 import (
    DOMAIN_TYPEHASH,
    REQUEST_TYPE,
    REQUEST_TYPEHASH,
    domain_separator,
    execution_id,
    recover_signer,
    sign_request,
    struct_hash,
    typed_data,
)
from artisan.domain.types import InferenceRequest
from artisan.errors import DomainError

KEY = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
USER = Account.from_key(KEY).address
LEDGER = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
CHAIN_ID = 31337

REQUEST = InferenceRequest(
    user=USER,
    model_id=7,
    input_digest=keccak(b"input"),
    params_hash=keccak(b"params"),
    priority=2,
    max_cost=10**18,
    nonce=2**255 + 3,
    deadline=1_900_000_000,
)


def test_type_string_is_one_line_without_spaces_after_commas() -> None:
    """The type string is exactly the one in PROTOCOL.md and its typehash is its keccak."""
    assert REQUEST_TYPE == (
        "InferenceRequest(address user,uint256 modelId,bytes32 inputDigest,bytes32 paramsHash,"
        "uint8 priority,uint256 maxCost,uint256 nonce,uint256 deadline)"
    )
    assert ", " not in REQUEST_TYPE
    assert keccak(REQUEST_TYPE.encode()) == REQUEST_TYPEHASH
    assert (
        keccak(
            b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
        )
        == DOMAIN_TYPEHASH
    )


def test_digest_matches_eth_account() -> None:
    """Separator, struct hash and digest equal eth_account's general EIP-712 encoding."""
    message = encode_typed_data(full_message=typed_data(REQUEST, CHAIN_ID, LEDGER))
    assert message.version == b"\x01"
    assert message.header == domain_separator(CHAIN_ID, LEDGER)
    assert message.body == struct_hash(REQUEST)
    digest = keccak(b"\x19" + message.version + message.header + message.body)
    assert execution_id(REQUEST, CHAIN_ID, LEDGER) == digest


def test_signature_is_eth_accounts_and_recovers_the_user() -> None:
    """sign_request gives eth_account's typed-data signature, r||s||v, recovering the user."""
    signature = sign_request(REQUEST, KEY, CHAIN_ID, LEDGER)
    expected = Account.sign_typed_data(
        KEY, full_message=typed_data(REQUEST, CHAIN_ID, LEDGER)
    ).signature
    assert signature == bytes(expected)
    assert len(signature) == 65 and signature[64] in (27, 28)
    assert recover_signer(REQUEST, signature, CHAIN_ID, LEDGER) == USER.lower()


def test_signature_for_another_chain_recovers_someone_else() -> None:
    """A signature made for one chain id does not recover the user on another."""
    signature = sign_request(REQUEST, KEY, CHAIN_ID, LEDGER)
    assert recover_signer(REQUEST, signature, CHAIN_ID + 1, LEDGER) != USER.lower()


def test_bad_signature_or_key_length_is_refused() -> None:
    """Signatures must be 65 bytes and keys 32 bytes."""
    with pytest.raises(DomainError, match="65 bytes"):
        recover_signer(REQUEST, bytes(64), CHAIN_ID, LEDGER)
    with pytest.raises(DomainError, match="does not recover"):
        recover_signer(REQUEST, bytes(64) + b"\x1b", CHAIN_ID, LEDGER)
    with pytest.raises(DomainError, match="private_key"):
        sign_request(REQUEST, bytes(31), CHAIN_ID, LEDGER)


def test_signatures_the_ledger_refuses_are_refused() -> None:
    """v of 0/1 and the high-s twin of a valid signature fail, as OZ ECDSA fails them."""
    signature = sign_request(REQUEST, KEY, CHAIN_ID, LEDGER)
    with pytest.raises(DomainError, match="v must be 27 or 28"):
        recover_signer(REQUEST, signature[:64] + bytes([signature[64] - 27]), CHAIN_ID, LEDGER)
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    s = int.from_bytes(signature[32:64], "big")
    twin = signature[:32] + (n - s).to_bytes(32, "big") + bytes([55 - signature[64]])
    with pytest.raises(DomainError, match="upper half"):
        recover_signer(REQUEST, twin, CHAIN_ID, LEDGER)


def test_user_address_spelling_does_not_change_the_id() -> None:
    """A checksummed or lowercase user address gives the same execution id."""
    lower = dataclasses.replace(REQUEST, user=USER.lower())
    assert execution_id(lower, CHAIN_ID, LEDGER.lower()) == execution_id(REQUEST, CHAIN_ID, LEDGER)


@given(
    st.sampled_from(
        ["model_id", "priority", "max_cost", "nonce", "deadline", "input_digest", "params_hash"]
    ),
    st.integers(1, 255),
)
def test_every_field_moves_the_id(field: str, delta: int) -> None:
    """Changing any signed field, the chain id or the ledger changes the execution id."""
    original = execution_id(REQUEST, CHAIN_ID, LEDGER)
    value = getattr(REQUEST, field)
    changed: Any
    if isinstance(value, bytes):
        changed = bytes([value[0] ^ delta]) + value[1:]
    elif field == "priority":
        changed = (value + delta) % 256
    else:
        changed = value + delta
    other = dataclasses.replace(REQUEST, **{field: changed})
    assert execution_id(other, CHAIN_ID, LEDGER) != original
    assert execution_id(REQUEST, CHAIN_ID + delta, LEDGER) != original
    assert execution_id(REQUEST, CHAIN_ID, "0x" + f"{delta:040x}") != original
