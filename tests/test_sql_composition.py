"""SQL is composed safely (docs/SECURITY.md, "SQL"): values travel as parameters, identifiers
through ``psycopg.sql``. A scan of ``artisan/`` fails on SQL text built by string formatting
from anything but module constants, and on ``sql.SQL`` over a computed string, unless the
site is on the reasoned list below."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from artisan.config import REPO_ROOT

PACKAGE = REPO_ROOT / "artisan"
_SQL_WORD = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|ANALYZE|COPY|TRUNCATE"
                       r"|WHERE|FROM|VACUUM|LISTEN|NOTIFY)\b")  # fmt: skip
_CONSTANT = re.compile(r"^_?[A-Z][A-Z0-9_]*$")

# (file, function): why the text it builds holds no value a client or the chain chose.
FORMATTED_SQL_REVIEWED = {
    ("artisan/projections/lineage_queries.py", "walk_sql"):
        "column names and a comparison from the fixed _WAYS table, picked by direction",
}  # fmt: skip
COMPUTED_SQL_REVIEWED = {
    ("artisan/graphql/grammar.py", "ref"):
        "a column's SQL expression as entities.py declares it, the alias as an Identifier",
    ("artisan/graphql/grammar.py", "_conjunction"):
        "the block column an entity declares (Scope.changed); the block itself is a parameter",
    ("artisan/graphql/grammar.py", "_condition"):
        "operators from fixed tables keyed by a parsed suffix; the values are parameters",
    ("artisan/graphql/reads.py", "_source"):
        "an entity's table as an Identifier, or its declared subquery, composed once",
    ("artisan/graphql/reads.py", "_select_list"):
        "the declared columns composed with Identifiers, cached as text",
    ("artisan/graphql/reads.py", "select_children"):
        "the SQL type a relation declares its key compares as (entities.py)",
    ("artisan/graphql/stats.py", "top_models"):
        "one of two fixed aggregate expressions, chosen by the TopModelsBy enum",
    ("artisan/projections/history.py", "load_open"):
        "the key types a versioned projection declares (Versioned.key_types)",
    ("artisan/projections/history.py", "write"):
        "the key types a versioned projection declares, and 'bigint'",
}  # fmt: skip


def _strings(node: ast.AST) -> str:
    return " ".join(n.value for n in ast.walk(node)
                    if isinstance(n, ast.Constant) and isinstance(n.value, str))  # fmt: skip


def _from_constants(expr: ast.AST) -> bool:
    """Only literals and module constants (UPPER_CASE names) in ``expr``."""
    names = (n.id for n in ast.walk(expr) if isinstance(n, ast.Name))
    return all(_CONSTANT.match(name) for name in names)


def _literal(expr: ast.AST) -> bool:
    """A string literal, or a choice between two of them."""
    if isinstance(expr, ast.IfExp):
        return _literal(expr.body) and _literal(expr.orelse)
    return isinstance(expr, ast.Constant)


def _holes(node: ast.AST) -> list[ast.AST]:
    """What a string-formatting expression puts into its text."""
    if isinstance(node, ast.JoinedStr):
        return [v.value for v in node.values if isinstance(v, ast.FormattedValue)]
    if (
        isinstance(node, ast.BinOp)
        and isinstance(node.op, ast.Mod | ast.Add)
        and isinstance(node.left, ast.Constant | ast.JoinedStr)
    ):
        return [node.right]
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "format"
        and isinstance(node.func.value, ast.Constant)
    ):
        return [*node.args, *(k.value for k in node.keywords)]
    return []


def _sites(tree: ast.Module) -> Iterator[tuple[str, ast.AST]]:
    """Every node with the name of the function around it ('' at module level)."""
    stack: list[tuple[str, ast.AST]] = [("", tree)]
    while stack:
        scope, node = stack.pop()
        for child in ast.iter_child_nodes(node):
            inner = (
                child.name if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else scope
            )
            yield inner, child
            stack.append((inner, child))


def flags(tree: ast.Module) -> Iterator[tuple[str, str, int]]:
    """(function, "formatted" or "computed", line) of each SQL text built from a non-constant
    by string formatting, and of each ``sql.SQL`` over a computed string."""
    for function, node in _sites(tree):
        holes = _holes(node)
        if holes and _SQL_WORD.search(_strings(node)) and not all(map(_from_constants, holes)):
            yield function, "formatted", getattr(node, "lineno", 0)
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "SQL"
            and node.args
            and not _literal(node.args[0])
        ):
            yield function, "computed", node.lineno


def test_no_sql_text_is_formatted_from_values() -> None:
    """SQL text built by f-string, %, + or .format takes only module constants, and
    sql.SQL takes a literal, except at the reviewed sites; each reviewed site still exists
    (a stale entry would hide the next one)."""
    found: dict[str, set[tuple[str, str]]] = {"formatted": set(), "computed": set()}
    where: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(REPO_ROOT).as_posix()
        for function, kind, line in flags(ast.parse(path.read_text(), name)):
            found[kind].add((name, function))
            where.append(f"{name}:{line} ({function}): {kind}")
    assert found["formatted"] - FORMATTED_SQL_REVIEWED.keys() == set(), where
    assert found["computed"] - COMPUTED_SQL_REVIEWED.keys() == set(), where
    assert FORMATTED_SQL_REVIEWED.keys() <= found["formatted"]
    assert COMPUTED_SQL_REVIEWED.keys() <= found["computed"]


def test_the_scan_catches_a_value_in_sql_text() -> None:
    """The scan is not blind: an f-string with a local value, a .format and a sql.SQL over a
    variable are each found; an f-string of module constants is not."""
    source = (
        "def bad(conn, user, table):\n"
        "    conn.execute(f\"SELECT * FROM t WHERE user = '{user}'\")\n"
        "    conn.execute('DELETE FROM t WHERE id = {}'.format(user))\n"
        "    conn.execute(sql.SQL(table))\n"
        "ROWS = 'a, b'\n"
        "GOOD = f'SELECT {ROWS} FROM t WHERE id = %s'\n"
    )
    found = sorted(flags(ast.parse(source)))
    assert found == [("bad", "computed", 4), ("bad", "formatted", 2), ("bad", "formatted", 3)]
