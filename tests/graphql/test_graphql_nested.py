"""Collections under an object (a model's executions, a model's remixes, an account's
executions), nested `field_` filters one level deep (to-one and to-many), and `orderBy:
field__child`, each against the history written; batched: the statements of a page do not
grow with its rows."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import httpx

from .support import HEAD, History, data, error
from .test_graphql_relations import traced


def models_as_of(history: History, block: int) -> dict[str, dict[str, Any]]:
    """Each model's registration with its owner and price as of ``block`` (transfers and
    pricing changes applied)."""
    models: dict[str, dict[str, Any]] = {}
    for event in history.events("ModelRegistered", block):
        models[str(event["modelId"])] = {"owner": event["owner"].lower(),
                                         "parent": str(event.get("parentId", 0))}  # fmt: skip
    for event in history.events("ModelTransferred", block):
        models[str(event["modelId"])]["owner"] = event["to"].lower()
    return models


def test_each_model_lists_its_latest_executions(client: httpx.Client, history: History) -> None:
    executed = history.events("InferenceExecuted", HEAD)
    per_model: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for event in executed:
        per_model[str(event["modelId"])].append((event["_block"], event["executionId"].lower()))
    query = """{ models(first: 1000) { id executions(first: 3, orderBy: blockNumber,
        orderDirection: desc) { id modelId blockNumber } } }"""
    body = traced(client, query)
    got = {m["id"]: m["executions"] for m in body["data"]["models"]}
    assert any(got.values()), "some model ran"
    for model, rows in got.items():
        # Descending: ties by the id descending too (the order is one direction, total).
        expected = sorted(per_model.get(model, []), reverse=True)[:3]
        assert [(int(r["blockNumber"]), r["id"]) for r in rows] == expected
        assert {r["modelId"] for r in rows} <= {model}
    # One statement for the head, one for the models, one for every model's page together.
    assert body["extensions"]["sqlStatements"] == 3
    one = traced(client, query.replace("models(first: 1000)", "models(first: 1)"))
    assert one["extensions"]["sqlStatements"] == 3


def test_children_are_remixes_and_accounts_list_their_executions(
    client: httpx.Client, history: History
) -> None:
    models = models_as_of(history, HEAD)
    remixes: dict[str, set[str]] = defaultdict(set)
    for model, info in models.items():
        if info["parent"] != "0":
            remixes[info["parent"]].add(model)
    assert remixes, "the history has remixes"
    got = data(client, "{ models(first: 40) { id children(first: 500) { id parent { id } } } }")
    assert len(got["models"]) == len(models) <= 40
    for model in got["models"]:
        assert {c["id"] for c in model["children"]} == remixes.get(model["id"], set())
        assert all(c["parent"]["id"] == model["id"] for c in model["children"])
    executed = history.events("InferenceExecuted", HEAD)
    user = max({e["user"].lower() for e in executed})
    mine = sorted(e["executionId"].lower() for e in executed if e["user"].lower() == user)
    account = data(client, """query($id: ID!) { account(id: $id) { executions(first: 1000)
        { id user } } }""", id=user)["account"]  # fmt: skip
    assert [e["id"] for e in account["executions"]] == mine


def test_a_nested_filter_reads_the_related_row_as_of_the_block(
    client: httpx.Client, history: History
) -> None:
    models = models_as_of(history, HEAD)
    executed = history.events("InferenceExecuted", HEAD)
    owners = sorted({m["owner"] for m in models.values()})
    for owner in owners[:3]:
        expected = sorted(e["executionId"].lower() for e in executed
                          if models[str(e["modelId"])]["owner"] == owner)  # fmt: skip
        got = data(client, """query($o: Bytes) { executions(first: 1000,
            where: {model_: {owner: $o}}) { id } }""", o=owner)["executions"]  # fmt: skip
        assert [e["id"] for e in got] == expected
    # To-many: the models that some execution of one user ran.
    user = executed[0]["user"].lower()
    ran = {str(e["modelId"]) for e in executed if e["user"].lower() == user}
    got = data(client, """query($u: Bytes) { models(first: 1000, where: {executions_: {user: $u}})
        { id } }""", u=user)["models"]  # fmt: skip
    assert {m["id"] for m in got} == ran
    refused = error(client, "{ executions(where: {model_: {parent_: {id: 1}}}) { id } }")
    assert refused == "Child filter nesting not supported by value `model_`: `model`"
    unknown = error(client, "{ executions(where: {settlements_: {role: 1}}) { id } }")
    assert "settlements_" in unknown


def test_order_by_a_child_field_both_ways_and_with_cursors(
    client: httpx.Client, history: History
) -> None:
    registered = {str(e["modelId"]): e for e in history.events("ModelRegistered", HEAD)}
    executed = history.events("InferenceExecuted", HEAD)
    depth = {m: int(e.get("depth", 0)) for m, e in registered.items()}
    got = data(client, """{ executions(first: 1000, orderBy: model__depth, orderDirection: desc)
        { id model { depth } } }""")["executions"]  # fmt: skip
    keys = [(r["model"]["depth"], r["id"]) for r in got]
    assert keys == sorted(keys, reverse=True) and len(got) == len(executed)
    assert {r["model"]["depth"] for r in got} <= set(depth.values()) | {0}
    # Cursors over the child order: every row once, in the same order as the plain page.
    seen: list[str] = []
    after = None
    while True:
        page = data(client, """query($a: String) { executionsConnection(first: 7, after: $a,
            orderBy: model__depth, orderDirection: desc) { edges { node { id } }
            pageInfo { hasNextPage endCursor } } }""", a=after)["executionsConnection"]  # fmt: skip
        seen += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [r["id"] for r in got]
    assert "model__nothing" in error(client, "{ executions(orderBy: model__nothing) { id } }")


def test_a_nested_collection_counts_in_the_query_cost(client: httpx.Client) -> None:
    message = error(client, "{ models(first: 100) { executions(first: 1000) { id } } }")
    assert message.startswith("query potentially returns `100100` entities")
    assert "`first` argument must be between 0 and 1000, but is 1001" in error(
        client, "{ models(first: 1) { executions(first: 1001) { id } } }"
    )
