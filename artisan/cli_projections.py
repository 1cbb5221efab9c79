"""`artisan projections run|rebuild|status` and `artisan verify`."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import typer
from rich.console import Console
from rich.table import Table

from artisan.config import Settings
from artisan.errors import ArtisanError

projections_app = typer.Typer(no_args_is_help=True, help="Read models built from the event store.")
console = Console()


def _settings() -> Settings:
    from artisan.cli import settings_or_exit

    return settings_or_exit()


def _fail(exc: ArtisanError) -> typer.Exit:
    console.print(f"[red]{exc}[/red]")
    return typer.Exit(1)


@projections_app.command("run")
def run(
    chain_id: int | None = typer.Option(None, help="default: the only indexed chain"),
    follow: bool = typer.Option(False, help="keep following the indexer's notifications"),
    interval: float = typer.Option(5.0, help="seconds between catch-ups when following"),
) -> None:
    """Apply every new event to every projection (once, or following the indexer)."""
    from artisan.projections.admin import chain_of
    from artisan.projections.runner import Runner
    from artisan.storage.database import open_database

    db = open_database(_settings())
    try:
        chain = chain_of(db, chain_id)
        with Runner(db, chain) as runner:
            console.print_json(data=runner.catch_up())
            if follow:
                stop = threading.Event()

                def _stop(_sig: int, _frame: FrameType | None) -> None:
                    stop.set()

                signal.signal(signal.SIGINT, _stop)
                signal.signal(signal.SIGTERM, _stop)
                runner.follow(stop, interval=interval)
    except ArtisanError as exc:
        raise _fail(exc) from exc
    finally:
        db.close()


@projections_app.command("rebuild")
def rebuild(
    name: str | None = typer.Argument(None, help="one projection; default: all of them"),
    chain_id: int | None = typer.Option(None, help="default: the only indexed chain"),
) -> None:
    """Empty a projection (or all) and replay it from the first event."""
    from artisan.projections import admin
    from artisan.storage.database import open_database

    db = open_database(_settings())
    try:
        console.print_json(data=admin.rebuild(db, name, chain_id=chain_id))
    except ArtisanError as exc:
        raise _fail(exc) from exc
    finally:
        db.close()


@projections_app.command("status")
def status(
    chain_id: int | None = typer.Option(None, help="default: the only indexed chain"),
    as_json: bool = typer.Option(False, "--json", help="one JSON object per projection"),
) -> None:
    """Each projection's position, lag behind the event store, and pending reorg."""
    from artisan.projections import admin
    from artisan.storage.database import open_database

    db = open_database(_settings())
    try:
        rows = admin.status(db, chain_id)
    except ArtisanError as exc:
        raise _fail(exc) from exc
    finally:
        db.close()
    if as_json:
        for r in rows:
            console.print_json(
                data={
                    "name": r.name,
                    "chain_id": r.chain_id,
                    "last_position": r.last_position,
                    "head_position": r.head_position,
                    "lag": r.lag,
                    "reorg_pending": r.reorg_pending,
                    "last_block": r.last_block,
                }
            )
        return
    table = Table("projection", "position", "head", "lag", "reorg pending", "last block")
    for r in rows:
        table.add_row(
            r.name,
            str(r.last_position),
            str(r.head_position),
            str(r.lag),
            "yes" if r.reorg_pending else "no",
            "-" if r.last_block is None else str(r.last_block),
        )
    console.print(table)


def verify_command(
    block: int | None = typer.Option(
        None, help="default: the lowest block every projection reached"
    ),
) -> None:
    """Re-read the chain without the event store, recompute the projections in memory and
    compare digests, costs and reward roots; print each mismatch, exit 1 on any."""
    from artisan.audit import chain_events
    from artisan.chain.contracts import Deployment
    from artisan.chain.protocol import load_artifacts
    from artisan.projections import admin
    from artisan.projections.verify import verify
    from artisan.storage.database import open_database

    settings = _settings()
    if not settings.rpc_url:
        console.print("[red]ARTISAN_RPC_URL is not set: verify re-reads a running chain[/red]")
        raise typer.Exit(2)
    db = open_database(settings)
    try:
        deployment = Deployment.load(settings.deployment_file)
        reached = [r.last_block for r in admin.status(db, deployment.chain_id)]
        if block is None:
            if any(b is None for b in reached) or not reached:
                console.print("[red]the projections have applied nothing yet[/red]")
                raise typer.Exit(2)
            block = min(b for b in reached if b is not None)
        events = chain_events(
            settings.rpc_url, deployment, load_artifacts(settings.artifacts_dir), block
        )
        mismatches = verify(db, events, block=block)
    except ArtisanError as exc:
        raise _fail(exc) from exc
    finally:
        db.close()
    for m in mismatches:
        console.print(f"[red]MISMATCH[/red] {m}")
    if mismatches:
        raise typer.Exit(1)
    console.print(f"verified {len(events)} events up to block {block}: no mismatch")
