"""A local anvil dev chain, started from the pinned npm package: the embedded default chain."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from artisan.errors import ToolchainError


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Anvil:
    """A running anvil process; ``stop`` ends it."""

    process: subprocess.Popen[bytes]
    port: int
    chain_id: int

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stderr is not None:
            self.process.stderr.close()

    def __enter__(self) -> Anvil:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_anvil(
    anvil_bin: Path,
    *,
    chain_id: int = 31337,
    port: int | None = None,
    block_time: float = 0.0,
    extra_args: tuple[str, ...] = (),
    timeout: float = 20.0,
) -> Anvil:
    """Start anvil on a free port and wait until it answers JSON-RPC."""
    if not anvil_bin.exists():
        raise ToolchainError(f"anvil not found at {anvil_bin}: run `npm ci` (or `make node`)")
    port = port or free_port()
    args = [
        str(anvil_bin),
        "--port",
        str(port),
        "--chain-id",
        str(chain_id),
        "--silent",
        # Room for large batches and many events in tests and benchmarks.
        "--gas-limit",
        "1000000000",
        "--code-size-limit",
        "100000",
        *extra_args,
    ]
    if block_time > 0:
        args += ["--block-time", str(block_time)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    body = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise ToolchainError(f"anvil exited with {proc.returncode}: {err.strip()}")
        with contextlib.suppress(httpx.HTTPError):
            r = httpx.post(f"http://127.0.0.1:{port}", json=body, timeout=1.0)
            if r.status_code == 200:
                return Anvil(process=proc, port=port, chain_id=chain_id)
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    if proc.stderr is not None:
        proc.stderr.close()
    raise ToolchainError(f"anvil did not answer on port {port} within {timeout} s")
