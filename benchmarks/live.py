"""Live latency: from an execution's receipt to its subscription message, and to the row being
visible through a plain GraphQL query, with every service a process of its own.

Run: ``.venv/bin/python -m benchmarks.live [--samples N] [--url URL]`` (``make bench-live``).
A private anvil (automine) gets the protocol deployed; ``artisan index`` (following the node,
newHeads when offered), ``artisan projections run --follow`` (woken by the indexer's NOTIFY)
and ``artisan api serve`` run as subprocesses on a scratch database (``--url``, else the
configured server, else an embedded one). A websocket client subscribes to one user's
executions. Then, one batch at a time, one signed execution is recorded on the ledger; from its
receipt the clock runs until (a) the subscription's message arrives (a reader thread stamps
each message as it comes) and (b) ``execution(id:)`` answers it (polled every 2 ms). The final
line is JSON: ``{"samples": N, "receipt_to_subscription_ms": {"p50", "p95", "p99"},
"receipt_to_query_ms": {...}}`` with the goals (p50 <= 30 ms, p99 <= 100 ms). Then the last
50 executions are audited through the API (``audit``: the chain re-read over JSON-RPC), one at
a time: ``audit_ms`` and the verdicts. The services share this machine's CPUs with the client
and anvil.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import orjson
from eth_account import Account
from websockets.sync.client import connect as ws_connect

from artisan.chain.actions import BatchItem, ModelSpec, fund_escrow, record_batch, register_model
from artisan.chain.anvil import start_anvil
from artisan.chain.protocol import WAD, deploy
from artisan.chain.signer import Signer, connect
from artisan.config import ANVIL_DEPLOYER_KEY, ANVIL_OPERATOR_KEY, load_settings
from artisan.domain.eip712 import execution_id, sign_request
from artisan.domain.types import InferenceRequest, Meter
from artisan.testing import load
from benchmarks.projections import scratch_database

METER = Meter(input_units=64, gpu_micros=150, latency_micros=2_000, storage_bytes=512,
              concurrent_load=1)  # fmt: skip
P50_GOAL_MS, P99_GOAL_MS = 30.0, 100.0
QUERY = "query($id: ID!) { execution(id: $id) { id } }"


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)], 2)

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "max": round(ordered[-1], 2)}


class Messages:
    """Reads a graphql-transport-ws connection on a thread: the arrival time of each
    execution id it is sent."""

    def __init__(self, url: str, user: str) -> None:
        options: dict[str, Any] = {"subprotocols": ["graphql-transport-ws"], "open_timeout": 10,
                                   "legacy": True}  # fmt: skip
        self.ws = ws_connect(url.replace("http://", "ws://") + "/graphql", **options)
        self.ws.send(orjson.dumps({"type": "connection_init"}).decode())
        assert orjson.loads(self.ws.recv(timeout=10))["type"] == "connection_ack"
        query = "subscription($w: Execution_filter) { executions(where: $w) { id } }"
        self.ws.send(orjson.dumps({"id": "1", "type": "subscribe", "payload": {
            "query": query, "variables": {"w": {"user": user}}}}).decode())  # fmt: skip
        self.arrived: dict[str, float] = {}
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            while True:
                message = orjson.loads(self.ws.recv())
                now = time.perf_counter()
                if message["type"] == "ping":
                    self.ws.send(orjson.dumps({"type": "pong"}).decode())
                elif message["type"] == "next":
                    with self.cond:
                        self.arrived[message["payload"]["data"]["executions"]["id"]] = now
                        self.cond.notify_all()
        except Exception:  # the connection closed: the run is over
            return

    def wait(self, key: str, timeout: float = 30.0) -> float:
        with self.cond:
            if not self.cond.wait_for(lambda: key in self.arrived, timeout):
                raise TimeoutError(f"no subscription message for {key} in {timeout} s")
            return self.arrived[key]


AUDITS = 50  # executions audited through the API at the end (each re-reads the chain)
AUDIT = "query($id: String!) { audit(executionId: $id) { verdict reasons } }"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--url", default=None, help="a Postgres server URL to make a database on")
    args = parser.parse_args()
    settings = load_settings(dev=True)
    url = args.url or settings.database_url or None
    with (
        scratch_database(url) as db,
        tempfile.TemporaryDirectory(prefix="artisan-live-") as tmp,
    ):
        node = start_anvil(settings.anvil_bin, chain_id=31337)
        try:
            out = run(db.url, node.rpc_url, Path(tmp), settings.artifacts_dir, args.samples)
        finally:
            node.stop()
    print(json.dumps(out))


def run(db_url: str, rpc_url: str, tmp: Path, artifacts: Path, samples: int) -> dict[str, Any]:
    w3 = connect(rpc_url)
    deployer, operator = (
        Signer.from_key(w3, ANVIL_DEPLOYER_KEY),
        Signer.from_key(w3, ANVIL_OPERATOR_KEY),
    )
    protocol = deploy(deployer, artifacts, operators=(operator.address,))
    d = protocol.deployment
    d.save(tmp / "deployment.json")
    key = secrets.token_bytes(32)
    account = Account.from_key(key)
    w3.provider.make_request("anvil_setBalance", [account.address, hex(10**20)])  # type: ignore[arg-type]
    user = Signer(w3=w3, account=account)
    fund_escrow(deployer, user, protocol, 10_000 * WAD)
    model = register_model(
        deployer, protocol, ModelSpec(secrets.token_bytes(32), fixed_price=WAD // 100)
    )
    env = {**os.environ, "ARTISAN_DATABASE_URL": db_url, "ARTISAN_RPC_URL": rpc_url,
           "ARTISAN_DEPLOYMENT_FILE": str(tmp / "deployment.json"), "ARTISAN_DEV": "1",
           "ARTISAN_CHAIN_ID": str(d.chain_id)}  # fmt: skip
    py = [sys.executable, "-m", "artisan.cli"]
    port = load.free_port()
    with (
        load.served([*py, "index", "--poll-interval", "0.02"], 0, env) as indexer,
        load.served([*py, "projections", "run", "--follow", "--interval", "0.05"], 0, env) as proj,
    ):
        # The API starts once the indexer and projections have a head to serve.
        deadline = time.monotonic() + 120
        with load.served([*py, "api", "serve", "--port", str(port), "--chain-id",
                          str(d.chain_id)], port, env) as api:  # fmt: skip
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{api.base_url}/ready", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
            messages = Messages(api.base_url, account.address.lower())
            time.sleep(0.5)
            to_sub: list[float] = []
            to_query: list[float] = []
            ids: list[str] = []
            audits: list[float] = []
            verdicts: Counter[str] = Counter()
            failed: Counter[str] = Counter()  # the failed checks' names, and any error
            with httpx.Client(base_url=api.base_url, timeout=10) as http:
                for nonce in range(samples):
                    digest, params = secrets.token_bytes(32), secrets.token_bytes(32)
                    req = InferenceRequest(account.address, model, digest, params, 1, 10 * WAD,
                                           nonce, 2**40)  # fmt: skip
                    item = BatchItem(req, sign_request(req, key, d.chain_id, d.ledger), METER,
                                     secrets.token_bytes(32))  # fmt: skip
                    record_batch(operator, protocol, [item])
                    receipt_at = time.perf_counter()
                    eid = "0x" + execution_id(req, d.chain_id, d.ledger).hex()
                    given_up = time.monotonic() + 30
                    while True:
                        if time.monotonic() > given_up:  # say why, with the services' logs
                            raise TimeoutError(
                                f"execution {eid} not served in 30 s.\nindexer:\n"
                                f"{indexer.log_tail()}\nprojections:\n{proj.log_tail()}\n"
                                f"api:\n{api.log_tail()}"
                            )
                        answer = http.post(
                            "/graphql", json={"query": QUERY, "variables": {"id": eid}}
                        )
                        if answer.json()["data"]["execution"] is not None:
                            to_query.append((time.perf_counter() - receipt_at) * 1000)
                            break
                        time.sleep(0.002)
                    to_sub.append((messages.wait(eid) - receipt_at) * 1000)
                    ids.append(eid)
                # The audit: each of the last executions re-read from the chain by the API.
                for eid in ids[-AUDITS:]:
                    started = time.perf_counter()
                    answer = http.post("/graphql", json={"query": AUDIT, "variables": {"id": eid}},
                                       timeout=60).json()  # fmt: skip
                    audits.append((time.perf_counter() - started) * 1000)
                    found = (answer.get("data") or {}).get("audit") or {}
                    verdicts[str(found.get("verdict"))] += 1
                    failed.update(r.split(":")[0] for r in found.get("reasons", []))
                    failed.update(e["message"][:120] for e in answer.get("errors", []))
            messages.ws.close()
    sub, query = percentiles(to_sub), percentiles(to_query)
    return {
        "samples": samples, "receipt_to_subscription_ms": sub, "receipt_to_query_ms": query,
        "audits": len(audits), "audit_ms": percentiles(audits), "audit_verdicts": verdicts,
        "audit_failed_checks": failed,
        "goals": {"p50_le_30ms": sub["p50"] <= P50_GOAL_MS and query["p50"] <= P50_GOAL_MS,
                  "p99_le_100ms": sub["p99"] <= P99_GOAL_MS and query["p99"] <= P99_GOAL_MS},
        "cpu_count": os.cpu_count(),
    }  # fmt: skip


if __name__ == "__main__":
    main()
