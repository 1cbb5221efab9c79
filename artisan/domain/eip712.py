"""EIP-712 hashing of the signed ``InferenceRequest``; its digest is the execution id.

The digest is computed by hand from the type string, so that an auditor can follow each
step; tests check it against eth_account's general EIP-712 encoder.
"""

from __future__ import annotations

from typing import Any

from eth_abi.abi import encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_keys.exceptions import BadSignature

from artisan.domain.hashing import keccak
from artisan.domain.types import InferenceRequest, normalize_address, require_uint
from artisan.errors import DomainError

DOMAIN_NAME = "ArtisanExecutionLedger"
DOMAIN_VERSION = "1"
DOMAIN_TYPE = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
REQUEST_TYPE = (
    "InferenceRequest(address user,uint256 modelId,bytes32 inputDigest,bytes32 paramsHash,"
    "uint8 priority,uint256 maxCost,uint256 nonce,uint256 deadline)"
)
DOMAIN_TYPEHASH = keccak(DOMAIN_TYPE.encode())
REQUEST_TYPEHASH = keccak(REQUEST_TYPE.encode())

# ECDSA.sol: s must be at most half the secp256k1 group order.
_SECP256K1_HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0

# The same fields as REQUEST_TYPE, in the shape eth_account and wallets take.
_REQUEST_FIELDS = [
    {"name": "user", "type": "address"},
    {"name": "modelId", "type": "uint256"},
    {"name": "inputDigest", "type": "bytes32"},
    {"name": "paramsHash", "type": "bytes32"},
    {"name": "priority", "type": "uint8"},
    {"name": "maxCost", "type": "uint256"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]
_DOMAIN_FIELDS = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]


def domain_separator(chain_id: int, verifying_contract: str) -> bytes:
    """The ledger's EIP-712 domain separator on ``chain_id`` at ``verifying_contract``."""
    require_uint(chain_id, 256, "chain_id")
    contract = normalize_address(verifying_contract, "verifying_contract")
    return keccak(
        encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [
                DOMAIN_TYPEHASH,
                keccak(DOMAIN_NAME.encode()),
                keccak(DOMAIN_VERSION.encode()),
                chain_id,
                contract,
            ],
        )
    )


def struct_hash(request: InferenceRequest) -> bytes:
    """``hashStruct(request)``: the typehash and every field, each one 32-byte word."""
    return keccak(
        encode(
            [
                "bytes32",
                "address",
                "uint256",
                "bytes32",
                "bytes32",
                "uint8",
                "uint256",
                "uint256",
                "uint256",
            ],
            [
                REQUEST_TYPEHASH,
                request.user,
                request.model_id,
                request.input_digest,
                request.params_hash,
                request.priority,
                request.max_cost,
                request.nonce,
                request.deadline,
            ],
        )
    )


def execution_id(request: InferenceRequest, chain_id: int, ledger_address: str) -> bytes:
    """The EIP-712 digest of ``request`` for the ledger: the id of its execution."""
    return keccak(b"\x19\x01" + domain_separator(chain_id, ledger_address) + struct_hash(request))


def typed_data(request: InferenceRequest, chain_id: int, ledger_address: str) -> dict[str, Any]:
    """The request as an ``eth_signTypedData_v4`` document, for wallets and eth_account."""
    return {
        "types": {"EIP712Domain": _DOMAIN_FIELDS, "InferenceRequest": _REQUEST_FIELDS},
        "primaryType": "InferenceRequest",
        "domain": {
            "name": DOMAIN_NAME,
            "version": DOMAIN_VERSION,
            "chainId": chain_id,
            "verifyingContract": normalize_address(ledger_address, "ledger_address"),
        },
        "message": {
            "user": request.user,
            "modelId": request.model_id,
            "inputDigest": request.input_digest,
            "paramsHash": request.params_hash,
            "priority": request.priority,
            "maxCost": request.max_cost,
            "nonce": request.nonce,
            "deadline": request.deadline,
        },
    }


def sign_request(
    request: InferenceRequest, private_key: bytes, chain_id: int, ledger_address: str
) -> bytes:
    """A 65-byte ``r || s || v`` signature (v 27 or 28) of the request's execution id."""
    if not isinstance(private_key, bytes) or len(private_key) != 32:
        raise DomainError("private_key must be 32 bytes")
    digest = execution_id(request, chain_id, ledger_address)
    return bytes(Account.unsafe_sign_hash(digest, private_key).signature)


def recover_signer(
    request: InferenceRequest, signature: bytes, chain_id: int, ledger_address: str
) -> str:
    """The lowercase address whose key made ``signature`` over the request (EOAs only).

    Refuses what OpenZeppelin's ``ECDSA`` refuses, so an off-chain check never passes a
    signature the ledger would reject: ``v`` other than 27 or 28, and a high ``s``
    (the malleable twin of a valid signature). An EIP-1271 wallet's signature cannot be
    checked off chain; the ledger asks the wallet.
    """
    if not isinstance(signature, bytes) or len(signature) != 65:
        raise DomainError("signature must be 65 bytes (r || s || v)")
    if signature[64] not in (27, 28):
        raise DomainError(f"signature v must be 27 or 28, got {signature[64]}")
    if int.from_bytes(signature[32:64], "big") > _SECP256K1_HALF_N:
        raise DomainError("signature s is in the upper half of the curve order")
    message = encode_typed_data(full_message=typed_data(request, chain_id, ledger_address))
    try:
        signer = Account.recover_message(message, signature=signature)
    except (BadSignature, ValueError) as exc:
        raise DomainError(f"signature does not recover: {exc}") from exc
    return str(signer).lower()
