"""Live updates: GraphQL subscriptions over graphql-transport-ws, driven by the projections'
commits, not by polling.

The projection runner sends NOTIFY ``artisan_projected`` in every transaction that moves a
projection; one ``Listener`` per API process LISTENs on a connection of its own and wakes every
subscription when one arrives. A woken subscription reads what is new as of the API's head
(the block every projection has applied) since what it last sent, and sends it:

- ``executions(where:)``: each new execution (matching ``where``), in chain order;
- ``blocks``: each new canonical block header;
- ``reorgs``: each reorganization the indexer followed, with its depth and orphaned hashes;
- ``health``: the system's health (``health.py``) on each wake, and at least every few
  seconds, since service heartbeats do not notify.

After a reorg, ``executions`` and ``blocks`` step back to its common ancestor, so what the new
branch holds is sent (a client that also follows ``reorgs`` knows what to drop). A client more
than ``MAX_BEHIND`` rows behind is dropped with a message naming the limit, never buffered
without bound; a connection holds at most ``max_subscriptions`` of them. A browser on another
site may open one only from an allowed origin (``ARTISAN_API_ALLOWED_ORIGINS``; strawberry
refuses the others' handshakes with 403): a page elsewhere cannot subscribe with its user's
network position.

A subscription's reads and its payloads' relations each run on a pooled connection in a
read-only transaction of their own (``LiveSession``): one message is consistent with itself,
not a snapshot across messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import strawberry
from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row
from psycopg.sql import Composed
from psycopg_pool import AsyncConnectionPool
from strawberry.types import Info

from artisan.graphql import blocks, health, loaders, reads
from artisan.graphql.arguments import as_dict
from artisan.graphql.entities import BLOCK, EXECUTION, REORG, Block, Entity, Execution, Reorg
from artisan.graphql.errors import QueryError
from artisan.graphql.health import SystemHealth
from artisan.graphql.inputs import FILTERS
from artisan.graphql.metrics import ApiMetrics
from artisan.graphql.session import Session
from artisan.storage.event_store import PROJECTED_CHANNEL

log = logging.getLogger(__name__)

MAX_BEHIND = 1000  # rows a subscription may have to send at once before it is dropped
SAFETY_WAKE_S = 30.0  # a missed notification (a lost LISTEN connection) costs at most this
MIN_EVERY_S, MAX_EVERY_S = 1, 3600  # the health subscription's period


class Listener:
    """LISTEN ``artisan_projected`` on a connection of its own; wake every subscription."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.waiters: set[asyncio.Event] = set()
        self.heard = 0

    def wake(self) -> None:
        self.heard += 1
        for event in list(self.waiters):
            event.set()

    async def run(self) -> None:
        while True:
            try:
                async with await AsyncConnection.connect(self.url, autocommit=True) as conn:
                    await conn.execute(
                        sql.SQL("LISTEN {}").format(sql.Identifier(PROJECTED_CHANNEL))
                    )
                    self.wake()  # anything committed while not listening
                    async for _ in conn.notifies():
                        self.wake()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a lost connection: listen again, soon
                log.warning("the API lost its LISTEN connection (%s); listening again", exc)
                await asyncio.sleep(1.0)

    @contextlib.contextmanager
    def waiter(self) -> Any:
        event = asyncio.Event()
        self.waiters.add(event)
        try:
            yield event
        finally:
            self.waiters.discard(event)


@dataclass
class LiveSession(Session):
    """A websocket connection's context: each statement on a pooled connection of its own, in
    a read-only transaction; the connection's subscriptions are counted."""

    pool: AsyncConnectionPool[AsyncConnection[Any]] | None = None
    listener: Listener | None = None
    max_subscriptions: int = 10
    active: int = 0
    metrics: ApiMetrics | None = None

    one_snapshot: ClassVar[bool] = False  # each statement in a transaction of its own

    async def _execute(
        self, query: Composed | str, params: Sequence[Any] | Mapping[str, Any] | None
    ) -> list[dict[str, Any]]:
        assert self.pool is not None
        async with (
            self.pool.connection() as conn,
            conn.transaction(),
            conn.cursor(row_factory=dict_row) as cur,
        ):
            await cur.execute(query, params)
            return await cur.fetchall()


@contextlib.contextmanager
def _counted(live: LiveSession, name: str) -> Any:
    if live.active >= live.max_subscriptions:
        raise QueryError(f"At most {live.max_subscriptions} subscriptions per connection: this"
                         f" one already has {live.active}")  # fmt: skip
    live.active += 1
    if live.metrics is not None:
        live.metrics.open_subscription(name)
    try:
        yield
    finally:
        live.active -= 1
        if live.metrics is not None:
            live.metrics.close_subscription(name)


async def _reorg_mark(live: LiveSession) -> int:
    """The newest reorg's id (0: none yet)."""
    rows = await live.rows("SELECT coalesce(max(id), 0) AS id FROM reorgs WHERE chain_id = %s",
                           (live.chain_id,))  # fmt: skip
    return int(rows[0]["id"])


async def _lowest_ancestor(live: LiveSession, since: int) -> int | None:
    rows = await live.rows(
        "SELECT min(ancestor_number) AS a FROM reorgs WHERE chain_id = %s AND id > %s",
        (live.chain_id, since),
    )
    value = rows[0]["a"]
    return None if value is None else int(value)


async def _head(live: LiveSession) -> int:
    live.loaders.clear()  # a new head: nothing cached from before
    top = await blocks.head(live)
    return 0 if top is None else top


async def _follow(
    info: Info, entity: Entity, block_field: str, where: dict[str, Any] | None
) -> AsyncGenerator[Any, None]:
    """Every row of ``entity`` that a new head brings, in chain order, as it comes."""
    live: LiveSession = info.context
    assert live.listener is not None
    with _counted(live, entity.plural), live.listener.waiter() as woken:
        sent_upto = await _head(live)
        seen_reorg = await _reorg_mark(live)
        while True:
            await _wait(woken)
            head = await _head(live)
            lowest = await _lowest_ancestor(live, seen_reorg)
            if lowest is not None:  # a reorg: what the new branch holds above it is new
                seen_reorg = await _reorg_mark(live)
                sent_upto = min(sent_upto, lowest)
            if head <= sent_upto:
                continue
            newer = {f"{block_field}_gt": str(sent_upto)}
            scope = {"and": [where, newer]} if where else newer
            read = reads.select(entity, scope, reads.Order(block_field, False), head,
                                limit=MAX_BEHIND + 1)  # fmt: skip
            rows = await reads.fetch(live, read)
            if len(rows) > MAX_BEHIND:
                raise QueryError(
                    f"The subscription fell more than {MAX_BEHIND} rows behind:"
                    " subscribe again (and read what was missed with a query)"
                )
            for row in rows:
                yield reads.to_entity(entity, row, head)
            sent_upto = head


async def _wait(woken: asyncio.Event, at_most: float = SAFETY_WAKE_S) -> None:
    # On Python 3.11, asyncio.wait_for whose awaitable finishes as its task is cancelled
    # returns and swallows the cancellation (psycopg_pool waits for a connection that way).
    # A subscription whose connection closed then ran on, and the server never finished
    # shutting down. The task still counts the request: honour it here.
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(at_most):
            await woken.wait()
    woken.clear()


async def _executions(info: Info, where: Any = None) -> AsyncGenerator[Execution, None]:
    async for execution in _follow(info, EXECUTION, "blockNumber", as_dict(where)):
        yield execution


async def _blocks(info: Info) -> AsyncGenerator[Block, None]:
    async for block in _follow(info, BLOCK, "number", None):
        yield block


async def _reorgs(info: Info) -> AsyncGenerator[Reorg, None]:
    live: LiveSession = info.context
    assert live.listener is not None
    with _counted(live, "reorgs"), live.listener.waiter() as woken:
        seen = await _reorg_mark(live)
        while True:
            await _wait(woken)
            head = await _head(live)
            read = reads.select(REORG, {"id_gt": str(seen)}, reads.Order(None, False), 2**62,
                                limit=MAX_BEHIND)  # fmt: skip
            for row in await reads.fetch(live, read):
                seen = max(seen, int(row["id"]))
                yield reads.to_entity(REORG, row, head)


async def _health(info: Info, everySeconds: int = 2) -> AsyncGenerator[SystemHealth, None]:
    live: LiveSession = info.context
    assert live.listener is not None
    if not MIN_EVERY_S <= everySeconds <= MAX_EVERY_S:
        raise QueryError(f"The `everySeconds` argument must be between {MIN_EVERY_S} and"
                         f" {MAX_EVERY_S}, but is {everySeconds}")  # fmt: skip
    with _counted(live, "health"), live.listener.waiter() as woken:
        while True:
            live.loaders.clear()  # a new read: nothing cached from the last one
            yield await health.read(live)
            await _wait(woken, everySeconds)  # heartbeats do not notify: at most this long


_executions.__annotations__["where"] = FILTERS["Execution"] | None


def subscription_type() -> type:
    @strawberry.type(name="Subscription")
    class Subscription:
        executions: AsyncGenerator[Execution, None] = strawberry.subscription(
            resolver=_executions, description="Each new execution matching `where`, as projected"
        )
        blocks: AsyncGenerator[Block, None] = strawberry.subscription(
            resolver=_blocks, description="Each new canonical block, as projected"
        )
        reorgs: AsyncGenerator[Reorg, None] = strawberry.subscription(
            resolver=_reorgs, description="Each reorganization the indexer followed"
        )
        health: AsyncGenerator[SystemHealth, None] = strawberry.subscription(
            resolver=_health, description="The system's health now, then whenever the"
            " projections move, and at least every `everySeconds` (1..3600)",
        )  # fmt: skip

    return Subscription


def live_session(state: Mapping[str, Any], chain_id: int) -> LiveSession:
    return LiveSession(conn=None, chain_id=chain_id, related=loaders.load,  # type: ignore[arg-type]
                       related_many=loaders.children, pool=state["pool"],
                       listener=state["listener"],
                       max_subscriptions=state["max_subscriptions"],
                       metrics=state.get("metrics"))  # fmt: skip
