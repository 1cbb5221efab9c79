"""What every command shares: the console, and the Settings built once or a named exit."""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType
from typing import TYPE_CHECKING

import orjson
import typer
from rich.console import Console

from artisan.config import Settings, load_settings
from artisan.errors import ArtisanError, ConfigError

if TYPE_CHECKING:
    from artisan.storage.database import Database

# soft_wrap: a line printed to a pipe or a file stays one line (rich would wrap it at 80).
console = Console(soft_wrap=True)


def settings_or_exit() -> Settings:
    """The Settings, or exit 2 naming the bad key."""
    try:
        return load_settings()
    except ArtisanError as exc:
        console.print(f"[red]{exc}[/red]", soft_wrap=True)
        raise typer.Exit(2) from exc


def fail(exc: ArtisanError, code: int = 1) -> typer.Exit:
    """Print an expected failure in one red line; the exit to raise (2 for a configuration
    error, as for a bad setting at start)."""
    console.print(f"[red]{exc}[/red]", soft_wrap=True)
    return typer.Exit(2 if isinstance(exc, ConfigError) else code)


def stop_on_sigterm() -> None:
    """Make SIGTERM stop a foreground command as Ctrl-C does (``KeyboardInterrupt``), so its
    ``finally`` and ``with`` blocks end what it started."""

    def interrupt(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def json_line(data: object) -> None:
    """One JSON object on one line of stdout (what ``--json`` means everywhere)."""
    sys.stdout.write(orjson.dumps(data).decode() + "\n")
    sys.stdout.flush()


def store_chain(
    settings: Settings, db: Database, interval: float, stop: threading.Event
) -> int | None:
    """The chain a service with no ``--chain-id`` serves: the store's only chain, else the
    deployment file's (a store the indexer has not written to yet), else the first chain the
    store comes to hold (waited for; None if stopped meanwhile). Services started together
    (a supervisor, a simulation) must not fail because the indexer has not written yet."""
    from artisan.chain.contracts import Deployment
    from artisan.projections import positions

    said = False
    while not stop.is_set():
        with db.connect() as conn:
            chains = conn.execute("SELECT count(*) FROM indexer_checkpoints").fetchone()
            only = positions.only_chain(conn)
        if only is not None:
            return only
        if chains is not None and chains[0] > 1:
            raise ConfigError("the store holds several chains: name one with --chain-id")
        if settings.deployment_file.exists():
            return Deployment.load(settings.deployment_file).chain_id
        if not said:
            console.print("the store holds no chain yet: waiting for the indexer")
            said = True
        stop.wait(interval)
    return None
