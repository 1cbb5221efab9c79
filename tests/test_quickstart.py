"""The README's quick start, run exactly as written: from `make install` to a paid inference
confirmed on chain, with the output the sample model computes."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from artisan.config import REPO_ROOT
from artisan.storage.database import Database

pytestmark = pytest.mark.slow


def quick_start() -> str:
    """The shell lines of the README's quick start section."""
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    lines = [line[4:] for line in section.splitlines() if line.startswith("    ")]
    assert lines and lines[0] == "make install"
    return "\n".join(lines)


def _busy(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_the_readme_quick_start_runs_as_written(fresh_db: Database, tmp_path: Path) -> None:
    """Each line of the quick start, in one shell, in the repository: the last prints a
    confirmed execution whose output is the row's sum (1 + 2 + 3 + 4 = 10)."""
    if _busy(8545) or _busy(8600):
        pytest.skip("the quick start's ports 8545 and 8600 are taken on this machine")
    script = quick_start()
    made = [REPO_ROOT / name for name in ("model.onnx", "x.json")]
    assert not any(p.exists() for p in made), "the quick start would overwrite a file here"
    env = {**os.environ, "ARTISAN_DATABASE_URL": fresh_db.url,
           "ARTISAN_DATA_DIR": str(tmp_path / "data"),
           "ARTISAN_DEPLOYMENT_FILE": str(tmp_path / "deployment.json")}  # fmt: skip
    log = tmp_path / "quickstart.log"
    # Output to a file, not a pipe: the background chain and executor keep their copies of
    # it open, so a pipe would never reach its end while they run.
    with log.open("w") as out:
        shell = subprocess.Popen(["bash", "-e", "-c", script], cwd=REPO_ROOT, env=env,
                                 stdout=out, stderr=subprocess.STDOUT,
                                 start_new_session=True)  # fmt: skip
    try:
        shell.wait(timeout=240)
    finally:
        # The background chain and executor are in the shell's process group: end them all.
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(shell.pid, sig)
            except ProcessLookupError:
                break
            if sig is signal.SIGTERM:
                subprocess.run(["sleep", "2"], check=False)
        for path in made:
            path.unlink(missing_ok=True)
    output = log.read_text()
    assert shell.returncode == 0, output
    assert re.search(r"execution 0x[0-9a-f]{64}: confirmed", output), output
    assert '"data":[[10.0]]' in output.replace(" ", ""), output
    assert "$ART to the creator" in output and "recorded  in transaction 0x" in output
