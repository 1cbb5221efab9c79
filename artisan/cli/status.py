"""`artisan status [--json]`: every process's state, lags and last error, on one screen.

Two sources, both in the database. What each service says of itself: its row in
``service_status`` (state, the age of its last heartbeat, the figures it last measured, its
last error; a row whose heartbeat is older than three of its beats is stale: its process died
or hangs without a word). What the database itself tells: the indexer's checkpoint per chain
(and how long ago it moved), each projection's position and lag behind the chain's event
store (positions and blocks, as ``projections.positions.lags`` measures them for the
projections' own metrics), and the outbox's backlog per chain and operator (executions not in
a batch yet, in a batch not yet final, how long the oldest has waited).

``--json`` prints the same as one JSON object: ``ok``, ``problems`` (one line each),
``services``, ``chains`` (each with its ``projections``) and ``outbox``.

Exit codes: 0 when nothing is wrong; 1 when a service's row is stale, or says ``failed`` while
no other instance of that service runs (a refused twin, or a crashed process its supervisor
restarted, is shown but is no problem), each one named in ``problems`` and in red on the
screen; 1 too when the database cannot be read; 2 for a bad setting.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import typer

from artisan.cli.common import console, fail, json_line, settings_or_exit
from artisan.errors import ArtisanError

if TYPE_CHECKING:
    from artisan.storage.database import Database


def status_command(
    as_json: bool = typer.Option(False, "--json", help="the same, as one JSON object"),
) -> None:
    """Every service's state, heartbeat, figures and last error; the indexer's checkpoints,
    the projections' lags and the outbox's backlog. Exit 1 if a service failed or is stale."""
    from artisan.storage.database import open_database

    db = open_database(settings_or_exit())
    try:
        found = gather(db)
    except ArtisanError as exc:
        raise fail(exc) from exc
    finally:
        db.close()
    if as_json:
        json_line(found)
    else:
        _show(found)
    if not found["ok"]:
        raise typer.Exit(1)


def gather(db: Database) -> dict[str, Any]:
    """What `artisan status` shows, as JSON-ready data."""
    import psycopg

    from artisan.emitter.batches import backlogs
    from artisan.errors import StorageError
    from artisan.projections.positions import lags
    from artisan.projections.registry import ALL
    from artisan.storage.event_reader import checkpoints
    from artisan.storage.service_status import read_all

    names = [p.name for p in ALL]
    try:
        with db.connect() as conn, conn.transaction():  # one snapshot for every figure
            rows = read_all(conn)
            chains = [
                {"chain_id": chain, "indexed_block": block, "checkpoint_age_s": round(age, 1),
                 "projections": [
                     {"name": lag.name, "position": lag.position,
                      "events_behind": lag.events_behind, "blocks_behind": lag.blocks_behind}
                     for lag in lags(conn, chain, names)]}
                for chain, block, age in checkpoints(conn)
            ]  # fmt: skip
            outbox = [
                {"chain_id": b.chain_id, "ledger": b.ledger, "operator": b.operator,
                 "pending": b.pending, "broadcast": b.broadcast,
                 "oldest_pending_s": round(b.oldest_pending_s, 1)}
                for b in backlogs(conn)
            ]  # fmt: skip
    except psycopg.Error as exc:
        raise StorageError(f"cannot read the status from the database: {exc}") from exc
    services = [
        {"service": r.service, "instance": r.instance, "state": r.state, "stale": r.stale,
         "age_s": round(r.age_s, 1), "started_at": _iso(r.started_at),
         "updated_at": _iso(r.updated_at), "details": r.details, "last_error": r.last_error}
        for r in rows
    ]  # fmt: skip
    live = {r.service for r in rows if r.state in ("starting", "running") and not r.stale}
    problems = [
        f"{r.service} {r.instance} failed: {r.last_error or 'no reason given'}"
        for r in rows
        if r.state == "failed" and r.service not in live
    ] + [
        f"{r.service} {r.instance} is stale: its last heartbeat was {r.age_s:.0f} s ago"
        for r in rows
        if r.stale
    ]
    return {"ok": not problems, "problems": problems, "services": services, "chains": chains,
            "outbox": outbox}  # fmt: skip


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _show(found: dict[str, Any]) -> None:
    from rich.table import Table

    services = Table("service", "instance", "state", "heartbeat", "figures", "last error",
                     title="services")  # fmt: skip
    for s in found["services"]:
        state = s["state"]
        if state == "failed" or s["stale"]:
            state = f"[red]{state}{' (stale)' if s['stale'] else ''}[/red]"
        elif state == "running":
            state = f"[green]{state}[/green]"
        services.add_row(s["service"], s["instance"], state, f"{s['age_s']:g} s ago",
                         _figures(s["details"]), s["last_error"] or "")  # fmt: skip
    console.print(services)
    projections = Table("chain", "indexed block", "moved", "projection", "position",
                        "events behind", "blocks behind",
                        title="indexer and projections")  # fmt: skip
    for chain in found["chains"]:
        first = True
        for p in chain["projections"]:
            head = (str(chain["chain_id"]), str(chain["indexed_block"]),
                    f"{chain['checkpoint_age_s']:g} s ago") if first else ("", "", "")  # fmt: skip
            blocks = "-" if p["blocks_behind"] is None else str(p["blocks_behind"])
            projections.add_row(*head, p["name"], str(p["position"]), str(p["events_behind"]),
                                blocks)  # fmt: skip
            first = False
    console.print(projections)
    outbox = Table("chain", "operator", "pending", "broadcast", "oldest pending", title="outbox")
    for b in found["outbox"]:
        outbox.add_row(str(b["chain_id"]), b["operator"], str(b["pending"]), str(b["broadcast"]),
                       f"{b['oldest_pending_s']:g} s")  # fmt: skip
    console.print(outbox)
    for problem in found["problems"]:
        console.print(f"[red]{problem}[/red]")


def _figures(details: dict[str, Any]) -> str:
    """A row's figures in one cell: its plain values (nested ones have tables of their own)."""
    return ", ".join(
        f"{key} {value}"
        for key, value in details.items()
        if key != "heartbeat_s" and value is not None and not isinstance(value, dict | list)
    )
