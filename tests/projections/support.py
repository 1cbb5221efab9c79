"""Helpers of the projection tests: databases, writing synthetic chains, digests."""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from collections.abc import Iterator, Sequence

import orjson
import psycopg
from psycopg import sql

from artisan.audit import digest
from artisan.audit.verify import replay
from artisan.projections.abc import Projection
from artisan.projections.events import Event, from_rows
from artisan.projections.registry import ALL
from artisan.storage.chain_records import BlockHeader, EventRow
from artisan.storage.database import Database
from artisan.storage.migrations import migrate
from artisan.testing.seed import SeedWriter
from artisan.testing.synthetic import ADDRESSES, SyntheticBlock, stored

CHAIN_ID = 31337

_TABLES = (
    "event_removals", "events", "blocks", "reorgs", "indexer_checkpoints", "projection_tracking",
    "reward_leaves", "reward_publication_txs", "reward_epochs",
)  # fmt: skip


def fresh_store(server: Database) -> Iterator[Database]:
    """A new database with the current schema, dropped afterwards."""
    name = f"artisan_proj_{secrets.token_hex(4)}"
    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    info = psycopg.conninfo.conninfo_to_dict(server.url)
    info["dbname"] = name
    db = Database(url=psycopg.conninfo.make_conninfo(**info))  # type: ignore[arg-type]
    migrate(db)
    try:
        yield db
    finally:
        with (
            contextlib.suppress(psycopg.Error),
            psycopg.connect(server.url, autocommit=True) as conn,
        ):
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def reset_store(db: Database) -> None:
    """Empty the event store, every projection and the epoch tables.

    DELETE, in foreign-key order, rather than TRUNCATE: on these small tables it is about
    ten times faster, which matters once per hypothesis example.
    """
    tables = [*_TABLES, *(t.name for p in ALL for t in p.tables)]
    with db.connect() as conn, conn.transaction():
        for name in tables:
            conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(name)))


def write(writer: SeedWriter, blocks: Sequence[SyntheticBlock]) -> None:
    writer.append([(b.header, b.rows) for b in blocks])


def events_of(blocks: Sequence[SyntheticBlock]) -> list[Event]:
    return from_rows([row for b in blocks for row in b.rows])


def db_digests(db: Database, block: int) -> dict[str, str]:
    with db.connect() as conn:
        return {p.name: digest.db_digest(conn, p, block) for p in ALL}


def memory_digests(
    blocks: Sequence[SyntheticBlock], block: int, projections: Sequence[Projection] = ALL
) -> dict[str, str]:
    twins = replay(events_of(blocks))
    return {p.name: digest.memory_digest(p, twins[p.name], block) for p in projections}


def custom_blocks(
    per_block: Sequence[Sequence[tuple[str, dict[str, object]]]], seed: str = "custom"
) -> list[SyntheticBlock]:
    """Blocks 1, 2, ... holding exactly the given (event name, arguments), stored as the
    decoder stores them."""
    out: list[SyntheticBlock] = []
    parent = "0x" + "00" * 32
    for number, block_events in enumerate(per_block, start=1):
        block_hash = "0x" + hashlib.sha256(f"{seed}:{number}".encode()).hexdigest()
        header = BlockHeader(number, block_hash, parent, 1_700_000_000 + 12 * number)
        rows = [
            EventRow(
                CHAIN_ID, number, block_hash, header.timestamp,
                "0x" + hashlib.sha256(f"{block_hash}:{i}".encode()).hexdigest(), i, i,
                ADDRESSES["Curation"], name, orjson.dumps(stored(args)).decode(), [], "0x",
            )
            for i, (name, args) in enumerate(block_events)
        ]  # fmt: skip
        out.append(SyntheticBlock(header, rows))
        parent = block_hash
    return out
