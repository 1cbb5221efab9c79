"""`artisan projections run|status|rebuild` and `artisan verify` against a real chain and store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner
from web3 import Web3

from artisan.audit.chain_reads import protocol_abis
from artisan.chain.anvil import Anvil
from artisan.chain.protocol import WAD, Protocol
from artisan.chain.signer import Signer
from artisan.cli.main import app
from artisan.config import REPO_ROOT
from artisan.indexer.indexer import Indexer
from artisan.indexer.rpc import JsonRpcSource
from artisan.storage.database import Database
from artisan.storage.service_status import read_all
from tests.processes import Child
from tests.projections.chain_support import executions

pytestmark = pytest.mark.usefixtures("chain_snapshot")


def _env(db: Database, anvil: Anvil, protocol: Protocol, tmp_path: Path) -> dict[str, str]:
    deployment_file = tmp_path / "deployment.json"
    protocol.deployment.save(deployment_file)
    return {
        "ARTISAN_DATABASE_URL": db.url,
        "ARTISAN_RPC_URL": anvil.rpc_url,
        "ARTISAN_DEPLOYMENT_FILE": str(deployment_file),
    }


def backfill(db: Database, anvil: Anvil, protocol: Protocol) -> None:
    """Index the chain into the event store (finality 2), leaving the projections to the CLI."""
    d = protocol.deployment
    with (
        JsonRpcSource(anvil.rpc_url) as source,
        Indexer(db, source, d.chain_id, protocol_abis(d, protocol.artifacts),
                finality_depth=2, start_block=d.start_block) as indexer,
    ):  # fmt: skip
        indexer.backfill()


def test_run_status_verify_and_a_tampered_row(
    fresh_db: Database,
    anvil: Anvil,
    w3: Web3,
    protocol: Protocol,
    deployer: Signer,
    operator: Signer,
    tmp_path: Path,
) -> None:
    """After indexing real executions, the projections run, report no lag, verify clean;
    a row edited behind their back makes verify print a mismatch and exit 1."""
    executions(w3, protocol, deployer, operator, 3)
    backfill(fresh_db, anvil, protocol)

    runner, env = CliRunner(), _env(fresh_db, anvil, protocol, tmp_path)
    assert runner.invoke(app, ["projections", "run"], env=env).exit_code == 0
    status = runner.invoke(app, ["projections", "status", "--json"], env=env)
    assert status.exit_code == 0
    rows = [json.loads(line) for line in status.stdout.splitlines()]  # one object a line
    assert rows and all(r["lag"] == 0 and not r["reorg_pending"] for r in rows)
    clean = runner.invoke(app, ["verify"], env=env)
    assert clean.exit_code == 0, clean.stdout
    assert "no mismatch" in clean.stdout

    with fresh_db.connect() as conn:
        conn.execute("UPDATE proj_executions SET cost = cost + 1 WHERE ctid IN "
                     "(SELECT ctid FROM proj_executions LIMIT 1)")  # fmt: skip
    tampered = runner.invoke(app, ["verify"], env=env)
    assert tampered.exit_code == 1
    assert "MISMATCH" in tampered.stdout

    rebuilt = runner.invoke(app, ["projections", "rebuild"], env=env)
    assert rebuilt.exit_code == 0
    assert runner.invoke(app, ["verify"], env=env).exit_code == 0


class Miner:
    """Mines a block every 0.1 s on a thread, while in its ``with`` block."""

    def __init__(self, w3: Web3) -> None:
        self.w3, self.stop = w3, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(0.1):
            self.w3.provider.make_request("anvil_mine", [hex(1)])  # type: ignore[arg-type]

    def __enter__(self) -> Miner:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5)


def test_run_follow_closes_and_publishes_epochs_and_stops_on_sigterm(
    fresh_db: Database,
    anvil: Anvil,
    w3: Web3,
    protocol: Protocol,
    deployer: Signer,
    operator: Signer,
    tmp_path: Path,
) -> None:
    """`projections run --follow` with reward settings closes the final epoch, publishes its
    root on chain and prints it once final, and exits 0 on SIGTERM, its rows (projections and
    publisher) stopped with the publisher's last figures; bad reward settings exit 1, named."""
    genesis = w3.eth.block_number + 1
    executions(w3, protocol, deployer, operator, 1)
    w3.provider.make_request("anvil_mine", [hex(30)])  # type: ignore[arg-type]
    backfill(fresh_db, anvil, protocol)
    env = {
        **os.environ,
        **_env(fresh_db, anvil, protocol, tmp_path),
        "ARTISAN_FINALITY_DEPTH": "2",
        "ARTISAN_REWARD_EPOCH_LENGTH": "20",
        "ARTISAN_REWARD_GENESIS_BLOCK": str(genesis),
        "ARTISAN_REWARD_POOL": str(7 * WAD),
        "ARTISAN_REWARD_MINT": "true",
        "ARTISAN_STATUS_INTERVAL": "0.2",
    }
    command = [sys.executable, "-m", "artisan.cli", "projections", "run", "--follow",
               "--interval", "0.2", "--epoch-interval", "0.2"]  # fmt: skip
    with Child(command, env=env, stderr=tmp_path / "stderr.txt", cwd=REPO_ROOT) as service:
        line = service.until(lambda text: '"closed"' in text, timeout=90.0)
        closed = json.loads(line)["closed"]
        # The publication is final under blocks on top of it: the dev chain mines on demand.
        with Miner(w3):
            line = service.until(lambda text: '"published"' in text, timeout=60.0)
        published = json.loads(line)["published"]
        assert service.stop(signal.SIGTERM) == 0, service.stderr_text()
    with fresh_db.connect() as conn:
        rows = {r.service: r for r in read_all(conn)}
    assert {name: r.state for name, r in rows.items()} == {"projections": "stopped",
                                                           "publisher": "stopped"}  # fmt: skip
    assert rows["projections"].details["max_events_behind"] == 0
    assert rows["publisher"].details["last_closed_epoch"] == 1
    assert closed[0]["epoch"] == 1 == published[0]["epoch"]
    assert published[0]["root"] == closed[0]["root"]
    onchain = bytes(protocol.distributor.functions.epochs(1).call()[0])
    assert "0x" + onchain.hex() == closed[0]["root"]

    bad = CliRunner().invoke(
        app, ["projections", "run", "--follow"], env={**env, "ARTISAN_REWARD_POOLS": '{"0": 5}'}
    )
    assert bad.exit_code != 0 and "ARTISAN_REWARD_POOLS" in bad.stdout


def test_run_follow_on_an_empty_store_waits_for_the_indexer(
    fresh_db: Database, anvil: Anvil, w3: Web3, protocol: Protocol, deployer: Signer,
    operator: Signer, tmp_path: Path,
) -> None:  # fmt: skip
    """Started before the indexer wrote anything and with no deployment file, a follower waits
    for the store's first chain instead of exiting, then projects what `artisan index` brings
    (with each execution's signed request, read from its calldata)."""
    executions(w3, protocol, deployer, operator, 2)
    env = {**os.environ, **_env(fresh_db, anvil, protocol, tmp_path),
           "ARTISAN_DEPLOYMENT_FILE": str(tmp_path / "none.json")}  # fmt: skip
    command = [sys.executable, "-m", "artisan.cli", "projections", "run", "--follow",
               "--interval", "0.1"]  # fmt: skip
    with Child(command, env=env, stderr=tmp_path / "stderr.txt", cwd=REPO_ROOT) as service:
        service.until(lambda text: "waiting for the indexer" in text, timeout=30.0)
        indexed = subprocess.run(  # the `artisan index` process, as deployed
            [sys.executable, "-m", "artisan.cli", "index", "--once", "--json"],
            env={**env, "ARTISAN_DEPLOYMENT_FILE": str(tmp_path / "deployment.json")},
            capture_output=True, text=True, timeout=60, cwd=REPO_ROOT,
        )  # fmt: skip
        assert indexed.returncode == 0, indexed.stderr
        service.until(lambda text: '"caught_up"' in text, timeout=30.0)
        with fresh_db.connect() as conn:
            for _ in range(100):
                row = conn.execute("SELECT count(*) FROM proj_executions").fetchone()
                if row == (2,):
                    break
                threading.Event().wait(0.1)
        assert row == (2,)
        assert service.stop(signal.SIGTERM) == 0, service.stderr_text()
    with fresh_db.connect() as conn:  # the indexer read each execution's signed request
        assert conn.execute("SELECT count(*) FROM live_events WHERE event_name = 'RequestSigned'"
                            ).fetchone() == (2,)  # fmt: skip
