"""`artisan executor`: serve the executor API (and its Prometheus metrics on /metrics)."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from artisan.emitter.emitter import Emitter

executor_app = typer.Typer(
    no_args_is_help=True, add_completion=False,
    help="Run models for signed requests and put them on chain.",
)  # fmt: skip


@executor_app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", help="interface to listen on"),
    port: int = typer.Option(8600, help="port to listen on"),
    max_batch: int = typer.Option(32, help="rows per batched run"),
    max_delay_ms: float = typer.Option(2.0, help="how long a batch waits to fill"),
    cpu: bool = typer.Option(False, help="run on the CPU even when CUDA is available"),
    emit: bool = typer.Option(
        True, help="also run the emitter (outbox to recordBatch) on a thread of this process"
    ),
) -> None:
    """Run the executor API: admission, batching, metering; executions go to the outbox,
    and (unless --no-emit) the emitter puts them on chain. Both heartbeat into `artisan
    status`; /metrics on the API's port holds both's metrics."""
    import sys
    import threading

    import uvicorn

    from artisan.cli.common import console, fail, settings_or_exit, stop_on_sigterm
    from artisan.config import redact_url
    from artisan.emitter.config import EmitterConfig
    from artisan.emitter.emitter import Emitter
    from artisan.emitter.metrics import EmitterMetrics
    from artisan.environment import open_environment
    from artisan.errors import ArtisanError
    from artisan.executor.api import create_app
    from artisan.executor.assembly import ExecutorConfig, open_executor
    from artisan.executor.assets import AssetStore
    from artisan.executor.batcher import BatchPolicy
    from artisan.executor.metrics import ExecutorMetrics
    from artisan.executor.sessions import SessionConfig
    from artisan.logs import LastError, configure_logging
    from artisan.scheduling import build_scheduler
    from artisan.storage.service_status import Heartbeat, HeartbeatService

    settings = settings_or_exit()
    configure_logging(settings.log_format, executions=settings.log_executions)
    # See scheduler.py: a finished run must not wait a whole 5 ms GIL switch interval.
    sys.setswitchinterval(0.0005)
    config = ExecutorConfig(
        batch=BatchPolicy(max_batch_size=max_batch, max_queue_delay_s=max_delay_ms / 1000),
        sessions=SessionConfig(prefer_cuda=not cpu),
    )
    metrics = ExecutorMetrics()
    scheduler = build_scheduler(2)
    try:
        with open_environment(settings) as env, contextlib.ExitStack() as stack:
            scheduler.start()
            stack.callback(scheduler.shutdown)
            errors = LastError("artisan.executor")  # a failed run, record, release, request
            stack.callback(errors.close)
            beats = HeartbeatService(
                scheduler, Heartbeat(env.db, "executor", settings.status_instance),
                lambda _conn: metrics.details(), seconds=settings.status_interval,
                last_error=lambda: errors.message,
            )  # fmt: skip
            beats.starting()
            # Beating from now: loading the probe model (CUDA's start-up) can outlast three
            # beats, and a silent row would read as a dead process.
            beats.start()
            stack.enter_context(beats.reporting())
            protocol = env.protocol()
            store = AssetStore(settings.data_dir / "assets",
                               syncfs=settings.asset_sync == "syncfs")  # fmt: skip
            service = stack.enter_context(open_executor(
                protocol, env.rpc_url, store, operator=env.operator().address, db=env.db,
                config=config, metrics=metrics,
            ))  # fmt: skip
            stack.callback(beats.mark_stopping)  # first as the stack unwinds: draining follows
            app = create_app(service, registry=metrics.registry)
            stop = threading.Event()
            if emit:
                emitter = Emitter(
                    env.db,
                    env.rpc_url,
                    settings.key("operator"),
                    chain_id=protocol.deployment.chain_id,
                    ledger=protocol.deployment.ledger,
                    config=EmitterConfig(
                        start_block=protocol.deployment.start_block,
                        confirmations=settings.finality_depth,
                    ),
                    metrics=EmitterMetrics(metrics.registry),
                )
                stack.callback(_close_quietly, emitter)
                emitting = emitter.heartbeat(scheduler, env.db, instance=settings.status_instance,
                                             seconds=settings.status_interval)  # fmt: skip

                def run_emitter() -> None:
                    with emitting.reporting():  # its own row: failed, if the thread dies
                        emitter.run(stop=stop)

                worker = threading.Thread(target=run_emitter, name="emitter", daemon=True)
                emitting.starting()
                worker.start()
                emitting.start()
                stack.callback(worker.join, 10)
            stack.callback(stop.set)
            console.print(
                f"executor on http://{host}:{port}: node {redact_url(env.rpc_url)}, chain"
                f" {protocol.deployment.chain_id}, ledger {protocol.deployment.ledger}"
                f" (from {settings.deployment_file}), models on {service.provider},"
                f" {'emitting' if emit else 'not emitting'} as {env.operator().address}",
                soft_wrap=True,
            )
            # uvicorn shuts down on SIGINT or SIGTERM, then raises the signal again for the
            # handler it found: ours turns SIGTERM into KeyboardInterrupt too, so the emitter
            # and the executor are closed (the stack, in reverse) in either case.
            stop_on_sigterm()
            try:
                # Bounded: at most 512 connections at once (more get 503), idle keep-alive
                # connections closed after 5 s, request heads at most 64 KiB. Its log lines
                # go through the process's handler (ARTISAN_LOG_FORMAT).
                uvicorn.run(app, host=host, port=port, log_level="info", log_config=None,
                            limit_concurrency=512, timeout_keep_alive=5,
                            h11_max_incomplete_event_size=64 * 1024)  # fmt: skip
            except KeyboardInterrupt:
                console.print("executor stopped")
    except ArtisanError as exc:
        raise fail(exc) from exc


def _close_quietly(emitter: Emitter) -> None:
    """Close the emitter at the end of `serve`, whatever its state (a stop is under way)."""
    from artisan.errors import ArtisanError

    with contextlib.suppress(ArtisanError):
        emitter.close()
