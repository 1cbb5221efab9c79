"""A local anvil dev chain, started from the pinned npm package: the embedded default chain."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

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
    log: IO[bytes]  # anvil's stderr: a file, not a pipe that would fill up and block it

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
        self.log.close()

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
    log = tempfile.TemporaryFile()  # noqa: SIM115 (closed by Anvil.stop or below)
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.monotonic() + timeout
    body = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
    with httpx.Client(timeout=1.0) as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                log.seek(0)
                err = log.read().decode(errors="replace")
                log.close()
                raise ToolchainError(f"anvil exited with {proc.returncode}: {err.strip()}")
            with contextlib.suppress(httpx.HTTPError):
                r = http.post(f"http://127.0.0.1:{port}", json=body)
                if r.status_code == 200:
                    return Anvil(process=proc, port=port, chain_id=chain_id, log=log)
            time.sleep(0.05)
    proc.kill()
    proc.wait()
    log.close()
    raise ToolchainError(f"anvil did not answer on port {port} within {timeout} s")
