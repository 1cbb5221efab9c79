"""`artisan executor`: serve the executor API."""

from __future__ import annotations

import typer

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
    and (unless --no-emit) the emitter puts them on chain."""
    import contextlib
    import sys
    import threading

    import uvicorn

    from artisan.cli.common import console, fail, settings_or_exit, stop_on_sigterm
    from artisan.config import redact_url
    from artisan.emitter.config import EmitterConfig
    from artisan.emitter.emitter import Emitter
    from artisan.environment import open_environment
    from artisan.errors import ArtisanError
    from artisan.executor.api import create_app
    from artisan.executor.assembly import ExecutorConfig, open_executor
    from artisan.executor.assets import AssetStore
    from artisan.executor.batcher import BatchPolicy
    from artisan.executor.sessions import SessionConfig

    settings = settings_or_exit()
    # See scheduler.py: a finished run must not wait a whole 5 ms GIL switch interval.
    sys.setswitchinterval(0.0005)
    config = ExecutorConfig(
        batch=BatchPolicy(max_batch_size=max_batch, max_queue_delay_s=max_delay_ms / 1000),
        sessions=SessionConfig(prefer_cuda=not cpu),
    )
    try:
        with open_environment(settings) as env:
            protocol = env.protocol()
            store = AssetStore(settings.data_dir / "assets")
            with open_executor(
                protocol, env.rpc_url, store, operator=env.operator().address, db=env.db,
                config=config,
            ) as service:  # fmt: skip
                app = create_app(service)
                stop = threading.Event()
                emitter = (
                    Emitter(
                        env.db,
                        env.rpc_url,
                        settings.key("operator"),
                        chain_id=protocol.deployment.chain_id,
                        ledger=protocol.deployment.ledger,
                        config=EmitterConfig(start_block=protocol.deployment.start_block),
                    )
                    if emit
                    else None
                )
                worker = (
                    threading.Thread(target=emitter.run, kwargs={"stop": stop}, daemon=True)
                    if emitter is not None
                    else None
                )
                if worker is not None:
                    worker.start()
                console.print(
                    f"executor on http://{host}:{port}: node {redact_url(env.rpc_url)}, chain"
                    f" {protocol.deployment.chain_id}, ledger {protocol.deployment.ledger}"
                    f" (from {settings.deployment_file}), models on {service.provider},"
                    f" {'emitting' if emit else 'not emitting'} as {env.operator().address}",
                    soft_wrap=True,
                )
                # uvicorn shuts down on SIGINT or SIGTERM, then raises the signal again for
                # the handler it found: ours turns SIGTERM into KeyboardInterrupt too, so the
                # emitter and the executor are closed below in either case.
                stop_on_sigterm()
                try:
                    # Bounded: at most 512 connections at once (more get 503), idle keep-alive
                    # connections closed after 5 s, request heads at most 64 KiB.
                    uvicorn.run(app, host=host, port=port, log_level="info",
                                limit_concurrency=512, timeout_keep_alive=5,
                                h11_max_incomplete_event_size=64 * 1024)  # fmt: skip
                except KeyboardInterrupt:
                    console.print("executor stopped")
                finally:
                    stop.set()
                    if worker is not None and emitter is not None:
                        worker.join(timeout=10)
                        with contextlib.suppress(ArtisanError):
                            emitter.close()
    except ArtisanError as exc:
        raise fail(exc) from exc
