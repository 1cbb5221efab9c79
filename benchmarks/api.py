"""The GraphQL API under concurrent clients over HTTP, against the same reads in plain SQL.

Run: ``.venv/bin/python -m benchmarks.api [--executions N] [--clients N] [--requests N]
[--warmup N] [--seconds S] [--url URL] [--only KIND,..]``
(``make bench-api``). A synthetic protocol history (``artisan.testing.synthetic``: models,
remixes, term changes, signals, ratings, and blocks of 500 batched executions with their
settlements) of at least ``--executions`` executions (default 1,000,000) is written through the
event store's append path into a scratch database (``benchmarks.projections``), every projection
is replayed by the runner, and ``artisan api serve`` is started on it as a subprocess: the real
server with its own pool and settings. The Postgres server is ``--url``, else the configured
one, else an embedded one in a temporary directory.

Each query kind is sent by ``--clients`` (default 8) concurrent HTTP clients (httpx, one event
loop, closed loop: ``artisan.testing.load``), ``--warmup`` untimed requests first, then
``--requests`` (default 2,000) timed ones, each run cut at ``--seconds``; then 200 by one client
alone (the latency without queueing). Each request is one query text with its parameter as
a variable, as a dashboard sends it. Parameters are sampled from the data: executions, and
models and accounts as often as they execute:

- ``by_id``: an execution by id with its settlements and its model;
- ``model_page``: one model's last 100 executions (block descending) with their settlements;
- ``first_keyset``, ``deep_keyset``: ``executionsConnection(first: 100)`` without a cursor, and
  after the cursor of row 500,000 of the id order (consecutive pages from there on);
- ``deep_skip``: the same deep page by ``skip``, which the API refuses (the message is
  recorded); its SQL OFFSET is timed on 16 requests, to show why;
- ``top_curated``: the 100 models with the highest curation score as of the head (recorded
  under ``missing`` if the schema has no ``curationScores``);
- ``account``: an account's balances and its last 100 executions, in one request.
- ``lineage_5``: an execution's lineage both ways, 5 steps (``lineage``); the baseline is the
  same recursive walk, one statement per direction.

The baseline is the same answer in SQL, sent through a psycopg pool by as many concurrent
clients: one statement per kind (two for ``account``), autocommit, the head block read once
(nothing moves during the run), selecting only what the answer shows. The API also reads the
head, opens a read-only transaction and selects whole rows per request: that is part of what
is measured. One parameter per kind is answered both ways and compared (``answers_match``).

The final line is JSON keyed by query kind: the API's ``p50_ms``, ``p99_ms``, ``rps``; the
baseline's ``sql_p50_ms``, ``sql_p99_ms``, ``sql_rps``; ``overhead_vs_sql`` = API p50 / SQL p50
(both with ``--clients`` at once); ``statements_per_request`` (the API's own count, read from
``extensions.sqlStatements`` with ``X-Artisan-Trace: 1``); ``single_client_p50_ms`` (both);
``cpu_ms_per_request`` of the API process, of this client process and of Postgres (when it runs
here); ``sql_seq_scans`` (tables the baseline's plans read whole: a missing index);
``refused``, ``missing``; ``goals`` (p99 <= 25 ms, overhead <= 2.0, deep keyset p99 within 1.5x
of the first page's); the data set's size, build times and ``cpu_count``. Client, server and
Postgres share this machine's CPUs: on a small machine the client's CPU is part of every
latency, and the load average before and after (``loadavg_1m``) shows what else ran.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, LiteralString

import httpx
import orjson
import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from artisan.config import load_settings
from artisan.graphql.connections import encode
from artisan.graphql.reads import Order
from artisan.projections.curation_scores import DEFAULT_HALF_LIFE
from artisan.projections.lineage_queries import walk_sql
from artisan.projections.runner import Runner
from artisan.storage.database import Database
from artisan.testing import load
from artisan.testing.load import CpuMeter, Served, Timing, drive
from artisan.testing.seed import SeedWriter
from artisan.testing.synthetic import DEFAULT_MIX, HistoryGenerator
from benchmarks.projections import process_cpu, scratch_database, server_cpu, server_processes

CHAIN_ID = 31337
ACCOUNTS = 400
BATCH = 500  # executions per batch block (one recordBatch-like transaction)
ROUNDS_PER_APPEND = 25  # rounds (a block of mixed actions, then a batch block) per append
# More curation than the default mix, so that the ranking aggregates thousands of signals.
MIX = {**DEFAULT_MIX, "signal": 32, "unsignal": 8}
DEEP_ROW = 500_000
DEEP_PAGES = 256  # consecutive pages from the deep row on: the deep keyset's parameters
SKIP_REQUESTS = 16  # the SQL OFFSET baseline of the deep page is slow: a few suffice
SINGLE = 200  # requests per kind with one client alone: the latency without queueing
P99_GOAL_MS, OVERHEAD_GOAL, DEEP_GOAL = 25.0, 2.0, 1.5


# The baseline: what each answer needs, as of the head block, and nothing more.
SQL_BY_ID = """
SELECT x.execution_id, x.cost, x.credit_recipients, x.credit_roles, x.credit_amounts,
       m.model_id, m.owner, m.fixed_price
FROM proj_executions x
LEFT JOIN proj_models m ON m.model_id = x.model_id AND m.block_range @> %(block)s::bigint
WHERE x.execution_id = %(p)s AND x.block_number <= %(block)s"""
SQL_MODEL_PAGE = """
SELECT execution_id, cost, block_number, credit_recipients, credit_roles, credit_amounts
FROM proj_executions WHERE model_id = %(p)s::bigint AND block_number <= %(block)s
ORDER BY block_number DESC, execution_id DESC LIMIT 100"""
SQL_FIRST_KEYSET = """
SELECT execution_id, cost FROM proj_executions WHERE block_number <= %(block)s
ORDER BY execution_id LIMIT 101"""
SQL_DEEP_KEYSET = """
SELECT execution_id, cost FROM proj_executions
WHERE block_number <= %(block)s AND execution_id > %(p)s ORDER BY execution_id LIMIT 101"""
SQL_DEEP_SKIP = """
SELECT execution_id, cost FROM proj_executions WHERE block_number <= %(block)s
ORDER BY execution_id LIMIT 100 OFFSET %(p)s::bigint"""
SQL_TOP_CURATED = """
SELECT target,
    sum(CASE WHEN (%(block)s - signal_block) / %(half)s >= 256 THEN 0
             ELSE div(weight, power(2::numeric, (%(block)s - signal_block) / %(half)s)) END)
        AS score,
    count(*) FILTER (WHERE kind = 0), count(*) FILTER (WHERE kind = 1),
    count(*) FILTER (WHERE kind = 2), count(*) FILTER (WHERE kind = 3),
    count(DISTINCT curator)
FROM proj_signals
WHERE active AND block_range @> %(block)s::bigint AND target_kind = 0
GROUP BY target ORDER BY score DESC, target LIMIT 100"""
SQL_ACCOUNT = """
SELECT account, escrow, owed, spent, earned FROM proj_balances
WHERE account = %(p)s AND block_range @> %(block)s::bigint"""
SQL_ACCOUNT_EXECUTIONS = """
SELECT execution_id, cost, block_number FROM proj_executions
WHERE user_address = %(p)s AND block_number <= %(block)s
ORDER BY block_number DESC, execution_id DESC LIMIT 100"""

# Lineage of an execution, both ways, 5 steps: the walk the API runs (``walk_sql``), one
# statement per direction, with the API's node cap.
LINEAGE_DEPTH, LINEAGE_CAP = 5, 4000
SQL_LINEAGE: tuple[LiteralString, ...] = tuple(
    walk_sql(w).replace("%(node)s", "%(p)s").replace("%(depth)s", str(LINEAGE_DEPTH))
    .replace("%(cap)s", str(LINEAGE_CAP + 1))
    for w in ("upstream", "downstream")
)  # fmt: skip

# The API's requests, as a dashboard sends them: one query text, the sampled parameter as a
# variable (so the server parses and validates each text once).
GQL_BY_ID = (
    "query($p: ID!) { execution(id: $p) { id cost settlements { recipient role amount }"
    " model { id owner fixedPrice } } }"
)
GQL_MODEL_PAGE = (
    "query($p: BigInt) { executions(first: 100, where: {modelId: $p}, orderBy: blockNumber,"
    " orderDirection: desc) { id cost blockNumber settlements { recipient role amount } } }"
)
GQL_KEYSET = (
    "query($p: String) { executionsConnection(first: 100, after: $p) { edges { cursor"
    " node { id cost } } pageInfo { hasNextPage endCursor } } }"
)
GQL_LINEAGE = (
    "query($p: String!) { lineage(id: $p, direction: BOTH, depth: 5) { nodes { kind id }"
    " edges { relation src dst depth } } }"
)
GQL_DEEP_SKIP = "query($p: Int) { executions(first: 100, skip: $p) { id cost } }"
GQL_TOP_CURATED = (
    "{ curationScores(first: 100, orderBy: score, orderDirection: desc,"
    " where: {targetKind: 0}) { id targetKind target score likes stars forks cites curators } }"
)
GQL_ACCOUNT = (
    "query($p: ID!, $u: Bytes) { account(id: $p) { id escrow owed spent earned }"
    " executions(first: 100, where: {user: $u}, orderBy: blockNumber,"
    " orderDirection: desc) { id cost blockNumber } }"
)


def _request(query: str, **variables: Any) -> tuple[str, dict[str, Any]]:
    return query, variables


Rows = list[tuple[Any, ...]]
Pool = AsyncConnectionPool[AsyncConnection[Any]]


class BenchError(Exception):
    """The API answered a benchmark request with an error it should not have."""


@dataclass(frozen=True, slots=True)
class Probe:
    """One query kind: its GraphQL request and its SQL baseline for a parameter, and the
    strings of each answer that must agree (ids, amounts, scores)."""

    name: str
    params: Sequence[str]
    graphql: Callable[[str], tuple[str, dict[str, Any]]]  # (query, variables)
    statements: tuple[LiteralString, ...]  # the baseline: in turn, on one connection
    from_api: Callable[[dict[str, Any]], list[str]]
    from_sql: Callable[[list[Rows]], list[str]]
    requests: int | None = None  # None: --requests


# -- the data set ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Built:
    events: int
    executions: int
    generate_load_s: float
    replay_s: float


def build(db: Database, executions: int) -> Built:
    """Write a history of at least ``executions`` executions, replay every projection."""
    gen = HistoryGenerator(2024, chain_id=CHAIN_ID, accounts=ACCOUNTS, mix=MIX)
    started, events, made = time.perf_counter(), 0, 0
    with SeedWriter(db, CHAIN_ID) as writer:
        while made < executions:
            blocks = []
            for _ in range(ROUNDS_PER_APPEND):
                if made >= executions:
                    break
                for block in (gen.next_block(txs=40), gen.next_block(executions=BATCH)):
                    blocks.append(block)
                    made += sum(row.event_name == "InferenceExecuted" for row in block.rows)
            tip = blocks[-1].header.number
            events += writer.append([(b.header, b.rows) for b in blocks], tip - 64)
            print(f"  {made} executions, {events} events", file=sys.stderr, end="\r")
    generate_load_s = time.perf_counter() - started
    print(f"\nwrote {events} events in {generate_load_s:.1f} s", file=sys.stderr)
    with db.connect(autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    started = time.perf_counter()
    with Runner(db, CHAIN_ID) as runner:
        runner.catch_up()
    with db.connect(autocommit=True) as conn:  # the visibility map and statistics readers use
        conn.execute("VACUUM ANALYZE")
    replay_s = time.perf_counter() - started
    print(f"replayed every projection in {replay_s:.1f} s", file=sys.stderr)
    return Built(events, made, generate_load_s, replay_s)


@dataclass(frozen=True, slots=True)
class Samples:
    executions: list[str]
    models: list[str]
    accounts: list[str]
    deep_cursors: list[str]  # the deep keyset's ``after`` values (execution ids)
    deep_row: int
    sizes: dict[str, int]


def sample(conn: psycopg.Connection[Any], head: int, count: int) -> Samples:
    """Parameters drawn from the data (models and accounts as often as they execute)."""
    conn.execute("SELECT setseed(0.2024)")
    drawn = conn.execute(
        "SELECT execution_id, model_id, user_address FROM proj_executions"
        " WHERE block_number <= %s ORDER BY random() LIMIT %s",
        (head, count),
    ).fetchall()
    sizes: dict[str, int] = {}
    for name, query in (
        ("executions", "SELECT count(*) FROM proj_executions WHERE block_number <= %(h)s"),
        ("models", "SELECT count(*) FROM proj_models WHERE block_range @> %(h)s::bigint"),
        ("signals_active", "SELECT count(*) FROM proj_signals"
                           " WHERE active AND block_range @> %(h)s::bigint"),
        ("accounts", "SELECT count(*) FROM proj_balances WHERE block_range @> %(h)s::bigint"),
    ):  # fmt: skip
        row = conn.execute(query, {"h": head}).fetchone()
        sizes[name] = int(row[0]) if row else 0
    deep_row = min(DEEP_ROW, sizes["executions"] // 2)
    pages = max(1, min(DEEP_PAGES, (sizes["executions"] - deep_row) // 100 - 1))
    walk = conn.execute(
        "SELECT execution_id FROM proj_executions WHERE block_number <= %s"
        " ORDER BY execution_id OFFSET %s LIMIT %s",
        (head, deep_row - 1, pages * 100),
    ).fetchall()
    return Samples(
        executions=[str(r[0]) for r in drawn],
        models=[str(r[1]) for r in drawn],
        accounts=[str(r[2]) for r in drawn],
        deep_cursors=[str(r[0]) for r in walk[::100]],
        deep_row=deep_row,
        sizes=sizes,
    )


# -- what each answer shows -----------------------------------------------------------------


def _ids(items: list[dict[str, Any]]) -> list[str]:
    return [str(item["id"]) for item in items]


def _api_by_id(data: dict[str, Any]) -> list[str]:
    x = data["execution"]
    return [x["id"], x["cost"], *(s["amount"] for s in x["settlements"]), x["model"]["id"],
            x["model"]["owner"]]  # fmt: skip


def _sql_by_id(results: list[Rows]) -> list[str]:
    x = results[0][0]
    return [str(v) for v in (x[0], x[1], *x[4], x[5], x[6])]


def _api_edges(data: dict[str, Any]) -> list[str]:
    return [str(e["node"]["id"]) for e in data["executionsConnection"]["edges"]]


def _sql_ids(results: list[Rows]) -> list[str]:
    return [str(r[0]) for r in results[0][:100]]


def _api_account(data: dict[str, Any]) -> list[str]:
    a = data["account"]
    return [a["escrow"], a["spent"], *_ids(data["executions"])]


def _sql_account(results: list[Rows]) -> list[str]:
    a = results[0][0]
    return [str(a[1]), str(a[3]), *(str(r[0]) for r in results[1])]


def _api_lineage(data: dict[str, Any]) -> list[str]:
    return sorted(f"{e['relation']} {e['src']} {e['dst']}" for e in data["lineage"]["edges"])


def _sql_lineage(results: list[Rows]) -> list[str]:
    return sorted({f"{r[0]} {r[2]} {r[4]}" for rows in results for r in rows})


def probes(s: Samples) -> list[Probe]:
    return [
        Probe("by_id", s.executions, lambda p: _request(GQL_BY_ID, p=p), (SQL_BY_ID,),
              _api_by_id, _sql_by_id),
        Probe("model_page", s.models, lambda p: _request(GQL_MODEL_PAGE, p=p),
              (SQL_MODEL_PAGE,), lambda d: _ids(d["executions"]), _sql_ids),
        Probe("first_keyset", [""], lambda _p: _request(GQL_KEYSET, p=None),
              (SQL_FIRST_KEYSET,), _api_edges, _sql_ids),
        Probe("deep_keyset", s.deep_cursors,
              lambda p: _request(GQL_KEYSET, p=encode(Order(None, False), [p])),
              (SQL_DEEP_KEYSET,), _api_edges, _sql_ids),
        Probe("deep_skip", [str(s.deep_row)], lambda p: _request(GQL_DEEP_SKIP, p=int(p)),
              (SQL_DEEP_SKIP,), lambda d: _ids(d["executions"]), _sql_ids,
              requests=SKIP_REQUESTS),
        Probe("top_curated", [""], lambda _p: _request(GQL_TOP_CURATED),
              (SQL_TOP_CURATED,), lambda d: [str(c["score"]) for c in d["curationScores"]],
              lambda r: [str(row[1]) for row in r[0]]),
        Probe("account", s.accounts, lambda p: _request(GQL_ACCOUNT, p=p, u=p),
              (SQL_ACCOUNT, SQL_ACCOUNT_EXECUTIONS), _api_account, _sql_account),
        Probe("lineage_5", s.executions, lambda p: _request(GQL_LINEAGE, p=p), SQL_LINEAGE,
              _api_lineage, _sql_lineage),
    ]  # fmt: skip


# -- the clients ----------------------------------------------------------------------------


@contextmanager
def api_server(db_url: str) -> Iterator[tuple[Served, int]]:
    """``artisan api serve`` on a free port, once ready: (the server, the head block)."""
    port = load.free_port()
    argv = [sys.executable, "-m", "artisan.cli", "api", "serve", "--port", str(port),
            "--chain-id", str(CHAIN_ID)]  # fmt: skip
    with load.served(argv, port, {**os.environ, "ARTISAN_DATABASE_URL": db_url}) as server:
        yield server, int(load.wait_ready(server, "/ready").json()["block"])


async def ask(
    client: httpx.AsyncClient, request: tuple[str, dict[str, Any]], trace: bool = False
) -> dict[str, Any]:
    headers = {"content-type": "application/json"}
    if trace:
        headers["x-artisan-trace"] = "1"
    query, variables = request
    body = orjson.dumps({"query": query, "variables": variables})
    answer = await client.post("/graphql", content=body, headers=headers)
    parsed: dict[str, Any] = orjson.loads(answer.content)
    if answer.status_code != 200 and "errors" not in parsed:
        raise BenchError(f"HTTP {answer.status_code}: {answer.text[:500]}")
    return parsed


def refusal(body: dict[str, Any]) -> str | None:
    errors = body.get("errors")
    return "; ".join(str(e.get("message")) for e in errors) if errors else None


async def run_sql(
    pool: Pool, statements: Sequence[LiteralString], params: dict[str, Any]
) -> list[Rows]:
    async with pool.connection() as conn:
        results = []
        for statement in statements:
            cur = await conn.execute(statement, params)
            results.append(await cur.fetchall())
        return results


def seq_scans(conn: psycopg.Connection[Any], probe: Probe, params: dict[str, Any]) -> list[str]:
    """The tables a baseline's plans read whole (an index the query lacks)."""
    found: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        if node.get("Node Type") == "Seq Scan":
            found.append(str(node["Relation Name"]))
        for child in node.get("Plans", []):
            walk(child)

    for statement in probe.statements:
        row = conn.execute("EXPLAIN (FORMAT JSON) " + statement, params).fetchone()
        if row:
            walk(row[0][0]["Plan"])
    return sorted(set(found))


@dataclass
class Results:
    api: dict[str, Timing] = field(default_factory=dict)
    sql: dict[str, Timing] = field(default_factory=dict)
    api_single: dict[str, Timing] = field(default_factory=dict)
    sql_single: dict[str, Timing] = field(default_factory=dict)
    statements: dict[str, int | None] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    answers_match: dict[str, bool] = field(default_factory=dict)
    seq_scans: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Plan:
    """How hard each kind is driven: ``clients`` at once, ``requests`` timed after ``warmup``
    untimed, each run cut at ``seconds``; then ``SINGLE`` requests by one client alone."""

    clients: int
    requests: int
    warmup: int
    seconds: float


async def _phases(
    call: Callable[[str], Awaitable[None]], params: Sequence[str], total: int, plan: Plan,
    meters: dict[str, CpuMeter],
) -> tuple[Timing, Timing]:  # fmt: skip
    """(``plan.clients`` at once, one client alone), after a warm-up."""
    await drive(call, params, plan.clients, min(plan.warmup, total), seconds=plan.seconds)
    crowd = await drive(call, params, plan.clients, total, meters, plan.seconds)
    alone = await drive(call, params, 1, min(SINGLE, total), meters, plan.seconds)
    return crowd, alone


async def measure(
    db: Database, server: Served, head: int, kinds: list[Probe], plan: Plan
) -> Results:
    """Each kind: the API over HTTP, then the SQL baseline through a pool."""
    out = Results()
    fixed = {"block": head, "half": DEFAULT_HALF_LIFE}
    with db.connect() as conn:
        for probe in kinds:
            out.seq_scans[probe.name] = seq_scans(conn, probe, {**fixed, "p": probe.params[0]})
        postmaster = server_processes(conn)
    meters: dict[str, CpuMeter] = {
        "server": lambda: load.pid_cpu(server.process.pid), "client": process_cpu,
        "db": lambda: server_cpu(postmaster),
    }  # fmt: skip
    n = plan.clients
    pool: Pool = AsyncConnectionPool(
        db.url, min_size=n, max_size=n, open=False, kwargs={"autocommit": True}
    )
    await pool.open(wait=True)
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    try:
        async with httpx.AsyncClient(base_url=server.base_url, limits=limits, timeout=60) as client:
            for probe in kinds:
                total = probe.requests or plan.requests
                print(f"{probe.name}: {total} requests", file=sys.stderr)

                async def api_call(p: str, probe: Probe = probe) -> None:
                    body = await ask(client, probe.graphql(p))
                    if "errors" in body:
                        raise BenchError(f"{probe.name}: {refusal(body)}")

                async def sql_call(p: str, probe: Probe = probe) -> None:
                    await run_sql(pool, probe.statements, {**fixed, "p": p})

                first = probe.params[0]
                traced = await ask(client, probe.graphql(first), trace=True)
                refused = refusal(traced)
                if refused is None:
                    out.statements[probe.name] = traced.get("extensions", {}).get("sqlStatements")
                    rows = await run_sql(pool, probe.statements, {**fixed, "p": first})
                    out.answers_match[probe.name] = _agree(probe, traced["data"], rows)
                    out.api[probe.name], out.api_single[probe.name] = await _phases(
                        api_call, probe.params, total, plan, meters
                    )
                elif probe.name == "top_curated":
                    out.missing[probe.name] = refused  # not in the schema yet
                else:
                    out.refused[probe.name] = refused
                out.sql[probe.name], out.sql_single[probe.name] = await _phases(
                    sql_call, probe.params, total, plan, meters
                )
    finally:
        await pool.close()
    return out


def _agree(probe: Probe, data: dict[str, Any], rows: list[Rows]) -> bool:
    try:
        api, sql = probe.from_api(data), probe.from_sql(rows)
    except (KeyError, IndexError, TypeError) as exc:
        print(f"{probe.name}: cannot compare the answers: {exc!r}", file=sys.stderr)
        return False
    if api != sql:
        print(f"{probe.name}: the API and SQL answers differ:\n  api {api[:6]}\n  sql {sql[:6]}",
              file=sys.stderr)  # fmt: skip
    return api == sql


# -- the report -----------------------------------------------------------------------------


def report(r: Results, kinds: list[Probe]) -> dict[str, Any]:
    names = [p.name for p in kinds]

    def of(timings: dict[str, Timing], get: Callable[[Timing], Any]) -> dict[str, Any]:
        return {n: get(timings[n]) if n in timings else None for n in names}

    def cpu(timings: dict[str, Timing], meter: str) -> dict[str, Any]:
        return of(timings, lambda t: t.cpu_ms_per_call(meter))

    p50, p99 = of(r.api, lambda t: t.percentile(0.5)), of(r.api, lambda t: t.percentile(0.99))
    sql_p50 = of(r.sql, lambda t: t.percentile(0.5))
    overhead = {n: round(p50[n] / sql_p50[n], 2) if p50[n] and sql_p50[n] else None
                for n in names}  # fmt: skip
    deep, first = p99.get("deep_keyset"), p99.get("first_keyset")
    deep_ratio = round(deep / first, 2) if deep and first else None
    measured = [n for n in names if n in r.api]
    return {
        "p50_ms": p50,
        "p99_ms": p99,
        "rps": of(r.api, lambda t: t.rps),
        "overhead_vs_sql": overhead,
        "statements_per_request": {n: r.statements.get(n) for n in names},
        "sql_p50_ms": sql_p50,
        "sql_p99_ms": of(r.sql, lambda t: t.percentile(0.99)),
        "sql_rps": of(r.sql, lambda t: t.rps),
        "sql_statements_per_request": {p.name: len(p.statements) for p in kinds},
        "requests_timed": of(r.api, lambda t: len(t.latencies_ms)),
        "sql_requests_timed": of(r.sql, lambda t: len(t.latencies_ms)),
        "single_client_p50_ms": of(r.api_single, lambda t: t.percentile(0.5)),
        "sql_single_client_p50_ms": of(r.sql_single, lambda t: t.percentile(0.5)),
        "cpu_ms_per_request": {
            "api_server": cpu(r.api, "server"),
            "api_client": cpu(r.api, "client"),
            "api_db": cpu(r.api, "db"),
            "sql_client": cpu(r.sql, "client"),
            "sql_db": cpu(r.sql, "db"),
        },
        "refused": r.refused,
        "missing": r.missing,
        "answers_match": r.answers_match,
        "sql_seq_scans": {n: v for n, v in r.seq_scans.items() if v},
        "goals": {
            "p99_le_25ms": {n: p99[n] <= P99_GOAL_MS for n in measured},
            "overhead_le_2": {n: (overhead[n] or math.inf) <= OVERHEAD_GOAL for n in measured},
            "deep_over_first_keyset_p99": deep_ratio,
            "deep_keyset_within_1_5x": None if deep_ratio is None else deep_ratio <= DEEP_GOAL,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executions", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument("--requests", type=int, default=2000, help="timed requests per kind")
    parser.add_argument("--warmup", type=int, default=200, help="untimed requests per kind")
    parser.add_argument(
        "--seconds", type=float, default=60.0, help="at most this long per run of a kind"
    )
    parser.add_argument("--only", default="", help="comma-separated kinds (default: all)")
    parser.add_argument("--url", default=None, help="a Postgres server URL to make a database on")
    args = parser.parse_args()
    url = args.url or load_settings(dev=True).database_url or None
    with scratch_database(url) as db:
        built = build(db, args.executions)
        started, load_before = time.perf_counter(), os.getloadavg()[0]
        with api_server(db.url) as (server, head):
            with db.connect() as conn:
                samples = sample(conn, head, max(args.requests, args.warmup))
            kinds = [k for k in probes(samples) if not args.only or k.name in args.only.split(",")]
            plan = Plan(args.clients, args.requests, args.warmup, args.seconds)
            results = asyncio.run(measure(db, server, head, kinds, plan))
        measure_s = time.perf_counter() - started
    out = report(results, kinds)
    out.update(
        {
            **samples.sizes,
            "events": built.events,
            "head_block": head,
            "deep_keyset_row": samples.deep_row,
            "clients": args.clients,
            "requests": args.requests,
            "warmup": args.warmup,
            "seconds_cap": args.seconds,
            "cpu_count": os.cpu_count(),
            "loadavg_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            "generate_load_s": round(built.generate_load_s, 1),
            "replay_s": round(built.replay_s, 1),
            "measure_s": round(measure_s, 1),
            "server": "configured" if url else "embedded",
        }
    )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
