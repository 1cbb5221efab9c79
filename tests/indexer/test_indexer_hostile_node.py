"""A node that answers anything: the indexer's source and fetch over a real HTTP server whose
answers a property garbles (not JSON, wrong types, wrong ids, error objects of any shape, logs
that do not match their block). Only the node boundary's errors come out: transient ones
(retried, refetched) or a named NodeError, never a TypeError or KeyError; and a log whose
block hash is not its block's is never stored."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from psycopg import sql

from artisan.chain.abi.decoder import ContractAbi
from artisan.chain.errors import ChainMoved, NodeError
from artisan.errors import ChainError, StorageError, TransientChainError
from artisan.indexer.fetch import fetch_range
from artisan.indexer.indexer import Indexer
from artisan.indexer.rpc import JsonRpcSource
from artisan.storage.database import Database

ADDRESS = "0x" + "5a" * 20
HEAD = 10


def block_hash(n: int) -> str:
    return "0x" + f"{n:064x}"


def block(n: int) -> dict[str, Any]:
    return {"number": hex(n), "hash": block_hash(n), "parentHash": block_hash(n - 1),
            "timestamp": hex(1_700_000_000 + n)}  # fmt: skip


def log_of(n: int, index: int = 0) -> dict[str, Any]:
    return {"address": ADDRESS, "topics": ["0x" + "ab" * 32], "data": "0x" + "00" * 32,
            "blockNumber": hex(n), "blockHash": block_hash(n),
            "transactionHash": "0x" + f"{n:062x}cd", "transactionIndex": "0x0",
            "logIndex": hex(index), "removed": False}  # fmt: skip


def honest(method: str, params: list[Any]) -> Any:
    """What a node holding blocks 0..HEAD, one log each, answers."""
    if method == "eth_blockNumber":
        return hex(HEAD)
    if method == "eth_getBlockByNumber":
        n = int(params[0], 16)
        return block(n) if n <= HEAD else None
    if method == "eth_getLogs":
        query = params[0]
        if "blockHash" in query:
            return [log_of(int(query["blockHash"], 16))]
        return [log_of(n) for n in range(int(query["fromBlock"], 16),
                                         int(query["toBlock"], 16) + 1)]  # fmt: skip
    if method == "eth_getTransactionByHash":
        return {"input": "0x", "to": ADDRESS}
    raise AssertionError(method)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12)
    | st.sampled_from(["0x", "0xzz", "0x" + "AB" * 32, hex(HEAD), "unknown block"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["id", "result", "error", "code", "message", "number", "hash",
                         "blockHash", "blockNumber", "topics", "data"]) | st.text(max_size=5),
        inner, max_size=4),
    max_leaves=8,
)  # fmt: skip
KEYS = [
    "number",
    "hash",
    "parentHash",
    "timestamp",
    "address",
    "topics",
    "data",
    "blockNumber",
    "blockHash",
    "transactionHash",
    "transactionIndex",
    "logIndex",
    "removed",
    "input",
    "to",
]


@dataclass(frozen=True)
class Fault:
    """How the ``request``-th HTTP exchange is garbled."""

    request: int
    kind: str  # body, status, result, field, drop, id, error, item
    value: Any = None
    key: str = ""
    status: int = 200
    item: int = 0


FAULTS = st.builds(
    Fault,
    request=st.integers(0, 6),
    kind=st.sampled_from(["body", "status", "result", "field", "drop", "id", "error", "item"]),
    value=st.one_of(JSON, st.binary(max_size=40)),
    key=st.sampled_from(KEYS),
    status=st.sampled_from([200, 201, 204, 301, 400, 404, 413, 429, 500, 502]),
    item=st.integers(0, 12),
)


def _garble_result(result: Any, fault: Fault) -> Any:
    """A result with one field changed or dropped (in the object, or in one of a list's)."""
    target = result
    if isinstance(result, list) and result:
        target = result[fault.item % len(result)]
    if isinstance(target, dict):
        if fault.kind == "drop":
            target.pop(fault.key, None)
        else:
            target[fault.key] = _plain(fault.value)
    return result


def _plain(value: Any) -> Any:
    return value.hex() if isinstance(value, bytes) else value


@dataclass
class ScriptedNode:
    """An HTTP JSON-RPC node answering honestly but for the faults it is given."""

    faults: list[Fault] = field(default_factory=list)
    exchanges: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, body: bytes) -> tuple[int, bytes]:
        with self.lock:
            index = self.exchanges
            self.exchanges += 1
        calls = orjson.loads(body)
        single = isinstance(calls, dict)
        replies = [{"jsonrpc": "2.0", "id": c["id"], "result": honest(c["method"], c["params"])}
                   for c in ([calls] if single else calls)]  # fmt: skip
        for fault in self.faults:
            if fault.request != index:
                continue
            if fault.kind == "body":
                raw = fault.value if isinstance(fault.value, bytes) else orjson.dumps(fault.value)
                return 200, raw
            if fault.kind == "status":
                return fault.status, b"{}"
            reply = replies[fault.item % len(replies)]
            if fault.kind == "result":
                reply["result"] = _plain(fault.value)
            elif fault.kind in ("field", "drop"):
                reply["result"] = _garble_result(reply["result"], fault)
            elif fault.kind == "id":
                reply["id"] = _plain(fault.value)
            elif fault.kind == "error":
                del reply["result"]
                reply["error"] = _plain(fault.value)
            elif fault.kind == "item":
                replies[fault.item % len(replies)] = _plain(fault.value)
        return 200, orjson.dumps(replies[0] if single else replies)


@pytest.fixture(scope="module")
def node() -> Iterator[tuple[ScriptedNode, str]]:
    scripted = ScriptedNode()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            status, answer = scripted.answer(body)
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield scripted, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def reads(source: JsonRpcSource) -> Callable[[], object]:
    def run() -> object:
        source.head_number()
        # 1..5 finalized, read by range; 6..10 block by block (EIP-234).
        fetched = fetch_range(source, [ADDRESS], 1, HEAD, unfinalized_from=6)
        for log in fetched.logs:  # what passed holds together
            assert fetched.headers[int(log["blockNumber"], 16)].hash == log["blockHash"]
        return source.transactions([log["transactionHash"] for log in fetched.logs])

    return run


@settings(max_examples=150, deadline=None)
@given(faults=st.lists(FAULTS, max_size=3))
@example(faults=[Fault(2, "id", value=[1])])  # was TypeError: unhashable type: 'list'
@example(faults=[Fault(1, "field", key="blockNumber", value="0xzz")])  # was ValueError
@example(faults=[Fault(1, "item", value=None)])
@example(faults=[Fault(1, "result", value=[None])])  # was TypeError: a log that is null
@example(faults=[Fault(1, "drop", key="blockNumber")])  # was KeyError: 'blockNumber'
@example(faults=[Fault(3, "field", key="blockHash", value="0x" + "ee" * 32, item=1)])
def test_any_answer_is_read_or_refused_with_a_node_error(
    node: tuple[ScriptedNode, str], faults: list[Fault]
) -> None:
    """Whatever the node answers, the source and the indexer's fetch either read a range that
    holds together or raise a transient chain error or a named NodeError."""
    scripted, url = node
    scripted.faults, scripted.exchanges = faults, 0
    with JsonRpcSource(url, timeout=5.0) as source:
        try:
            reads(source)()
        except ChainError as exc:
            assert isinstance(exc, TransientChainError | NodeError), repr(exc)
            assert str(exc)


def test_a_log_of_another_block_is_not_stored(
    node: tuple[ScriptedNode, str], fresh_db: Database
) -> None:
    """A log whose blockHash is not the hash of the block it names: the step raises
    ChainMoved (refetch) and the store holds no event, no block and no checkpoint move."""
    scripted, url = node
    # The range read is the indexer's first eth_getLogs (exchange 1, after the head).
    scripted.faults = [Fault(1, "field", key="blockHash", value="0x" + "ee" * 32, item=2)]
    scripted.exchanges = 0
    abi = [{"type": "event", "name": "Ping", "anonymous": False,
            "inputs": [{"name": "v", "type": "uint256", "indexed": False}]}]  # fmt: skip
    with (
        JsonRpcSource(url, timeout=5.0) as source,
        Indexer(fresh_db, source, 99, [ContractAbi(ADDRESS, abi)], finality_depth=2) as indexer,
    ):
        with pytest.raises(ChainMoved, match="another branch"):
            indexer.run_once()
        assert indexer.checkpoint.number < 1
    with fresh_db.connect() as conn:
        for table in ("events", "blocks"):
            count = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
            assert conn.execute(count).fetchone() == (0,), table


LOG_FAULTS = st.builds(
    Fault,
    request=st.just(1),  # the range's eth_getLogs, after the head
    kind=st.sampled_from(["field", "drop", "item", "result"]),
    value=st.one_of(JSON, st.sampled_from(["0xzz", "0x" + "f" * 20, "0x", "0X1", " 0x1"])),
    key=st.sampled_from(KEYS[4:13]),
    item=st.integers(0, 12),
)
CHAIN_IDS = iter(range(10_000, 1_000_000))


@settings(max_examples=40, deadline=None)
@given(faults=st.lists(LOG_FAULTS, min_size=1, max_size=2))
@example(faults=[Fault(1, "field", key="logIndex", value="0x" + "f" * 20)])
@example(faults=[Fault(1, "field", key="data", value="0xzz")])
def test_whatever_logs_the_node_answers_the_store_takes_all_or_nothing(
    node: tuple[ScriptedNode, str], database: Database, faults: list[Fault]
) -> None:
    """The indexer's step over garbled logs: it appends a range whose every event lies in a
    stored block of its hash, or raises a chain error (or the store's named refusal of a hex
    field or number it cannot hold) and stores nothing of that chain."""
    scripted, url = node
    scripted.faults, scripted.exchanges = faults, 0
    chain_id = next(CHAIN_IDS)
    with (
        JsonRpcSource(url, timeout=5.0) as source,
        Indexer(database, source, chain_id, [ContractAbi(ADDRESS, [])], finality_depth=2,
                requests=False) as indexer,
    ):  # fmt: skip
        try:
            indexer.run_once()
        except ChainError as exc:
            assert isinstance(exc, TransientChainError | NodeError), repr(exc)
            stored = False
        except StorageError as exc:  # the store's own refusal: hex it cannot take, by name
            assert "malformed hex" in str(exc) or "out of range" in str(exc), repr(exc)
            stored = False
        else:
            stored = True
    with database.connect() as conn:
        events = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE b.hash IS NULL) FROM events e"
            " LEFT JOIN blocks b ON b.chain_id = e.chain_id AND b.hash = e.block_hash"
            " AND b.number = e.block_number WHERE e.chain_id = %s", (chain_id,),
        ).fetchone()  # fmt: skip
        blocks = conn.execute("SELECT count(*) FROM blocks WHERE chain_id = %s", (chain_id,))
        block_count = blocks.fetchone()
    assert events is not None and block_count is not None
    assert events[1] == 0  # no event outside a stored block of its hash
    if not stored:
        assert events[0] == 0 and block_count[0] == 0
