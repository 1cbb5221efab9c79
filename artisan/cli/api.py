"""`artisan api serve`: the GraphQL API (docs/API.md) over the read models.

It answers Prometheus's scrapes on /metrics of its own port and heartbeats into `artisan
status` (operations answered, subscriptions open).
"""

from __future__ import annotations

import contextlib
import threading
from typing import TYPE_CHECKING

import typer

from artisan.cli.common import console, fail, settings_or_exit, stop_on_sigterm, store_chain
from artisan.errors import ArtisanError

if TYPE_CHECKING:
    from artisan.config import Settings
    from artisan.graphql.audit import Auditor

api_app = typer.Typer(
    no_args_is_help=True, add_completion=False,
    help="Serve the GraphQL API that dashboards, auditors and analysts query.",
)  # fmt: skip


@api_app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", help="interface to listen on"),
    port: int = typer.Option(8700, help="port to listen on"),
    chain_id: int | None = typer.Option(
        None, help="default: the store's only chain, else the deployment's (else it waits)"
    ),
) -> None:
    """Serve /graphql, /health, /ready and /metrics until stopped."""
    import uvicorn

    from artisan.config import redact_url
    from artisan.graphql.app import create_app
    from artisan.graphql.metrics import ApiMetrics
    from artisan.logs import LastError, configure_logging
    from artisan.scheduling import build_scheduler
    from artisan.storage.database import open_database
    from artisan.storage.migrations import migrate
    from artisan.storage.service_status import Heartbeat, HeartbeatService

    settings = settings_or_exit()
    configure_logging(settings.log_format, executions=settings.log_executions)
    metrics = ApiMetrics()
    try:
        db = open_database(settings)
        migrate(db)
        found = chain_id
        if found is None:
            stop_on_sigterm()  # a stop while it waits for the indexer ends it quietly
            with contextlib.suppress(KeyboardInterrupt):
                found = store_chain(settings, db, 1.0, threading.Event())
        if found is None:
            db.close()
            console.print("API stopped")
            return
        chain = found
        read_url = settings.read_database_url or db.url
        app = create_app(
            read_url, chain_id=chain, max_lag_blocks=settings.api_max_lag_blocks,
            statement_timeout_ms=settings.api_statement_timeout_ms,
            introspection=settings.api_introspection,
            max_result_bytes=settings.api_max_result_bytes,
            max_subscriptions=settings.api_max_subscriptions, notify_url=db.url,
            auditor=_auditor(settings, chain),
            allowed_origins=tuple(o.strip() for o in settings.api_allowed_origins.split(",")
                                  if o.strip()),
            metrics=metrics,
        )  # fmt: skip
        scheduler = build_scheduler(1)
        errors = LastError("artisan.graphql")  # an unexpected error, with the id it was given
        beats = HeartbeatService(
            scheduler, Heartbeat(db, "api", settings.status_instance),
            lambda _conn: {"chain_id": chain, **metrics.details()},
            seconds=settings.status_interval, last_error=lambda: errors.message,
        )  # fmt: skip
        beats.starting()
        console.print(f"GraphQL on http://{host}:{port}/graphql for chain {chain}, reading"
                      f" {redact_url(read_url)}")  # fmt: skip
        stop_on_sigterm()
        scheduler.start()
        try:
            with beats.reporting():
                beats.start()
                # A stop waits at most 10 s for open requests and subscriptions, then ends
                # them. Its log lines go through the process's handler (ARTISAN_LOG_FORMAT).
                uvicorn.run(app, host=host, port=port, log_level="info", log_config=None,
                            limit_concurrency=512, timeout_keep_alive=5,
                            timeout_graceful_shutdown=10)  # fmt: skip
        except KeyboardInterrupt:
            console.print("API stopped")
        finally:
            scheduler.shutdown()
            errors.close()
            db.close()
    except ArtisanError as exc:
        raise fail(exc) from exc


def _auditor(settings: Settings, chain_id: int) -> Auditor | None:
    """What ``audit(executionId)`` reads the chain with: None without a node or a deployment
    on the served chain (the field then says so)."""
    from artisan.chain.contracts import Deployment
    from artisan.chain.protocol import load_artifacts
    from artisan.graphql.audit import Auditor

    if not settings.rpc_url or not settings.deployment_file.exists():
        return None
    deployment = Deployment.load(settings.deployment_file)
    if deployment.chain_id != chain_id:
        return None
    return Auditor(settings.rpc_url, deployment, load_artifacts(settings.artifacts_dir),
                   settings.data_dir / "assets")  # fmt: skip
