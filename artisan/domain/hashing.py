"""Keccak-256, the protocol's hash, on the fastest eth-hash backend installed.

eth-hash chooses pycryptodome when it is installed (web3 and eth-account need it), and each of
its hashes is several ctypes calls: about 7 us for a 200-byte message here, and under the
executor's admission threads it took a fifth of their time (three hashes per request: the
execution id's two and the signer's address). safe-pysha3's C extension, which eth-hash also
supports (its ``pysha3`` backend), takes about 1.5 us. The same digests either way; the test
holds the two equal.
"""

from __future__ import annotations

from eth_hash.abc import BackendAPI
from eth_hash.backends.auto import AutoBackend
from eth_hash.main import Keccak256


def _fastest() -> BackendAPI:
    try:
        from eth_hash.backends.pysha3 import backend
    except ImportError:  # safe-pysha3 absent: eth-hash's own choice
        return AutoBackend()
    return backend


keccak = Keccak256(_fastest())
