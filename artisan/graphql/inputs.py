"""The input types built from the entity declarations, once per process: for each entity its
``<Entity>_filter`` (every column with its kind's suffixes, a nested ``field_`` filter per
relation, ``and``, ``or``, ``_change_block``) and its ``<Entity>_orderBy`` (every column, and
``field__child`` for each column of a to-one relation's target).

Built once because the entity types refer to them (a model's ``executions(where:)`` takes an
``Execution_filter``, named in ``entities`` and placed in its namespace here) and a schema may
be built more than once in a process.
"""

from __future__ import annotations

import enum
from typing import Any, Optional

import strawberry

from artisan.graphql import entities
from artisan.graphql.arguments import BlockChangedFilter
from artisan.graphql.entities import ENTITIES, Entity
from artisan.graphql.grammar import SUFFIXES, Kind
from artisan.graphql.scalars import BigInt, Bytes

_SCALAR_OF: dict[Kind, Any] = {
    Kind.ID: strawberry.ID, Kind.STRING: str, Kind.BYTES: Bytes, Kind.BIG_INT: BigInt,
    Kind.INT: int, Kind.BOOLEAN: bool,
}  # fmt: skip


def optional(kind: Any) -> Any:
    return Optional[kind]  # noqa: UP045 (a runtime annotation, built from a variable)


def list_of(kind: Any) -> Any:
    return list[kind]


def _filter_class(entity: Entity) -> type:
    annotations: dict[str, Any] = {}
    for column in entity.columns:
        scalar = _SCALAR_OF[column.kind]
        for suffix in SUFFIXES[column.kind]:
            many = suffix in ("_in", "_not_in")
            annotations[column.name + suffix] = optional(list_of(scalar) if many else scalar)
    annotations["_change_block"] = optional(BlockChangedFilter)
    name = f"{entity.name}_filter"
    return type(name, (), {"__annotations__": annotations, **dict.fromkeys(annotations)})


def _order_enum(entity: Entity, by_name: dict[str, Entity]) -> Any:
    members = {c.name: c.name for c in entity.columns}
    for relation in entity.relations.values():
        if not relation.many:
            for column in by_name[relation.target].columns:
                members[f"{relation.name}__{column.name}"] = f"{relation.name}__{column.name}"
    make: Any = enum.Enum  # a name built at run time (mypy wants a literal)
    values: Any = make(f"{entity.name}_orderBy", members)
    return strawberry.enum(values)


def _build() -> tuple[dict[str, Any], dict[str, Any]]:
    by_name = {entity.name: entity for entity in ENTITIES}
    classes = {entity.name: _filter_class(entity) for entity in ENTITIES}
    for entity in ENTITIES:
        cls = classes[entity.name]
        for relation in entity.relations.values():
            attribute = relation.name + "_"
            cls.__annotations__[attribute] = optional(classes[relation.target])
            setattr(cls, attribute, None)
        # `and` and `or` are Python keywords: attributes and_ / or_, named for GraphQL.
        cls.__annotations__["and_"] = optional(list_of(optional(cls)))
        cls.__annotations__["or_"] = optional(list_of(optional(cls)))
        cls.and_ = strawberry.field(name="and", default=None)  # type: ignore[attr-defined]
        cls.or_ = strawberry.field(name="or", default=None)  # type: ignore[attr-defined]
    filters = {name: strawberry.input(cls, name=cls.__name__) for name, cls in classes.items()}
    orders = {entity.name: _order_enum(entity, by_name) for entity in ENTITIES}
    # The to-many relations' `where` and `orderBy` name these types: give them their names.
    for name in filters:
        setattr(entities, f"{name}_filter", filters[name])
        setattr(entities, f"{name}_orderBy", orders[name])
    return filters, orders


FILTERS, ORDERS = _build()
