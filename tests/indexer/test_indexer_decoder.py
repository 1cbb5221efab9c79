"""The log decoder: the fast word reader equals eth-abi, and odd logs are kept raw."""

from __future__ import annotations

from typing import Any

import orjson
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_abi.exceptions import DecodingError
from hypothesis import given, settings
from hypothesis import strategies as st

from artisan.chain.abi.decoder import ContractAbi, EventDecoder
from artisan.chain.abi.values import BadWord, Param, canonical_type, converter, static_reader
from artisan.testing.fake_chain import TOKEN, TOKEN_CONTRACT, FakeChain

_SCALARS = (
    [f"uint{b}" for b in (8, 16, 24, 64, 128, 256)]
    + [f"int{b}" for b in (8, 16, 40, 128, 256)]
    + ["address", "bool"]
    + [f"bytes{n}" for n in (1, 4, 20, 32)]
)


def _params(depth: int = 2) -> st.SearchStrategy[Param]:
    scalar = st.sampled_from(_SCALARS).map(lambda t: {"type": t})
    if depth == 0:
        return scalar
    inner = _params(depth - 1)
    array = st.tuples(inner, st.integers(1, 3)).map(
        lambda pair: {**pair[0], "type": f"{pair[0]['type']}[{pair[1]}]"}
    )
    tuple_ = st.lists(inner, min_size=1, max_size=3).map(
        lambda comps: {
            "type": "tuple",
            "components": [{**c, "name": f"f{i}"} for i, c in enumerate(comps)],
        }
    )
    return st.one_of(scalar, array, tuple_)


def _values(param: Param) -> st.SearchStrategy[Any]:
    typ = str(param["type"])
    if typ.endswith("]"):
        element = {**param, "type": typ[: typ.rindex("[")]}
        size = int(typ[typ.rindex("[") + 1 : -1])
        return st.lists(_values(element), min_size=size, max_size=size)
    if typ == "tuple":
        return st.tuples(*(_values(c) for c in param["components"]))
    if typ.startswith("uint"):
        return st.integers(0, 2 ** int(typ[4:]) - 1)
    if typ.startswith("int"):
        bits = int(typ[3:])
        return st.integers(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    if typ == "address":
        return st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
    if typ == "bool":
        return st.booleans()
    width = int(typ[5:])
    return st.binary(min_size=width, max_size=width)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_fast_reader_equals_eth_abi(data: st.DataObject) -> None:
    """For any static type and value, reading the words directly gives eth-abi's decoding."""
    param = data.draw(_params())
    value = data.draw(_values(param))
    encoded = abi_encode([canonical_type(param)], [value])
    reader = static_reader(param)
    assert reader is not None
    words, read = reader
    assert len(encoded) == 32 * words
    expected = converter(param)(abi_decode([canonical_type(param)], encoded)[0])
    assert read(encoded.hex(), 0) == expected


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(_SCALARS),
    st.one_of(
        st.binary(min_size=32, max_size=32),
        st.tuples(st.integers(0, 31), st.integers(1, 255)).map(
            lambda p: bytes(p[0]) + bytes([p[1]]) + bytes(31 - p[0])
        ),
    ),
)
def test_fast_reader_rejects_what_eth_abi_rejects(typ: str, word: bytes) -> None:
    """A word with bad padding or out of range is refused by both decoders alike."""
    read = static_reader({"type": typ})
    assert read is not None
    try:
        expected = converter({"type": typ})(abi_decode([typ], word)[0])
    except DecodingError:
        expected = BadWord
    try:
        got = read[1](word.hex(), 0)
    except BadWord:
        got = BadWord
    assert got == expected


def test_decoder_names_args_in_declaration_order() -> None:
    """Indexed and data arguments come back by name, in ABI order, JSON-ready and lossless."""
    chain = FakeChain()
    block = chain.mine(1, logs=3)[0]
    decoder = EventDecoder([TOKEN_CONTRACT])
    transfer, _, note = (decoder.decode(log) for log in block.logs)
    assert transfer is not None and note is not None
    assert transfer[0] == "Transfer" and list(transfer[1]) == ["from", "to", "value"]
    assert int(transfer[1]["value"]) > 2**64  # a big integer survives as a decimal string
    assert note[0] == "Note" and list(note[1]) == ["id", "text", "tags"]
    assert note[1]["tags"] == ["0x" + "07" * 32]


def test_unknown_and_malformed_logs_are_kept_raw() -> None:
    """A log no ABI matches, or whose data does not decode, becomes a row without a name."""
    chain = FakeChain()
    good, _, _ = chain.mine(1, logs=3)[0].logs
    unknown = {**good, "topics": ["0x" + "ab" * 32]}
    short = {**good, "data": "0x1234"}
    other_contract = {**good, "address": "0x" + "99" * 20}
    decoder = EventDecoder([TOKEN_CONTRACT, ContractAbi("0x" + "99" * 20, [])])
    rows = decoder.rows(1, [good, unknown, short, other_contract], {1: 123})  # type: ignore[list-item]
    assert [r.event_name for r in rows] == ["Transfer", None, None, None]
    assert [r.args_json is None for r in rows] == [False, True, True, True]
    assert orjson.loads(rows[0].args_json or "")["to"] == "0x" + "00" * 19 + "01"
    assert rows[1].topics == ["0x" + "ab" * 32] and rows[2].data == "0x1234"
    assert decoder.addresses == (TOKEN, "0x" + "99" * 20)
