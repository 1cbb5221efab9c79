"""An epoch's reward report: its rows equal the stored leaves, its sums the epoch's total, its
recomputed root the stored one; the CSV (HTTP and CLI) holds the same rows as GraphQL."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import httpx

from artisan.projections.rewards import rule
from artisan.storage.database import Database

from .support import History, data, error

QUERY = """query($e: Int!) { rewardReport(epoch: $e) {
  epoch fromBlock toBlock pool total storedTotal storedRoot recomputedRoot publishedRoot
  rootMatches
  models { modelId owner parentId fees descendantsFees engagement ratingSum ratingCount
           ratingPpm weight sharePpm amount contributions { descendant generation amount } }
  creators { account models amount storedAmount proof claimed claimedBlock }
} }"""


def test_the_report_explains_the_stored_leaves(
    client: httpx.Client, seeded: tuple[Database, History]
) -> None:
    db, history = seeded
    got = data(client, QUERY, e=1)["rewardReport"]
    with db.connect() as conn:
        leaves = dict(conn.execute("SELECT account, amount FROM reward_leaves WHERE epoch = 1"))
        root, total = conn.execute(
            "SELECT root, total FROM reward_epochs WHERE epoch = 1"
        ).fetchone()  # type: ignore[misc]
    assert leaves, "epoch 1 pays someone"
    assert {c["account"]: int(c["amount"]) for c in got["creators"]} == {
        a: int(v) for a, v in leaves.items()
    }
    assert all(c["storedAmount"] == c["amount"] for c in got["creators"])
    assert int(got["total"]) == int(got["storedTotal"]) == int(total)
    assert sum(int(m["amount"]) for m in got["models"]) == int(total)
    assert got["recomputedRoot"] == got["storedRoot"] == root
    published = {
        str(e["epoch"]): e["root"].lower() for e in history.events("EpochPublished", 10**9)
    }
    assert got["publishedRoot"] == published.get("1")
    assert got["rootMatches"] == (got["publishedRoot"] in (None, root))
    for m in got["models"]:  # every line adds up as the rule says
        assert int(m["engagement"]) == int(m["fees"]) + int(m["descendantsFees"])
        assert sum(int(c["amount"]) for c in m["contributions"]) == int(m["descendantsFees"])
        assert m["ratingPpm"] == rule.rating_ppm(m["ratingSum"], m["ratingCount"])
        assert int(m["weight"]) == int(m["engagement"]) * m["ratingPpm"] // rule.PPM
    weights = sum(int(m["weight"]) for m in got["models"])
    for m in got["models"]:
        assert int(m["amount"]) == int(got["pool"]) * int(m["weight"]) // weights
    owned = {c["account"]: set(c["models"]) for c in got["creators"]}
    for m in got["models"]:
        if int(m["amount"]) > 0:
            assert m["modelId"] in owned[m["owner"]]


def test_the_csv_holds_the_graphql_rows_over_http_and_from_the_cli(
    client: httpx.Client, seeded: tuple[Database, History], tmp_path: Path
) -> None:
    db, _ = seeded
    got = data(client, QUERY, e=1)["rewardReport"]
    models = list(csv.DictReader(io.StringIO(client.get("/reports/rewards/1.csv").text)))
    assert [(r["model_id"], r["fees"], r["weight"], r["amount"]) for r in models] == [
        (m["modelId"], m["fees"], m["weight"], m["amount"]) for m in got["models"]
    ]
    creators_csv = client.get("/reports/rewards/1/creators.csv")
    assert creators_csv.headers["content-type"].startswith("text/csv")
    creators = list(csv.DictReader(io.StringIO(creators_csv.text)))
    assert [(r["account"], r["amount"], r["proof"].split()) for r in creators] == [
        (c["account"], c["amount"], c["proof"]) for c in got["creators"]
    ]
    out = tmp_path / "models.csv"
    env = {"ARTISAN_DATABASE_URL": db.url, "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-m", "artisan.cli", "report", "rewards", "1", "--csv",
                    str(out)], check=True, env=env, capture_output=True)  # fmt: skip
    assert out.read_text() == client.get("/reports/rewards/1.csv").text
    missing = client.get("/reports/rewards/99.csv")
    assert missing.status_code == 404 and "epoch 99 has not been closed here" in missing.text
    assert "epoch 99 has not been closed here" in error(client, QUERY, e=99)


def test_top_models_by_rewards_sum_the_reports_model_lines(client: httpx.Client) -> None:
    """topModels(by: REWARDS) ranks models by their reward lines over the window's closed
    epochs (here epoch 1), with their fees in them; a window after every epoch holds none."""
    lines = data(client, QUERY, e=1)["rewardReport"]["models"]
    expected = {m["modelId"]: (int(m["amount"]), int(m["fees"])) for m in lines}
    got = data(client, "{ topModels(by: REWARDS, first: 1000) { modelId rewards fees } }")
    ranked = got["topModels"]
    assert {t["modelId"]: (int(t["rewards"]), int(t["fees"])) for t in ranked} == expected
    assert [int(t["rewards"]) for t in ranked] == sorted(
        (int(t["rewards"]) for t in ranked), reverse=True
    )
    later = data(client, "query($s: BigInt) { topModels(by: REWARDS, since: $s) { modelId } }",
                 s=str(2**40))  # fmt: skip
    assert later["topModels"] == []
