"""A request's execution id and its signer, computed on the executor's hot path.

``artisan.domain.eip712`` is the readable reference; it encodes through eth_abi (~0.1 ms per
request) and recovers through eth_keys (~9 ms). Here the request's struct hash is built from
fixed 32-byte words (every field of ``InferenceRequest`` is static) against a cached domain
separator, and recovery goes through libsecp256k1 (``secp256k1``). Tests check both against
the reference.
"""

from __future__ import annotations

from artisan.domain.eip712 import REQUEST_TYPEHASH, domain_separator
from artisan.domain.hashing import keccak
from artisan.domain.types import InferenceRequest, normalize_address
from artisan.executor.secp256k1 import Recoverer


def _word(value: int) -> bytes:
    return value.to_bytes(32, "big")


class RequestVerifier:
    """Execution ids and signers of requests to one ledger on one chain."""

    def __init__(self, chain_id: int, ledger_address: str) -> None:
        self.chain_id = chain_id
        self.ledger_address = normalize_address(ledger_address, "ledger_address")
        self._prefix = b"\x19\x01" + domain_separator(chain_id, self.ledger_address)
        self.recoverer = Recoverer()

    def execution_id(self, request: InferenceRequest) -> bytes:
        """The EIP-712 digest of the request: its execution id on the ledger."""
        struct = b"".join(
            (
                REQUEST_TYPEHASH,
                bytes(12) + bytes.fromhex(request.user[2:]),
                _word(request.model_id),
                request.input_digest,
                request.params_hash,
                _word(request.priority),
                _word(request.max_cost),
                _word(request.nonce),
                _word(request.deadline),
            )
        )
        return keccak(self._prefix + keccak(struct))

    def signer(self, execution_id: bytes, signature: bytes) -> str | None:
        """The lowercase address an EOA signature over ``execution_id`` recovers to, or None
        when it recovers to nothing (an EIP-1271 wallet's signature, or garbage)."""
        return self.recoverer.recover(execution_id, signature)
