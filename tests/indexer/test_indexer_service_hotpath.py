"""The backfill's hot path: generated decoders equal eth-abi, large ranges written in parts,
hex lowercased once at the node boundary."""

from __future__ import annotations

import itertools
from typing import Any

import httpx
import orjson
import pytest
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_abi.exceptions import DecodingError
from eth_utils.crypto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from artisan.chain.abi.decoder import ContractAbi, EventDecoder, event_signature
from artisan.chain.abi.values import Param, canonical_type, converter
from artisan.indexer import indexer as indexer_module
from artisan.indexer.fetch import FetchedRange, split_range
from artisan.indexer.rpc import JsonRpcSource
from artisan.indexer.source import RawLog
from artisan.storage.chain_records import BlockHeader
from artisan.storage.database import Database
from artisan.testing.fake_chain import FakeChain, FakeChainSource

from .indexer_support import assert_equals_clean_index, make_indexer
from .test_indexer_decoder import _SCALARS, _params, _values

ADDRESS = "0x" + "ab" * 20


def _log(topics: list[str], data: bytes) -> RawLog:
    return {
        "address": ADDRESS, "topics": topics, "data": "0x" + data.hex(), "blockNumber": "0x1",
        "blockHash": "0x" + "11" * 32, "transactionHash": "0x" + "22" * 32,
        "transactionIndex": "0x0", "logIndex": "0x0",
    }  # fmt: skip


@st.composite
def _events(draw: st.DrawFn) -> tuple[list[Param], list[Any], list[bool]]:
    """An event's inputs (indexed static scalars, indexed strings, static data) and values."""
    inputs: list[Param] = []
    values: list[Any] = []
    kept: list[bool] = []
    for i in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["topic", "hashed", "data", "data"]))
        if kind == "hashed":  # an indexed string: only its hash is in the topic
            inputs.append({"name": f"a{i}", "type": "string", "indexed": True})
            values.append("0x" + draw(st.binary(min_size=32, max_size=32)).hex())
        else:
            param = dict(draw(_params(0 if kind == "topic" else 2)))
            param.update(name=f"a{i}", indexed=kind == "topic")
            inputs.append(param)
            values.append(draw(_values(param)))
        kept.append(kind == "hashed")
    return inputs, values, kept


@settings(max_examples=300, deadline=None)
@given(_events())
def test_generated_decoder_equals_eth_abi(event: tuple[list[Param], list[Any], list[bool]]) -> None:
    """For any static event, the generated decoder gives eth-abi's values, in ABI order."""
    inputs, values, kept = event
    abi = {"type": "event", "name": "E", "anonymous": False, "inputs": inputs}
    topics = ["0x" + keccak(text=event_signature(abi)).hex()]
    data_types, data_values = [], []
    expected: dict[str, Any] = {}
    for param, value, hashed in zip(inputs, values, kept, strict=True):
        typ = canonical_type(param)
        if hashed:
            topics.append(value)
            expected[param["name"]] = value
            continue
        encoded = abi_encode([typ], [value])
        expected[param["name"]] = converter(param)(abi_decode([typ], encoded)[0])
        if param["indexed"]:
            topics.append("0x" + encoded.hex())
        else:
            data_types.append(typ)
            data_values.append(value)
    decoder = EventDecoder([ContractAbi(ADDRESS, [abi])])
    decoded = decoder.decode(_log(topics, abi_encode(data_types, data_values)))
    assert decoded == ("E", expected)
    assert list(decoded[1]) == [p["name"] for p in inputs]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(_SCALARS), st.binary(min_size=32, max_size=32), st.booleans())
def test_generated_decoder_refuses_what_eth_abi_refuses(
    typ: str, word: bytes, indexed: bool
) -> None:
    """A word with bad padding or out of range leaves the log undecoded, as eth-abi refuses it."""
    abi = {"type": "event", "name": "E", "inputs": [{"name": "v", "type": typ, "indexed": indexed}]}
    topics = ["0x" + keccak(text=event_signature(abi)).hex()]
    try:
        expected: tuple[str, dict[str, Any]] | None = (
            "E", {"v": converter({"type": typ})(abi_decode([typ], word)[0])}
        )  # fmt: skip
    except DecodingError:
        expected = None
    log = _log([*topics, "0x" + word.hex()], b"") if indexed else _log(topics, word)
    assert EventDecoder([ContractAbi(ADDRESS, [abi])]).decode(log) == expected


@given(
    st.lists(st.integers(0, 6), min_size=1, max_size=40),  # logs per block
    st.integers(1, 12),
)
def test_split_range_cuts_at_block_ends_and_keeps_everything(
    per_block: list[int], max_logs: int
) -> None:
    """Parts are consecutive, keep every log in order, end at read blocks, hold max_logs."""
    first = 100
    last = first + len(per_block) - 1
    logs: list[RawLog] = []
    for n, count in enumerate(per_block, first):
        logs += [{**_log([], b""), "blockNumber": hex(n), "logIndex": hex(i)} for i in range(count)]
    wanted = {first, last} | {int(log["blockNumber"], 16) for log in logs}
    headers = {n: BlockHeader(n, f"0x{n:064x}", f"0x{n - 1:064x}", n) for n in wanted}
    parts = split_range(FetchedRange(first, last, headers, logs), max_logs)
    assert parts[0].first == first and parts[-1].last == last
    assert all(a.last + 1 == b.first for a, b in itertools.pairwise(parts))
    assert [log for part in parts for log in part.logs] == logs
    for part in parts:
        assert part.last in part.headers
        assert all(part.first <= n <= part.last for n in part.headers)
        assert all(part.first <= int(g["blockNumber"], 16) <= part.last for g in part.logs)
    assert all(len(part.logs) >= max_logs for part in parts[:-1])


def test_backfill_written_in_parts_equals_a_clean_index(
    fresh_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ranges decoded and appended in parts of a few logs give exactly the clean index."""
    monkeypatch.setattr(indexer_module, "_WRITE_BATCH_LOGS", 7)
    chain = FakeChain()
    chain.mine(150)
    seen: list[int] = []
    with make_indexer(
        fresh_db, FakeChainSource(chain), finality_depth=20,
        on_progress=lambda p: seen.append(p.checkpoint.number),
    ) as indexer:  # fmt: skip
        indexer.backfill()
    # 130 finalized blocks of 3 logs in parts of at least 7 logs (3 blocks), then one step.
    assert len(seen) >= 130 // 3 + 1 and seen == sorted(seen)
    monkeypatch.undo()
    assert_equals_clean_index(fresh_db, chain, finality_depth=20)


def test_a_node_answering_uppercase_hex_is_lowercased_at_the_boundary() -> None:
    """The decoder takes hex as it comes, so the RPC source lowercases an uppercase answer."""
    shouting = {
        **_log([], b""), "address": "0x" + "AB" * 20, "topics": ["0x" + "AB" * 32],
        "data": "0x" + "0A" * 32, "blockHash": "0x" + "CD" * 32,
    }  # fmt: skip

    def handle(request: httpx.Request) -> httpx.Response:
        reply = {"jsonrpc": "2.0", "id": 0, "result": [shouting]}
        return httpx.Response(200, content=orjson.dumps(reply))

    source = JsonRpcSource("http://node.test", transport=httpx.MockTransport(handle))
    (log,) = source.logs(0, 1, [ADDRESS])
    assert log["address"] == ADDRESS and log["topics"] == ["0x" + "ab" * 32]
    assert log["blockHash"] == "0x" + "cd" * 32 and log["data"] == "0x" + "0a" * 32
