"""The hot-path execution id and signer recovery agree with the domain's reference code."""

from __future__ import annotations

import secrets

import pytest
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st

from artisan.domain.eip712 import execution_id, recover_signer, sign_request
from artisan.domain.types import InferenceRequest
from artisan.errors import DomainError
from artisan.executor import secp256k1
from artisan.executor.secp256k1 import Recoverer
from artisan.executor.signatures import RequestVerifier

LEDGER = "0x" + "5f" * 20
RECOVERER = Recoverer()
keys = st.binary(min_size=32, max_size=32).filter(
    lambda k: 0 < int.from_bytes(k, "big") < secp256k1.N
)
uint = st.integers(min_value=0, max_value=2**256 - 1)


@settings(max_examples=40, deadline=None)
@given(
    key=keys,
    model_id=uint,
    priority=st.integers(0, 255),
    max_cost=uint,
    nonce=uint,
    deadline=uint,
    digest=st.binary(min_size=32, max_size=32),
    chain_id=st.integers(1, 2**64),
)
def test_execution_id_and_signer_match_the_reference(
    key: bytes, model_id: int, priority: int, max_cost: int, nonce: int, deadline: int,
    digest: bytes, chain_id: int,
) -> None:  # fmt: skip
    """For any request and key, the word-built id equals the eth_abi one, and libsecp256k1 recovery
    finds the signer that eth_keys finds."""
    user = Account.from_key(key).address
    request = InferenceRequest(user, model_id, digest, digest[::-1], priority, max_cost, nonce,
                               deadline)  # fmt: skip
    verifier = RequestVerifier(chain_id, LEDGER)
    assert verifier.execution_id(request) == execution_id(request, chain_id, LEDGER)
    signature = sign_request(request, key, chain_id, LEDGER)
    assert verifier.signer(verifier.execution_id(request), signature) == user.lower()
    assert recover_signer(request, signature, chain_id, LEDGER) == user.lower()


def _reference(digest: bytes, signature: bytes) -> str | None:
    request_free = Account._recover_hash  # the ECDSA core the domain's recover_signer uses
    try:
        return str(request_free(digest, signature=signature)).lower()
    except Exception:
        return None


@settings(max_examples=40, deadline=None)
@given(key=keys, digest=st.binary(min_size=32, max_size=32), flip=st.integers(0, 64 * 8 - 1))
def test_tampered_signatures_recover_elsewhere_or_nowhere(
    key: bytes, digest: bytes, flip: int
) -> None:
    """A signature with one bit flipped in r or s recovers to what eth_keys recovers (another
    address, or nothing), never to the signer."""
    signature = bytearray(Account.unsafe_sign_hash(digest, key).signature)
    signature[flip // 8] ^= 1 << (flip % 8)
    tampered = bytes(signature)
    got = RECOVERER.recover(digest, tampered)
    s = int.from_bytes(tampered[32:64], "big")
    want = _reference(digest, tampered) if s <= secp256k1.HALF_N else None
    assert got == want
    assert got != Account.from_key(key).address.lower()


def test_malformed_and_malleable_signatures_are_refused() -> None:
    """v other than 27/28, r or s zero or out of range, high s and wrong lengths recover to
    nothing, as OpenZeppelin's ECDSA and the domain's recover_signer refuse them."""
    key, digest = secrets.token_bytes(32), secrets.token_bytes(32)
    good = bytes(Account.unsafe_sign_hash(digest, key).signature)
    r, s, v = good[:32], int.from_bytes(good[32:64], "big"), good[64]
    high_s = r + (secp256k1.N - s).to_bytes(32, "big") + bytes([55 - v])
    assert _reference(digest, high_s) == Account.from_key(key).address.lower()  # ECDSA accepts
    for bad in (
        high_s,
        good[:64] + bytes([v - 27]),
        good[:64] + bytes([29]),
        bytes(32) + good[32:],
        r + bytes(32) + good[64:],
        secp256k1.N.to_bytes(32, "big") + good[32:],
        good[:64],
        good + b"\x00",
    ):
        assert RECOVERER.recover(digest, bad) is None
    request = InferenceRequest("0x" + "11" * 20, 1, digest, digest, 0, 0, 0, 0)
    with pytest.raises(DomainError):
        recover_signer(request, high_s, 1, LEDGER)
