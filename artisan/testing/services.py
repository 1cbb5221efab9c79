"""Long-running `artisan` commands in processes of their own (the demo's services, the
simulation's): each in a session of its own, so a Ctrl-C at the terminal reaches only the
process that started them, which stops them in order (SIGTERM, then SIGKILL after a grace
period) and reports how each ended. ``kill`` ends one at once (SIGKILL, as a crash does) and
``restart`` starts it again with the same command.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from artisan.errors import ArtisanError
from artisan.storage.service_status import default_instance

STOP_GRACE_S = 15.0  # a service's time to stop on SIGTERM before it is killed


class ServiceFailed(ArtisanError):
    """A demo service ended on its own, or did not come up in time."""


def free_port(preferred: int, host: str = "127.0.0.1") -> int:
    """``preferred`` if nothing listens there, else a port the system picks."""
    for port in (preferred, 0):
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError:
                continue
            return int(probe.getsockname()[1])
    raise ServiceFailed(f"no free port on {host}")


@dataclass
class Service:
    name: str
    argv: Sequence[str]
    log_path: Path
    process: subprocess.Popen[bytes]
    log: IO[bytes]
    env: dict[str, str] = field(default_factory=dict)  # its own, over the shared environment

    def tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Services:
    """Processes started with ``environment`` on top of this one's; logs in ``log_dir``."""

    environment: Mapping[str, str]
    log_dir: Path
    started: list[Service] = field(default_factory=list)

    def start(self, name: str, *args: str, env: Mapping[str, str] | None = None) -> Service:
        """``artisan *args`` as ``name``, with ``env`` over the shared environment."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        log = log_path.open("ab")
        argv = [sys.executable, "-m", "artisan.cli", *args]
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, **self.environment, **(env or {})}, start_new_session=True,
        )  # fmt: skip
        service = Service(name, argv, log_path, process, log, dict(env or {}))
        self.started.append(service)
        return service

    def instances(self) -> dict[str, str]:
        """The ``service_status`` instance of each running service, to its name."""
        return {default_instance(s.process.pid): s.name for s in self.started}

    def kill(self, name: str) -> None:
        """SIGKILL the service ``name`` (a crash: nothing it was doing finishes)."""
        service = self._named(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(service.process.pid, signal.SIGKILL)
        service.process.wait()
        service.log.close()

    def restart(self, name: str) -> Service:
        """Start ``name`` again with its command (after ``kill``, or after it ended)."""
        old = self._named(name)
        if old.process.poll() is None:
            raise ServiceFailed(f"the {name} service is still running")
        self.started.remove(old)
        return self.start(name, *old.argv[3:], env=old.env)

    def dump_stacks(self, settle_s: float = 0.5) -> list[str]:
        """Have every running service write each thread's stack to its log (SIGUSR1, which
        the `artisan` command hands to ``faulthandler``): what a hung service was waiting on.
        The names of those signalled."""
        signalled = []
        for s in self.started:
            if s.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(s.process.pid, signal.SIGUSR1)  # the service alone, not its group
                    signalled.append(s.name)
        time.sleep(settle_s)
        return signalled

    def _named(self, name: str) -> Service:
        for s in self.started:
            if s.name == name:
                return s
        raise ServiceFailed(f"no service named {name}")

    def check(self) -> None:
        """Raise if a service has ended on its own, with the end of its log."""
        for s in self.started:
            code = s.process.poll()
            if code is not None:
                raise ServiceFailed(
                    f"the {s.name} service ended with exit code {code}; the end of its log"
                    f" ({s.log_path}):\n{s.tail()}"
                )

    def wait_http(self, url: str, timeout: float, ready: int = 200) -> None:
        """Until ``url`` answers ``ready`` (every service still running), else raise."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            self.check()
            try:
                response = httpx.get(url, timeout=2.0)
                if response.status_code == ready:
                    return
                last = f"{response.status_code} {response.text[:200]}"
            except httpx.HTTPError as exc:
                last = str(exc) or type(exc).__name__
            time.sleep(0.2)
        raise ServiceFailed(f"{url} did not answer {ready} within {timeout:.0f} s: {last}")

    def stop_one(self, name: str, grace: float = STOP_GRACE_S) -> int:
        """Stop ``name`` alone (SIGTERM, then SIGKILL after ``grace``); its exit code."""
        service = self._named(name)
        self.started.remove(service)
        others, self.started = self.started, [service]
        try:
            return self.stop(grace)[name]
        finally:
            self.started = others

    def stop(self, grace: float = STOP_GRACE_S) -> dict[str, int]:
        """Stop every service, the last started first; how each ended (its exit code, or
        -9 when it had to be killed)."""
        ended: dict[str, int] = {}
        for s in reversed(self.started):
            if s.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    s.process.send_signal(signal.SIGTERM)
                try:
                    s.process.wait(grace)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(s.process.pid, signal.SIGKILL)
                    s.process.wait()
                    ended[s.name] = -9
                    s.log.close()
                    continue
            ended[s.name] = int(s.process.returncode)
            s.log.close()
        self.started.clear()
        return ended
