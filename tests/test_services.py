"""The harness that runs the simulation's and the soak's services: a service that hangs tells
what it waits on."""

from __future__ import annotations

import time
from pathlib import Path

from artisan.testing.services import Services, free_port


def test_a_running_service_writes_every_threads_stack_to_its_log(tmp_path: Path) -> None:
    """SIGUSR1 reaches the `artisan` command's faulthandler: the service (a dev chain in the
    foreground) writes its threads' stacks, down to the command's own loop, and keeps running
    until it is stopped."""
    services = Services({"ARTISAN_DEV": "1"}, tmp_path)
    node = services.start("node", "node", "--port", str(free_port(18545)))
    log = tmp_path / "node.log"
    deadline = time.monotonic() + 30
    while "anvil" not in log.read_text(errors="replace") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert services.dump_stacks() == ["node"]
    text = log.read_text(errors="replace")
    assert "most recent call first" in text and "artisan/cli/chain.py" in text, text[-2000:]
    assert node.process.poll() is None  # the dump is not a crash
    assert services.stop()["node"] in (0, 130, -2)
