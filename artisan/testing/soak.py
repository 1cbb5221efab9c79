"""A bounded soak (`make soak MINUTES=N`): the whole system at a steady load for N minutes,
then every execution it accepted checked on chain and in the projections.

The system is the simulation's (``simulation.world``: anvil behind the proxy, here with no
faults, the indexer, the projections, two executors, the API, each an `artisan` process of its
own). Meanwhile: signed executions at a steady rate through the executors' HTTP API
(``simulation.execute_one``: chains of outputs fed back as inputs, mixed priorities, each answer
kept as ground truth); GraphQL readers, each a closed loop over a few queries with a pause;
GraphQL subscribers to ``executions`` (graphql-transport-ws), reconnecting when the API
restarts; a block a second; a reorg every ``--reorg-every`` seconds (depth 1 to 10: anvil
loses contract code in deeper ones on a long chain, see ``simulation.ANVIL_SAFE_REORG``) and a
SIGKILL and restart of one service every ``--restart-every`` seconds (a tenth of the soak, at
least 60), in turn. Every ``--sample-every`` seconds the resident memory and open
descriptors of each service and of anvil are read from /proc (``process_samples``), and the
database's connections from ``pg_stat_activity``.

Then the load stops, the system settles and the simulation's checks run (``simulation.settle``
and ``check``), and every accepted execution must be in ``proj_executions``. The final line is
one JSON object: throughput and p50/p99 latencies of executions and reads, subscription
messages, memory per process (first, last, max, fitted MiB per hour), descriptors and
connections (first, max, last), loss, the checks, and ``ok``.

A process fails the soak on memory when, fitted past warm-up, it grows faster than
``MEMORY_LIMIT_MIB_PER_H`` and the fitted growth over the soak exceeds ``MEMORY_NOISE_MIB``.
Why those numbers: a service here holds 90 to 160 MiB once warm, and stays flat (caches and
pools are bounded); 32 MiB an hour is 768 MiB a day, a service's whole footprint again every
few hours, which no restart-free week survives. The noise floor keeps a short soak from
failing on an allocator step or the tail of warm-up (5-minute soaks here fit 6 to 46 MiB/h,
under 2.5 MiB of growth): a 5-minute soak can only tell a leak of ~120 MiB/h and more, an 8-hour
one 32 MiB/h. With less than ``MIN_FIT_S`` of samples past warm-up nothing is judged
(``memory_judged``: false). anvil is reported, not judged: it keeps every block in memory.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
from websockets.exceptions import WebSocketException
from websockets.sync.client import connect as ws_connect

from artisan.config import load_settings
from artisan.executor.client import ExecutorClient
from artisan.testing.load import Timing
from artisan.testing.process_samples import Growth, Sample, growth, read_sample
from artisan.testing.services import ServiceFailed
from artisan.testing.simulation import (
    ANVIL_SAFE_REORG,
    CHECKS,
    Chains,
    Params,
    SimulationFailed,
    World,
    check,
    crash_restart,
    databases,
    execute_one,
    post_mortem,
    reorg,
    settle,
    world,
)

MEMORY_LIMIT_MIB_PER_H = 32.0
MEMORY_NOISE_MIB = 8.0
MIN_FIT_S = 120.0
NOT_JUDGED = ("anvil",)  # the dev chain keeps every block in memory: it grows by design
RESTART_ORDER = ("executor-b", "indexer", "projections", "api", "executor-a")
READS = (
    "{ executions(first: 10, orderBy: blockNumber, orderDirection: desc)"
    " { id modelId cost priority settlements { recipient amount } } }",
    "{ topModels(by: CURATION, first: 3) { modelId score model { owner pricingKind } } }",
    "{ health { block indexedBlock nodeHead projectionLagBlocks outboxPending } }",
    "{ accounts(first: 5, orderBy: spent, orderDirection: desc) { id escrow spent earned } }",
)
SUBSCRIPTION = "subscription { executions { id } }"


@dataclass(frozen=True)
class SoakOptions:
    seconds: float
    rate: float = 4.0  # executions per second, all senders together
    senders: int = 4
    readers: int = 2
    subscribers: int = 2
    reorg_every: float = 45.0
    restart_every: float = 60.0
    block_every: float = 1.0
    sample_every: float = 5.0
    seed: int = 1

    @property
    def warmup_s(self) -> float:
        return min(60.0, self.seconds / 4)


@dataclass
class Figures:
    """What the load threads saw, under one lock."""

    executions_ms: list[float] = field(default_factory=list)  # accepted ones
    reads_ms: list[float] = field(default_factory=list)
    read_errors: int = 0  # an answer with GraphQL errors
    read_unavailable: int = 0  # no answer (the API restarting)
    messages: int = 0  # executions sent to subscribers
    reconnects: int = 0
    samples: list[Sample] = field(default_factory=list)
    pg_connections: list[int] = field(default_factory=list)
    failure: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, why: str) -> None:
        with self.lock:
            self.failure = self.failure or why


def _paced(stop: threading.Event, every: float, work: Callable[[], None]) -> None:
    """``work`` every ``every`` seconds on a fixed schedule (at once when behind it)."""
    due = time.monotonic()
    while not stop.is_set():
        work()
        due += every
        stop.wait(max(0.0, due - time.monotonic()))


def _sender(w: World, clients: dict[str, ExecutorClient], every: float, stop: threading.Event,
            f: Figures) -> None:  # fmt: skip
    chains = Chains()

    def one() -> None:
        started = time.perf_counter()
        if execute_one(w, clients, chains) == "accepted":
            with f.lock:
                f.executions_ms.append(1000 * (time.perf_counter() - started))

    _paced(stop, every, one)


def _reader(api: str, k: int, stop: threading.Event, f: Figures) -> None:
    queries = itertools.cycle(READS[k % len(READS) :] + READS[: k % len(READS)])
    with httpx.Client(base_url=api, timeout=30) as http:
        while not stop.wait(0.2):
            started = time.perf_counter()
            try:
                body = http.post("/graphql", json={"query": next(queries)}).json()
            except (httpx.HTTPError, ValueError):
                with f.lock:
                    f.read_unavailable += 1
                continue
            with f.lock:
                if body.get("errors"):
                    f.read_errors += 1
                else:
                    f.reads_ms.append(1000 * (time.perf_counter() - started))


def _subscriber(api: str, stop: threading.Event, f: Figures) -> None:
    """One graphql-transport-ws subscription to new executions, opened again whenever the
    connection ends (the API restarted), until ``stop``."""
    url = api.replace("http://", "ws://") + "/graphql"
    first = True
    while not stop.is_set():
        try:
            with ws_connect(url, subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                            open_timeout=5, proxy=None) as ws:  # fmt: skip
                ws.send(orjson.dumps({"type": "connection_init"}).decode())
                if orjson.loads(ws.recv(timeout=5)).get("type") != "connection_ack":
                    raise WebSocketException("no connection_ack")
                payload = {"query": SUBSCRIPTION}
                ws.send(orjson.dumps({"id": "1", "type": "subscribe", "payload": payload}).decode())
                if not first:
                    with f.lock:
                        f.reconnects += 1
                first = False
                while not stop.is_set():
                    with contextlib.suppress(TimeoutError):
                        message = orjson.loads(ws.recv(timeout=0.5))
                        if message.get("type") == "ping":
                            ws.send(orjson.dumps({"type": "pong"}).decode())
                        elif message.get("type") == "next":
                            with f.lock:
                                f.messages += 1
                        elif message.get("type") in ("error", "complete"):
                            raise WebSocketException(f"subscription ended: {message}")
        except (OSError, WebSocketException, ValueError):
            stop.wait(0.5)


def _chaos(w: World, o: SoakOptions, stop: threading.Event, f: Figures, t0: float) -> None:
    """A block a second, a reorg and a restart at their intervals; a service that ends on
    its own stops the soak."""
    rng = random.Random(f"soak-{o.seed}")
    order = itertools.cycle(RESTART_ORDER)
    next_reorg, next_restart = t0 + o.reorg_every, t0 + o.restart_every

    def tick() -> None:
        nonlocal next_reorg, next_restart
        try:
            w.services.check()
            w.mine(1)
            now = time.monotonic()
            if now >= next_reorg:
                next_reorg += o.reorg_every
                reorg(w, rng.randint(1, ANVIL_SAFE_REORG))
            if now >= next_restart:
                next_restart += o.restart_every
                crash_restart(w, next(order))
        except (ServiceFailed, SimulationFailed) as exc:
            f.fail(str(exc))
            stop.set()

    _paced(stop, o.block_every, tick)


def _sampler(w: World, o: SoakOptions, stop: threading.Event, f: Figures, t0: float) -> None:
    with psycopg.connect(w.db.url, autocommit=True) as conn:

        def sample() -> None:
            t = time.monotonic() - t0
            pids = [(s.name, s.process.pid) for s in list(w.services.started)]
            taken = [read_sample(n, p, t) for n, p in [*pids, ("anvil", w.anvil.process.pid)]]
            row = conn.execute("SELECT count(*) - 1 FROM pg_stat_activity"
                               " WHERE datname = current_database()").fetchone()  # fmt: skip
            with f.lock:
                f.samples += [s for s in taken if s is not None]
                f.pg_connections.append(int(row[0]) if row else 0)

        _paced(stop, o.sample_every, sample)


def _load(w: World, o: SoakOptions, f: Figures) -> float:
    """The soak's load and chaos for ``o.seconds``; the seconds it actually ran."""
    d = w.protocol.deployment
    clients = {name: ExecutorClient.connect(url, chain_id=d.chain_id, ledger=d.ledger, timeout=20)
               for name, url in w.executors.items()}  # fmt: skip
    stop, t0 = threading.Event(), time.monotonic()
    threads = [
        threading.Thread(target=_sampler, args=(w, o, stop, f, t0), name="soak-sampler"),
        threading.Thread(target=_chaos, args=(w, o, stop, f, t0), name="soak-chaos"),
        *(threading.Thread(target=_sender, args=(w, clients, o.senders / o.rate, stop, f),
                           name=f"soak-sender-{k}") for k in range(o.senders)),
        *(threading.Thread(target=_reader, args=(w.api, k, stop, f), name=f"soak-reader-{k}")
          for k in range(o.readers)),
        *(threading.Thread(target=_subscriber, args=(w.api, stop, f), name=f"soak-sub-{k}")
          for k in range(o.subscribers)),
    ]  # fmt: skip
    for t in threads:
        t.start()
    try:
        stop.wait(o.seconds)
    finally:
        stop.set()
        for t in threads:
            t.join()
        for client in clients.values():
            client.http.close()
    return time.monotonic() - t0


def _latency(values: list[float], wall: float) -> dict[str, Any]:
    if not values:
        return {"count": 0, "per_s": 0.0, "p50_ms": None, "p99_ms": None}
    timing = Timing(values, wall, {})
    return {"count": len(values), "per_s": round(len(values) / wall, 2),
            "p50_ms": timing.percentile(0.5), "p99_ms": timing.percentile(0.99)}  # fmt: skip


def _spread(values: list[int]) -> dict[str, int]:
    return {"first": values[0], "max": max(values), "last": values[-1]} if values else {}


def _memory(f: Figures, o: SoakOptions) -> tuple[dict[str, Any], bool, list[str]]:
    """Each process's memory figures, whether any was judged, and those that grew too fast."""
    by_name: dict[str, list[Sample]] = defaultdict(list)
    for s in f.samples:
        by_name[s.name].append(s)
    out, judged, leaking = {}, False, []
    for name, samples in sorted(by_name.items()):
        g: Growth = growth(samples, o.warmup_s)
        verdict: bool | None = None
        if name in NOT_JUDGED:
            pass
        elif g.mib_per_h is not None and g.fitted_s >= MIN_FIT_S:
            judged = True
            verdict = not (g.mib_per_h > MEMORY_LIMIT_MIB_PER_H
                           and g.fitted_growth_mib > MEMORY_NOISE_MIB)  # fmt: skip
            if not verdict:
                leaking.append(name)
        fds = [s.fds for s in sorted(samples, key=lambda s: s.t)]
        out[name] = {"rss_mib": {"first": g.first_mib, "max": g.max_mib, "last": g.last_mib},
                     "mib_per_h": g.mib_per_h, "fitted_s": g.fitted_s,
                     "lifetimes": g.lifetimes, "fds": _spread(fds), "ok": verdict}  # fmt: skip
    return out, judged, leaking


def _not_projected(w: World) -> int:
    with w.db.connect() as conn:
        rows = conn.execute("SELECT execution_id FROM proj_executions").fetchall()
    projected = {r[0] for r in rows}
    return sum(1 for k in w.truth.accepted if k not in projected)


def run_soak(o: SoakOptions, url: str | None) -> dict[str, Any]:
    params = Params(o.seed, rpc_error_rate=0.0, reorg_rate=0.0, restart_rate=0.0, steps=0)
    root = Path(tempfile.mkdtemp(prefix="artisan-soak-"))
    out: dict[str, Any] = {"soak_s": o.seconds, "target_rate_per_s": o.rate}
    f = Figures()
    try:
        with (
            databases(url, root, keep=lambda: f.failure is not None) as (db, make),
            world(params, root, db) as w,
        ):
            try:
                w.services.wait_http(f"{w.api}/health", 90)
                print(json.dumps({"soak_s": o.seconds, "anvil": w.anvil.rpc_url, "api": w.api,
                                  "database": db.url, "logs": str(root / "logs")}),
                      file=sys.stderr, flush=True)  # fmt: skip
                _run(w, o, f, out, make)
            except (SimulationFailed, ServiceFailed) as exc:
                f.fail(str(exc))
            if f.failure is not None:
                out.update(post_mortem(w))
    except (SimulationFailed, ServiceFailed) as exc:
        f.fail(str(exc))
    out["failure"] = f.failure
    out["ok"] = (
        f.failure is None
        and all(out.get("checks", {}).get(c) for c in CHECKS)
        and not any(out.get("loss", {"missing": 1}).values())
    )
    if out["ok"]:
        shutil.rmtree(root, ignore_errors=True)
    else:
        out["logs"] = str(root / "logs")
    return out


def _run(
    w: World, o: SoakOptions, f: Figures, out: dict[str, Any], make: Callable[[], Any]
) -> None:
    """The load, then (unless it failed) the settling and the checks, into ``out``."""
    wall = _load(w, o, f)
    out["load_average"] = [round(x, 2) for x in os.getloadavg()]
    out["executions"] = {**_latency(f.executions_ms, wall),
                         "accepted": len(w.truth.accepted),
                         "refused": len(w.truth.refused),
                         "unknown": len(w.truth.unknown)}  # fmt: skip
    out["graphql_reads"] = {**_latency(f.reads_ms, wall), "errors": f.read_errors,
                            "unavailable": f.read_unavailable}  # fmt: skip
    out["subscriptions"] = {"messages": f.messages, "reconnects": f.reconnects}
    out["reorgs"], out["restarts"] = len(w.truth.reorgs), dict(w.truth.restarts)
    memory, judged, leaking = _memory(f, o)
    out["processes"], out["memory_judged"] = memory, judged
    out["memory_limit_mib_per_h"] = MEMORY_LIMIT_MIB_PER_H
    out["pg_connections"] = _spread(f.pg_connections)
    if leaking:
        f.fail(f"memory grows past {MEMORY_LIMIT_MIB_PER_H} MiB/h: {', '.join(leaking)}")
    if f.failure is None:
        settle(w, time.monotonic() + max(180.0, o.seconds / 2))
        results = check(w, make())
        out["checks"] = {c: bool(results[c]) for c in CHECKS}
        out["loss"] = {**results["losses"], "not_projected": _not_projected(w)}
        out["chain"] = {k: results["counts"][k] for k in ("executed_on_chain", "events",
                                                          "epochs", "head")}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=None, help="instead of --minutes")
    parser.add_argument("--rate", type=float, default=4.0, help="executions per second")
    parser.add_argument("--readers", type=int, default=2)
    parser.add_argument("--subscribers", type=int, default=2)
    parser.add_argument("--reorg-every", type=float, default=45.0, help="seconds")
    parser.add_argument("--restart-every", type=float, default=None,
                        help="seconds (default: a tenth of the soak, at least 60)")  # fmt: skip
    parser.add_argument("--sample-every", type=float, default=None, help="seconds")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--url", default=None, help="a Postgres server (default: configured,"
                        " else embedded)")  # fmt: skip
    args = parser.parse_args(argv)
    seconds = args.seconds if args.seconds is not None else 60 * args.minutes
    options = SoakOptions(
        seconds=seconds, rate=args.rate, readers=args.readers, subscribers=args.subscribers,
        reorg_every=args.reorg_every, seed=args.seed,
        # Each service is restarted once in five restarts: it lives half the soak, so that a
        # long soak fits its memory over long lives, not over warm-ups again and again.
        restart_every=args.restart_every or max(60.0, seconds / 10),
        sample_every=args.sample_every or min(5.0, max(0.5, seconds / 40)),
    )  # fmt: skip
    result = run_soak(options, args.url or load_settings().database_url or None)
    print(json.dumps(result, default=str))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
