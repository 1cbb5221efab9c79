"""The hand-written ``recordBatch`` calldata decoder (the indexer's request events) equals the
ABI: whatever items web3 encodes from the compiled ABI decode back to themselves, and web3's
own decoder agrees; cut or garbled calldata is refused with ValueError, never misread."""

from __future__ import annotations

import contextlib
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from web3 import Web3

from artisan.chain.abi.ledger import ItemFields, decode_record_batch
from artisan.chain.contracts import load_artifact
from artisan.config import load_settings

_LEDGER = Web3().eth.contract(
    abi=load_artifact(load_settings(dev=True).artifacts_dir, "ExecutionLedger").abi
)

_u = st.integers
items = st.builds(
    ItemFields,
    user=st.binary(min_size=20, max_size=20), model_id=_u(0, 2**256 - 1),
    input_digest=st.binary(min_size=32, max_size=32),
    params_hash=st.binary(min_size=32, max_size=32), priority=_u(0, 255),
    max_cost=_u(0, 2**256 - 1), nonce=_u(0, 2**256 - 1), deadline=_u(0, 2**256 - 1),
    signature=st.binary(max_size=130),
    meter=st.tuples(_u(0, 2**64 - 1), _u(0, 2**64 - 1), _u(0, 2**64 - 1), _u(0, 2**64 - 1),
                    _u(0, 2**32 - 1)),
    output_digest=st.binary(min_size=32, max_size=32),
)  # fmt: skip


def _tuple(it: ItemFields) -> tuple[Any, ...]:
    request = (Web3.to_checksum_address(it.user), it.model_id, it.input_digest, it.params_hash,
               it.priority, it.max_cost, it.nonce, it.deadline)  # fmt: skip
    return (request, it.signature, it.meter, it.output_digest)


def _calldata(batch: list[ItemFields]) -> bytes:
    return bytes.fromhex(_LEDGER.encode_abi("recordBatch", args=[[_tuple(i) for i in batch]])[2:])


@settings(max_examples=150, deadline=None)
@given(st.lists(items, max_size=6))
def test_items_decode_as_the_abi_encodes_them(batch: list[ItemFields]) -> None:
    calldata = _calldata(batch)
    assert decode_record_batch(calldata) == batch
    _, args = _LEDGER.decode_function_input(calldata)
    assert [(bytes(i["signature"]), bytes(i["outputDigest"])) for i in args["items"]] == [
        (i.signature, i.output_digest) for i in batch
    ]


@settings(max_examples=150, deadline=None)
@given(st.lists(items, min_size=1, max_size=3), st.data())
def test_cut_or_garbled_calldata_is_refused(batch: list[ItemFields], data: st.DataObject) -> None:
    calldata = bytearray(_calldata(batch))
    cut = data.draw(st.integers(0, len(calldata) - 1), label="cut")
    try:
        decoded = decode_record_batch(bytes(calldata[:cut]))
    except ValueError:
        pass
    else:  # a cut inside the trailing padding of the last signature changes nothing
        assert decoded == batch and len(calldata) - cut < 32
    spot = data.draw(st.integers(4, len(calldata) - 1), label="spot")
    calldata[spot] ^= data.draw(st.integers(1, 255), label="flip")
    # Refused by name, or (a flip inside a value) decoded to another value, as it should.
    with contextlib.suppress(ValueError):
        decode_record_batch(bytes(calldata))
