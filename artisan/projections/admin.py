"""What the CLI calls: rebuild projections from the start, and report where each stands."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg import sql

from artisan.projections import positions, tracking
from artisan.projections.errors import ProjectionError
from artisan.projections.registry import ALL, named
from artisan.projections.runner import Runner
from artisan.storage.database import Database
from artisan.storage.writer_lock import WriterLockHeld


@dataclass(frozen=True, slots=True)
class ProjectionStatus:
    """One projection's position and how far it trails the event store."""

    name: str
    chain_id: int
    last_position: int
    head_position: int
    lag: int  # live events stored above last_position, not yet applied
    last_reorg_id: int
    reorg_pending: bool  # a newer reorg is recorded and not yet reverted
    last_block: int | None  # block of the last live event applied
    updated_at: datetime | None


def chain_of(db: Database, chain_id: int | None) -> int:
    """``chain_id``, or the one chain the store indexes."""
    if chain_id is not None:
        return chain_id
    with db.connect() as conn:
        only = positions.only_chain(conn)
    if only is None:
        raise ProjectionError("the store holds no chain or several: name the chain id")
    return only


def rebuild(
    db: Database, name: str | None = None, *, chain_id: int | None = None
) -> dict[str, int]:
    """Empty one projection (or all) and replay it from the first event; final positions.

    The reset commits first, in one transaction with the emptied tables. If a runner is
    already following this chain, it replays them itself (its next step finds the reset);
    otherwise this call replays them now.
    """
    chain = chain_of(db, chain_id)
    chosen = named(name)
    with db.connect() as conn, conn.transaction():
        for projection in chosen:
            tables = sql.SQL(", ").join(sql.Identifier(t.name) for t in projection.tables)
            conn.execute(sql.SQL("TRUNCATE {}").format(tables))
            tracking.reset(conn, projection.name)
    try:
        runner = Runner(db, chain, chosen)
    except WriterLockHeld:
        return {p.name: 0 for p in chosen}
    with runner:
        return runner.catch_up()


def status(db: Database, chain_id: int | None = None) -> list[ProjectionStatus]:
    """Every projection's position, lag and pending reorg, in declaration order."""
    chain = chain_of(db, chain_id)
    out: list[ProjectionStatus] = []
    with db.connect() as conn:
        head = positions.head_position(conn, chain)
        newest = positions.newest_reorg(conn, chain)
        for projection in ALL:
            row = conn.execute(
                "SELECT last_position, last_reorg_id, updated_at FROM projection_tracking"
                " WHERE name = %s",
                (projection.name,),
            ).fetchone()
            last, reorg, updated = (0, 0, None) if row is None else row
            lag_row = conn.execute(
                "SELECT count(*) FROM live_events WHERE chain_id = %s AND position > %s",
                (chain, last),
            ).fetchone()
            out.append(
                ProjectionStatus(
                    projection.name,
                    chain,
                    last,
                    head,
                    int(lag_row[0]) if lag_row else 0,
                    reorg,
                    newest > reorg,
                    positions.last_block_applied(conn, chain, last),
                    updated,
                )
            )
    return out
