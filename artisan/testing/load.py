"""Load for benchmarks of a served process: the server as a subprocess on a free port, closed
loop clients that time every call, and CPU seconds per process read from /proc.

Closed loop: each of ``clients`` workers sends its next call when the previous one is answered,
so the latencies include the queueing of ``clients`` calls in flight, as a service's pool of
callers sees them.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, TypeVar

import httpx

P = TypeVar("P")
CpuMeter = Callable[[], float | None]


class ServerFailed(Exception):
    """The served process exited, or did not answer in time (its log's tail attached)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def pid_cpu(pid: int) -> float | None:
    """CPU seconds of one process so far (user and system); None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat_file:
            fields = stat_file.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Served:
    process: subprocess.Popen[bytes]
    base_url: str
    log: IO[bytes]

    def log_tail(self, size: int = 4000) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-size:]


@contextmanager
def served(argv: Sequence[str], port: int, env: Mapping[str, str]) -> Iterator[Served]:
    """``argv`` running (listening on ``port``), its output kept in a temporary file; stopped
    by SIGTERM (SIGKILL after 30 s) on the way out."""
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(list(argv), env=dict(env), stdout=log, stderr=subprocess.STDOUT)
        try:
            yield Served(proc, f"http://127.0.0.1:{port}", log)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_ready(server: Served, path: str, timeout_s: float = 120.0) -> httpx.Response:
    """The first 200 answer of GET ``path``, polled until ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    with httpx.Client(base_url=server.base_url, timeout=5) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise ServerFailed(
                    f"the server exited with {server.process.returncode}:\n{server.log_tail()}"
                )
            try:
                answer = client.get(path)
                if answer.status_code == 200:
                    return answer
            except httpx.TransportError:
                pass  # not listening yet
            time.sleep(0.2)
    raise ServerFailed(f"{path} did not answer 200 within {timeout_s} s:\n{server.log_tail()}")


@dataclass(frozen=True, slots=True)
class Timing:
    """One closed-loop run: each call's latency, the run's wall time, and the CPU seconds
    each meter counted during it."""

    latencies_ms: list[float]
    wall_s: float
    cpu_s: dict[str, float | None]

    def percentile(self, q: float) -> float:
        """The nearest-rank percentile (``q`` in 0..1), in ms."""
        ranked = sorted(self.latencies_ms)
        return round(ranked[max(0, math.ceil(q * len(ranked)) - 1)], 2)

    @property
    def rps(self) -> float:
        return round(len(self.latencies_ms) / self.wall_s, 1)

    def cpu_ms_per_call(self, meter: str) -> float | None:
        cpu = self.cpu_s.get(meter)
        return None if cpu is None else round(1000 * cpu / len(self.latencies_ms), 3)


async def drive(
    call: Callable[[P], Awaitable[object]],
    params: Sequence[P],
    clients: int,
    total: int,
    meters: Mapping[str, CpuMeter] | None = None,
    seconds: float = math.inf,
) -> Timing:
    """``total`` calls by ``clients`` concurrent workers, taking ``params`` in turn; no call
    starts once ``seconds`` have passed (the calls made are in ``latencies_ms``)."""
    latencies: list[float] = []
    turn = itertools.count()
    stop = time.perf_counter() + seconds

    async def worker() -> None:
        while (i := next(turn)) < total and time.perf_counter() < stop:
            started = time.perf_counter()
            await call(params[i % len(params)])
            latencies.append(1000 * (time.perf_counter() - started))

    meters = meters or {}
    before = {name: meter() for name, meter in meters.items()}
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    wall = time.perf_counter() - started
    cpu: dict[str, float | None] = {}
    for name, meter in meters.items():
        now, then = meter(), before[name]
        cpu[name] = None if now is None or then is None else now - then
    return Timing(latencies, wall, cpu)
