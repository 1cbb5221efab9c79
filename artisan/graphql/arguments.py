"""The arguments every entity shares, in graph-node's names: ``OrderDirection``,
``Block_height`` (time travel) and ``BlockChangedFilter`` (``_change_block``), and how a
filter input reads as a plain mapping."""

from __future__ import annotations

import enum
from typing import Any

import strawberry

from artisan.graphql.scalars import Bytes


@strawberry.enum(name="OrderDirection")
class OrderDirection(enum.Enum):
    asc = "asc"
    desc = "desc"


@strawberry.input(name="Block_height")
class Block_height:
    hash: Bytes | None = None
    number: int | None = None
    number_gte: int | None = None


@strawberry.input(name="BlockChangedFilter")
class BlockChangedFilter:
    number_gte: int


def as_dict(value: Any) -> dict[str, Any] | None:
    """A filter input as a plain mapping (nested `and`/`or` and `field_` filters too), unset
    fields left out."""
    if value is None:
        return None
    out: dict[str, Any] = {}
    for key, item in vars(value).items():
        if item is None:
            continue
        if key in ("and_", "or_"):
            out[key[:-1]] = [as_dict(sub) or {} for sub in item]
        elif key == "_change_block":
            out[key] = {"number_gte": item.number_gte}
        elif key.endswith("_"):
            out[key] = as_dict(item) or {}
        else:
            out[key] = item
    return out


def order_of(order: Any, direction: Any) -> tuple[str | None, bool]:
    """``orderBy`` and ``orderDirection`` as (field or None, descending)."""
    field = None if order is None else str(order.value)
    return field, direction is not None and direction.value == "desc"
