"""`artisan emit`: the emitter as a process of its own (outbox rows to recordBatch, each final
on chain exactly once). `artisan executor serve` also runs one on a thread unless --no-emit.

The database, node and operator key come from the Settings (``ARTISAN_DATABASE_URL``,
``ARTISAN_RPC_URL``, ``ARTISAN_OPERATOR_KEY``), the ledger from the deployment file unless
``--ledger`` names it. ``--crash-at POINT`` kills the process with SIGKILL at a named point of
the first batch (after it is persisted, or after it is broadcast): the crash tests use it.
It heartbeats into `artisan status` and serves Prometheus metrics on
ARTISAN_EMITTER_METRICS_PORT (0, the default: off).
"""

from __future__ import annotations

import typer

from artisan.cli.common import console, fail, settings_or_exit
from artisan.emitter.config import EmitterConfig
from artisan.errors import ArtisanError

_D = EmitterConfig()


def emit_command(
    ledger: str | None = typer.Option(None, help="ExecutionLedger address (default: deployed)"),
    until_idle: bool = typer.Option(False, help="exit once nothing is pending or in flight"),
    timeout: float = typer.Option(300.0, help="with --until-idle: seconds before giving up"),
    crash_at: str | None = typer.Option(None, help="SIGKILL itself at this point (tests)"),
    max_items: int = typer.Option(_D.max_items, help="executions per recordBatch"),
    max_wait: float = typer.Option(_D.max_wait, help="seconds a pending execution may wait"),
    max_in_flight: int = typer.Option(_D.max_in_flight, help="batches sent and unmined"),
    confirmations: int | None = typer.Option(
        None, min=1, help="blocks before a batch is final; default ARTISAN_FINALITY_DEPTH"
    ),
    replace_after: float = typer.Option(_D.replace_after, help="seconds before a fee bump"),
    rebroadcast_after: float = typer.Option(_D.rebroadcast_after, help="seconds between asks"),
    start_block: int | None = typer.Option(None, help="deploy block (default: deployed)"),
) -> None:
    """Emit the outbox's executions on chain until stopped (or, --until-idle, drained)."""
    import os
    import signal
    import threading

    from artisan.chain.contracts import Deployment
    from artisan.emitter.emitter import CRASH_POINTS, Emitter, wait_idle
    from artisan.emitter.metrics import EmitterMetrics
    from artisan.logs import configure_logging
    from artisan.metrics import served
    from artisan.scheduling import build_scheduler
    from artisan.storage.database import open_database
    from artisan.storage.migrations import migrate

    if crash_at is not None and crash_at not in CRASH_POINTS:
        console.print(f"[red]--crash-at must be one of {', '.join(CRASH_POINTS)}[/red]")
        raise typer.Exit(2)
    settings = settings_or_exit()
    if not settings.rpc_url:
        console.print("[red]ARTISAN_RPC_URL is not set: the emitter sends to a node[/red]")
        raise typer.Exit(2)
    configure_logging(settings.log_format, executions=settings.log_executions)

    def crash(point: str) -> None:
        if point == crash_at:
            os.kill(os.getpid(), signal.SIGKILL)

    try:
        if ledger is None or start_block is None:
            deployment = Deployment.load(settings.deployment_file)
            ledger = ledger or deployment.ledger
            start_block = deployment.start_block if start_block is None else start_block
        config = EmitterConfig(
            max_items=max_items, max_wait=max_wait, max_in_flight=max_in_flight,
            confirmations=settings.finality_depth if confirmations is None else confirmations,
            replace_after=replace_after,
            rebroadcast_after=rebroadcast_after, start_block=start_block,
        )  # fmt: skip
        db = open_database(settings)
        metrics = EmitterMetrics()
        scheduler = build_scheduler(1)
        try:
            migrate(db)
            with (
                served(metrics.registry, settings.emitter_metrics_port, settings.metrics_addr),
                Emitter(db, settings.rpc_url, settings.key("operator"),
                        chain_id=settings.chain_id, ledger=ledger, config=config, hook=crash,
                        metrics=metrics) as emitter,
            ):  # fmt: skip
                beats = emitter.heartbeat(scheduler, db, instance=settings.status_instance,
                                          seconds=settings.status_interval)  # fmt: skip
                beats.starting()
                scheduler.start()
                beats.start()
                failure: BaseException | None = None
                try:
                    if until_idle:
                        wait_idle(emitter, timeout)
                    else:
                        stop = threading.Event()
                        for sig in (signal.SIGINT, signal.SIGTERM):  # both stop between passes
                            signal.signal(sig, lambda _s, _f: stop.set())
                        console.print(f"emitting executions to {ledger} on chain"
                                      f" {settings.chain_id}", soft_wrap=True)  # fmt: skip
                        emitter.run(stop=stop)
                except BaseException as exc:
                    failure = None if isinstance(exc, KeyboardInterrupt) else exc
                    raise
                finally:
                    beats.finish(failure)
        finally:
            if scheduler.running:
                scheduler.shutdown()
            db.close()
    except ArtisanError as exc:
        raise fail(exc) from exc
