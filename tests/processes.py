"""A child process that a test owns: started, read, stopped, waited for and closed, always.

Every process a test starts goes through ``Child`` (used as a context manager): its stdout is
read line by line on a thread (so a chatty child never blocks on a full pipe), its stderr goes
to a file that failures quote, and leaving the ``with`` block, whatever the test's outcome,
ends the process (SIGTERM, then SIGKILL), waits for it, joins the reader and closes every
pipe. A pipe left for the garbage collector to close raises a ResourceWarning in whichever
later test the collector happens to run in, which ``filterwarnings = error`` turns into that
test's failure: the suite's outcome would depend on test order.
"""

from __future__ import annotations

import contextlib
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

Predicate = Callable[[str], bool]


class Child:
    """``command`` running with ``env``; stdout lines collected as they come."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        env: Mapping[str, str],
        stderr: Path,
        cwd: Path | None = None,
    ) -> None:
        self.stderr_path = stderr
        self.seen: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        # A Python child dumps every thread's stack on SIGABRT: ``stop`` asks for it when the
        # child hangs, so the failure shows where.
        env = {**env, "PYTHONFAULTHANDLER": "1"}
        with stderr.open("w") as errors:  # the child holds its own copy of the descriptor
            self.process = subprocess.Popen(
                list(command), env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=errors,
                text=True,
            )  # fmt: skip
        self._reader = threading.Thread(target=self._read, name="child-stdout", daemon=True)
        self._reader.start()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _read(self) -> None:
        assert self.process.stdout is not None
        try:
            for line in self.process.stdout:
                self._lines.put(line)
        finally:
            self._lines.put(None)  # end of output

    def until(self, match: Predicate, timeout: float = 30.0) -> str:
        """The next stdout line that ``match`` accepts, collecting every line into ``seen``;
        fails the test (quoting what was seen and stderr) on timeout or if the child exits."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(self._report(f"no matching line within {timeout} s")) from None
            if line is None:
                self._lines.put(None)  # stays ended for later calls
                raise AssertionError(self._report("the process ended first"))
            self.seen.append(line)
            if match(line):
                return line

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Send ``signum`` and wait for the exit status (fails the test on timeout)."""
        self.process.send_signal(signum)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGABRT)  # its stacks, into stderr
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=10)
            raise AssertionError(
                self._report(f"still running {timeout} s after {signum}")
            ) from None

    def close(self) -> None:
        """End the process if it still runs, wait for it, and close its pipes (idempotent)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(10)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def stderr_text(self) -> str:
        return self.stderr_path.read_text() if self.stderr_path.exists() else ""

    def _report(self, what: str) -> str:
        return f"{what}; stdout: {''.join(self.seen)!r}; stderr: {self.stderr_text()}"
