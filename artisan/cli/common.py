"""What every command shares: the console, and the Settings built once or a named exit."""

from __future__ import annotations

import typer
from rich.console import Console

from artisan.config import Settings, load_settings
from artisan.errors import ArtisanError

console = Console()


def settings_or_exit() -> Settings:
    """The Settings, or exit 2 naming the bad key."""
    try:
        return load_settings()
    except ArtisanError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc


def fail(exc: ArtisanError, code: int = 1) -> typer.Exit:
    """Print an expected failure in one red line; the exit to raise."""
    console.print(f"[red]{exc}[/red]")
    return typer.Exit(code)
