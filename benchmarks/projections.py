"""Replay of every projection from an event store of a million events (issue 5's benchmark).

Run: ``.venv/bin/python -m benchmarks.projections [--events N] [--batch N] [--workers N]
[--url URL] [--check]``. The events are a synthetic protocol history
(``artisan.testing.synthetic``: models, remixes, executions priced by the metering rule with
their settlements, ratings, signals, epochs, claims) written through the event store's own
append path into a scratch database, which is analyzed and then replayed by the runner's own
catch-up from position 0, timed: every projection, on ``--workers`` connections, reader indexes
built at the end included. The server is ``--url``, else the configured one, else an embedded
Postgres in a temporary directory. ``--check`` also replays the events in memory and compares
every digest (slow). The final line is JSON: ``{"events": N, "replay_events_per_s": N, ...}``
with, beside the rate, the CPU seconds of this process and (when the server runs on this
machine) of the server during the replay, and each projection's steps, seconds and CPU seconds
of this process. On a shared machine compare CPU seconds and ratios, not only wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from artisan.audit import digest
from artisan.audit.verify import replay
from artisan.config import load_settings
from artisan.projections.events import from_rows
from artisan.projections.registry import ALL
from artisan.projections.runner import DEFAULT_WORKERS, Runner
from artisan.storage.database import Database, start_embedded
from artisan.storage.migrations import migrate
from artisan.testing.seed import SeedWriter
from artisan.testing.synthetic import HistoryGenerator

CHAIN_ID = 31337


@contextmanager
def scratch_database(url: str | None) -> Iterator[Database]:
    """A fresh database with the schema applied, dropped afterwards."""
    with tempfile.TemporaryDirectory(prefix="artisan-bench-") as tmp:
        server = Database(url) if url else start_embedded(Path(tmp))
        name = f"artisan_bench_{secrets.token_hex(4)}"
        with psycopg.connect(server.url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        info = psycopg.conninfo.conninfo_to_dict(server.url)
        info["dbname"] = name
        db = Database(psycopg.conninfo.make_conninfo(**info))  # type: ignore[arg-type]
        try:
            migrate(db)
            yield db
        finally:
            with psycopg.connect(server.url, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
            server.close()


def process_cpu() -> float:
    """CPU seconds of this process so far (every thread, user and system)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def server_processes(conn: psycopg.Connection[Any]) -> int | None:
    """The server's postmaster pid when it runs on this machine and its files are readable."""
    try:
        row = conn.execute("SHOW data_directory").fetchone()
        if row is None:
            return None
        with open(Path(str(row[0])) / "postmaster.pid") as pid_file:
            return int(pid_file.readline())
    except (OSError, ValueError, psycopg.Error):
        return None  # a remote server, or one we may not look into


def server_cpu(postmaster: int | None) -> float | None:
    """CPU seconds of the server: the postmaster, its live children and its reaped ones."""
    if postmaster is None:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    try:
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as stat_file:
                    fields = stat_file.read().rsplit(")", 1)[1].split()
            except OSError:
                continue  # exited meanwhile
            if int(entry) == postmaster:  # utime, stime, and those of reaped children
                total += sum(int(f) for f in fields[11:15])
            elif int(fields[1]) == postmaster:
                total += int(fields[11]) + int(fields[12])
    except OSError:
        return None
    return total / ticks


def load(db: Database, events: int, keep: bool) -> tuple[int, Counter[str], list[object], float]:
    """Write at least ``events`` events; (count, per name, rows if kept, seconds)."""
    gen = HistoryGenerator(2024, chain_id=CHAIN_ID, accounts=400)
    counts: Counter[str] = Counter()
    kept: list[object] = []
    started, written = time.perf_counter(), 0
    with SeedWriter(db, CHAIN_ID) as writer:
        while written < events:
            blocks = [gen.next_block(txs=40) for _ in range(50)]
            tip = blocks[-1].header.number
            written += writer.append([(b.header, b.rows) for b in blocks], tip - 64)
            for b in blocks:
                counts.update(r.event_name or "" for r in b.rows)
                if keep:
                    kept.extend(b.rows)
    return written, counts, kept, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=100_000, help="positions per transaction")
    parser.add_argument(
        "--workers", type=int, default=DEFAULT_WORKERS, help="connections replaying at once"
    )
    parser.add_argument("--url", default=None, help="a Postgres server URL to make a database on")
    parser.add_argument("--check", action="store_true", help="compare digests with memory")
    parser.add_argument(
        "--only", default="", help="comma-separated projection names (default: all of them)"
    )
    args = parser.parse_args()
    url = args.url or load_settings(dev=True).database_url or None
    with scratch_database(url) as db:
        total, counts, kept, load_s = load(db, args.events, args.check)
        print(
            f"loaded {total} events in {load_s:.1f} s: {dict(counts.most_common())}",
            file=sys.stderr,
        )
        with db.connect(autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
        with db.connect() as conn:
            server = server_processes(conn)
        server_before, cpu_before = server_cpu(server), process_cpu()
        started = time.perf_counter()
        chosen = [p for p in ALL if not args.only or p.name in args.only.split(",")]
        with Runner(db, CHAIN_ID, chosen, batch_size=args.batch, workers=args.workers) as runner:
            runner.catch_up()
            replay_s = time.perf_counter() - started
            # Before the runner's sessions end: a backend's CPU time is only added to the
            # postmaster's once it has been reaped.
            cpu_s, server_after = process_cpu() - cpu_before, server_cpu(server)
        result: dict[str, object] = {
            "events": total,
            "replay_events_per_s": round(total / replay_s),
            "replay_s": round(replay_s, 2),
            "python_cpu_s": round(cpu_s, 2),
            "server_cpu_s": (
                None
                if server_before is None or server_after is None
                else round(server_after - server_before, 2)
            ),
            "projections": {
                name: {
                    "steps": cost.steps,
                    "seconds": round(cost.seconds, 2),
                    "python_cpu_s": round(cost.cpu_seconds, 2),
                }
                for name, cost in runner.costs.items()
            },
            "workers": args.workers,
            "batch_positions": args.batch,
            "load_events_per_s": round(total / load_s),
            "server": "configured" if url else "embedded",
        }
        if args.check:
            tip = max(row.block_number for row in kept)  # type: ignore[attr-defined]
            twins = replay(from_rows(kept))  # type: ignore[arg-type]
            with db.connect() as conn:
                result["digests_match"] = all(
                    digest.db_digest(conn, p, tip) == digest.memory_digest(p, twins[p.name], tip)
                    for p in chosen
                )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
