"""The API process: strawberry's GraphQL on Starlette, one read snapshot per request.

- ``/``: the dashboard (``dashboard.py``), its bundle under ``/dashboard/``; it reads only
  ``/graphql``.
- ``/graphql``: POST and GET. Every request takes a pooled connection and opens one
  read-only REPEATABLE READ transaction for all of its fields, so they agree with each other
  and with ``_meta`` however the projections move meanwhile. A browser's GET (one that
  accepts text/html, with no ``query``) gets GraphiQL instead (``ide.py``).
- ``/graphiql/...``: the page's scripts and styles, from ``node_modules``: nothing is loaded
  from elsewhere.
- ``/reports/rewards/{epoch}.csv``: an epoch's reward report, the models' lines as CSV
  (``.../{epoch}/creators.csv``: the creators'), the same rows as ``rewardReport``.
- ``/graphql`` over a websocket: subscriptions (graphql-transport-ws; ``live.py``), woken by
  the projections' NOTIFY.
- ``/health``: the process is up.
- ``/ready``: the database answers and the projections are within ``max_lag_blocks`` of the
  indexer; reading a replica, also within ``max_lag_blocks`` of the primary's indexer (asked
  over ``notify_url``); 503 with the reason otherwise.
- ``/metrics``: Prometheus metrics (``metrics.py``: latency per operation, subscriptions).

The pool reads ``read_url`` (``ARTISAN_READ_DATABASE_URL``, default the main database), so API
replicas can read from a streaming replica.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import strawberry
from psycopg import AsyncConnection, IsolationLevel
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from artisan.graphql import blocks, dashboard, ide, live, loaders, reports
from artisan.graphql.audit import Auditor
from artisan.graphql.errors import QueryError
from artisan.graphql.metrics import ApiMetrics
from artisan.graphql.schema import MAX_RESULT_BYTES, build_schema
from artisan.graphql.session import Session
from artisan.metrics import metrics_route
from artisan.projections.rewards import report

STATEMENT_TIMEOUT_MS = 5_000


class _Json(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class _GraphQL(GraphQL[Session, None]):
    def __init__(
        self, schema: strawberry.Schema, page: ide.Page, state: dict[str, Any],
        allowed_origins: tuple[str, ...],
    ) -> None:  # fmt: skip
        # graphql_ide only needs to be set for strawberry to call render_graphql_ide.
        super().__init__(schema, graphql_ide="graphiql", allow_queries_via_get=True,
                         allowed_origins=allowed_origins)  # fmt: skip
        self.page, self.state = page, state

    async def render_graphql_ide(self, request: Request) -> Response:
        return self.page.response(request.scope.get("root_path", ""))

    async def get_context(self, request: Any, response: Any) -> Session:
        if isinstance(request, WebSocket):  # one per connection: its subscriptions' context
            return live.live_session(self.state, self.state["chain_id"])
        session: Session = request.state.session
        return session


class _Snapshot:
    """Wraps the GraphQL app: one pooled connection, one read-only transaction, per request."""

    def __init__(self, app: ASGIApp, state: dict[str, Any]) -> None:
        self.app, self.state = app, state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        pool: AsyncConnectionPool[AsyncConnection[Any]] = self.state["pool"]
        async with pool.connection() as conn, conn.transaction():
            headers = dict(scope.get("headers") or ())
            session = Session(conn, self.state["chain_id"], related=loaders.load,
                              related_many=loaders.children,
                              trace=headers.get(b"x-artisan-trace") == b"1",
                              auditor=self.state.get("auditor"))  # fmt: skip
            scope.setdefault("state", {})["session"] = session
            await self.app(scope, receive, send)


async def _configure(conn: AsyncConnection[Any]) -> None:
    await conn.set_read_only(True)
    await conn.set_isolation_level(IsolationLevel.REPEATABLE_READ)


def create_app(
    read_url: str, *, chain_id: int, max_lag_blocks: int = 10,
    statement_timeout_ms: int = STATEMENT_TIMEOUT_MS, introspection: bool = True,
    max_result_bytes: int = MAX_RESULT_BYTES, node_modules: Path = ide.NODE_MODULES,
    max_subscriptions: int = 10, allowed_origins: tuple[str, ...] = (),
    notify_url: str | None = None, auditor: Auditor | None = None,
    dashboard_root: Path = dashboard.BUNDLE,
    metrics: ApiMetrics | None = None,
) -> Starlette:  # fmt: skip
    """The API app reading ``read_url``; the pool opens and closes with the app's lifespan.

    ``node_modules``: where GraphiQL's files are (``ide.py``); ``dashboard_root``: the
    dashboard's bundle (``dashboard.py``). ``allowed_origins``: the other
    sites whose pages may open subscriptions (``*``: any; none: the API's own only).
    Subscriptions LISTEN on
    ``notify_url`` (default ``read_url``): a streaming replica does not relay NOTIFY, so with a
    replica give the primary here.
    """
    metrics = metrics or ApiMetrics()
    state: dict[str, Any] = {"chain_id": chain_id, "max_subscriptions": max_subscriptions,
                             "auditor": auditor, "metrics": metrics}  # fmt: skip

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
            read_url, min_size=1, max_size=10, open=False, configure=_configure,
            kwargs={"options": f"-c statement_timeout={statement_timeout_ms}"},
        )  # fmt: skip
        await pool.open()
        state["pool"] = pool
        # Reading a replica: /ready also asks the primary how far its indexer is, so that a
        # replica that stopped replaying is not ready however current it looks to itself.
        primary: AsyncConnectionPool[AsyncConnection[Any]] | None = None
        if notify_url is not None and notify_url != read_url:
            primary = AsyncConnectionPool(notify_url, min_size=0, max_size=2, open=False,
                                          kwargs={"autocommit": True})  # fmt: skip
            await primary.open()
        state["primary"] = primary
        state["listener"] = listener = live.Listener(notify_url or read_url)
        listening = asyncio.create_task(listener.run())
        try:
            yield
        finally:
            listening.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listening
            await pool.close()
            if primary is not None:
                await primary.close()

    async def health(_request: Request) -> Response:
        return _Json({"status": "ok"})

    async def ready(_request: Request) -> Response:
        pool: AsyncConnectionPool[AsyncConnection[Any]] = state["pool"]
        try:
            async with pool.connection(timeout=2.0) as conn, conn.transaction():
                top = await blocks.head(Session(conn, chain_id))
                cur = await conn.execute(
                    "SELECT block_number FROM indexer_checkpoints WHERE chain_id = %s",
                    (chain_id,),
                )
                row = await cur.fetchone()
                cur = await conn.execute(
                    "SELECT index_name FROM projection_deferred_indexes ORDER BY index_name"
                )
                rebuilding = [str(r[0]) for r in await cur.fetchall()]
        except Exception as exc:  # any failure to read is "not ready", with its reason
            return _Json({"ready": False, "reason": f"the database does not answer: {exc}"},
                         status_code=503)  # fmt: skip
        if row is None or top is None:
            return _Json({"ready": False, "reason": "nothing is indexed and projected yet"},
                         status_code=503)  # fmt: skip
        if rebuilding:  # a replay dropped reader indexes: queries would scan whole tables
            return _Json({"ready": False, "block": top, "rebuilding_indexes": rebuilding,
                          "reason": f"{len(rebuilding)} reader indexes are being rebuilt after"
                                    " a replay"}, status_code=503)  # fmt: skip
        lag = int(row[0]) - top
        if lag > max_lag_blocks:
            return _Json({"ready": False, "lag_blocks": lag,
                          "reason": f"the projections are {lag} blocks behind the indexer"
                                    f" (at most {max_lag_blocks})"},
                         status_code=503)  # fmt: skip
        primary: AsyncConnectionPool[AsyncConnection[Any]] | None = state["primary"]
        if primary is not None:
            try:
                async with primary.connection(timeout=2.0) as conn:
                    cur = await conn.execute(
                        "SELECT block_number FROM indexer_checkpoints WHERE chain_id = %s",
                        (chain_id,),
                    )
                    found = await cur.fetchone()
            except Exception as exc:  # the replica alone cannot tell how far behind it is
                return _Json({"ready": False, "reason": f"the primary does not answer: {exc}"},
                             status_code=503)  # fmt: skip
            behind = (int(found[0]) if found else top) - top
            if behind > max_lag_blocks:
                return _Json({"ready": False, "block": top, "replica_lag_blocks": behind,
                              "reason": f"this replica is {behind} blocks behind the primary's"
                                        f" indexer (at most {max_lag_blocks})"},
                             status_code=503)  # fmt: skip
            return _Json({"ready": True, "block": top, "lag_blocks": lag,
                          "replica_lag_blocks": behind})  # fmt: skip
        return _Json({"ready": True, "block": top, "lag_blocks": lag})

    async def reward_csv(request: Request) -> Response:
        """``/reports/rewards/{epoch}.csv`` (the models' lines) and ``.../creators.csv``."""
        pool: AsyncConnectionPool[AsyncConnection[Any]] = state["pool"]
        epoch = int(request.path_params["epoch"])
        async with pool.connection() as conn, conn.transaction():
            try:
                found = await reports.of(Session(conn, chain_id), epoch)
            except QueryError as exc:
                return Response(f"{exc}\n", status_code=404, media_type="text/plain")
        lines = found.creators if request.path_params.get("rows") == "creators" else found.models
        return Response(report.to_csv(lines), media_type="text/csv",
                        headers={"content-disposition": f"attachment; filename="
                                 f"rewards-{epoch}-{request.path_params.get('rows', 'models')}"
                                 ".csv"})  # fmt: skip

    schema = build_schema(introspection=introspection, max_result_bytes=max_result_bytes,
                          metrics=metrics)  # fmt: skip
    graphql = _GraphQL(schema, ide.Page.find(node_modules), state, allowed_origins)
    return Starlette(
        routes=[
            Route("/", dashboard.Page(dashboard_root).endpoint, methods=["GET"]),
            Mount(dashboard.PREFIX, dashboard.Assets(dashboard_root)),
            Route("/graphql", _Snapshot(graphql, state), methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/health", health, methods=["GET"]),
            Route("/ready", ready, methods=["GET"]),
            metrics_route(metrics.registry),
            Route("/reports/rewards/{epoch:int}.csv", reward_csv, methods=["GET"]),
            Route("/reports/rewards/{epoch:int}/{rows:str}.csv", reward_csv, methods=["GET"]),
            Mount(ide.PREFIX, ide.Assets(node_modules)),
        ],
        lifespan=lifespan,
    )
