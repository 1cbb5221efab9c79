"""graph-node's query grammar, compiled to SQL: `where` filters with their suffixes, `and`/`or`,
`_change_block`, `orderBy`/`orderDirection`, `first`/`skip`.

An entity's columns are declared once (``Column``: its GraphQL name, its SQL column, its kind);
the filter input type (``schema``) and the SQL here both come from that declaration, so the
suffixes a field offers are exactly the ones it can be compiled for. Suffix sets per kind, and
the error texts, are graph-node's (docs/API.md lists them). Identifiers are composed with
``psycopg.sql``; values always travel as parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from psycopg import sql
from psycopg.sql import Composable

from artisan.graphql.errors import QueryError


class Kind(Enum):
    """A column's GraphQL scalar, which decides its filter suffixes."""

    ID = "ID"
    STRING = "String"
    BYTES = "Bytes"
    BIG_INT = "BigInt"
    INT = "Int"
    BOOLEAN = "Boolean"


_ORDERED = ("", "_not", "_gt", "_lt", "_gte", "_lte", "_in", "_not_in")
_TEXT = ("_contains", "_not_contains", "_starts_with", "_not_starts_with", "_ends_with",
         "_not_ends_with")  # fmt: skip
SUFFIXES: dict[Kind, tuple[str, ...]] = {
    Kind.ID: _ORDERED,
    Kind.BIG_INT: _ORDERED,
    Kind.INT: _ORDERED,
    Kind.BOOLEAN: ("", "_not", "_in", "_not_in"),
    Kind.BYTES: (*_ORDERED, "_contains", "_not_contains"),
    Kind.STRING: (*_ORDERED, *_TEXT, *(s + "_nocase" for s in _TEXT)),
}


@dataclass(frozen=True, slots=True)
class Column:
    name: str  # as GraphQL spells it (graph-node's camelCase)
    sql: str  # the column, or an SQL expression over the row's alias written ``{t}``
    kind: Kind
    expression: bool = False  # ``sql`` is an expression, not a bare column name
    integer: bool = False  # an ID stored as an integer: compared and ordered as one

    def ref(self, alias: str = "t") -> Composable:
        if self.expression:
            return sql.SQL(self.sql).format(t=sql.Identifier(alias))
        return sql.Identifier(alias, self.sql)


@dataclass(frozen=True, slots=True)
class Filter:
    """A filter on an entity, as SQL: a condition and its parameters."""

    condition: Composable
    params: dict[str, Any]


class Params:
    """The parameters of one statement, named ``p0``, ``p1``, ... as they are added (nested
    filters add to their parent's, so no two share a name)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def add(self, value: Any) -> Composable:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return sql.Placeholder(name)


# A nested filter ``field_: {...}``: (the key, its value, the statement's parameters) -> SQL,
# or None where the entity has no relation of that name.
Nested = Callable[[str, Mapping[str, Any], Params], Composable | None]


@dataclass(frozen=True, slots=True)
class Scope:
    """What a filter is compiled against: the entity's name, its columns, the alias of its
    row, the SQL of the block that changed it (for ``_change_block``, None where it has none),
    and how its nested filters compile."""

    entity: str
    columns: Mapping[str, Column]
    alias: str = "t"
    changed: str | None = None
    nested: Nested | None = None


def compile_filter(
    scope: Scope, where: Mapping[str, Any] | None, params: Params | None = None
) -> Filter:
    """``where`` (field suffix -> value, ``and``/``or`` lists, ``_change_block``, nested
    ``field_``) as SQL."""
    params = params or Params()
    condition = _conjunction(scope, where or {}, params)
    return Filter(condition, params.values)


def _conjunction(scope: Scope, where: Mapping[str, Any], params: Params) -> Composable:
    parts: list[Composable] = []
    present = {k: v for k, v in where.items() if v is not None}
    if "or" in present and len(present) > 1:
        others = ", ".join(sorted(k for k in present if k != "or"))
        raise QueryError(
            "Cannot mix column filters with 'or' operator at the same level. Found column"
            f" filter(s) {others} alongside 'or' operator."
        )
    for key, value in present.items():
        if key in ("and", "or"):
            subs = [_conjunction(scope, sub or {}, params) for sub in value]
            joiner = sql.SQL(" AND ") if key == "and" else sql.SQL(" OR ")
            parts.append(sql.SQL("({})").format(joiner.join(subs or [sql.SQL("TRUE")])))
        elif key == "_change_block":
            if scope.changed is None:
                raise QueryError(f"Type `{scope.entity}` has no block to filter by: it is"
                                 " computed as of the block read")  # fmt: skip
            gte = value["number_gte"] if isinstance(value, Mapping) else value
            parts.append(sql.SQL("{} >= {}").format(sql.SQL(scope.changed), params.add(int(gte))))
        elif key.endswith("_") and isinstance(value, Mapping):
            nested = scope.nested(key, value, params) if scope.nested else None
            if nested is None:
                raise QueryError(f"Type `{scope.entity}` has no field `{key}`")
            parts.append(nested)
        else:
            parts.append(_condition(scope, key, value, params))
    return sql.SQL(" AND ").join(parts) if parts else sql.SQL("TRUE")


def split_key(columns: Mapping[str, Column], key: str) -> tuple[Column, str] | None:
    """``amount_not_in`` -> (the ``amount`` column, ``_not_in``): the longest field name that
    the key starts with and whose kind has the rest as a suffix."""
    for name in sorted(columns, key=len, reverse=True):
        if key.startswith(name):
            suffix = key[len(name) :]
            if suffix in SUFFIXES[columns[name].kind]:
                return columns[name], suffix
    return None


def _condition(scope: Scope, key: str, value: Any, params: Params) -> Composable:
    found = split_key(scope.columns, key)
    if found is None:
        raise QueryError(f"Type `{scope.entity}` has no field `{key}`")
    column, suffix = found
    ref = column.ref(scope.alias)
    if suffix in ("_in", "_not_in"):
        values = [parse_value(column, v) for v in value]
        op = "= ANY({})" if suffix == "_in" else "<> ALL({})"
        return sql.SQL("{} " + op).format(ref, params.add(values))
    v = parse_value(column, value) if suffix not in _TEXT_SUFFIXES else value
    simple = {"": "=", "_not": "<>", "_gt": ">", "_lt": "<", "_gte": ">=", "_lte": "<="}
    if suffix in simple:
        return sql.SQL("{} " + simple[suffix] + " {}").format(ref, params.add(v))
    negated, base, nocase = suffix.startswith("_not_"), suffix, suffix.endswith("_nocase")
    base = base.removeprefix("_not").removesuffix("_nocase")
    text = _text(column, value)
    text = text.lower() if column.kind is Kind.BYTES else text
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = {"_contains": f"%{escaped}%", "_starts_with": f"{escaped}%",
               "_ends_with": f"%{escaped}"}[base]  # fmt: skip
    op = ("NOT " if negated else "") + ("ILIKE" if nocase else "LIKE")
    return sql.SQL("{} " + op + " {}").format(ref, params.add(pattern))


_TEXT_SUFFIXES = frozenset(s for kind in SUFFIXES.values() for s in kind if "contains" in s
                           or "starts" in s or "ends" in s)  # fmt: skip


def _text(column: Column, value: Any) -> str:
    text = str(value)
    if "\x00" in text:
        raise QueryError(f"Filter not supported by value `{text[:40]!r}`: `{column.name}` (text"
                         " cannot hold a NUL character)")  # fmt: skip
    return text


def parse_value(column: Column, value: Any) -> Any:
    """A filter or cursor value as the column stores it (Bytes and addresses: lowercase hex;
    integers, integer ids included: int)."""
    if isinstance(value, str):
        value = _text(column, value)
    hex_text = isinstance(value, str) and value.startswith("0x")
    integer = column.kind in (Kind.BIG_INT, Kind.INT) or (column.kind is Kind.ID and column.integer)
    if not integer and (column.kind is Kind.BYTES or hex_text):
        return str(value).lower()
    if integer:
        try:
            return int(value)
        except (TypeError, ValueError):
            raise QueryError(f"Filter not supported by value `{value}`: `{column.name}`") from None
    return value


MAX_FIRST = 1000
MAX_SKIP = 5000


@dataclass(frozen=True, slots=True)
class Page:
    first: int
    skip: int


def page(first: int | None, skip: int | None, max_first: int, max_skip: int) -> Page:
    """``first``/``skip`` checked against the limits, with graph-node's texts."""
    first = 100 if first is None else first
    skip = 0 if skip is None else skip
    if not 0 <= first <= max_first:
        raise QueryError(f"The `first` argument must be between 0 and {max_first}, but is {first}")
    if not 0 <= skip <= max_skip:
        raise QueryError(
            f"The `skip` argument must be between 0 and {max_skip}, but is {skip}. Deeper"
            " pages: the `...Connection` field's `after` cursor costs the same at any depth"
        )
    return Page(first, skip)


def select_list(columns: Sequence[Column], alias: str = "t") -> Composable:
    return sql.SQL(", ").join(
        sql.SQL("{} AS {}").format(c.ref(alias), sql.Identifier(c.name)) for c in columns
    )
