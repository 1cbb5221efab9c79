"""The GraphQL schema, in graph-node's grammar: for each entity a singular field by id and a
plural one with `where`, `orderBy`, `orderDirection`, `first`, `skip` and `block`; `_meta`.

Field names are graph-node's, so strawberry's automatic camel-casing is off. Filter inputs and
orderBy enums are built from each entity's columns (``entities``); every query runs in the
request's one snapshot (``app``), so all its fields agree with each other and with `_meta`.
Limits (depth, aliases, tokens) answer in their own words: only unexpected errors are masked.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext, Info

from artisan.graphql import (
    audit,
    blocks,
    connections,
    health,
    lineage,
    live,
    reads,
    reports,
    stats,
)
from artisan.graphql.arguments import Block_height, OrderDirection, as_dict, order_of
from artisan.graphql.cost import cost_limiter
from artisan.graphql.entities import ENTITIES, Entity
from artisan.graphql.errors import QueryError
from artisan.graphql.grammar import MAX_FIRST, MAX_SKIP, page
from artisan.graphql.inputs import FILTERS, ORDERS, list_of, optional
from artisan.graphql.metrics import ApiMetrics
from artisan.graphql.scalars import SCALARS, Bytes
from artisan.graphql.session import Session

log = logging.getLogger(__name__)

MAX_DEPTH = 10
MAX_ALIASES = 30
MAX_TOKENS = 5000
MAX_COST = 50_000  # entities, by graph-node's formula (cost.py)
MAX_RESULT_BYTES = 10_000_000  # the answer's `data`, as JSON
PARSED_QUERIES = 512  # distinct query texts kept parsed and validated (LRU)


@strawberry.type(name="_Block_")
class _Block_:
    number: int
    hash: Bytes | None
    timestamp: int | None
    parentHash: Bytes | None


@strawberry.type(name="_Meta_")
class _Meta_:
    block: _Block_
    deployment: str
    hasIndexingErrors: bool


def _order(order: Any, direction: Any) -> reads.Order:
    return reads.Order(*order_of(order, direction))


async def _rows(
    info: Info, entity: Entity, where: dict[str, Any] | None, order: reads.Order,
    first: int | None, skip: int | None, block: Block_height | None,
) -> list[Any]:  # fmt: skip
    session: Session = info.context
    at = await blocks.as_of(session, block)
    limits = page(first, skip, MAX_FIRST, MAX_SKIP)
    read = reads.select(entity, where, order, at, limit=limits.first, skip=limits.skip)
    return [reads.to_entity(entity, row, at) for row in await reads.fetch(session, read)]


def _fields(entity: Entity) -> dict[str, Any]:
    """The singular and plural root fields of ``entity``, with graph-node's arguments."""
    filter_type, order_type = FILTERS[entity.name], ORDERS[entity.name]

    async def plural(
        info: Info, skip: int | None = 0, first: int | None = 100,
        orderBy: Any = None, orderDirection: OrderDirection | None = None,
        where: Any = None, block: Block_height | None = None,
    ) -> list[Any]:  # fmt: skip
        return await _rows(info, entity, as_dict(where), _order(orderBy, orderDirection), first,
                           skip, block)  # fmt: skip

    plural.__annotations__.update({
        "orderBy": optional(order_type), "where": optional(filter_type),
        "return": list_of(entity.type),
    })  # fmt: skip

    async def singular(info: Info, id: strawberry.ID, block: Block_height | None = None) -> Any:
        found = await _rows(info, entity, {"id": str(id)}, reads.Order(None, False), 1, 0, block)
        return found[0] if found else None

    singular.__annotations__["return"] = optional(entity.type)

    async def connection(
        info: Info, first: int | None = None, after: str | None = None,
        last: int | None = None, before: str | None = None,
        orderBy: Any = None, orderDirection: OrderDirection | None = None,
        where: Any = None, block: Block_height | None = None,
    ) -> Any:  # fmt: skip
        at = await blocks.as_of(info.context, block)
        return await connections.page(
            info, entity, as_dict(where), _order(orderBy, orderDirection), at,
            first=first, after=after, last=last, before=before, max_first=MAX_FIRST,
        )  # fmt: skip

    connection.__annotations__.update({
        "orderBy": optional(order_type), "where": optional(filter_type),
        "return": connections.Connection[entity.type],  # type: ignore[name-defined]
    })  # fmt: skip
    connected = f"{entity.plural}Connection"
    return {
        entity.singular: strawberry.field(resolver=singular, name=entity.singular),
        entity.plural: strawberry.field(resolver=plural, name=entity.plural),
        connected: strawberry.field(
            resolver=connection, name=connected,
            description=f"{entity.name}s in pages with keyset cursors (any depth, one cost)",
        ),
    }  # fmt: skip


async def _meta(info: Info, block: Block_height | None = None) -> _Meta_:
    at = await blocks.as_of(info.context, block)
    found = await blocks.canonical(info.context, at)
    hashless = block is not None and block.number is not None and block.hash is None
    return _Meta_(
        block=_Block_(
            number=found.number,
            hash=None if hashless or found.hash is None else Bytes(found.hash),
            timestamp=found.timestamp,
            parentHash=None if found.parent_hash is None else Bytes(found.parent_hash),
        ),
        deployment=blocks.DEPLOYMENT,
        hasIndexingErrors=False,
    )


def build_query() -> type:
    fields: dict[str, Any] = {
        "_meta": strawberry.field(resolver=_meta, name="_meta"),
        "lineage": strawberry.field(resolver=lineage.lineage, name="lineage"),
        "rewardReport": strawberry.field(resolver=reports.reward_report, name="rewardReport"),
        "executionStats": strawberry.field(resolver=stats.execution_stats, name="executionStats"),
        "topModels": strawberry.field(resolver=stats.top_models, name="topModels"),
        "audit": strawberry.field(resolver=audit.audit, name="audit"),
        "health": strawberry.field(resolver=health.health, name="health"),
    }
    for entity in ENTITIES:
        fields.update(_fields(entity))
    return strawberry.type(type("Query", (), fields))


def _should_mask(error: GraphQLError) -> bool:
    """Mask what is ours to fix, not what the client sent: refusals and limits stay readable."""
    original = error.original_error
    # A GraphQLError under one is graphql-core's refusal of a variable's value (a list where
    # an object or a scalar is due): the client's to read, like a scalar's ValueError.
    if original is None or isinstance(original, QueryError | ValueError | GraphQLError):
        return False
    error_id = uuid.uuid4().hex[:12]
    log.error("unexpected error %s in %s", error_id, error.path, exc_info=original)
    error.extensions = {**(error.extensions or {}), "errorId": error_id}
    return True


class _Mask(MaskErrors):
    """strawberry's masking, keeping the ``errorId`` the client quotes to find the log line."""

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        masked = super().anonymise_error(error)
        masked.extensions = {"errorId": (error.extensions or {}).get("errorId")}
        return masked


class _Trace(SchemaExtension):
    """``X-Artisan-Trace: 1``: the response's extensions count the request's SQL statements."""

    def get_results(self) -> dict[str, Any]:
        session = self.execution_context.context
        if isinstance(session, Session) and session.trace:
            return {"sqlStatements": session.statements}
        return {}


def result_limiter(limit: int) -> type[SchemaExtension]:
    """Refuses an answer whose `data` is over ``limit`` bytes of JSON, naming both figures:
    the cost limit bounds the rows, this bounds what wide rows and long lists add to them."""

    class ResultSizeLimiter(SchemaExtension):
        def on_execute(self) -> Iterator[None]:
            yield
            result = self.execution_context.result
            if result is None or result.data is None:
                return
            size = len(orjson.dumps(result.data))
            if size > limit:  # in place: strawberry answers with this very object
                result.data = None
                result.errors = [GraphQLError(
                    f"The result is {size} bytes, over the limit of {limit} bytes: ask for fewer"
                    " rows or fields (`first`, or pages of a `...Connection` field)")]  # fmt: skip

    return ResultSizeLimiter


class _Schema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """A client's mistake is the client's to read, logged at debug only; an unexpected
        error is logged once, with its id, where it is masked (``_should_mask``)."""
        for error in errors:
            log.debug("query refused: %s", error.message)


COLLECTIONS = frozenset(
    name for entity in ENTITIES for name in (entity.plural, f"{entity.plural}Connection")
) | {"lineage", "executionStats", "topModels"}
NESTED_COLLECTIONS = frozenset(
    relation.name for entity in ENTITIES for relation in entity.relations.values() if relation.many
)


def build_schema(
    *, introspection: bool = True, max_cost: int = MAX_COST,
    max_result_bytes: int = MAX_RESULT_BYTES, metrics: ApiMetrics | None = None,
) -> strawberry.Schema:  # fmt: skip
    """The schema with its limits; ``introspection=False`` refuses ``__schema``/``__type``;
    ``metrics`` times every operation."""
    # The depth and alias limits are validation rules: made once here, so that every request
    # validates with the same rules and a query text seen before hits the validation cache
    # (strawberry's limiters make new rule classes per request, which would miss it).
    limits = [*QueryDepthLimiter(max_depth=MAX_DEPTH).validation_rules,
              *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules]  # fmt: skip
    extensions: list[Any] = [
        # A dashboard sends the same query text with new variables: parse and validate it once.
        lambda: ParserCache(maxsize=PARSED_QUERIES),
        lambda: AddValidationRules(limits),
        lambda: ValidationCache(maxsize=PARSED_QUERIES),
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        cost_limiter(COLLECTIONS, NESTED_COLLECTIONS, max_cost),
        result_limiter(max_result_bytes),
        _Trace,
        lambda: _Mask(should_mask_error=_should_mask, error_message="Unexpected error."),
    ]
    if not introspection:
        extensions.insert(0, DisableIntrospection)
    if metrics is not None:  # first: its time covers the other extensions' work too
        extensions.insert(0, metrics.timer())
    return _Schema(
        query=build_query(),
        subscription=live.subscription_type(),
        config=StrawberryConfig(auto_camel_case=False, scalar_map=SCALARS),
        extensions=extensions,
    )
