"""Keyset cursors: every row exactly once in both directions, in the SQL order; totalCount;
refusals; a deep page reads what the first page reads (EXPLAIN ANALYZE), where skip reads
everything before it; models ordered by their integer ids."""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from artisan.graphql import reads
from artisan.graphql.entities import EXECUTION
from artisan.storage.database import Database

from .support import HEAD, History, data, error

PAGE = """query($after: String, $before: String, $first: Int, $last: Int,
      $where: Execution_filter) {
  executionsConnection(first: $first, after: $after, last: $last, before: $before,
                       orderBy: cost, orderDirection: desc, where: $where) {
    edges { cursor node { id cost } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}"""


def walk_forward(client: httpx.Client, size: int, where: Any = None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    after = None
    while True:
        got = data(client, PAGE, first=size, after=after, where=where)["executionsConnection"]
        rows += [edge["node"] for edge in got["edges"]]
        assert got["pageInfo"]["hasPreviousPage"] is (after is not None)
        if not got["pageInfo"]["hasNextPage"]:
            return rows
        assert got["pageInfo"]["endCursor"] == got["edges"][-1]["cursor"]
        after = got["pageInfo"]["endCursor"]


def test_forward_pages_hold_every_row_once_in_the_sql_order(
    client: httpx.Client, seeded: tuple[Database, History]
) -> None:
    db, _ = seeded
    with db.connect() as conn:
        expected = [
            {"id": r[0], "cost": str(r[1])}
            for r in conn.execute(
                "SELECT execution_id, cost FROM proj_executions ORDER BY cost DESC,"
                " execution_id DESC"
            ).fetchall()
        ]
    assert len(expected) > 40
    assert walk_forward(client, 9) == expected
    assert walk_forward(client, 1000) == expected  # one page, no next


def test_backward_pages_turn_the_order_back(client: httpx.Client) -> None:
    forward = walk_forward(client, 1000)
    rows: list[dict[str, Any]] = []
    before = None
    while True:
        got = data(client, PAGE, last=8, before=before)["executionsConnection"]
        rows = [edge["node"] for edge in got["edges"]] + rows
        if not got["pageInfo"]["hasPreviousPage"]:
            break
        before = got["pageInfo"]["startCursor"]
    assert rows == forward


def test_total_count_and_filters_with_cursors(client: httpx.Client, history: History) -> None:
    recorded = history.events("InferenceExecuted", HEAD)
    user = recorded[0]["user"].lower()
    mine = [e for e in recorded if e["user"].lower() == user]
    got = data(client, "query($u: Bytes!) { executionsConnection(first: 1, where: {user: $u})"
                       " { totalCount } all: executionsConnection { totalCount } }",
               u=user)  # fmt: skip
    assert got["executionsConnection"]["totalCount"] == len(mine)
    assert got["all"]["totalCount"] == len(recorded)
    paged = walk_forward(client, 2, where={"user": user})
    assert sorted(r["id"] for r in paged) == sorted(e["executionId"].lower() for e in mine)


def test_cursor_refusals(client: httpx.Client) -> None:
    first = data(client, PAGE, first=2)["executionsConnection"]
    cursor = first["pageInfo"]["endCursor"]
    assert error(client, PAGE, first=2, after=cursor, before=cursor) == (
        "Cannot specify both before and after cursors."
    )
    by_block = "query($c: String) { executionsConnection(after: $c, orderBy: blockNumber) { edges"
    by_block += " { cursor } } }"
    assert error(client, by_block, c=cursor).startswith(
        "The cursor was made for `orderBy: cost desc`, not `blockNumber asc`"
    )
    assert error(client, PAGE, after="not-a-cursor").startswith("Invalid cursor `not-a-cursor`")
    assert error(client, PAGE, first=1001) == (
        "The `first` argument must be between 0 and 1000, but is 1001"
    )
    assert "both `first` and `last`" in error(client, PAGE, first=1, last=1)


def test_a_deep_keyset_page_reads_only_its_own_rows(seeded: tuple[Database, History]) -> None:
    """EXPLAIN ANALYZE, both walking the primary key: the keyset page's scan reads the page
    (plus one); the same page by skip reads every row before it. The SQL has no OFFSET."""
    db, _ = seeded
    order = reads.Order(None, False)
    with db.connect() as conn:
        ids = [r[0] for r in conn.execute("SELECT execution_id FROM proj_executions"
                                          " ORDER BY execution_id").fetchall()]  # fmt: skip
        depth, size = len(ids) - 12, 10
        keyset = reads.select(EXECUTION, None, order, HEAD, limit=size + 1, after=(ids[depth],))
        skipped = reads.select(EXECUTION, None, order, HEAD, limit=size + 1, skip=depth + 1)
        assert "OFFSET" not in keyset.query.as_string(conn)
        # The table is small: have both walk the primary key in order, as on a large table.
        for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            conn.execute(f"SET {setting} = off")
        scanned = {}
        for name, read in (("keyset", keyset), ("skip", skipped)):
            plan = conn.execute(
                b"EXPLAIN (ANALYZE, FORMAT JSON) " + read.query.as_bytes(conn), read.params
            ).fetchone()
            assert plan is not None
            scanned[name] = _leaf_rows(orjson.loads(plan[0]) if isinstance(plan[0], str)
                                       else plan[0])  # fmt: skip
    assert scanned["keyset"] <= size + 1
    assert scanned["skip"] >= depth + size


def _leaf_rows(plan: Any) -> int:
    node = plan[0]["Plan"]
    while node.get("Plans"):
        node = node["Plans"][0]
    return int(node["Actual Rows"])


def test_models_order_by_their_integer_ids(client: httpx.Client) -> None:
    models = data(client, "{ models(first: 1000) { id } }")["models"]
    ids = [int(m["id"]) for m in models]
    assert len(ids) > 10 and ids == sorted(ids)
    picked = data(client, '{ models(where: {id_gt: "9", id_lte: "11"}) { id } }')["models"]
    assert [m["id"] for m in picked] == ["10", "11"]
    assert "Filter not supported by value `x`" in error(client, '{ model(id: "x") { id } }')
