"""What every process's Prometheus metrics share: a registry of its own, and two ways to serve it.

Each long-running process keeps one ``CollectorRegistry`` (never the library's process-wide
default: two services in one test process, or one process running two services, never mix
their counters by accident). Each service's metrics class (``indexer/metrics.py``,
``executor/metrics.py``, ...) registers into the registry it is given. A process with an HTTP
app of its own (the executor, the GraphQL API) answers ``GET /metrics`` there
(``metrics_route``); the others serve it on a port of their own (``serve``, off with port 0).
docs/OPERATIONS.md lists the metrics.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    GCCollector,
    ProcessCollector,
    generate_latest,
    start_http_server,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from artisan.errors import ConfigError

__all__ = ["metrics_route", "process_registry", "serve", "served"]


def process_registry() -> CollectorRegistry:
    """A new registry with the process's own figures (CPU, memory, open files, GC)."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


def metrics_route(registry: CollectorRegistry, path: str = "/metrics") -> Route:
    """``GET /metrics`` on a Starlette app: the registry in Prometheus's text format."""

    async def metrics(_request: Request) -> Response:
        # generate_latest walks the collectors; the callback gauges among them read plain
        # attributes, nothing that blocks, so it runs on the event loop.
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return Route(path, metrics, methods=["GET"])


def serve(registry: CollectorRegistry, port: int, addr: str = "127.0.0.1") -> Callable[[], None]:
    """Serve ``/metrics`` on ``port`` from a daemon thread; the function that stops it. A port
    that cannot be bound is a ``ConfigError`` naming it."""
    try:
        server, thread = start_http_server(port, addr=addr, registry=registry)
    except OSError as exc:
        raise ConfigError(f"cannot serve /metrics on {addr}:{port}: {exc}") from exc

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join()

    return stop


@contextlib.contextmanager
def served(registry: CollectorRegistry, port: int, addr: str = "127.0.0.1") -> Iterator[None]:
    """``serve`` for the length of a block; nothing when ``port`` is 0."""
    if not port:
        yield
        return
    stop = serve(registry, port, addr)
    try:
        yield
    finally:
        stop()
