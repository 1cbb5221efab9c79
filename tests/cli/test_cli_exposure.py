"""Every service listens on the loopback interface unless told otherwise (docs/SECURITY.md,
"Network exposure"): the real commands are started with their defaults and the sockets they
listen on are read from the operating system."""

from __future__ import annotations

import ipaddress
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import typer

from artisan.chain.anvil import Anvil, free_port
from artisan.chain.protocol import Protocol
from artisan.cli.main import app
from artisan.config import REPO_ROOT
from artisan.indexer.metrics import IndexerMetrics
from artisan.storage.database import Database
from tests.cli.test_cli_config import clean_env
from tests.processes import Child

LOOPBACK = "127.0.0.1"


def listening(port: int) -> set[str]:
    """The addresses a socket listens on at ``port`` (TCP, IPv4 and IPv6), read from the
    kernel's tables (Linux's /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(_address(address))
    return found


def _address(hex_address: str) -> str:
    """/proc's address: 32-bit words in host (little-endian) order."""
    raw = b"".join(bytes.fromhex(hex_address[i : i + 8])[::-1]
                   for i in range(0, len(hex_address), 8))  # fmt: skip
    return str(ipaddress.ip_address(raw))


def wait_listening(child: Child, port: int, timeout: float = 30.0) -> set[str]:
    """The addresses listening on ``port``, once the child listens there."""
    deadline = time.monotonic() + timeout
    while not (found := listening(port)):
        assert child.process.poll() is None, child.stderr_text()
        assert time.monotonic() < deadline, f"nothing on {port}: {child.stderr_text()}"
        time.sleep(0.1)
    return found


def test_every_host_option_defaults_to_loopback() -> None:
    """Each command that takes ``--host`` defaults it to 127.0.0.1: the executor and the API."""
    root = typer.main.get_command(app)
    hosts: dict[str, object] = {}

    def walk(command: Any, path: str) -> None:  # typer's own click Command or Group
        for param in command.params:
            if param.name == "host":
                hosts[path] = param.default
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{path} {name}".strip())

    walk(root, "")
    assert hosts == {"executor serve": LOOPBACK, "api serve": LOOPBACK}


def test_node_listens_on_loopback_only(tmp_path: Path) -> None:
    """`artisan node` starts anvil listening on 127.0.0.1 alone."""
    port = free_port()
    command = [sys.executable, "-m", "artisan.cli", "node", "--port", str(port)]
    with Child(command, env=clean_env(), stderr=tmp_path / "node.txt", cwd=REPO_ROOT) as node:
        node.until(lambda line: "listening" in line, timeout=30.0)
        found = wait_listening(node, port)
    assert found == {LOOPBACK}


def test_api_listens_on_loopback_only(fresh_db: Database, tmp_path: Path) -> None:
    """`artisan api serve` with its defaults listens on 127.0.0.1 alone."""
    port = free_port()
    env = clean_env(ARTISAN_DATABASE_URL=fresh_db.url, ARTISAN_DATA_DIR=str(tmp_path))
    command = [sys.executable, "-m", "artisan.cli", "api", "serve", "--port", str(port),
               "--chain-id", "31337"]  # fmt: skip
    with Child(command, env=env, stderr=tmp_path / "api.txt", cwd=REPO_ROOT) as api:
        api.until(lambda line: "GraphQL on" in line, timeout=60.0)
        found = wait_listening(api, port)
    assert found == {LOOPBACK}


@pytest.mark.usefixtures("chain_snapshot")
def test_executor_listens_on_loopback_only(
    protocol: Protocol, anvil: Anvil, fresh_db: Database, tmp_path: Path
) -> None:
    """`artisan executor serve` with its defaults listens on 127.0.0.1 alone."""
    deployment = tmp_path / "deployment.json"
    protocol.deployment.save(deployment)
    env = clean_env(
        ARTISAN_RPC_URL=anvil.rpc_url, ARTISAN_DEPLOYMENT_FILE=str(deployment),
        ARTISAN_DATABASE_URL=fresh_db.url, ARTISAN_DATA_DIR=str(tmp_path / "data"),
    )  # fmt: skip
    port = free_port()
    command = [sys.executable, "-m", "artisan.cli", "executor", "serve", "--port", str(port),
               "--no-emit"]  # fmt: skip
    with Child(command, env=env, stderr=tmp_path / "serve.txt", cwd=REPO_ROOT) as executor:
        executor.until(lambda line: "executor on" in line, timeout=60.0)
        found = wait_listening(executor, port)
    assert found == {LOOPBACK}


def test_indexer_metrics_listen_on_loopback() -> None:
    """`artisan index --metrics-port N` serves /metrics on 127.0.0.1 (the server it opens)."""
    server, thread = IndexerMetrics(31337).serve(free_port())
    try:
        assert server.server_address[0] == LOOPBACK
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
