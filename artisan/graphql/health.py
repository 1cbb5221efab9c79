"""``health`` (a query and a subscription): how far behind each part of the system is.

What the database tells (the API reads nothing else): the indexer's checkpoint; each
projection's position and the block it has applied, with the events still ahead of it; the
outbox's executions not yet final on chain; and the rows every service process heartbeats
into ``service_status`` (their state, what they last measured, their last error): the node's
head as the indexer last saw it, each executor's queue. A live row older than three of its
heartbeats is ``stale`` (``storage.service_status.is_stale``, as `artisan status` judges it):
its process stopped heartbeating without saying so (killed, or hung).

The subscription sends the same object when the projections move (their NOTIFY) and at least
every ``everySeconds`` (heartbeats do not notify), so a dashboard's health panel stays current
without polling.
"""

from __future__ import annotations

import time
from typing import Any, cast

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from artisan.graphql import blocks
from artisan.graphql.session import Session
from artisan.projections import positions
from artisan.projections.registry import ALL
from artisan.storage.service_status import is_stale

_TRACKED = """
SELECT name, extract(epoch FROM updated_at)::float8 AS updated FROM projection_tracking
WHERE chain_id = %(chain)s
"""
_SERVICES = """
SELECT service, instance, state, details, last_error,
       extract(epoch FROM now() - updated_at)::float8 AS age,
       extract(epoch FROM started_at)::float8 AS started
FROM service_status ORDER BY service, instance
"""
_OUTBOX = """
SELECT count(*) FILTER (WHERE status = 'pending') AS pending,
       count(*) FILTER (WHERE status = 'broadcast') AS broadcast
FROM outbox_executions WHERE chain_id = %(chain)s AND status IN ('pending', 'broadcast')
"""


@strawberry.type(description="One projection's position and how far it is behind the indexer")
class ProjectionHealth:
    name: str
    position: int = strawberry.field(description="The last event position it applied")
    block: int | None = strawberry.field(description="The highest block it has applied")
    lagBlocks: int | None = strawberry.field(description="Blocks behind the indexer")
    eventsBehind: int = strawberry.field(
        description="Event-store positions above its own (removed events included)"
    )
    updatedAt: float = strawberry.field(description="When it last moved, unix seconds")


@strawberry.type(description="One service process as it last reported itself")
class ServiceHealth:
    service: str
    instance: str
    state: str
    ageSeconds: float = strawberry.field(description="Seconds since its last heartbeat")
    stale: bool = strawberry.field(
        description="No heartbeat for three of its intervals while it says it runs"
    )
    startedAt: float
    lastError: str | None
    details: JSON = strawberry.field(description="What it last measured (its own figures)")


@strawberry.type(description="How far behind each part of the system is, as the database says")
class SystemHealth:
    checkedAt: float = strawberry.field(description="When this was read, unix seconds")
    block: int | None = strawberry.field(
        description="The API's head: the highest block every projection has applied"
    )
    indexedBlock: int | None = strawberry.field(description="The indexer's checkpoint")
    nodeHead: int | None = strawberry.field(
        description="The chain's head as the indexer last saw it (its heartbeat)"
    )
    headLagBlocks: int | None = strawberry.field(description="nodeHead - indexedBlock")
    projectionLagBlocks: int | None = strawberry.field(description="indexedBlock - block")
    projections: list[ProjectionHealth]
    executorQueue: int | None = strawberry.field(
        description="Requests waiting in the running executors' queues (their heartbeats)"
    )
    outboxPending: int = strawberry.field(description="Executions not yet in a transaction")
    outboxBroadcast: int = strawberry.field(description="Executions sent, not yet final")
    services: list[ServiceHealth]


def _int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


async def read(session: Session) -> SystemHealth:
    """Every figure of the health panel, from one snapshot."""
    chain = session.chain_id
    head = await blocks.head(session)
    rows = await session.rows(
        "SELECT block_number FROM indexer_checkpoints WHERE chain_id = %s", (chain,)
    )
    indexed = int(rows[0]["block_number"]) if rows else None
    # Each projection's lag as `artisan status` and the metrics measure it (positions.LAGS),
    # for the projections that have run.
    tracked = {str(r["name"]): float(r["updated"])
               for r in await session.rows(_TRACKED, {"chain": chain})}  # fmt: skip
    names = [p.name for p in ALL if p.name in tracked]
    projections = []
    for r in await session.rows(positions.LAGS, {"chain": chain, "names": names}):
        name, position, top, behind = (r[k] for k in r)
        lag = None if behind is None else max(0, int(behind))
        projections.append(ProjectionHealth(
            name=str(name), position=int(position),
            block=None if indexed is None or lag is None else indexed - lag, lagBlocks=lag,
            eventsBehind=max(0, int(top) - int(position)), updatedAt=tracked[str(name)],
        ))  # fmt: skip
    services: list[ServiceHealth] = []
    heads: list[int] = []  # the node's head as each running indexer last saw it
    queues: list[int] = []  # each running executor's queue
    for r in await session.rows(_SERVICES):
        age, state = max(0.0, float(r["age"])), str(r["state"])
        details: dict[str, Any] = r["details"] if isinstance(r["details"], dict) else {}
        stale = is_stale(state, age, details)
        services.append(ServiceHealth(
            service=str(r["service"]), instance=str(r["instance"]), state=state,
            ageSeconds=round(age, 3), stale=stale, startedAt=float(r["started"]),
            lastError=r["last_error"], details=cast(JSON, details),
        ))  # fmt: skip
        if state not in ("starting", "running", "stopping") or stale:
            continue
        if r["service"] == "indexer" and (seen := _int(details.get("node_head"))) is not None:
            heads.append(seen)
        if r["service"] == "executor" and (queue := _int(details.get("queue_depth"))) is not None:
            queues.append(queue)
    node_head = max(heads) if heads else None
    outbox = (await session.rows(_OUTBOX, {"chain": chain}))[0]
    return SystemHealth(
        checkedAt=round(time.time(), 3), block=head, indexedBlock=indexed, nodeHead=node_head,
        headLagBlocks=None if node_head is None or indexed is None
        else max(0, node_head - indexed),
        projectionLagBlocks=None if indexed is None or head is None else indexed - head,
        projections=projections, executorQueue=sum(queues) if queues else None,
        outboxPending=int(outbox["pending"]), outboxBroadcast=int(outbox["broadcast"]),
        services=services,
    )  # fmt: skip


async def health(info: Info) -> SystemHealth:
    return await read(info.context)
