"""The project's Keccak-256 (``artisan.domain.hashing``) against eth-hash's pycryptodome one."""

from __future__ import annotations

from eth_hash.backends.pycryptodome import backend as pycryptodome
from eth_hash.backends.pysha3 import PySha3Backend
from hypothesis import given, settings
from hypothesis import strategies as st

from artisan.domain import hashing
from artisan.domain.hashing import keccak


def test_the_c_backend_is_the_one_in_use() -> None:
    """safe-pysha3 is a dependency, so its backend is chosen (eth-hash would pick pycryptodome)."""
    assert isinstance(hashing._fastest(), PySha3Backend)


def test_known_digests() -> None:
    """Keccak-256, not NIST SHA3-256: the empty message and a function selector."""
    assert keccak(b"").hex() == ("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")
    assert keccak(b"transfer(address,uint256)")[:4].hex() == "a9059cbb"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4096))
def test_digests_equal_the_pycryptodome_backend(data: bytes) -> None:
    assert keccak(data) == pycryptodome.keccak256(data)
