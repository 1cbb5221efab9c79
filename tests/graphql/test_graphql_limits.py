"""Every limit refuses with a message naming it, never a masked "Unexpected error.": depth,
aliases, tokens, cost (graph-node's formula, variables included), batching, introspection
when off, and the statement timeout; a real server fault is masked, with an id, logged once."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import httpx
import orjson
import pytest

from artisan.executor.serving import serve_in_thread
from artisan.graphql.app import create_app
from artisan.graphql.schema import MAX_COST
from artisan.storage.database import Database
from tests.projections.support import CHAIN_ID

from .support import History, data, error, gql


def test_depth_aliases_and_tokens(client: httpx.Client) -> None:
    deep = "{ _meta { block { number } } }"
    # No relation nests that deep yet: the limiter's error stands beside the unknown fields'.
    body = gql(client, "query Deep " + "{ models " * 11 + "{ id }" + " }" * 11)
    messages = [e["message"] for e in body["errors"]]
    assert "'Deep' exceeds maximum operation depth of 10" in messages
    aliases = "{ " + " ".join(f"a{i}: _meta {{ deployment }}" for i in range(31)) + " }"
    assert error(client, aliases) == "31 aliases found. Allowed: 30"
    tokens = "{ " + " ".join(f"m{i}: _meta {{ deployment }}" for i in range(25)) * 60 + " }"
    assert "Document contains more than 5000 tokens" in error(client, tokens)
    assert "errors" not in gql(client, deep)


def test_cost_counts_first_and_children_as_graph_node_does(client: httpx.Client) -> None:
    within = "{ executions(first: 1000) { id } models(first: 1000) { id } }"
    assert "errors" not in gql(client, within)
    # 30 collections of 1000 rows with a one-field child page: 30 x 1000 x (1 + 1) = 60,000.
    over = "{ " + " ".join(f"e{i}: executionsConnection(first: 1000) {{ edges {{ cursor }} }}"
                           for i in range(30)) + " }"  # fmt: skip
    assert error(client, over) == (
        f"query potentially returns `60000` entities or more and thereby exceeds the limit of"
        f" `{MAX_COST}` entities. Possible solutions are reducing the depth of the query,"
        " querying fewer relationships or using `first` to return smaller collections"
    )
    by_variable = ("query($n: Int) { " + " ".join(
        f"e{i}: executions(first: $n) {{ id }}" for i in range(26)) + " }")  # fmt: skip
    assert "errors" not in gql(client, by_variable, n=1000)  # 26 x 1000 x (1 + 0)
    fragments = ("query($n: Int) { ...Many } fragment Many on Query { "
                 + " ".join(f"e{i}: executionsConnection(first: $n) {{ nodes {{ id }} }}"
                            for i in range(26)) + " }")  # fmt: skip
    assert "exceeds the limit" in error(client, fragments, n=1000)  # 26 x 1000 x 2


def test_batching_is_off(client: httpx.Client) -> None:
    response = client.post("/graphql", json=[{"query": "{ _meta { deployment } }"}] * 2)
    assert response.status_code == 400 and "Batching is not enabled" in response.text


@pytest.fixture
def strict(seeded: tuple[Database, History]) -> Iterator[httpx.Client]:
    """The API with introspection off, a 300 ms statement timeout and answers of 20 kB."""
    db, _ = seeded
    app = create_app(db.url, chain_id=CHAIN_ID, statement_timeout_ms=300, introspection=False,
                     max_result_bytes=RESULT_LIMIT)  # fmt: skip
    with serve_in_thread(app, lifespan=True) as url, httpx.Client(base_url=url) as http:
        yield http


RESULT_LIMIT = 20_000


def test_an_answer_over_the_result_size_is_refused_with_its_size(
    client: httpx.Client, strict: httpx.Client
) -> None:
    query = "{ executions(first: 1000) { id user operator inputDigest outputDigest cost } }"
    size = len(orjson.dumps(data(client, query)))
    assert size > RESULT_LIMIT
    body = gql(strict, query)
    assert body["data"] is None
    assert body["errors"][0]["message"] == (
        f"The result is {size} bytes, over the limit of {RESULT_LIMIT} bytes: ask for fewer"
        " rows or fields (`first`, or pages of a `...Connection` field)"
    )
    small = data(strict, "{ executions(first: 5) { id } }")
    assert len(small["executions"]) == 5


def test_introspection_can_be_switched_off(client: httpx.Client, strict: httpx.Client) -> None:
    query = "{ __schema { types { name } } }"
    assert any(t["name"] == "Execution" for t in data(client, query)["__schema"]["types"])
    assert "introspection" in error(strict, query).lower()
    assert "errors" not in gql(strict, "{ _meta { deployment } }")


def test_a_statement_timeout_is_named(
    strict: httpx.Client, seeded: tuple[Database, History]
) -> None:
    """A table held by another transaction makes the read wait past the timeout: the client
    reads "Query timed out", for that field and for the later ones of the same request."""
    db, _ = seeded
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        with db.connect() as conn, conn.transaction():
            conn.execute("LOCK TABLE proj_executions IN ACCESS EXCLUSIVE MODE")
            locked.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(10)
        body = gql(strict, "{ executions { id } models { id } }")
    finally:
        release.set()
        holder.join()
    messages = [e["message"] for e in body["errors"]]
    assert messages and all(m.startswith("Query timed out") for m in messages), messages
    assert "errors" not in gql(strict, "{ executions(first: 1) { id } }")  # the pool recovered


def test_a_server_fault_is_masked_with_an_id_and_logged_once(
    own_store: Database, caplog: pytest.LogCaptureFixture
) -> None:
    from artisan.projections.runner import run_once
    from artisan.testing.seed import SeedWriter
    from artisan.testing.synthetic import HistoryGenerator
    from tests.projections.support import write

    with SeedWriter(own_store, CHAIN_ID) as writer:
        write(writer, HistoryGenerator(2, chain_id=CHAIN_ID).blocks(5, txs=4))
    run_once(own_store, CHAIN_ID)
    with own_store.connect() as conn, conn.transaction():  # a fault: a column gone missing
        conn.execute("ALTER TABLE proj_balances RENAME COLUMN escrow TO escrow_gone")
    app = create_app(own_store.url, chain_id=CHAIN_ID)
    with (
        caplog.at_level(logging.ERROR, logger="artisan.graphql.schema"),
        serve_in_thread(app, lifespan=True) as url,
        httpx.Client(base_url=url) as http,
    ):
        body = gql(http, "{ accounts { id escrow } _meta { deployment } }")
    assert body["data"] is None or body["data"].get("_meta") is not None
    (fault,) = body["errors"]
    assert fault["message"] == "Unexpected error." and "escrow_gone" not in str(body)
    error_id = fault["extensions"]["errorId"]
    logged = [r for r in caplog.records if error_id in r.getMessage()]
    assert len(logged) == 1 and logged[0].exc_info is not None


def test_a_nul_character_in_a_filter_is_refused_by_name(client: httpx.Client) -> None:
    """Found by the generated queries: Postgres text cannot hold NUL, and a value with one
    used to reach the database and come back masked."""
    message = error(client, '{ curationSignals(where: {target: "a\\u0000b"}) { id } }')
    assert (
        message == "Filter not supported by value `'a\\x00b'`: `target` (text cannot hold a"
        " NUL character)"
    )
    by_id = error(client, '{ curationScore(id: "0:\\u0000") { id } }')
    assert "cannot hold a NUL character" in by_id
