"""Indexer backfill throughput against the limit of the machine, on real protocol events.

Run: ``.venv/bin/python -m benchmarks.indexer [--events N] [--batch N] [--rounds N]``
(``make bench-indexer``).

Events come from the real contracts on anvil: users with escrow and large ``recordBatch``
transactions of pre-signed requests for a remixed model with a DAO share, so that each executed
item emits one ``InferenceExecuted`` and five ``Settlement`` events. Signatures are made with
coincurve over digests hashed by hand (the same EIP-712 digest the ledger checks; a sample is
checked against ``artisan.domain.eip712``), and the calldata is ABI-encoded by hand (a sample
is checked against eth_abi): generating is not what we measure, so it is made cheap. Empty
blocks are mined on top, so that every event is below the finality depth, as in a backfill of
history.

Then, in the same run and on the same chain:

- the limit: raw ``eth_getLogs`` over the same block ranges the indexer read, orjson, and COPY
  of the same rows into a scratch table without indexes, sequentially, with no decoding
  beyond what COPY needs (hex fields as text, numbers as ints);
- the indexer: a full ``backfill`` into a fresh event store, with its defaults (which read
  each batch transaction's calldata for the request events);
- the indexer without request events (``requests=False``): the logs alone, like the limit.

The final line is JSON: ``events`` (logs), ``request_events``, ``indexer_events_per_s``,
``limit_events_per_s``, ``ratio_vs_limit``, the same without request events, and details.
Each figure is the best of ``--rounds`` runs (alternating), as on a shared machine the slower
rounds measure the neighbours.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from collections.abc import Sequence
from typing import Any

import coincurve
import httpx
import orjson
import psycopg
from eth_abi.abi import encode as abi_encode
from eth_hash.auto import keccak
from psycopg import sql

from artisan.chain.abi.decoder import ContractAbi
from artisan.chain.anvil import Anvil, start_anvil
from artisan.chain.contracts import Deployment
from artisan.chain.protocol import WAD
from artisan.config import ANVIL_OPERATOR_KEY, Settings, load_settings
from artisan.domain.eip712 import domain_separator, execution_id
from artisan.domain.types import InferenceRequest
from artisan.indexer.indexer import Indexer
from artisan.indexer.rpc import JsonRpcSource
from artisan.indexer.source import RawLog
from artisan.storage.database import Database, open_database
from artisan.storage.migrations import migrate

USERS = 16
EVENTS_PER_ITEM = 6  # InferenceExecuted + Settlement to operator, treasury, DAO, creator, ancestor
_REQUEST_TYPEHASH = keccak(
    b"InferenceRequest(address user,uint256 modelId,bytes32 inputDigest,bytes32 paramsHash,"
    b"uint8 priority,uint256 maxCost,uint256 nonce,uint256 deadline)"
)
_ITEM_TYPE = (
    "((address,uint256,bytes32,bytes32,uint8,uint256,uint256,uint256),bytes,"
    "(uint64,uint64,uint64,uint64,uint32),bytes32)"
)
_RECORD_BATCH = keccak(f"recordBatch({_ITEM_TYPE}[])".encode())[:4]
_METER = (3_072, 180, 4_000, 16_384, 4)
_DEADLINE = 2**40


class Rpc:
    """A tiny JSON-RPC client for driving anvil."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._client = httpx.Client(timeout=300, headers={"content-type": "application/json"})

    def call(self, method: str, *params: Any) -> Any:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
        reply = orjson.loads(self._client.post(self.url, content=orjson.dumps(body)).content)
        if "error" in reply:
            raise SystemExit(f"{method}: {reply['error']}")
        return reply["result"]

    def receipt(self, tx_hash: str) -> dict[str, Any]:
        for _ in range(6000):
            receipt = self.call("eth_getTransactionReceipt", tx_hash)
            if receipt is not None:
                if receipt["status"] != "0x1":
                    raise SystemExit(f"transaction {tx_hash} reverted")
                return dict(receipt)
            time.sleep(0.01)
        raise SystemExit(f"no receipt for {tx_hash}")

    def send(self, sender: str, to: str | None, data: bytes, gas: int = 5_000_000) -> str:
        tx: dict[str, Any] = {"from": sender, "data": "0x" + data.hex(), "gas": hex(gas)}
        if to is not None:
            tx["to"] = to
        tx_hash: str = self.call("eth_sendTransaction", tx)
        return tx_hash

    def transact(self, sender: str, to: str | None, data: bytes, gas: int = 5_000_000) -> Any:
        return self.receipt(self.send(sender, to, data, gas))

    def close(self) -> None:
        self._client.close()


def _word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def _address_word(address: str) -> bytes:
    return bytes(12) + bytes.fromhex(address[2:])


def _calldata(signature: str, types: Sequence[str], values: Sequence[Any]) -> bytes:
    return keccak(signature.encode())[:4] + abi_encode(list(types), list(values))


class Generator:
    """Deploys the protocol on anvil and emits protocol events in large ``recordBatch`` calls."""

    def __init__(self, settings: Settings, node: Anvil) -> None:
        from artisan.chain.actions import ModelSpec, register_model
        from artisan.chain.protocol import deploy
        from artisan.chain.signer import Signer, connect

        self.rpc = Rpc(node.rpc_url)
        w3 = connect(node.rpc_url)
        deployer = Signer.from_key(w3, settings.key("deployer"))
        self.operator = str(coincurve_address(bytes.fromhex(ANVIL_OPERATOR_KEY[2:])))
        protocol = deploy(deployer, settings.artifacts_dir, operators=(self.operator,))
        self.deployment: Deployment = protocol.deployment
        self.abis = {name: protocol.artifacts[name].abi for name in self.deployment.addresses()}
        parent = register_model(
            deployer,
            protocol,
            ModelSpec(secrets.token_bytes(32), remix_share_bps=2_000, fixed_price=10**15),
        )
        dao = "0x" + "da" * 20
        self.model_id = register_model(
            deployer,
            protocol,
            ModelSpec(
                secrets.token_bytes(32), parent_id=parent, dao_treasury=dao, dao_share_bps=1_000,
                fixed_price=10**15,
            ),
        )  # fmt: skip
        self.keys = [coincurve.PrivateKey() for _ in range(USERS)]
        self.users = [coincurve_address(k.secret) for k in self.keys]
        token, ledger = self.deployment.token, self.deployment.ledger
        amount = 10**9 * WAD
        self.rpc.call("anvil_autoImpersonateAccount", True)
        for user in self.users:
            self.rpc.call("anvil_setBalance", user, hex(10**21))
            deployer.send(protocol.token.functions.mint(w3.to_checksum_address(user), amount))
            self.rpc.transact(
                user,
                token,
                _calldata("approve(address,uint256)", ["address", "uint256"], [ledger, amount]),
            )
            self.rpc.transact(user, ledger, _calldata("deposit(uint256)", ["uint256"], [amount]))
        self.domain = domain_separator(self.deployment.chain_id, ledger)
        self._nonce = 0

    def items(self, count: int) -> list[bytes]:
        """``count`` signed, encoded ``Item``s, spread over the users."""
        out = []
        model, max_cost = _word(self.model_id), _word(WAD)
        meter = b"".join(_word(v) for v in _METER)
        for _ in range(count):
            i = self._nonce
            self._nonce += 1
            u = i % USERS
            user = _address_word(self.users[u])
            head = (
                user + model + secrets.token_bytes(32) + secrets.token_bytes(32) + _word(1)
                + max_cost + _word(i // USERS) + _word(_DEADLINE)
            )  # fmt: skip
            digest = keccak(b"\x19\x01" + self.domain + keccak(_REQUEST_TYPEHASH + head))
            sig = self.keys[u].sign_recoverable(digest, hasher=None)
            sig = sig[:64] + bytes([sig[64] + 27])
            out.append(
                head + _word(15 * 32) + meter + secrets.token_bytes(32)
                + _word(65) + sig + bytes(31)
            )  # fmt: skip
        return out

    def check_encoding(self) -> None:
        """The hand-made digest and calldata agree with eth_abi and artisan.domain.eip712."""
        item = self.items(1)[0]
        self._nonce -= 1
        words = [item[i : i + 32] for i in range(0, 15 * 32, 32)]
        request = InferenceRequest(
            user=self.users[0], model_id=self.model_id, input_digest=words[2],
            params_hash=words[3], priority=1, max_cost=WAD, nonce=0, deadline=_DEADLINE,
        )  # fmt: skip
        digest = execution_id(request, self.deployment.chain_id, self.deployment.ledger)
        sig = item[16 * 32 : 16 * 32 + 65]
        recovered = coincurve.PublicKey.from_signature_and_message(
            sig[:64] + bytes([sig[64] - 27]), digest, hasher=None
        )
        assert coincurve_address_of(recovered) == self.users[0], "the digest disagrees"
        value = (
            (self.users[0], self.model_id, words[2], words[3], 1, WAD, 0, _DEADLINE),
            sig, _METER, item[14 * 32 : 15 * 32],
        )  # fmt: skip
        assert batch_calldata([item]) == _RECORD_BATCH + abi_encode([f"{_ITEM_TYPE}[]"], [[value]])

    def emit(self, items: int, batch: int) -> tuple[int, int]:
        """Send ``items`` items in batches (one block each); (first block, events emitted)."""
        first = int(self.rpc.call("eth_blockNumber"), 16) + 1
        ledger = self.deployment.ledger
        sent = []
        for start in range(0, items, batch):
            calldata = batch_calldata(self.items(min(batch, items - start)))
            sent.append(self.rpc.send(self.operator, ledger, calldata, gas=950_000_000))
        events = 0
        for tx_hash in sent:
            receipt = self.rpc.receipt(tx_hash)
            events += len(receipt["logs"])
        return first, events


def batch_calldata(items: Sequence[bytes]) -> bytes:
    """``recordBatch(items)`` calldata: each element is a dynamic tuple, placed by offset."""
    offsets = []
    at = 32 * len(items)
    for item in items:
        offsets.append(_word(at))
        at += len(item)
    return _RECORD_BATCH + _word(32) + _word(len(items)) + b"".join(offsets) + b"".join(items)


def coincurve_address(secret: bytes) -> str:
    return coincurve_address_of(coincurve.PrivateKey(secret).public_key)


def coincurve_address_of(public: coincurve.PublicKey) -> str:
    return "0x" + keccak(public.format(compressed=False)[1:])[-20:].hex()


class RecordingSource(JsonRpcSource):
    """The indexer's JSON-RPC source, noting the block ranges of its log queries."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.ranges: list[tuple[int, int]] = []

    def logs(self, from_block: int, to_block: int, addresses: Sequence[str]) -> list[RawLog]:
        self.ranges.append((from_block, to_block))
        return super().logs(from_block, to_block, addresses)


def scratch_database(server: Database) -> tuple[Database, str]:
    name = f"artisan_bench_{secrets.token_hex(4)}"
    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    info = psycopg.conninfo.conninfo_to_dict(server.url)
    info["dbname"] = name
    db = Database(url=psycopg.conninfo.make_conninfo(**info))  # type: ignore[arg-type]
    migrate(db)
    return db, name


def drop_database(server: Database, name: str) -> None:
    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def run_indexer(
    server: Database, url: str, gen: Generator, head: int, requests: bool = True
) -> tuple[float, int, int, list[tuple[int, int]]]:
    """A full backfill into a fresh event store: (seconds, log events stored, request events
    stored, log query ranges). ``requests``: read each outcome's request from its calldata."""
    db, name = scratch_database(server)
    d = gen.deployment
    contracts = [ContractAbi(d.addresses()[n], abi) for n, abi in gen.abis.items()]
    source = RecordingSource(url)
    try:
        started = time.perf_counter()
        with Indexer(db, source, d.chain_id, contracts, start_block=d.start_block,
                     requests=requests) as idx:  # fmt: skip
            checkpoint = idx.backfill(head)
        elapsed = time.perf_counter() - started
        assert checkpoint.number == head, checkpoint
        with db.connect() as conn:
            row = conn.execute(
                "SELECT count(*) FILTER (WHERE event_name IS DISTINCT FROM 'RequestSigned'),"
                " count(*) FILTER (WHERE event_name = 'RequestSigned') FROM events"
            ).fetchone()
        assert row is not None
        return elapsed, int(row[0]), int(row[1]), source.ranges
    finally:
        source.close()
        drop_database(server, name)


_LIMIT_TABLE = """
CREATE TABLE raw_logs (
    block_number bigint, block_hash text, tx_hash text, tx_index integer, log_index integer,
    address text, topics text[], data text
)
"""


def run_limit(
    server: Database, url: str, addresses: list[str], ranges: Sequence[tuple[int, int]]
) -> tuple[float, int]:
    """The limit: eth_getLogs, orjson and COPY per range, nothing else; (seconds, rows)."""
    db, name = scratch_database(server)
    rows = 0
    try:
        with (
            db.connect(autocommit=True) as conn,
            httpx.Client(timeout=300, headers={"content-type": "application/json"}) as client,
        ):
            conn.execute(_LIMIT_TABLE)
            started = time.perf_counter()
            for first, last in ranges:
                query = {"fromBlock": hex(first), "toBlock": hex(last), "address": addresses}
                body = {"jsonrpc": "2.0", "id": 1, "method": "eth_getLogs", "params": [query]}
                logs = orjson.loads(client.post(url, content=orjson.dumps(body)).content)["result"]
                text = "".join(
                    f"{int(g['blockNumber'], 16)}\t{g['blockHash']}\t{g['transactionHash']}\t"
                    f"{int(g['transactionIndex'], 16)}\t{int(g['logIndex'], 16)}\t{g['address']}\t"
                    f"{{{','.join(g['topics'])}}}\t{g['data']}\n"
                    for g in logs
                )
                with conn.transaction(), conn.cursor().copy("COPY raw_logs FROM STDIN") as copy:
                    copy.write(text.encode())
                rows += len(logs)
            elapsed = time.perf_counter() - started
        return elapsed, rows
    finally:
        drop_database(server, name)


def measure(
    server: Database, url: str, gen: Generator, head: int, rounds: int
) -> tuple[list[dict[str, float]], int]:
    """Alternating indexer and limit runs: the figures of each round, and the log queries."""
    addresses = [a.lower() for a in gen.deployment.addresses().values()]
    ranges: list[tuple[int, int]] | None = None
    figures: list[dict[str, float]] = []
    for i in range(rounds):
        row: dict[str, float] = {}
        # The first round starts with the indexer: the limit reads the ranges it read.
        order = ("indexer", "bare", "limit") if i % 2 == 0 else ("limit", "bare", "indexer")
        for which in order:
            if which == "indexer":
                row["indexer_s"], row["stored"], row["requests"], got = run_indexer(
                    server, url, gen, head
                )
                # ...and the unfinalized tail, which the indexer read block by block.
                ranges = ranges or [*got, (got[-1][1] + 1, head)]
            elif which == "bare":  # without the request events (no calldata read)
                row["bare_s"], row["bare_stored"], _, _ = run_indexer(
                    server, url, gen, head, requests=False
                )
            else:
                assert ranges is not None
                row["limit_s"], row["limit_rows"] = run_limit(server, url, addresses, ranges)
        figures.append(row)
    assert ranges is not None
    return figures, len(ranges)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000, help="at least this many")
    parser.add_argument("--batch", type=int, default=250, help="items per recordBatch (block)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    settings = load_settings(dev=True)
    server = open_database(settings)
    try:
        with start_anvil(settings.anvil_bin, chain_id=settings.chain_id) as node:
            gen = Generator(settings, node)
            gen.check_encoding()
            started = time.perf_counter()
            first, emitted = gen.emit(-(-args.events // EVENTS_PER_ITEM), args.batch)
            emit_s = time.perf_counter() - started
            # Empty blocks on top: every event below the finality depth, as in a backfill.
            gen.rpc.call("anvil_mine", hex(100))
            head = int(gen.rpc.call("eth_blockNumber"), 16)
            rounds, queries = measure(server, node.rpc_url, gen, head, args.rounds)
            gen.rpc.close()
        with psycopg.connect(server.url) as conn:
            version = conn.execute("SHOW server_version").fetchall()[0][0]
    finally:
        server.close()
    events = int(rounds[0]["stored"])
    if any(r["stored"] != events or r["limit_rows"] != events or r["bare_stored"] != events
           for r in rounds):  # fmt: skip
        raise SystemExit(f"the runs stored different numbers of events: {rounds}")
    indexer_rate = max(events / r["indexer_s"] for r in rounds)
    bare_rate = max(events / r["bare_s"] for r in rounds)
    limit_rate = max(events / r["limit_s"] for r in rounds)
    result = {
        "events": events,
        "request_events": int(rounds[0]["requests"]),
        "indexer_events_per_s": round(indexer_rate),
        "limit_events_per_s": round(limit_rate),
        "ratio_vs_limit": round(indexer_rate / limit_rate, 3),
        "without_requests_events_per_s": round(bare_rate),
        "without_requests_ratio_vs_limit": round(bare_rate / limit_rate, 3),
        "protocol_events_emitted": emitted,
        "blocks": head - gen.deployment.start_block + 1,
        "first_event_block": first,
        "log_queries": queries,
        "items_per_batch": args.batch,
        "emit_s": round(emit_s, 1),
        "postgres": version,
        "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "rounds": [
            {
                "indexer_events_per_s": round(events / r["indexer_s"]),
                "without_requests_events_per_s": round(events / r["bare_s"]),
                "limit_events_per_s": round(events / r["limit_s"]),
            }
            for r in rounds
        ],
    }
    print(json.dumps(result))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
