"""A new user's mistakes, met as they would meet them: one line naming the problem, exit 2, no
traceback and no secret; a version; SIGTERM stops `artisan node` and frees its port; no red
ONNX Runtime error on a CPU machine."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson
import pytest

from artisan.chain.anvil import Anvil, free_port
from artisan.chain.protocol import Protocol
from artisan.config import REPO_ROOT
from artisan.storage.database import Database
from artisan.storage.service_status import read_all
from tests.processes import Child


def artisan(
    *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """The real command in a process of its own (a traceback would show here)."""
    return subprocess.run(
        [sys.executable, "-m", "artisan.cli", *args], env=env, cwd=REPO_ROOT,
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARTISAN_")}
    return {**env, "ARTISAN_DEV": "1", **extra}


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("ARTISAN_REWARD_POOLS", "notjson", "ARTISAN_REWARD_POOLS: not valid JSON"),
        ("ARTISAN_DATA_DIR", "/proc/version/data", "ARTISAN_DATA_DIR"),
        ("ARTISAN_RPC_URL", "localhost:8545", "ARTISAN_RPC_URL: must be an http(s)"),
        ("ARTISAN_OPERATOR_KEY", "0x1234", "ARTISAN_OPERATOR_KEY: must be a 32-byte hex"),
        ("ARTISAN_FINALITY_DEPTH", "sixty-four", "ARTISAN_FINALITY_DEPTH"),
        ("ARTISAN_DATABSE_URL", "postgresql://x@h/db", "did you mean ARTISAN_DATABASE_URL?"),
    ],
)
def test_each_bad_setting_is_one_line_naming_it(variable: str, value: str, says: str) -> None:
    """Bad JSON, a path that cannot be a directory, a URL without a scheme, a short key, a
    word for a number and a misspelled name: exit 2, one line, the variable named."""
    result = artisan("projections", "status", env=clean_env(**{variable: value}))
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 2, output
    assert says in output and "Traceback" not in output
    assert len(output.splitlines()) == 1, output


def test_no_password_or_key_in_a_failing_commands_output() -> None:
    """A database URL with a password that cannot be reached: the error names the server,
    never the password (nor a key given in the environment)."""
    key = "0x" + "7a" * 32
    url = f"postgresql://bob:s3cretpw@127.0.0.1:{free_port()}/x"
    env = clean_env(ARTISAN_DEV="0", ARTISAN_OPERATOR_KEY=key, ARTISAN_DATABASE_URL=url)
    result = artisan("projections", "status", env=env)
    output = result.stdout + result.stderr
    assert result.returncode == 1 and "cannot connect to Postgres" in output
    assert "s3cretpw" not in output and key[2:] not in output and "bob:***@" in output


def test_version() -> None:
    result = artisan("--version", env=clean_env())
    assert result.returncode == 0 and result.stdout.startswith("artisan 0.")


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_node_stops_on_sigterm_and_frees_its_port(tmp_path: Path) -> None:
    """SIGTERM ends `artisan node` and the anvil it started, as Ctrl-C does."""
    port = free_port()
    command = [sys.executable, "-m", "artisan.cli", "node", "--port", str(port)]
    with Child(command, env=clean_env(), stderr=tmp_path / "stderr.txt", cwd=REPO_ROOT) as node:
        node.until(lambda line: "listening" in line, timeout=30.0)
        assert _port_open(port)
        assert node.stop(signal.SIGTERM) in (0, 130), node.stderr_text()
    assert not _port_open(port)


def test_a_cpu_machine_sees_no_onnx_runtime_error(tmp_path: Path) -> None:
    """Loading a session where CUDA cannot load prints nothing from ONNX Runtime (the red
    "Failed to load library" is hushed); the provider in use is the one line we log."""
    script = (
        "import pathlib\n"
        "from artisan.executor.assets import AssetStore\n"
        "from artisan.executor.sessions import SessionCache\n"
        "from artisan.testing import onnx_models as m\n"
        f"store = AssetStore(pathlib.Path({str(tmp_path)!r}))\n"
        "print(SessionCache(store).get(store.put(m.mlp(4, [4], 2)).cid).provider)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    if result.stdout.strip() != "CPUExecutionProvider":
        pytest.skip("CUDA loads here: nothing to hush")
    assert "Failed to load library" not in result.stderr and "onnxruntime" not in result.stderr


@pytest.mark.usefixtures("chain_snapshot")
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_executor_serve_and_emit_stop_on_either_signal(
    protocol: Protocol, anvil: Anvil, fresh_db: Database, tmp_path: Path, signum: int
) -> None:
    """`executor serve` and `emit` each end on SIGINT and on SIGTERM alike, exit 0, and free
    what they held (the executor's port); meanwhile the executor answers /metrics with its
    emitter's beside its own, logs as JSON when told to (uvicorn's lines too), and each
    leaves its heartbeat rows stopped."""
    deployment = tmp_path / "deployment.json"
    protocol.deployment.save(deployment)
    env = clean_env(
        ARTISAN_RPC_URL=anvil.rpc_url, ARTISAN_DEPLOYMENT_FILE=str(deployment),
        ARTISAN_DATABASE_URL=fresh_db.url, ARTISAN_DATA_DIR=str(tmp_path / "data"),
    )  # fmt: skip
    port = free_port()
    serve = [sys.executable, "-m", "artisan.cli", "executor", "serve", "--port", str(port)]
    json_logs = {**env, "ARTISAN_LOG_FORMAT": "json"}
    with Child(serve, env=json_logs, stderr=tmp_path / "serve.txt", cwd=REPO_ROOT) as executor:
        executor.until(lambda line: "executor on" in line, timeout=60.0)
        deadline = time.monotonic() + 30
        while not _port_open(port):  # the line comes just before uvicorn listens
            assert time.monotonic() < deadline, executor.stderr_text()
            time.sleep(0.1)
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        assert "artisan_executor_batch_size_count 0.0" in metrics
        assert "artisan_emitter_batches_in_flight" in metrics
        assert executor.stop(signum) == 0, executor.stderr_text()
    assert not _port_open(port)
    logged = [orjson.loads(line) for line in executor.stderr_text().splitlines() if line]
    assert any(line["logger"].startswith("uvicorn") for line in logged), executor.stderr_text()
    assert _states(fresh_db, executor.process.pid) == {"executor": "stopped",
                                                       "emitter": "stopped"}  # fmt: skip
    emit = [sys.executable, "-m", "artisan.cli", "emit"]
    with Child(emit, env=env, stderr=tmp_path / "emit.txt", cwd=REPO_ROOT) as emitter:
        emitter.until(lambda line: "emitting executions" in line, timeout=60.0)
        assert emitter.stop(signum) == 0, emitter.stderr_text()
    assert _states(fresh_db, emitter.process.pid) == {"emitter": "stopped"}


def _states(db: Database, pid: int) -> dict[str, str]:
    """The state of each service row the process ``pid`` wrote (its instance is host:pid)."""
    with db.connect() as conn:
        return {r.service: r.state for r in read_all(conn) if r.instance.endswith(f":{pid}")}
