"""Executions confirmed on anvil per second: through the outbox and the emitter, and directly.

Run: ``.venv/bin/python -m benchmarks.emission [--executions N] [--batch N] [--rounds N]``.
Requests from several users are signed before anything is timed (by anvil's dev accounts,
through ``eth_signTypedData_v4``: the same EIP-712 signature, made in Rust rather than pure
Python). Each round, from one chain snapshot: the baseline (the same ``recordBatch``
transactions, signed and sent directly, the same number in flight, their outcomes read the
emitter's way, from the ledger's logs; no database), and the same executions through the
outbox: enqueued (timed apart, it is the executor's cost), then emitted until every one is
confirmed; the order alternates from round to round. The final line is JSON:
``emission_per_s`` (outbox → confirmed, the median of the rounds), ``emission_min_per_s``
(the slowest round), ``direct_per_s`` (baseline, median), ``ratio`` (median of each round's
emission / direct), every round's figures, the target (at least 2,000 a second in every
round, a median of at least 3,000) and whether it was met, and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import time

import psycopg
from psycopg import sql
from web3 import Web3

from artisan.chain.abi.ledger import encode_item, record_batch_calldata
from artisan.chain.actions import ModelSpec, register_model
from artisan.chain.anvil import start_anvil
from artisan.chain.jsonrpc import JsonRpc
from artisan.chain.protocol import WAD, Protocol, deploy
from artisan.chain.signer import Signer, connect
from artisan.chain.transactions import fresh_fees, read_head, sign_call
from artisan.config import ANVIL_OPERATOR_KEY, load_settings
from artisan.domain.eip712 import typed_data
from artisan.domain.types import InferenceRequest, Meter
from artisan.emitter import outcomes
from artisan.emitter.config import EmitterConfig
from artisan.emitter.emitter import Emitter, wait_idle
from artisan.executor import outbox
from artisan.executor.outbox import OutboxEntry
from artisan.storage.database import Database, open_database
from artisan.storage.migrations import migrate

METER = Meter(input_units=3_072, gpu_micros=180, latency_micros=4_000, storage_bytes=16_384,
              concurrent_load=4)  # fmt: skip
USERS = 8
FIRST_USER_ACCOUNT = 2  # anvil's accounts 0 and 1 are the deployer and the operator
TARGET_MIN_PER_S = 2_000  # in every round
TARGET_MEDIAN_PER_S = 3_000


def fund(w3: Web3, protocol: Protocol, deployer: Signer, users: list[str]) -> None:
    amount = 10**9 * WAD
    for user in users:
        deployer.send(protocol.token.functions.mint(user, amount))
        for fn in (
            protocol.token.functions.approve(protocol.deployment.ledger, amount),
            protocol.ledger.functions.deposit(amount),
        ):
            w3.eth.wait_for_transaction_receipt(fn.transact({"from": user}))  # dev: unlocked


def presign(
    rpc: JsonRpc, protocol: Protocol, users: list[str], model_id: int, n: int
) -> list[OutboxEntry]:
    d, operator = protocol.deployment, operator_address()
    requests = [
        InferenceRequest(
            user=users[i % len(users)], model_id=model_id, input_digest=secrets.token_bytes(32),
            params_hash=secrets.token_bytes(32), priority=1, max_cost=WAD, nonce=i // len(users),
            deadline=2**40,
        )
        for i in range(n)
    ]  # fmt: skip
    calls = []
    for r in requests:
        doc = typed_data(r, d.chain_id, d.ledger)
        msg = doc["message"]
        for k in ("inputDigest", "paramsHash"):
            msg[k] = "0x" + msg[k].hex()
        msg["maxCost"] = str(msg["maxCost"])  # beyond JSON's 64-bit integers
        calls.append(("eth_signTypedData_v4", [r.user, doc]))
    signatures: list[str] = []
    for i in range(0, n, 1000):
        signatures += rpc.batch(calls[i : i + 1000])
    return [
        OutboxEntry.create(
            r, bytes.fromhex(sig[2:]), METER, secrets.token_bytes(32), f"bench-{i}",
            chain_id=d.chain_id, ledger=d.ledger, operator=operator,
        )
        for i, (r, sig) in enumerate(zip(requests, signatures, strict=True))
    ]  # fmt: skip


def operator_address() -> str:
    return str(Web3().eth.account.from_key(ANVIL_OPERATOR_KEY).address)


def direct(rpc: JsonRpc, ledger: str, executions: list[OutboxEntry], cfg: EmitterConfig) -> float:
    """The baseline: the same batches signed and sent with no outbox; seconds to confirm all."""
    account = Web3().eth.account.from_key(ANVIL_OPERATOR_KEY)
    chain_id = int(rpc.call("eth_chainId"), 16)
    nonce = int(rpc.call("eth_getTransactionCount", account.address, "pending"), 16)
    batches = [executions[i : i + cfg.max_items] for i in range(0, len(executions), cfg.max_items)]
    started = time.perf_counter()
    in_flight: dict[str, tuple[int, int]] = {}  # tx hash -> (items, the head before it was sent)
    executed = 0
    for batch in batches:
        head = read_head(rpc)
        tx = sign_call(
            account, chain_id=chain_id, to=ledger,
            data=record_batch_calldata([encode_item(e.item_fields()) for e in batch]),
            nonce=nonce,
            gas=cfg.gas_base + cfg.gas_per_item * len(batch),
            fees=fresh_fees(head.base_fee, cfg.priority_fee),
        )  # fmt: skip
        rpc.call("eth_sendRawTransaction", "0x" + tx.raw.hex())
        nonce += 1
        in_flight[tx.tx_hash] = (len(batch), head.number)
        while len(in_flight) >= cfg.max_in_flight:
            executed += _collect(rpc, ledger, in_flight)
    while in_flight:
        executed += _collect(rpc, ledger, in_flight)
    elapsed = time.perf_counter() - started
    if executed != len(executions):
        raise SystemExit(f"direct: {executed} of {len(executions)} executed")
    return elapsed


def _collect(rpc: JsonRpc, ledger: str, in_flight: dict[str, tuple[int, int]]) -> int:
    """Outcomes of the transactions in flight, read as the emitter reads them (the ledger's
    logs from the lowest head they were sent after): drop the mined ones, count executions."""
    first = min(sent_after for _, sent_after in in_flight.values()) + 1
    executed = 0
    for tx, outs in outcomes.since(rpc, ledger, first, in_flight.keys()).items():
        if outcomes.complete(outs, in_flight[tx][0]):
            del in_flight[tx]
            executed += sum(o.executed for o in outs)
    if executed == 0:
        time.sleep(0.002)
    return executed


def scratch_database(server: Database) -> tuple[Database, str]:
    name = f"artisan_bench_{secrets.token_hex(4)}"
    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    info = psycopg.conninfo.conninfo_to_dict(server.url)
    info["dbname"] = name
    db = Database(url=psycopg.conninfo.make_conninfo(**info))  # type: ignore[arg-type]
    migrate(db)
    return db, name


def emission(
    db: Database,
    rpc_url: str,
    chain_id: int,
    ledger: str,
    executions: list[OutboxEntry],
    cfg: EmitterConfig,
) -> tuple[float, float]:
    """The outbox run on an empty outbox: (seconds to enqueue, seconds to confirm all)."""
    with db.connect() as conn, conn.transaction():
        conn.execute("TRUNCATE outbox_executions, outbox_transactions, outbox_batches")
    t = time.perf_counter()
    with db.connect() as conn, conn.transaction():
        outbox.enqueue_many(conn, executions)
    enqueue_s = time.perf_counter() - t
    t = time.perf_counter()
    with Emitter(db, rpc_url, ANVIL_OPERATOR_KEY, chain_id=chain_id, ledger=ledger,
                 config=cfg) as emitter:  # fmt: skip
        wait_idle(emitter, 600)
    emission_s = time.perf_counter() - t
    with db.connect() as conn:
        counts = dict(
            conn.execute("SELECT status, count(*) FROM outbox_executions GROUP BY 1").fetchall()
        )
    if counts != {"confirmed": len(executions)}:
        raise SystemExit(f"not every execution was confirmed: {counts}")
    return enqueue_s, emission_s


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--executions", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--in-flight", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    settings = load_settings(dev=True)
    cfg = EmitterConfig(max_items=args.batch, max_wait=0.0, max_in_flight=args.in_flight)
    server = open_database(settings)
    db, db_name = scratch_database(server)
    n = args.executions
    load_before = os.getloadavg()
    rounds: list[dict[str, float]] = []
    try:
        with start_anvil(
            settings.anvil_bin, extra_args=("--accounts", str(FIRST_USER_ACCOUNT + USERS))
        ) as node:
            w3 = connect(node.rpc_url)
            rpc = JsonRpc(node.rpc_url)
            deployer = Signer.from_key(w3, settings.key("deployer"))
            protocol = deploy(deployer, settings.artifacts_dir, operators=(operator_address(),))
            model_id = register_model(
                deployer, protocol, ModelSpec(secrets.token_bytes(32), fixed_price=10**15)
            )
            users = [
                str(a) for a in w3.eth.accounts[FIRST_USER_ACCOUNT : FIRST_USER_ACCOUNT + USERS]
            ]
            fund(w3, protocol, deployer, users)
            t = time.perf_counter()
            executions = presign(rpc, protocol, users, model_id, n)
            presign_s = time.perf_counter() - t
            ledger = protocol.deployment.ledger
            for i in range(args.rounds):
                # Both runs start from the same chain state; the order alternates, so that a
                # shared machine's load drifts over both alike.
                figures: dict[str, float] = {}
                for which in ("direct", "emission") if i % 2 == 0 else ("emission", "direct"):
                    snapshot = rpc.call("evm_snapshot")
                    if which == "direct":
                        figures["direct_s"] = direct(rpc, ledger, executions, cfg)
                    else:
                        figures["enqueue_s"], figures["emission_s"] = emission(
                            db, node.rpc_url, settings.chain_id, ledger, executions, cfg
                        )
                    if rpc.call("evm_revert", snapshot) is not True:
                        raise SystemExit("could not revert anvil to the snapshot")
                rounds.append(figures)
            rpc.close()
    finally:
        with psycopg.connect(server.url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db_name))
            )
        server.close()
    emission_rates = [n / r["emission_s"] for r in rounds]
    direct_rates = [n / r["direct_s"] for r in rounds]
    median, slowest = statistics.median(emission_rates), min(emission_rates)
    enqueue_s = statistics.median(r["enqueue_s"] for r in rounds)
    result = {
        "emission_per_s": round(median),
        "emission_min_per_s": round(slowest),
        "direct_per_s": round(statistics.median(direct_rates)),
        # Each round's two runs are side by side: their ratio is what a shared machine's load
        # disturbs least.
        "ratio": round(
            statistics.median(e / d for e, d in zip(emission_rates, direct_rates, strict=True)), 3
        ),
        "target": {
            "min_per_s": TARGET_MIN_PER_S,
            "median_per_s": TARGET_MEDIAN_PER_S,
            "met": slowest >= TARGET_MIN_PER_S and median >= TARGET_MEDIAN_PER_S,
        },
        "executions": n,
        "users": USERS,
        "batch_size": args.batch,
        "in_flight": args.in_flight,
        "rounds": [
            {"emission_per_s": round(e), "direct_per_s": round(d)}
            for e, d in zip(emission_rates, direct_rates, strict=True)
        ],
        "enqueue_per_s": round(n / enqueue_s),
        "end_to_end_per_s": round(n / (enqueue_s + n / median)),
        "presign_s": round(presign_s, 2),
        "load_average": {"before": round(load_before[0], 2), "after": round(os.getloadavg()[0], 2)},
    }
    print(json.dumps(result))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
