"""One request's reading session: its snapshot connection, its chain, the DataLoaders that
batch its relations, and a count of the SQL statements it ran (the N+1 test and the
benchmark read it; a client sees it in the response's extensions when it sends
``X-Artisan-Trace: 1``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.sql import Composed

from artisan.graphql.errors import QueryError, database_errors


@dataclass
class Session:
    conn: AsyncConnection[Any]
    chain_id: int
    trace: bool = False
    statements: int = 0
    loaders: dict[Any, Any] = field(default_factory=dict)
    failed: QueryError | None = None  # why the snapshot ended: every later field says so
    one_snapshot: ClassVar[bool] = True  # every statement in the one transaction of ``conn``
    # How relations load (``loaders.load`` and ``loaders.children``, given by the app: this
    # module imports no reads).
    related: Callable[[Session, str, int, Any], Awaitable[Any]] | None = None
    related_many: Callable[..., Awaitable[list[Any]]] | None = None
    auditor: Any = None  # ``audit.Auditor`` where the API was given a node; else None
    audits: int = 0  # audits this request asked for (each re-reads the node: limited)

    async def load(self, entity: str, at: int, key: Any) -> Any:
        """The ``entity`` with id ``key`` as of block ``at``, batched with its neighbours."""
        assert self.related is not None, "a session serving relations is given `related`"
        return await self.related(self, entity, at, key)

    async def children(
        self, relation: Any, at: int, key: Any, where: dict[str, Any] | None,
        order: str | None, desc: bool, first: int | None, skip: int | None,
    ) -> list[Any]:  # fmt: skip
        """A page of a to-many ``relation`` of the parent with ``key``, as of block ``at``,
        batched with the same page of its neighbours."""
        assert self.related_many is not None, "a session serving relations is given them"
        return await self.related_many(self, relation, at, key, where, order, desc, first, skip)

    async def rows(
        self, query: Composed | str, params: Sequence[Any] | Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Run one statement in the request's snapshot; its rows as mappings."""
        if self.failed is not None:
            raise QueryError(str(self.failed))
        self.statements += 1
        if isinstance(params, dict):
            params = {**params, "chain": self.chain_id}  # sources that read one chain
        try:
            with database_errors():
                return await self._execute(query, params)
        except QueryError as refused:
            if self.one_snapshot:  # the snapshot ended: every later field says why
                self.failed = refused
            raise

    async def _execute(
        self, query: Composed | str, params: Sequence[Any] | Mapping[str, Any] | None
    ) -> list[dict[str, Any]]:
        async with self.conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query, params)
            return await cur.fetchall()
