"""`artisan verify`: re-read the chain without the event store and compare."""

from __future__ import annotations

import typer

from artisan.cli.common import console, fail, settings_or_exit
from artisan.cli.projections import reward_config
from artisan.errors import ArtisanError


def verify_command(
    block: int | None = typer.Option(
        None, help="default: the lowest block every projection reached"
    ),
) -> None:
    """Re-read the chain without the event store, recompute the projections in memory and
    compare digests, costs, reward roots (with ARTISAN_REWARD_* set: also each closed epoch's
    root, total and publication on the distributor) and every account's balances with the
    ledger's own state; print each mismatch, exit 1 on any."""
    from artisan.audit.chain_reads import DistributorReader, LedgerReader, chain_events
    from artisan.audit.verify import verify
    from artisan.chain.contracts import Deployment
    from artisan.chain.protocol import load_artifacts
    from artisan.projections import admin
    from artisan.storage.database import open_database

    settings = settings_or_exit()
    if not settings.rpc_url:
        console.print("[red]ARTISAN_RPC_URL is not set: verify re-reads a running chain[/red]")
        raise typer.Exit(2)
    db = open_database(settings)
    try:
        deployment = Deployment.load(settings.deployment_file)
        reached = [r.last_block for r in admin.status(db, deployment.chain_id)]
        rewards = reward_config(settings, deployment)
        if block is None:
            if any(b is None for b in reached) or not reached:
                console.print("[red]the projections have applied nothing yet[/red]")
                raise typer.Exit(2)
            block = min(b for b in reached if b is not None)
        artifacts = load_artifacts(settings.artifacts_dir)
        events = chain_events(settings.rpc_url, deployment, artifacts, block)
        mismatches = verify(
            db,
            events,
            block=block,
            rewards=rewards,
            ledger=LedgerReader(settings.rpc_url, deployment, artifacts),
            distributor=None
            if rewards is None
            else DistributorReader(settings.rpc_url, deployment, artifacts),
        )
    except ArtisanError as exc:
        raise fail(exc) from exc
    finally:
        db.close()
    for m in mismatches:
        console.print(f"[red]MISMATCH[/red] {m}")
    if mismatches:
        raise typer.Exit(1)
    console.print(f"verified {len(events)} events up to block {block}: no mismatch")
