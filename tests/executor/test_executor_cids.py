"""CIDs built and parsed by hand are exactly multiformats' CIDv1 raw sha2-256 strings."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from multiformats import CID, multihash

from artisan.executor.assets import cid_of, digest_of
from artisan.executor.errors import InvalidCid


@given(st.binary(min_size=32, max_size=32))
def test_cids_match_multiformats_both_ways(digest: bytes) -> None:
    """For any digest, the CID string equals multiformats' and parses back to the digest."""
    cid = cid_of(digest)
    assert cid == str(CID("base32", 1, "raw", multihash.wrap(digest, "sha2-256")))
    assert digest_of(cid) == digest == bytes(CID.decode(cid).raw_digest)


def test_other_spellings_and_kinds_are_still_checked() -> None:
    """Another codec, CIDv0 and a truncated string are refused with the reason; a string whose
    last character carries stray bits is never read as the digest it resembles."""
    digest = bytes(range(32))
    cid = cid_of(digest)
    for bad in (
        cid[:-1],
        str(CID("base32", 1, "dag-pb", multihash.wrap(digest, "sha2-256"))),
        str(CID("base58btc", 0, "dag-pb", multihash.wrap(digest, "sha2-256"))),
    ):
        with pytest.raises(InvalidCid):
            digest_of(bad)
    stray = cid[:-1] + ("b" if cid[-1] == "a" else "a")
    with contextlib.suppress(InvalidCid):
        assert digest_of(stray) != digest
