"""`artisan demo`: the whole pipeline on embedded defaults, end to end, each stage checked."""

from __future__ import annotations

from artisan.cli.common import console, fail, settings_or_exit
from artisan.errors import ArtisanError


def demo() -> None:
    """Run the whole pipeline on embedded defaults, end to end, checking each stage."""
    from artisan.demo.run import run_demo

    try:
        run_demo(settings_or_exit(), console)
    except ArtisanError as exc:
        raise fail(exc) from exc
