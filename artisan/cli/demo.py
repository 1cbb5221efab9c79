"""`artisan demo`: the whole pipeline on embedded defaults, end to end, each stage checked; then
the services stay up, with the dashboard, until Ctrl-C (`--once`: stop after the stages)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from artisan.cli.common import console, fail, settings_or_exit
from artisan.errors import ArtisanError


def demo(
    once: Annotated[
        bool, typer.Option("--once", help="run the stages to the end, then exit")
    ] = False,
    api_port: Annotated[int, typer.Option(help="the API and dashboard (another if taken)")] = 8700,
    executor_port: Annotated[
        int, typer.Option(help="the executor's API (another if taken)")
    ] = 8600,
    trickle: Annotated[
        float, typer.Option(min=0, help="seconds between trickled executions (0: none)")
    ] = 2.0,
    ready_file: Annotated[
        Path | None, typer.Option(help="write the URLs here (JSON) once ready")
    ] = None,
) -> None:
    """Run the whole pipeline on embedded defaults, checking each stage; then keep the
    services, the dashboard and a trickle of executions running until Ctrl-C."""
    from artisan.demo.run import run_demo
    from artisan.demo.stay import StayOptions

    try:
        run_demo(settings_or_exit(), console, once=once,
                 stay=StayOptions(api_port=api_port, executor_port=executor_port,
                                  trickle_s=trickle, ready_file=ready_file))  # fmt: skip
    except ArtisanError as exc:
        raise fail(exc) from exc
