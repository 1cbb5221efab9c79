"""`artisan report rewards EPOCH`: an epoch's reward report, every number explained, as a
table or CSV (the API's ``rewardReport`` and ``/reports/rewards/{epoch}.csv`` give the same
rows)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from artisan.cli.common import console, fail, settings_or_exit
from artisan.errors import ArtisanError, ConfigError

report_app = typer.Typer(no_args_is_help=True, add_completion=False,
                         help="Reports from the projections.")  # fmt: skip


@report_app.command("rewards")
def rewards(
    epoch: int = typer.Argument(..., min=1, help="a closed epoch"),
    csv_file: str | None = typer.Option(None, "--csv", help="write the lines as CSV here"),
    creators: bool = typer.Option(False, help="the creators' lines (default: the models')"),
) -> None:
    """Per model (fees, remix engagement, rating, weight, share, amount) and per creator
    (models, amount, proof, claimed), with the epoch's roots compared."""
    import asyncio

    from psycopg import AsyncConnection
    from psycopg.rows import dict_row
    from rich.table import Table

    from artisan.projections.rewards import report
    from artisan.storage.database import open_database

    db = open_database(settings_or_exit())

    async def read() -> report.EpochReport:
        async with await AsyncConnection.connect(db.url, row_factory=dict_row) as conn:

            async def fetch(query: str, params: Any) -> list[dict[str, Any]]:
                cur = await conn.execute(query, params)
                return await cur.fetchall()

            return await report.read(fetch, epoch)

    try:
        found = asyncio.run(read())
    except report.NoSuchEpoch as exc:
        raise fail(ConfigError(str(exc))) from exc
    except ArtisanError as exc:
        raise fail(exc) from exc
    finally:
        db.close()
    lines = found.creators if creators else found.models
    if csv_file is not None:
        Path(csv_file).write_text(report.to_csv(lines))
        console.print(f"{len(lines)} lines written to {csv_file}")
        return
    table = Table("model", "owner", "fees", "engagement", "rating", "weight", "share", "amount")
    for m in found.models:
        table.add_row(str(m.model_id), m.owner[:12] + "…", str(m.fees), str(m.engagement),
                      f"{m.rating_ppm / 10_000:.2f}% ({m.rating_count})", str(m.weight),
                      f"{m.share_ppm / 10_000:.2f}%", str(m.amount))  # fmt: skip
    console.print(table)
    claimed = sum(1 for c in found.creators if c.claimed)
    console.print(
        f"epoch {found.epoch} (blocks {found.from_block}..{found.to_block}): pool {found.pool},"
        f" total {found.total} to {len(found.creators)} creators ({claimed} claimed); root"
        f" {found.recomputed_root} {'matches' if found.root_matches else 'DOES NOT MATCH'} the"
        f" stored {found.stored_root} and published {found.published_root}"
    )
