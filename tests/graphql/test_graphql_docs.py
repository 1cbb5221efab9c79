"""Every example query in docs/API.md runs against the known history and its answer is
checked here; an example without a check, or a check without its example, fails."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from artisan.domain.types import SettlementRole
from artisan.projections.curation_scores import ranking
from artisan.storage.database import Database

from .support import HEAD, REJECTED, History, data

DOC = Path(__file__).resolve().parents[2] / "docs" / "API.md"


def examples() -> dict[str, str]:
    found = re.findall(r"```graphql\n# ([a-z-]+)\n(.*?)```", DOC.read_text(), re.S)
    return {name: query for name, query in found}


def executed(history: History) -> list[dict[str, Any]]:
    return history.events("InferenceExecuted", HEAD)


def _latest(answer: Any, history: History, db: Database) -> None:
    rows = answer["executions"]
    expected = sorted(((e["_block"], e["executionId"].lower()) for e in executed(history)),
                      reverse=True)[:10]  # fmt: skip
    assert [(int(r["blockNumber"]), r["id"]) for r in rows] == expected
    assert answer["_meta"]["block"]["number"] == HEAD
    for row in rows:
        assert sum(int(s["amount"]) for s in row["settlements"]) == int(row["cost"])
        assert {s["roleName"] for s in row["settlements"]} <= {r.name for r in SettlementRole}


def _top_curated(answer: Any, history: History, db: Database) -> None:
    with db.connect() as conn:
        expected = ranking(conn, 0, HEAD, limit=5)
    assert [int(s["score"]) for s in answer["curationScores"]] == [s.score for s in expected]
    assert all(s["model"]["id"] == s["target"] for s in answer["curationScores"])


def _trail(answer: Any, history: History, db: Database) -> None:
    [row] = answer["executions"]
    top = max(executed(history), key=lambda e: (int(e["cost"]), e["executionId"].lower()))
    assert (row["id"], row["cost"]) == (top["executionId"].lower(), str(top["cost"]))
    assert sum(int(s["amount"]) for s in row["settlements"]) == int(row["cost"])
    assert row["rates"]["id"] == "1" and row["model"]["id"] == str(top["modelId"])


def _rejections(answer: Any, history: History, db: Database) -> None:
    assert [(r["executionId"], r["reasonName"]) for r in answer["rejectedExecutions"]] == [
        (REJECTED, "INSUFFICIENT_ESCROW")
    ]


def _then_and_now(answer: Any, history: History, db: Database) -> None:
    registered = history.events("ModelRegistered", 10)
    assert [m["id"] for m in answer["then"]] == sorted(
        (str(e["modelId"]) for e in registered), key=int)[:3]  # fmt: skip
    assert [m["id"] for m in answer["now"]][: len(answer["then"])] == [
        m["id"] for m in answer["then"]
    ]


def _spenders(answer: Any, history: History, db: Database) -> None:
    rows = answer["accounts"]
    assert rows and [int(r["spent"]) for r in rows] == sorted(
        (int(r["spent"]) for r in rows), reverse=True)  # fmt: skip
    spent: dict[str, int] = {}
    for event in executed(history):
        spent[event["user"].lower()] = spent.get(event["user"].lower(), 0) + int(event["cost"])
    assert [(r["id"], int(r["spent"])) for r in rows] == sorted(
        spent.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)[:5]  # fmt: skip


def _lineage(answer: Any, history: History, db: Database) -> None:
    readers: dict[str, set[str]] = {}
    for event in executed(history):
        readers.setdefault(event["inputDigest"].lower(), set()).add(event["executionId"].lower())
    assert answer["executions"], "the history runs remixes"
    for row in answer["executions"]:
        assert row["model"]["depth"] > 0 and row["model"]["parent"] is not None
        got = {r["id"] for r in row["output"]["consumedBy"]}
        assert got <= readers.get(row["output"]["id"], set())


def _rewards(answer: Any, history: History, db: Database) -> None:
    epochs = answer["rewardEpochs"]
    published = {str(e["epoch"]) for e in history.events("EpochPublished", HEAD)}
    assert {e["id"] for e in epochs} == published | {"1"}
    one = next(e for e in epochs if e["id"] == "1")
    amounts = [int(leaf["amount"]) for leaf in one["leaves"]]
    assert amounts and amounts == sorted(amounts, reverse=True)


def _pages(answer: Any, history: History, db: Database) -> None:
    page = answer["executionsConnection"]
    assert page["totalCount"] == len(executed(history))
    costs = [int(e["node"]["cost"]) for e in page["edges"]]
    assert costs == sorted(costs, reverse=True) and len(costs) == min(50, page["totalCount"])
    assert page["pageInfo"]["hasNextPage"] == (page["totalCount"] > 50)


CHECKS: dict[str, Callable[[Any, History, Database], None]] = {
    "latest-executions": _latest, "top-curated-models": _top_curated,
    "execution-trail": _trail, "rejections": _rejections, "terms-then-and-now": _then_and_now,
    "top-spenders": _spenders, "lineage-one-hop": _lineage, "reward-epochs": _rewards,
    "keyset-pages": _pages,
}  # fmt: skip


def test_every_example_has_a_check() -> None:
    assert set(examples()) == set(CHECKS)


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_the_documented_example_answers_as_known(
    name: str, client: httpx.Client, seeded: tuple[Database, History]
) -> None:
    db, history = seeded
    CHECKS[name](data(client, examples()[name]), history, db)
