"""Relations: an execution's model (as of the block read), settlements and rating, a model's
parent; the root settlements and ratings; and no N+1: a page's statements do not grow with
its rows (``X-Artisan-Trace``)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import httpx

from artisan.domain.types import SettlementRole

from .support import BLOCKS, HEAD, History, data

NESTED = """query($n: Int, $b: Int) {
  executions(first: $n, orderBy: blockNumber, block: {number: $b}) {
    id modelId cost
    model { id fixedPrice parent { id } parentId }
    rating { rating user }
    settlements { index recipient role roleName amount }
  }
}"""


def traced(client: httpx.Client, query: str, **variables: Any) -> dict[str, Any]:
    response = client.post("/graphql", json={"query": query, "variables": variables},
                           headers={"X-Artisan-Trace": "1"})  # fmt: skip
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body["errors"]
    return body


def credits_of(history: History) -> dict[str, list[tuple[str, int, str]]]:
    credits: dict[str, list[tuple[str, int, str]]] = defaultdict(list)
    for event in history.events("Settlement", HEAD):
        credits[event["executionId"].lower()].append(
            (event["recipient"].lower(), int(event["role"]), str(event["amount"]))
        )
    return credits


def first_ratings(history: History) -> dict[str, int]:
    """Each recorded execution's rating: the first given (the ledger refuses a second; the
    synthetic history also rates ids that were never executed, which nothing keeps)."""
    executed = {e["executionId"].lower() for e in history.events("InferenceExecuted", HEAD)}
    ratings: dict[str, int] = {}
    for event in history.events("Rated", HEAD):
        if event["executionId"].lower() in executed:
            ratings.setdefault(event["executionId"].lower(), int(event["rating"]))
    return ratings


def test_an_execution_carries_its_model_rating_and_settlements(
    client: httpx.Client, history: History
) -> None:
    body = traced(client, NESTED, n=1000, b=HEAD)
    executions = body["data"]["executions"]
    recorded = {e["executionId"].lower(): e for e in history.events("InferenceExecuted", HEAD)}
    ratings = first_ratings(history)
    credits = credits_of(history)
    models = {str(e["modelId"]): e for e in history.events("ModelRegistered", HEAD)}
    assert len(executions) == len(recorded) and ratings  # some are rated
    for execution in executions:
        event = recorded[execution["id"]]
        assert execution["model"]["id"] == str(event["modelId"])
        parent = str(models[execution["model"]["id"]]["parentId"])
        assert execution["model"]["parentId"] == parent
        assert (execution["model"]["parent"] or {"id": "0"})["id"] == parent
        rating = execution["rating"]
        assert (rating and rating["rating"]) == ratings.get(execution["id"])
        got = [(s["recipient"], s["role"], s["amount"]) for s in execution["settlements"]]
        assert sorted(got) == sorted(credits[execution["id"]])
        assert sum(int(s["amount"]) for s in execution["settlements"]) == int(execution["cost"])
        assert [s["index"] for s in execution["settlements"]] == list(range(1, len(got) + 1))
        assert all(SettlementRole[s["roleName"]] == s["role"] for s in execution["settlements"])


def test_a_relation_reads_as_of_the_same_block(client: httpx.Client, history: History) -> None:
    """The first execution's model changed its price at block BLOCKS + 1: read at BLOCKS, the
    execution's model shows the old price; at the head, the new one."""
    first = history.events("InferenceExecuted", HEAD)[0]
    query = """query($id: ID!, $b: Int) { execution(id: $id, block: {number: $b}) {
        model { fixedPrice } } }"""
    then = data(client, query, id=first["executionId"], b=BLOCKS)["execution"]["model"]
    now = data(client, query, id=first["executionId"], b=HEAD)["execution"]["model"]
    assert now == {"fixedPrice": "123456789"} and then["fixedPrice"] != "123456789"


def test_statements_do_not_grow_with_the_page(client: httpx.Client) -> None:
    """One statement for the head, one for the page, one per relation: the same for 1 row
    as for 100."""
    one = traced(client, NESTED, n=1, b=HEAD)["extensions"]["sqlStatements"]
    hundred = traced(client, NESTED, n=100, b=HEAD)
    assert len(hundred["data"]["executions"]) == 100
    assert hundred["extensions"]["sqlStatements"] == one <= 5
    plain = client.post("/graphql", json={"query": "{ _meta { deployment } }"}).json()
    assert "extensions" not in plain or "sqlStatements" not in plain["extensions"]


def test_root_settlements_and_ratings(client: httpx.Client, history: History) -> None:
    credits = credits_of(history)
    recipient = next(iter(credits.values()))[0][0]
    expected = sorted((e, amount) for e, items in credits.items()
                      for r, _, amount in items if r == recipient)  # fmt: skip
    got = data(client, """query($r: Bytes) { settlements(first: 1000, where: {recipient: $r})
        { executionId amount roleName } }""", r=recipient)["settlements"]  # fmt: skip
    assert sorted((s["executionId"], s["amount"]) for s in got) == expected
    top = data(client, "{ ratings(first: 1000, where: {rating_gte: 4}) { id rating } }")
    assert sorted(r["id"] for r in top["ratings"]) == sorted(
        execution for execution, rating in first_ratings(history).items() if rating >= 4
    )


def test_the_head_is_read_once_per_request_however_many_root_fields(
    client: httpx.Client,
) -> None:
    """Root fields resolve at once: they share one read of the head (found by the API
    benchmark, where each root field read it again)."""
    one = traced(client, "{ a: executions(first: 1) { id } }")
    three = traced(client, "{ a: executions(first: 1) { id } b: models(first: 1) { id }"
                           " c: accounts(first: 1) { id } }")  # fmt: skip
    assert one["extensions"]["sqlStatements"] == 2  # the head, the executions
    assert three["extensions"]["sqlStatements"] == 4  # the head, then one read per field
