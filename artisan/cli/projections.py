"""`artisan projections run|rebuild|status`: the read models, once or following the indexer.

Following, the service heartbeats into `artisan status` (the projections' row, with each one's
lag, and the reward publisher's when it publishes) from its first catch-up on, and serves
Prometheus metrics on ARTISAN_PROJECTIONS_METRICS_PORT (0, the default: off).
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from artisan.cli.common import console, fail, json_line, settings_or_exit, store_chain
from artisan.config import Settings
from artisan.errors import ArtisanError, ConfigError

if TYPE_CHECKING:
    from artisan.chain.contracts import Deployment
    from artisan.projections.jobs import EpochSchedule, ProjectionService
    from artisan.projections.rewards.epochs import RewardConfig
    from artisan.projections.runner import Runner

projections_app = typer.Typer(no_args_is_help=True, help="Read models built from the event store.")


def _settings() -> Settings:
    return settings_or_exit()


@projections_app.command("run")
def run(
    chain_id: int | None = typer.Option(None, help="default: the only indexed chain"),
    follow: bool = typer.Option(False, help="keep following the indexer's notifications"),
    interval: float = typer.Option(5.0, min=0.05, help="seconds between catch-ups when following"),
    epoch_interval: float = typer.Option(
        30.0, min=0.05, help="seconds between runs of the epoch job (ARTISAN_REWARD_*)"
    ),
    publish: bool = typer.Option(True, help="publish closed epochs' roots on chain"),
) -> None:
    """Apply every new event to every projection, once or following the indexer. Following,
    with ARTISAN_REWARD_EPOCH_LENGTH set, also closes each final epoch and publishes its root."""
    from artisan.logs import configure_logging
    from artisan.projections.admin import chain_of
    from artisan.projections.runner import Runner
    from artisan.storage.database import open_database
    from artisan.storage.migrations import migrate

    settings = _settings()
    stop = threading.Event()
    if follow:  # SIGINT or SIGTERM stops it, from the start (waiting, catching up) on
        configure_logging(settings.log_format, executions=settings.log_executions)

        def _stop(_sig: int, _frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)
    db = open_database(settings)
    try:
        migrate(db)
        chain = store_chain(settings, db, interval, stop) if follow and chain_id is None else (
            chain_of(db, chain_id))  # fmt: skip
        if chain is None:
            return  # stopped while waiting
        with Runner(db, chain) as runner:
            if not follow:
                # The event-store position each projection has applied up to (``status``
                # shows the store's head beside it).
                json_line({"caught_up": runner.catch_up()})
            else:
                _follow(settings, runner, interval, epoch_interval, publish, stop)
    except ArtisanError as exc:
        raise fail(exc) from exc
    finally:
        db.close()


def _follow(
    settings: Settings, runner: Runner, interval: float, epoch_interval: float, publish: bool,
    stop: threading.Event,
) -> None:  # fmt: skip
    """Catch up, then run the projection service until SIGINT or SIGTERM, or its first
    failure; heartbeating from the first catch-up on."""
    from artisan.metrics import served
    from artisan.projections.jobs import ProjectionIntervals, ProjectionService
    from artisan.scheduling import build_scheduler

    epochs = _epoch_schedule(settings, runner, publish)
    scheduler = build_scheduler()
    service = ProjectionService(
        runner,
        scheduler,
        epochs=epochs,
        intervals=ProjectionIntervals(
            catch_up=interval, epochs=epoch_interval, publish=min(epoch_interval, 2.0)
        ),
        stop=stop,
        on_closed=lambda closed: json_line(
            {"closed": [{"epoch": c.epoch, "root": c.root} for c in closed]}
        ),
        on_published=lambda published: json_line(
            {
                "published": [
                    {"epoch": p.epoch, "root": p.root, "tx": p.tx_hash, "block": p.block_number}
                    for p in published
                ]
            }
        ),
    )
    beats = service.heartbeats(instance=settings.status_instance,
                               seconds=settings.status_interval)  # fmt: skip
    scheduler.start()
    failure: BaseException | None = None
    try:
        with served(service.metrics.registry, settings.projections_metrics_port,
                    settings.metrics_addr):  # fmt: skip
            for beat in beats:
                beat.starting()
                beat.start()
            _run_service(service, stop)
    except BaseException as exc:
        failure = exc
        raise
    finally:
        service.stop()
        for beat in beats:
            beat.finish(service.failure or failure)
        scheduler.shutdown()
        if epochs is not None and epochs.publisher is not None:
            epochs.publisher.close()
    if service.failure is not None:
        raise service.failure  # an ArtisanError is printed by the command; others trace


def _run_service(service: ProjectionService, stop: threading.Event) -> None:
    """The first catch-up (its positions printed), then the service until it stops."""
    positions = service.runner.catch_up()
    # The event-store position each projection has applied up to (``status`` shows the
    # store's head beside it).
    json_line({"caught_up": positions})
    if not stop.is_set():
        service.start()
        service.wait()


def reward_config(settings: Settings, deployment: Deployment) -> RewardConfig | None:
    """How epochs are cut and funded, from the settings; None when no epoch length is set."""
    from artisan.projections.rewards.epochs import RewardConfig

    if settings.reward_epoch_length == 0:
        return None
    genesis = settings.reward_genesis_block
    return RewardConfig(
        genesis_block=deployment.start_block if genesis is None else genesis,
        epoch_length=settings.reward_epoch_length,
        default_pool=settings.reward_pool,
        pools=dict(settings.reward_pools),
    )


def _epoch_schedule(settings: Settings, runner: Runner, publish: bool) -> EpochSchedule | None:
    """The epoch job's inputs from the settings; None when no epoch length is set. With
    ``publish``, its publisher holds the publisher lock until ``close``."""
    from artisan.chain.contracts import Deployment
    from artisan.projections.jobs import EpochSchedule
    from artisan.projections.rewards.publisher import ChainPublisher, Contracts, PublisherConfig

    if settings.reward_epoch_length == 0:
        return None
    deployment = Deployment.load(settings.deployment_file)
    if deployment.chain_id != runner.chain_id:
        raise ConfigError(
            f"the deployment file {settings.deployment_file} is for chain"
            f" {deployment.chain_id}, the projections for chain {runner.chain_id}"
        )
    config = reward_config(settings, deployment)
    assert config is not None
    publisher = None
    if publish:
        if not settings.rpc_url:
            raise ConfigError(
                "ARTISAN_RPC_URL is not set: the epoch job publishes roots on chain"
                " (or pass --no-publish to close epochs without publishing)"
            )
        publisher = ChainPublisher(
            runner.db,
            settings.rpc_url,
            settings.key("reward_publisher"),
            Contracts.of(deployment),
            PublisherConfig(confirmations=settings.finality_depth, mint=settings.reward_mint),
        )  # fmt: skip
    return EpochSchedule(config, settings.finality_depth, publisher)


@projections_app.command("rebuild")
def rebuild(
    name: str | None = typer.Argument(None, help="one projection; default: all of them"),
    chain_id: int | None = typer.Option(None, help="default: the only indexed chain"),
) -> None:
    """Empty a projection (or all) and replay it from the first event."""
    from artisan.projections import admin
    from artisan.storage.database import open_database

    db = open_database(_settings())
    try:
        json_line({"rebuilt": admin.rebuild(db, name, chain_id=chain_id)})
    except ArtisanError as exc:
        raise fail(exc) from exc
    finally:
        db.close()


@projections_app.command("status")
def status(
    chain_id: int | None = typer.Option(None, help="default: the only indexed chain"),
    as_json: bool = typer.Option(False, "--json", help="one JSON object per projection"),
) -> None:
    """Each projection's position, lag behind the event store, and pending reorg."""
    from artisan.projections import admin
    from artisan.storage.database import open_database

    db = open_database(_settings())
    try:
        rows = admin.status(db, chain_id)
    except ArtisanError as exc:
        raise fail(exc) from exc
    finally:
        db.close()
    if as_json:  # one JSON object per line
        for r in rows:
            json_line(
                {
                    "name": r.name,
                    "chain_id": r.chain_id,
                    "last_position": r.last_position,
                    "head_position": r.head_position,
                    "lag": r.lag,
                    "reorg_pending": r.reorg_pending,
                    "last_block": r.last_block,
                }
            )
        return
    table = Table("projection", "position", "head", "lag", "reorg pending", "last block")
    for r in rows:
        table.add_row(
            r.name,
            str(r.last_position),
            str(r.head_position),
            str(r.lag),
            "yes" if r.reorg_pending else "no",
            "-" if r.last_block is None else str(r.last_block),
        )
    console.print(table)
