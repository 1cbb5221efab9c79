"""`artisan audit EXECUTION_ID`: one execution checked against the chain alone (the signed
request, the receipt, the metering, the settlements, the assets) and against our store."""

from __future__ import annotations

from typing import Any

import typer

from artisan.cli.common import console, fail, json_line, settings_or_exit
from artisan.errors import ArtisanError


def audit_command(
    execution_id: str = typer.Argument(..., metavar="EXECUTION_ID", help="0x and 64 hex digits"),
    as_json: bool = typer.Option(False, "--json", help="verdict, checks and evidence as JSON"),
) -> None:
    """PASS or FAIL with every reason: the execution re-read from the node over JSON-RPC and
    recomputed (signature, receipt, rates and terms at its log, cost, credits), then compared
    with our store's row field by field. Exit 1 on FAIL."""
    from psycopg.rows import dict_row

    from artisan.audit.execution import (
        STORED_REQUEST,
        STORED_ROW,
        audit_execution,
        local_assets,
        normalize_id,
    )
    from artisan.audit.execution_reads import ExecutionChain
    from artisan.chain.contracts import Deployment
    from artisan.chain.protocol import load_artifacts
    from artisan.executor.assets import AssetStore
    from artisan.projections import admin
    from artisan.storage.database import open_database

    settings = settings_or_exit()
    if not settings.rpc_url:
        console.print("[red]ARTISAN_RPC_URL is not set: the audit re-reads a running chain[/red]")
        raise typer.Exit(2)
    asset_bytes = local_assets(AssetStore(settings.data_dir / "assets"))

    db = open_database(settings)
    try:
        key = normalize_id(execution_id)
        deployment = Deployment.load(settings.deployment_file)
        with db.connect() as conn, conn.cursor(row_factory=dict_row) as cur:
            stored: dict[str, Any] | None = cur.execute(STORED_ROW, (key,)).fetchone()
            found = cur.execute(STORED_REQUEST, (key,)).fetchone()
        reached = [r.last_block for r in admin.status(db, deployment.chain_id)]
        head = min((b for b in reached if b is not None), default=None)
        artifacts = load_artifacts(settings.artifacts_dir)
        with ExecutionChain(settings.rpc_url, deployment, artifacts) as chain:
            audit = audit_execution(
                chain,
                key,
                stored,
                store_head=head,
                asset_bytes=asset_bytes,
                stored_request=None if found is None else found["args"],
            )
    except ArtisanError as exc:
        raise fail(exc) from exc
    finally:
        db.close()
    if as_json:
        json_line(audit.as_json())
    else:
        colour = "green" if audit.verdict == "PASS" else "red"
        console.print(f"[{colour}]{audit.verdict}[/{colour}] execution {audit.execution_id}")
        for check in audit.checks:
            mark = "[green]ok[/green]  " if check.ok else "[red]FAIL[/red]"
            console.print(f"  {mark} {check.name}: {check.detail}", highlight=False)
    if audit.verdict != "PASS":
        raise typer.Exit(1)
