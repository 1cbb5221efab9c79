"""What every command shares: the console, and the Settings built once or a named exit."""

from __future__ import annotations

import signal
import sys
from types import FrameType

import orjson
import typer
from rich.console import Console

from artisan.config import Settings, load_settings
from artisan.errors import ArtisanError, ConfigError

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
