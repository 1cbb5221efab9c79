"""`artisan index`: backfill the protocol's events into the event store, then follow the head.

The chain is ARTISAN_RPC_URL; the contracts and the first block come from the deployment
file (`artisan deploy` writes it), their ABIs from build/contracts. Without an RPC URL there
is nothing to follow: the embedded chain lives only as long as the process that starts it,
so the command exits 2 unless `--demo-chain` asks it to start one (a local anvil with the
protocol freshly deployed, the deployment file left alone) and index that.

Live mode runs on an APScheduler scheduler (see `artisan.indexer.follow`): the catch-up job,
woken by websocket newHeads when the node offers them (`--ws auto`), polling otherwise, beside
pruning, a metrics refresh and the heartbeat (its row in `artisan status`, from the start of the
backfill on). SIGINT or SIGTERM stops it cleanly, once the write in progress
has committed with its checkpoint (during the backfill a second signal interrupts at once: the
transaction in flight rolls back). Exit codes: 0 stopped (or `--once` done), 1 the indexer
halted (its reason on stderr, or as a JSON line with `--json`), 2 a configuration problem.
Prometheus metrics are served on `--metrics-port` (default ARTISAN_INDEXER_METRICS_PORT; 0: off).

With `--json`, stdout carries only JSON lines, each with a `kind`: `append` and `reorg` (one
per progress update: phase, block, head, lag, events, events_total, blocks_per_s,
events_per_s, eta_s, elapsed_s, and for a reorg its depth), then `backfilled`, `following`,
`notice`, `stopped` or `error` (with a `message`).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from dataclasses import dataclass
from types import FrameType
from typing import Annotated

import orjson
import typer
from apscheduler.schedulers.background import BackgroundScheduler
from rich.console import Console
from rich.progress import BarColumn, TaskID, TextColumn
from rich.progress import Progress as Bar

from artisan.chain.errors import NodeError
from artisan.config import Settings, load_settings, redact_url
from artisan.errors import ArtisanError, ConfigError
from artisan.indexer.follow import (
    IndexerService,
    ServiceIntervals,
    ServiceStopping,
    build_scheduler,
    interruptible_sleep,
)
from artisan.indexer.heads import NewHeads
from artisan.indexer.indexer import Indexer, Progress
from artisan.indexer.metrics import IndexerMetrics, MeteredSource
from artisan.indexer.pruning import BlockPruner
from artisan.indexer.rpc import JsonRpcSource
from artisan.indexer.target import IndexTarget, open_target
from artisan.indexer.throughput import Report, Throughput
from artisan.logs import configure_logging
from artisan.metrics import serve
from artisan.storage.database import Database, open_database
from artisan.storage.event_reader import stored_checkpoint
from artisan.storage.migrations import migrate
from artisan.storage.service_status import Heartbeat, HeartbeatService

err = Console(stderr=True)


class Reporter:
    """Progress for people (a rich bar on stderr) or machines (JSON lines on stdout)."""

    def __init__(self, json_lines: bool, first_block: int) -> None:
        self.json_lines = json_lines
        self.first_block = first_block
        self._bar: Bar | None = None
        self._task: TaskID | None = None
        if not json_lines:
            self._bar = Bar(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("block {task.fields[block]:,}/{task.fields[head]:,}"),
                TextColumn("{task.fields[bps]:,.0f} blocks/s {task.fields[eps]:,.0f} events/s"),
                TextColumn("lag {task.fields[lag]:,} ETA {task.fields[eta]}"),
                console=err,
            )
            self._task = self._bar.add_task(
                "backfill", total=None, block=0, head=0, bps=0.0, eps=0.0, lag=0, eta="?"
            )
            self._bar.start()

    def show(self, report: Report) -> None:
        if self._bar is None or self._task is None:
            print(orjson.dumps(report.as_json()).decode(), flush=True)
            return
        eta = "-" if report.eta_s is None else f"{report.eta_s:,.0f}s"
        self._bar.update(
            self._task,
            description=report.phase,
            completed=report.block - self.first_block + 1,
            total=max(1, report.head - self.first_block + 1),
            block=report.block,
            head=report.head,
            bps=report.blocks_per_s,
            eps=report.events_per_s,
            lag=report.lag,
            eta=eta,
        )
        if report.reorg_depth is not None:
            self._bar.console.print(f"reorg of depth {report.reorg_depth} followed")

    def note(self, kind: str, message: str, **fields: object) -> None:
        if self.json_lines:
            line = {"kind": kind, "message": message, **fields}
            print(orjson.dumps(line).decode(), flush=True)
        else:
            style = "red" if kind == "error" else "cyan"
            (self._bar.console if self._bar else err).print(f"[{style}]{message}[/{style}]")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


@dataclass(frozen=True)
class _Options:
    json_lines: bool
    finality_depth: int
    once: bool
    intervals: ServiceIntervals


def index_command(
    json_lines: Annotated[
        bool, typer.Option("--json", help="one JSON line per progress update, on stdout")
    ] = False,
    metrics_port: Annotated[
        int | None,
        typer.Option(help="serve Prometheus /metrics here; default ARTISAN_INDEXER_METRICS_PORT"),
    ] = None,
    finality_depth: Annotated[
        int | None, typer.Option(min=1, help="blocks until final; default ARTISAN_FINALITY_DEPTH")
    ] = None,
    poll_interval: Annotated[float, typer.Option(min=0.01, help="seconds between polls")] = 1.0,
    ws: Annotated[
        str, typer.Option(help="newHeads websocket: auto (the node's, if offered), off, or a URL")
    ] = "auto",
    prune_interval: Annotated[float, typer.Option(min=1.0, help="seconds between prunes")] = 60.0,
    once: Annotated[bool, typer.Option(help="backfill to the head, then exit")] = False,
    demo_chain: Annotated[
        bool, typer.Option(help="no RPC URL: start a local chain with the protocol, index it")
    ] = False,
) -> None:
    """Backfill the protocol's events into the event store, then follow the head."""
    try:
        settings = load_settings()
    except ArtisanError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    if not settings.rpc_url and not demo_chain:
        err.print(
            "[red]ARTISAN_RPC_URL is not set. The embedded chain lives only as long as the"
            " process that starts it, so there is nothing for `artisan index` to follow:"
            " point ARTISAN_RPC_URL at a node (`artisan node`, then `artisan deploy`), or pass"
            " --demo-chain to index a local chain started here.[/red]"
        )
        raise typer.Exit(2)
    configure_logging(settings.log_format, executions=settings.log_executions)
    port = settings.indexer_metrics_port if metrics_port is None else metrics_port
    intervals = ServiceIntervals(poll=poll_interval, prune=prune_interval)
    depth = settings.finality_depth if finality_depth is None else finality_depth
    options = _Options(json_lines, depth, once, intervals)
    with contextlib.ExitStack() as stack:
        reporter = Reporter(options.json_lines, 0)
        stack.callback(reporter.close)
        try:
            target = open_target(settings, demo_chain, stack)
            if not settings.rpc_url:
                reporter.note(
                    "notice", f"demo chain {target.chain_id} at {redact_url(target.rpc_url)}"
                )
            db = open_database(settings)
            stack.callback(db.close)
            migrate(db)
            metrics = _metrics(target.chain_id, port, settings.metrics_addr, stack)
            heads = None if once else _new_heads(target, ws, reporter)
        except ArtisanError as exc:
            reporter.note("error", str(exc))
            raise typer.Exit(2) from exc
        if heads is not None:
            stack.callback(heads.close)
        reporter.first_block = target.start_block
        scheduler = build_scheduler()
        scheduler.start()
        stack.callback(scheduler.shutdown)
        beats = _heartbeat(settings, db, metrics, scheduler)
        try:
            code, failure = _run(db, target, metrics, heads, reporter, options, stack,
                                 scheduler, beats)  # fmt: skip
        except BaseException as exc:  # unforeseen: the row says so before the traceback
            beats.finish(None if isinstance(exc, KeyboardInterrupt) else exc)
            raise
        beats.finish(failure)
    raise typer.Exit(code)


def _heartbeat(
    settings: Settings, db: Database, metrics: IndexerMetrics, scheduler: BackgroundScheduler
) -> HeartbeatService:
    """The indexer's row in service_status, beating from now (the backfill) on."""
    beats = HeartbeatService(
        scheduler, Heartbeat(db, "indexer", settings.status_instance),
        lambda _conn: metrics.details(), seconds=settings.status_interval,
        last_error=lambda: metrics.last_error,
    )  # fmt: skip
    beats.starting()
    beats.start()
    return beats


class _Signals:
    """SIGINT and SIGTERM set ``stop``: the run ends after the write in progress commits. A
    second one during the backfill interrupts at once (KeyboardInterrupt in the main thread:
    the transaction in flight rolls back)."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.interrupting = True
        self._previous = {
            sig: signal.signal(sig, self._handle) for sig in (signal.SIGINT, signal.SIGTERM)
        }

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.stop.is_set() and self.interrupting:
            raise KeyboardInterrupt
        self.stop.set()

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _run(
    db: Database,
    target: IndexTarget,
    metrics: IndexerMetrics,
    heads: NewHeads | None,
    reporter: Reporter,
    opts: _Options,
    stack: contextlib.ExitStack,
    scheduler: BackgroundScheduler,
    beats: HeartbeatService,
) -> tuple[int, BaseException | None]:
    """Backfill, then follow until a signal; the exit code and the failure that halted it."""
    source = MeteredSource(stack.enter_context(JsonRpcSource(target.rpc_url)), metrics)
    throughput = Throughput(target.start_block - 1)

    signals = _Signals()

    def on_progress(progress: Progress) -> None:
        metrics.on_progress(progress)
        reporter.show(throughput.update(progress))
        if signals.stop.is_set():  # asked to stop: here, between two writes, nothing is open
            raise ServiceStopping("stopping on a signal")

    stack.callback(signals.restore)
    try:
        indexer = Indexer(
            db,
            source,
            target.chain_id,
            target.contracts,
            finality_depth=opts.finality_depth,
            start_block=target.start_block,
            sleep=interruptible_sleep(signals.stop),
            on_progress=on_progress,
        )
        stack.callback(indexer.close)
        indexer.backfill()
        signals.interrupting = False
    except (KeyboardInterrupt, ServiceStopping):
        reporter.note("stopped", "stopped during the backfill", block=_checkpoint(db, target))
        return 0, None
    except ArtisanError as exc:
        reporter.note("error", str(exc))
        return 1, exc
    finally:
        signals.interrupting = False
    block = indexer.checkpoint.number
    reporter.note(
        "backfilled", f"backfilled to block {block:,}", block=block, events=throughput.events_total
    )
    if opts.once:
        return 0, None
    throughput.phase = metrics.phase = "follow"
    pruner = BlockPruner(db, target.chain_id)
    service = IndexerService(
        indexer,
        scheduler,
        pruner,
        stop=signals.stop,
        intervals=opts.intervals,
        heads=heads,
        metrics=metrics,
    )
    # The heartbeat reports the service's own failures too (transient ones, left to the next
    # run, included), and the node's.
    beats.errors = lambda: service.last_error or metrics.last_error
    return _follow(service, reporter)


def _follow(service: IndexerService, reporter: Reporter) -> tuple[int, BaseException | None]:
    """Run the live jobs until a signal (0) or a failure (1, with the failure)."""
    heads = service.heads
    how = (
        f"woken by newHeads at {redact_url(heads.ws_url)}"
        if isinstance(heads, NewHeads)
        else f"polling every {service.intervals.poll:g} s"
    )
    block = service.indexer.checkpoint.number
    reporter.note("following", f"following the head, {how}", block=block)
    service.start()
    try:
        service.wait()
    finally:
        service.stop()
    if service.failure is not None:
        reporter.note("error", _describe(service.failure))
        return 1, service.failure
    block = service.indexer.checkpoint.number
    reporter.note("stopped", f"stopped at block {block:,}", block=block)
    return 0, None


def _metrics(chain_id: int, port: int, addr: str, stack: contextlib.ExitStack) -> IndexerMetrics:
    """The indexer's metrics, served on ``port`` unless it is 0."""
    metrics = IndexerMetrics(chain_id)
    if port:
        try:
            stack.callback(serve(metrics.registry, port, addr))
        except ConfigError as exc:
            raise ConfigError(f"--metrics-port {port}: {exc}") from exc
    return metrics


def _new_heads(target: IndexTarget, ws: str, reporter: Reporter) -> NewHeads | None:
    """The newHeads subscription asked for: none with ``off``; with ``auto`` the node's own
    websocket if it offers one (else polling, said once); an explicit URL must work."""
    if ws == "off":
        return None
    url = target.ws_url if ws == "auto" else ws
    if url is None:
        return None
    try:
        return NewHeads(url, open_timeout=2.0)
    except NodeError as exc:
        if ws != "auto":
            raise ConfigError(f"--ws {ws}: {exc}") from exc
        reporter.note("notice", f"no newHeads subscription at {redact_url(url)}: polling")
        return None


def _checkpoint(db: Database, target: IndexTarget) -> int | None:
    with db.connect() as conn:
        checkpoint = stored_checkpoint(conn, target.chain_id)
    return None if checkpoint is None else checkpoint.number


def _describe(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, ArtisanError) else f"unexpected failure: {exc!r}"
