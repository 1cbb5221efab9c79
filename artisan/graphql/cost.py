"""The query cost limit, by graph-node's formula: a collection field costs ``first x (1 + the
cost of its children)`` (``first`` 100 when absent), any other field with a selection ``1 + its
children``, a scalar nothing. Checked before execution, with the variables' values, so a
query that could return too many entities is refused before it reads a row."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
)
from strawberry.extensions import SchemaExtension

DEFAULT_FIRST = 100


def too_expensive(cost: int, limit: int) -> str:
    return (
        f"query potentially returns `{cost}` entities or more and thereby exceeds the limit of"
        f" `{limit}` entities. Possible solutions are reducing the depth of the query, querying"
        " fewer relationships or using `first` to return smaller collections"
    )


class QueryCost:
    """Walks one operation; ``collections`` names the root fields that return many entities,
    ``nested`` the fields below the root that do (a model's executions). An execution's
    settlements, a short list in its row, count as one object."""

    def __init__(
        self, collections: frozenset[str], nested: frozenset[str],
        fragments: Mapping[str, FragmentDefinitionNode], variables: Mapping[str, Any],
    ) -> None:  # fmt: skip
        self.collections, self.nested = collections, nested
        self.fragments, self.variables = fragments, variables

    def of(
        self, selection: SelectionSetNode | None, seen: frozenset[str] = frozenset(),
        *, root: bool = True,
    ) -> int:  # fmt: skip
        return sum(
            self._field(node, within, root) for node, within in self._fields(selection, seen)
        )

    def _fields(
        self, selection: SelectionSetNode | None, seen: frozenset[str]
    ) -> Iterator[tuple[FieldNode, frozenset[str]]]:
        for node in selection.selections if selection else ():
            if isinstance(node, FieldNode):
                yield node, seen
            elif isinstance(node, InlineFragmentNode):
                yield from self._fields(node.selection_set, seen)
            elif isinstance(node, FragmentSpreadNode) and node.name.value not in seen:
                fragment = self.fragments.get(node.name.value)
                if fragment is not None:
                    yield from self._fields(fragment.selection_set, seen | {node.name.value})

    def _field(self, node: FieldNode, seen: frozenset[str], root: bool) -> int:
        if node.selection_set is None:
            return 0
        children = self.of(node.selection_set, seen, root=False)
        if node.name.value in (self.collections if root else self.nested):
            return self._size(node) * (1 + children)
        return 1 + children

    def _size(self, node: FieldNode) -> int:
        for argument in node.arguments or ():
            if argument.name.value in ("first", "last"):
                value = argument.value
                if isinstance(value, IntValueNode):
                    return int(value.value)
                if isinstance(value, VariableNode):
                    given = self.variables.get(value.name.value)
                    if isinstance(given, int):
                        return given
        return DEFAULT_FIRST


def cost_limiter(
    collections: frozenset[str], nested: frozenset[str], limit: int
) -> type[SchemaExtension]:
    """A strawberry extension refusing operations whose cost is over ``limit``."""

    class QueryCostLimiter(SchemaExtension):
        def on_execute(self) -> Iterator[None]:
            context = self.execution_context
            document = context.graphql_document
            if document is not None:
                operations = [d for d in document.definitions
                              if isinstance(d, OperationDefinitionNode)]  # fmt: skip
                name = context.operation_name
                chosen = [o for o in operations if name is None or
                          (o.name is not None and o.name.value == name)]  # fmt: skip
                fragments = {d.name.value: d for d in document.definitions
                             if isinstance(d, FragmentDefinitionNode)}  # fmt: skip
                walker = QueryCost(collections, nested, fragments, context.variables or {})
                cost = max((walker.of(o.selection_set) for o in chosen), default=0)
                if cost > limit:
                    context.result = GraphQLExecutionResult(
                        data=None, errors=[GraphQLError(too_expensive(cost, limit))]
                    )
            yield

    return QueryCostLimiter
