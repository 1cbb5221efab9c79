"""The read models beyond executions and models, each against the history written (not the
projections' own tables where an independent answer exists): rejections and rates versions
from their events, blocks, assets with the executions that wrote and read them, curation
signals and scores, reward epochs (closed here and published on chain), leaves with proofs,
and claims."""

from __future__ import annotations

from collections import Counter

import httpx
import orjson
import pytest

from artisan.domain import merkle
from artisan.domain.types import RejectReason
from artisan.projections.curation_scores import ranking, scores_at
from artisan.storage.database import Database

from .support import HEAD, REJECTED, WHALE, History, data, error


def test_a_rejected_execution_reads_as_its_event(client: httpx.Client) -> None:
    got = data(client, """{ rejectedExecutions { executionId user reason reasonName blockNumber
        model { id } } }""")["rejectedExecutions"]  # fmt: skip
    assert len(got) == 1
    row = got[0]
    assert (row["executionId"], row["user"], row["reason"], row["reasonName"]) == (
        REJECTED,
        WHALE,
        8,
        RejectReason.INSUFFICIENT_ESCROW.name,
    )
    assert row["blockNumber"] == str(HEAD) and row["model"] is not None
    before = data(client, "query($b: Int) { rejectedExecutions(block: {number: $b}) { id } }",
                  b=HEAD - 1)  # fmt: skip
    assert before["rejectedExecutions"] == []


def test_rates_versions_and_each_executions_rates(client: httpx.Client, history: History) -> None:
    events = history.events("RatesSet", HEAD)
    got = data(
        client,
        """{ ratesVersions { id gpuRate unitRate priorityBps operatorBps
        treasuryBps blockNumber } executions(first: 1) { ratesVersion rates { id gpuRate } } }""",
    )
    versions = got["ratesVersions"]
    assert [v["id"] for v in versions] == [str(e["version"]) for e in events]
    first = events[0]
    assert versions[0]["gpuRate"] == str(first["rates"]["gpuRate"])
    assert versions[0]["unitRate"] == [str(v) for v in first["rates"]["unitRate"]]
    assert versions[0]["priorityBps"] == [int(v) for v in first["rates"]["priorityBps"]]
    execution = got["executions"][0]
    assert execution["rates"]["id"] == execution["ratesVersion"]


def test_blocks_are_the_canonical_headers_by_hash(client: httpx.Client, history: History) -> None:
    got = data(client, "{ blocks(first: 1000, orderBy: number) { id number parentHash } }")
    stored = [b for b in history.blocks if b.rows]  # the indexer keeps blocks with events
    by_number = {int(b["number"]): b for b in got["blocks"]}
    for block in stored:
        assert by_number[block.header.number]["id"] == block.header.hash
        assert by_number[block.header.number]["parentHash"] == block.header.parent_hash
    one = history.blocks[5].header
    found = data(client, "query($h: ID!) { block(id: $h) { number } }", h=one.hash.upper()
                 .replace("0X", "0x"))  # fmt: skip
    assert found["block"] == {"number": str(one.number)}
    assert data(client, "{ reorgs { id } }")["reorgs"] == []


def test_an_asset_knows_what_wrote_it_and_what_read_it(
    client: httpx.Client, history: History
) -> None:
    executed = history.events("InferenceExecuted", HEAD)
    writers = Counter(e["outputDigest"].lower() for e in executed)
    readers = Counter(e["inputDigest"].lower() for e in executed)
    digest = max(set(writers) | set(readers), key=lambda d: (writers[d] + readers[d], d))
    got = data(client, """query($id: ID!) { asset(id: $id) { id producedCount consumedCount
        firstBlock producedBy(orderBy: blockNumber) { id outputDigest }
        consumedBy { id inputDigest } } }""", id=digest)["asset"]  # fmt: skip
    assert (got["producedCount"], got["consumedCount"]) == (writers[digest], readers[digest])
    assert {e["outputDigest"] for e in got["producedBy"]} <= {digest}
    assert len(got["producedBy"]) == writers[digest]
    assert len(got["consumedBy"]) == readers[digest]
    first = min(e["_block"] for e in executed if digest in (e["outputDigest"].lower(),
                                                            e["inputDigest"].lower()))  # fmt: skip
    assert got["firstBlock"] == str(first)
    # An execution's input and output are assets too.
    one = data(client, "{ executions(first: 1) { inputDigest input { id consumedCount } } }")
    row = one["executions"][0]
    assert row["input"]["id"] == row["inputDigest"]
    assert row["input"]["consumedCount"] == readers[row["inputDigest"]]
    assert data(client, '{ asset(id: "0x1234") { id } }')["asset"] is None


def test_curation_signals_follow_signaled_and_unsignaled(
    client: httpx.Client, history: History
) -> None:
    signaled = history.events("Signaled", HEAD)
    unsignaled = {str(e["signalId"]) for e in history.events("Unsignaled", HEAD)}
    assert signaled, "the history has signals"
    got = data(client, "{ curationSignals(first: 1000) { id curator active kind kindName } }")
    by_id = {s["id"]: s for s in got["curationSignals"]}
    assert set(by_id) == {str(e["signalId"]) for e in signaled}
    for event in signaled:
        row = by_id[str(event["signalId"])]
        assert row["curator"] == event["curator"].lower()
        assert row["active"] == (str(event["signalId"]) not in unsignaled)
    active = data(client, "{ curationSignals(first: 1000, where: {active: true}) { id } }")
    assert {s["id"] for s in active["curationSignals"]} == set(by_id) - unsignaled


def test_curation_scores_rank_as_the_rule_does(
    client: httpx.Client, seeded: tuple[Database, History]
) -> None:
    db, _ = seeded
    with db.connect() as conn:
        expected = ranking(conn, 0, HEAD, limit=100)
        every = scores_at(conn, HEAD - 10)
    got = data(client, """{ curationScores(first: 100, orderBy: score, orderDirection: desc,
        where: {targetKind: 0}) { target score likes stars forks cites curators model { id } }
    }""")["curationScores"]  # fmt: skip
    assert expected, "the history scores some models"
    assert [int(s["score"]) for s in got] == [s.score for s in expected]
    assert {(s["target"], int(s["score"]), s["likes"], s["stars"], s["forks"], s["cites"],
             s["curators"]) for s in got} == {
        (s.target, s.score, s.likes, s.stars, s.forks, s.cites, s.curators) for s in expected
    }  # fmt: skip
    assert all(s["model"]["id"] == s["target"] for s in got)
    earlier = data(client, """query($b: Int) { curationScores(first: 1000, block: {number: $b})
        { targetKind target score } }""", b=HEAD - 10)["curationScores"]  # fmt: skip
    assert {(s["targetKind"], s["target"], int(s["score"])) for s in earlier} == {
        (s.target_kind, s.target, s.score) for s in every
    }
    refused = error(client, "{ curationScores(where: {_change_block: {number_gte: 1}}) { id } }")
    assert "has no block to filter by" in refused


def test_reward_epochs_leaves_and_claims(
    client: httpx.Client, history: History, seeded: tuple[Database, History]
) -> None:
    db, _ = seeded
    published = history.events("EpochPublished", HEAD)
    claims = history.events("Claimed", HEAD)
    got = data(client, """{ rewardEpochs(first: 20) { id fromBlock toBlock pool total root
        leafCount publishedBlock leaves(first: 1000) { account amount proof claimed } }
        claims(first: 1000) { epoch account amount blockNumber } }""")  # fmt: skip
    epochs = {e["id"]: e for e in got["rewardEpochs"]}
    for event in published:
        assert epochs[str(event["epoch"])]["publishedBlock"] == str(event["_block"])
    with db.connect() as conn:
        closed = conn.execute("SELECT total, leaf_count, root FROM reward_epochs"
                              " WHERE epoch = 1").fetchone()  # fmt: skip
    assert closed is not None and closed[1] > 0, "epoch 1 (blocks 1..10) pays someone"
    one = epochs["1"]
    assert (int(one["total"]), one["leafCount"], one["root"]) == (int(closed[0]), closed[1],
                                                                  closed[2])  # fmt: skip
    assert len(one["leaves"]) == closed[1] and sum(int(leaf["amount"]) for leaf in
                                                   one["leaves"]) == int(one["total"])  # fmt: skip
    for leaf in one["leaves"]:  # every proof leads from its leaf to the root
        proof = [bytes.fromhex(p[2:]) for p in leaf["proof"]]
        reward = merkle.RewardLeaf(1, leaf["account"], int(leaf["amount"]))
        assert merkle.verify_leaf(bytes.fromhex(one["root"][2:]), reward, proof)
    assert {(c["epoch"], c["account"], c["amount"]) for c in got["claims"]} == {
        (str(e["epoch"]), e["account"].lower(), str(e["amount"])) for e in claims
    }


@pytest.mark.parametrize("field", ["rewardLeaves", "claims", "reorgs", "ratesVersions"])
def test_every_new_collection_pages_and_filters(client: httpx.Client, field: str) -> None:
    got = data(client, f"{{ {field}(first: 2, orderBy: id, orderDirection: desc) {{ id }} }}")
    ids = [row["id"] for row in got[field]]
    assert len(ids) <= 2
    if ids:
        one = data(client, f'{{ {field}(where: {{id: "{ids[0]}"}}) {{ id }} }}')[field]
        assert one == [{"id": ids[0]}]


def test_model_usage_counts_each_models_executions_as_of_the_block(
    client: httpx.Client, history: History
) -> None:
    for block in (HEAD // 2, HEAD):  # the head last: its usage ranks the top three below
        usage: dict[str, tuple[int, int, set[str], int]] = {}
        for e in history.events("InferenceExecuted", block):
            count, fees, users, last = usage.get(str(e["modelId"]), (0, 0, set(), 0))
            user, block_of = e["user"].lower(), int(e["_block"])
            usage[str(e["modelId"])] = (count + 1, fees + int(e["cost"]), users | {user},
                                        max(last, block_of))  # fmt: skip
        got = data(client, """query($b: Int) { models(first: 1000, block: {number: $b}) { id
            usage { executions fees users lastBlock } } }""", b=block)["models"]  # fmt: skip
        for model in got:
            if model["id"] not in usage:
                assert model["usage"] is None
                continue
            count, fees, seen, last = usage[model["id"]]
            assert model["usage"] == {"executions": count, "fees": str(fees),
                                      "users": len(seen), "lastBlock": str(last)}  # fmt: skip
    top = data(client, "{ modelUsages(first: 3, orderBy: fees, orderDirection: desc) { fees } }")
    ranked = [int(u["fees"]) for u in top["modelUsages"]]
    assert ranked == sorted(ranked, reverse=True) and len(ranked) == min(3, len(usage))


def test_a_models_access_list_follows_grants_and_revocations(
    client: httpx.Client, history: History
) -> None:
    latest: dict[tuple[str, str], bool] = {}
    for block in history.blocks:  # in chain order: the last word on each (model, account)
        for row in block.rows:
            if row.event_name in ("AccessGranted", "AccessRevoked"):
                args = orjson.loads(row.args_json or "{}")
                latest[str(args["modelId"]), args["account"].lower()] = (
                    row.event_name == "AccessGranted"
                )
    assert latest, "the history grants access"
    got = data(client, """{ modelAccesses(first: 1000) { modelId account granted
        model { id } } }""")["modelAccesses"]  # fmt: skip
    assert {(a["modelId"], a["account"]): a["granted"] for a in got} == latest
    assert all(a["model"]["id"] == a["modelId"] for a in got)
    model = next(iter(latest))[0]
    nested = data(client, """query($id: ID!) { model(id: $id) { accessList(first: 1000)
        { account granted } } }""", id=model)["model"]["accessList"]  # fmt: skip
    assert {(a["account"], a["granted"]) for a in nested} == {
        (acct, g) for (m, acct), g in latest.items() if m == model
    }
