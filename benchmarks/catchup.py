"""The first projections catch-up on a freshly backfilled store, autovacuum off.

Run: ``.venv/bin/python -m benchmarks.catchup [--events N] [--cap S]`` (``make bench-catchup``).
The bench-indexer chain (real contracts on anvil, at least ``--events`` protocol events, 200,088
by default) is backfilled by the indexer into a scratch database whose bulk tables autovacuum
never touches; then ``run_once`` catches every projection up and is timed. The baseline, in the
same run on the same chain: the same, with the statistics refresh switched off
(``artisan.storage.statistics.refresh`` a no-op), which is what a store backfilled before it
existed gets; every statement of it is cut at ``--cap`` seconds (default 60).
The final line is JSON: ``catch_up_s``, ``without_refresh_s`` (or ``null`` with
``without_refresh_cut`` when cut), ``speedup`` (at least, when cut), the event count.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any
from unittest import mock

import psycopg
from psycopg import sql

from artisan.chain.abi.decoder import ContractAbi
from artisan.chain.anvil import start_anvil
from artisan.config import load_settings
from artisan.indexer.indexer import Indexer
from artisan.indexer.rpc import JsonRpcSource
from artisan.projections.runner import run_once
from artisan.storage import statistics
from artisan.storage.database import Database, open_database
from benchmarks import indexer as chain

BULK_TABLES = ("events", "blocks", "event_removals", "reorgs")


def timed_catch_up(
    server: Database, rpc_url: str, gen: chain.Generator, head: int, cap: int, refresh: bool
) -> tuple[float | None, int]:
    """(seconds of the first catch-up, or None when cut at ``cap``; events stored)."""
    db, name = chain.scratch_database(server)
    try:
        with psycopg.connect(db.url, autocommit=True) as conn:
            conn.execute(sql.SQL("ALTER DATABASE {} SET statement_timeout = {}").format(
                sql.Identifier(name), sql.Literal(f"{cap}s")))  # fmt: skip
            for table in BULK_TABLES:
                conn.execute(sql.SQL("ALTER TABLE {} SET (autovacuum_enabled = false)").format(
                    sql.Identifier(table)))  # fmt: skip
        off: Callable[..., list[str]] = lambda _conn, _tables: []  # noqa: E731
        with mock.patch.object(statistics, "refresh", statistics.refresh if refresh else off):
            d = gen.deployment
            contracts = [ContractAbi(d.addresses()[n], abi) for n, abi in gen.abis.items()]
            with (
                JsonRpcSource(rpc_url) as source,
                Indexer(db, source, d.chain_id, contracts, start_block=d.start_block) as idx,
            ):
                idx.backfill(head)
            with db.connect() as conn:
                row = conn.execute("SELECT count(*) FROM events").fetchone()
            started = time.perf_counter()
            try:
                run_once(db, d.chain_id)
            except psycopg.errors.QueryCanceled:
                return None, int(row[0]) if row else 0
            except Exception as exc:  # the runner wraps it; a cut statement is the cause
                if isinstance(exc.__cause__, psycopg.errors.QueryCanceled) or "cancel" in str(exc):
                    return None, int(row[0]) if row else 0
                raise
            return time.perf_counter() - started, int(row[0]) if row else 0
    finally:
        chain.drop_database(server, name)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--cap", type=int, default=60, help="seconds per statement (baseline)")
    args = parser.parse_args(argv)
    settings = load_settings(dev=True)
    server = open_database(settings)
    out: dict[str, Any] = {}
    try:
        with start_anvil(settings.anvil_bin, chain_id=settings.chain_id) as node:
            gen = chain.Generator(settings, node)
            gen.emit(-(-args.events // chain.EVENTS_PER_ITEM), 250)
            gen.rpc.call("anvil_mine", hex(100))
            head = int(gen.rpc.call("eth_blockNumber"), 16)
            fast, events = timed_catch_up(server, node.rpc_url, gen, head, args.cap, True)
            slow, _ = timed_catch_up(server, node.rpc_url, gen, head, args.cap, False)
            gen.rpc.close()
    finally:
        server.close()
    out = {
        "events": events,
        "catch_up_s": None if fast is None else round(fast, 2),
        "without_refresh_s": None if slow is None else round(slow, 2),
        "without_refresh_cut": slow is None,
        "cap_s": args.cap,
        "speedup": None if fast is None else round((slow or args.cap) / fast, 1),
        "speedup_is_a_lower_bound": slow is None,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
