"""Relations, batched: one DataLoader per (entity, block) per request, which turns every
``load(id)`` of one event-loop tick into one ``id_in`` read."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from strawberry.dataloader import DataLoader

from artisan.graphql import reads
from artisan.graphql.entities import BY_NAME, Entity
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
