"""Ethereum ``ecrecover`` on the executor's hot path, through libsecp256k1 (``coincurve``).

Every request's signature is recovered before it runs; eth_keys' pure-Python backend takes
about 9 ms per recovery, libsecp256k1 well under 0.1 ms. The acceptance rules are OpenZeppelin
``ECDSA.tryRecover``'s (and so the ledger's): ``v`` 27 or 28, ``0 < r < n``, ``0 < s <= n/2``;
anything else recovers to nothing, so the executor never admits what the ledger would reject.
"""

from __future__ import annotations

from coincurve import PublicKey

from artisan.domain.hashing import keccak

N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
HALF_N = N // 2


class Recoverer:
    """Recovers the signer of a 32-byte digest from a 65-byte ``r || s || v`` signature."""

    def recover(self, digest: bytes, signature: bytes) -> str | None:
        """The lowercase address that signed ``digest``, or None if the signature is
        malformed, malleable (high s) or recovers no key."""
        if len(signature) != 65 or len(digest) != 32 or signature[64] not in (27, 28):
            return None
        r = int.from_bytes(signature[:32], "big")
        s = int.from_bytes(signature[32:64], "big")
        if not (0 < r < N and 0 < s <= HALF_N):
            return None
        try:
            public = PublicKey.from_signature_and_message(
                signature[:64] + bytes([signature[64] - 27]), digest, hasher=None
            )
        except ValueError:  # r is not the x of a curve point, or the key is at infinity
            return None
        return "0x" + keccak(public.format(compressed=False)[1:])[-20:].hex()
