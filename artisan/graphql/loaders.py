"""Relations, batched per request: one DataLoader per (entity, block), which turns every
``load(id)`` of one event-loop tick into one ``id_in`` read; and one per (to-many relation,
block, arguments), which turns the pages of every parent of a page into one LATERAL read."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from strawberry.dataloader import DataLoader

from artisan.graphql import reads
from artisan.graphql.entities import BY_NAME, Entity, Relation
from artisan.graphql.grammar import MAX_FIRST, MAX_SKIP, page
from artisan.graphql.session import Session

_BY_ID = reads.Order(None, False)


async def load(session: Session, entity_name: str, at: int, key: Any) -> Any:
    """The ``entity_name`` with id ``key`` as of block ``at`` (None where there is none)."""
    cache_key = ("by_id", entity_name, at)
    loader = session.loaders.get(cache_key)
    if loader is None:
        loader = session.loaders[cache_key] = _loader(session, BY_NAME[entity_name], at)
    return await loader.load(key)


def _loader(session: Session, entity: Entity, at: int) -> DataLoader[Any, Any]:
    async def batch(keys: Sequence[Any]) -> list[Any]:
        read = reads.select(entity, {"id_in": list(keys)}, _BY_ID, at, limit=len(keys))
        rows = await reads.fetch(session, read)
        found = {str(row["id"]): reads.to_entity(entity, row, at) for row in rows}
        return [found.get(str(key)) for key in keys]

    return DataLoader(load_fn=batch)


async def children(
    session: Session, relation: Relation, at: int, key: Any, where: dict[str, Any] | None,
    order: str | None, desc: bool, first: int | None, skip: int | None,
) -> list[Any]:  # fmt: skip
    """The page of ``relation`` under the parent whose key is ``key``, as of block ``at``."""
    limits = page(first, skip, MAX_FIRST, MAX_SKIP)
    arguments = orjson.dumps([where, order, desc, limits.first, limits.skip], default=str)
    cache_key = ("children", relation.owner, relation.name, at, arguments)
    loader = session.loaders.get(cache_key)
    if loader is None:
        read_order = reads.Order(order, desc)
        loader = session.loaders[cache_key] = _pages(
            session, relation, at, where, read_order, limits.first, limits.skip
        )
    found: list[Any] = await loader.load(key)
    return found


def _pages(
    session: Session, relation: Relation, at: int, where: dict[str, Any] | None,
    order: reads.Order, first: int, skip: int,
) -> DataLoader[Any, list[Any]]:  # fmt: skip
    target = BY_NAME[relation.target]

    async def batch(keys: Sequence[Any]) -> list[list[Any]]:
        read = reads.select_children(relation, list(dict.fromkeys(keys)), where, order, at,
                                     limit=first, skip=skip)  # fmt: skip
        grouped: dict[str, list[Any]] = {}
        for row in await reads.fetch(session, read):
            grouped.setdefault(str(row["_parent"]), []).append(reads.to_entity(target, row, at))
        return [grouped.get(str(key), []) for key in keys]

    return DataLoader(load_fn=batch)
