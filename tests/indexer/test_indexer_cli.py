"""`artisan index` on a real anvil and Postgres: backfill, JSON progress, live, metrics, stops."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from typer.testing import CliRunner

from artisan.chain.anvil import Anvil, free_port, start_anvil
from artisan.chain.protocol import WAD, Protocol, deploy
from artisan.chain.signer import Signer, connect
from artisan.cli.main import app
from artisan.config import ANVIL_OPERATOR_KEY, Settings
from artisan.storage.database import Database
from artisan.storage.service_status import ServiceStatus, read_all
from tests.processes import Child

APPEND_KEYS = {"block", "head", "lag", "events", "events_total", "blocks_per_s", "events_per_s",
               "eta_s", "elapsed_s", "phase"}  # fmt: skip


class Deployed:
    """A private anvil with the whole protocol deployed and its deployment file written."""

    def __init__(self, settings: Settings, tmp_path: Path) -> None:
        self.node: Anvil = start_anvil(settings.anvil_bin, chain_id=settings.chain_id)
        w3 = connect(self.node.rpc_url)
        self.deployer = Signer.from_key(w3, settings.key("deployer"))
        operator = Signer.from_key(w3, ANVIL_OPERATOR_KEY)
        self.protocol: Protocol = deploy(
            self.deployer, settings.artifacts_dir, operators=(operator.address,)
        )
        self.deployment_file = tmp_path / "deployment.json"
        self.protocol.deployment.save(self.deployment_file)

    def mint(self, times: int) -> None:
        """``times`` mints, one transaction (and block) each: a Transfer event each."""
        for _ in range(times):
            self.deployer.send(self.protocol.token.functions.mint(self.deployer.address, WAD))

    def protocol_logs(self) -> int:
        """How many logs the protocol's contracts have emitted, read raw from the node."""
        query = {
            "fromBlock": hex(self.protocol.deployment.start_block),
            "toBlock": "latest",
            "address": list(self.protocol.deployment.addresses().values()),
        }
        body = {"jsonrpc": "2.0", "id": 1, "method": "eth_getLogs", "params": [query]}
        reply = httpx.post(self.node.rpc_url, json=body, timeout=10).json()
        return len(reply["result"])


@pytest.fixture
def deployed(settings: Settings, tmp_path: Path) -> Iterator[Deployed]:
    chain = Deployed(settings, tmp_path)
    try:
        yield chain
    finally:
        chain.node.stop()


class IndexProcess(Child):
    """`artisan index --json` as a subprocess: every stdout line is one JSON object (its
    stderr, for people, goes to a file that failures quote)."""

    def __init__(self, env: dict[str, str], stderr: Path, *args: str) -> None:
        super().__init__(
            [sys.executable, "-m", "artisan.cli", "index", "--json", *args],
            env=env,
            stderr=stderr,
        )

    def next_line(self, kind: str, timeout: float = 20.0, **match: object) -> dict[str, Any]:
        """The next line of ``kind`` whose fields include ``match``."""

        def wanted(text: str) -> bool:
            line = orjson.loads(text)
            return bool(line["kind"] == kind and all(line.get(k) == v for k, v in match.items()))

        return dict(orjson.loads(self.until(wanted, timeout)))

    def parsed(self) -> list[dict[str, Any]]:
        return [orjson.loads(text) for text in self.seen]


def _env(db: Database, chain: Deployed) -> dict[str, str]:
    return {
        **os.environ,
        "ARTISAN_RPC_URL": chain.node.rpc_url,
        "ARTISAN_DATABASE_URL": db.url,
        "ARTISAN_DEPLOYMENT_FILE": str(chain.deployment_file),
        "ARTISAN_STATUS_INTERVAL": "0.2",
    }


def _indexer_row(db: Database, pid: int) -> ServiceStatus:
    """The heartbeat row of the indexer process ``pid`` (its instance is host:pid)."""
    with db.connect() as conn:
        [row] = [r for r in read_all(conn)
                 if r.service == "indexer" and r.instance.endswith(f":{pid}")]  # fmt: skip
    return row


def test_index_backfills_reports_follows_and_stops(
    fresh_db: Database, deployed: Deployed, tmp_path: Path
) -> None:
    """Backfill with JSON progress, live follow, /metrics, its heartbeat row (running with
    the head it reached, then stopped), a twin refused, clean exit on SIGTERM."""
    deployed.mint(3)
    expected = deployed.protocol_logs()
    port = free_port()
    env = _env(fresh_db, deployed)
    args = ("--poll-interval", "0.2", "--metrics-port", str(port))
    with IndexProcess(env, tmp_path / "stderr.txt", *args) as index:
        backfilled = index.next_line("backfilled")
        appends = [line for line in index.parsed() if line["kind"] == "append"]
        assert appends and all(line.keys() >= APPEND_KEYS for line in appends)
        assert sum(line["events"] for line in appends) == expected == backfilled["events"]
        assert appends[-1]["lag"] == 0 and appends[-1]["block"] == backfilled["block"]
        index.next_line("following")

        deployed.mint(1)
        head = deployed.deployer.w3.eth.block_number
        index.next_line("append", timeout=3.0, block=head, events=1, phase="follow")
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        assert f"artisan_indexer_events_total {float(expected + 1)}" in metrics
        deadline = time.monotonic() + 10
        while _indexer_row(fresh_db, index.process.pid).details.get("indexed_block") != head:
            assert time.monotonic() < deadline, _indexer_row(fresh_db, index.process.pid)
            time.sleep(0.1)
        running = _indexer_row(fresh_db, index.process.pid)
        assert running.state == "running" and running.details["phase"] == "follow"
        assert running.details["head_lag_blocks"] == 0 and running.last_error is None

        second = subprocess.run(
            [sys.executable, "-m", "artisan.cli", "index", "--json", "--once"],
            env=env, capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert second.returncode == 1
        assert "already running" in orjson.loads(second.stdout.splitlines()[-1])["message"]
        status = CliRunner().invoke(app, ["status", "--json"],
                                    env={"ARTISAN_DATABASE_URL": fresh_db.url})  # fmt: skip
        found = orjson.loads(status.stdout)
        # The twin's row says it failed; the indexer runs on, so nothing is wrong.
        states = sorted(s["state"] for s in found["services"] if s["service"] == "indexer")
        assert states == ["failed", "running"] and found["ok"] and status.exit_code == 0
        assert found["chains"][0]["indexed_block"] == head

        assert index.stop(signal.SIGTERM) == 0
        assert index.next_line("stopped", timeout=5.0)["block"] == head
    assert _indexer_row(fresh_db, index.process.pid).state == "stopped"
    with fresh_db.connect() as conn:
        stored = conn.execute("SELECT count(*) FROM live_events").fetchall()[0][0]
    assert stored == expected + 1


def test_index_without_an_rpc_url_says_why_and_exits_2() -> None:
    """With no node to follow (and no --demo-chain) the command refuses, naming the way out."""
    result = CliRunner().invoke(app, ["index"], env={"ARTISAN_RPC_URL": ""})
    assert result.exit_code == 2
    assert "--demo-chain" in result.output and "ARTISAN_RPC_URL" in result.output
