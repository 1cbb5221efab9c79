"""Time series over the usage projection: hourly and daily buckets equal a GROUP BY of the
executions by their block's hour (computed here from the history written), per model and per
user too; a reorg shrinks the hour it touched to what the new branch holds; topModels ranks
as the buckets do."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import httpx
import orjson

from artisan.executor.serving import serve_in_thread
from artisan.graphql.app import create_app
from artisan.projections.runner import run_once
from artisan.storage.database import Database
from artisan.testing.seed import SeedWriter
from artisan.testing.synthetic import HistoryGenerator, SyntheticBlock
from tests.projections.support import CHAIN_ID, write

from .support import data

STATS = """query($i: StatsInterval!, $w: ExecutionStats_filter, $d: OrderDirection) {
  executionStats(interval: $i, where: $w, first: 1000, orderDirection: $d) {
    timestamp executions fees gpuMicros users } }"""


def spread(gen: HistoryGenerator, count: int) -> list[SyntheticBlock]:
    """Blocks 25 minutes apart: two or three to an hour, across more than one day."""
    out = []
    for _ in range(count):
        gen.timestamp += 1500
        out.append(gen.next_block(txs=6))
    return out


def expected(blocks: list[SyntheticBlock], size: int, **only: Any) -> list[dict[str, Any]]:
    buckets: dict[int, list[Any]] = defaultdict(lambda: [0, 0, 0, set()])
    for block in blocks:
        for row in block.rows:
            if row.event_name != "InferenceExecuted":
                continue
            x = orjson.loads(row.args_json or "{}")
            if only.get("model") not in (None, str(x["modelId"])):
                continue
            if only.get("user") not in (None, x["user"].lower()):
                continue
            b = buckets[row.block_timestamp // size * size]
            b[0] += 1
            b[1] += int(x["cost"])
            b[2] += int(x["meter"]["gpuMicros"])
            b[3].add(x["user"].lower())
    return [{"timestamp": str(t), "executions": v[0], "fees": str(v[1]), "gpuMicros": str(v[2]),
             "users": len(v[3])} for t, v in sorted(buckets.items(), reverse=True)]  # fmt: skip


def test_buckets_equal_a_group_by_and_shrink_after_a_reorg(own_store: Database) -> None:
    gen = HistoryGenerator(21, chain_id=CHAIN_ID)
    base = spread(gen, 70)
    fork = gen.fork(5)
    fork.number, fork.parent, fork.timestamp = 66, base[65].header.hash, base[65].header.timestamp
    replacement = [fork.mine([])]  # blocks 67..70 replaced by one empty block 67
    app = create_app(own_store.url, chain_id=CHAIN_ID, max_lag_blocks=0)
    with (
        SeedWriter(own_store, CHAIN_ID) as writer,
        serve_in_thread(app, lifespan=True) as url,
        httpx.Client(base_url=url) as http,
    ):
        write(writer, base)
        run_once(own_store, CHAIN_ID)
        hourly = data(http, STATS, i="hour")["executionStats"]
        daily = data(http, STATS, i="day", d="asc")["executionStats"]
        executed = [orjson.loads(r.args_json or "{}") for b in base for r in b.rows
                    if r.event_name == "InferenceExecuted"]  # fmt: skip
        model, user = str(executed[0]["modelId"]), executed[-1]["user"].lower()
        per_model = data(http, STATS, i="hour", w={"model": model})["executionStats"]
        per_user = data(http, STATS, i="day", w={"user": user})["executionStats"]
        window = {"timestamp_gte": str(base[20].header.timestamp),
                  "timestamp_lt": str(base[40].header.timestamp)}  # fmt: skip
        windowed = data(http, STATS, i="hour", w=window)["executionStats"]
        top = data(http, "{ topModels(by: FEES, first: 3) { modelId fees executions } }")
        writer.reorg(66)
        write(writer, replacement)
        run_once(own_store, CHAIN_ID)
        after = data(http, STATS, i="hour")["executionStats"]
    assert len(hourly) > 24 and len(daily) >= 2
    assert hourly == expected(base, 3600)
    assert daily == expected(base, 86_400)[::-1]
    assert per_model == expected(base, 3600, model=model)
    assert per_user == expected(base, 86_400, user=user)
    lo, hi = int(window["timestamp_gte"]) // 3600 * 3600, int(window["timestamp_lt"])
    assert windowed == [b for b in hourly if lo <= int(b["timestamp"]) < hi]
    fees: dict[str, int] = defaultdict(int)
    for x in executed:
        fees[str(x["modelId"])] += int(x["cost"])
    ranked = sorted(fees.items(), key=lambda kv: (-kv[1], int(kv[0])))[:3]
    assert [(t["modelId"], int(t["fees"])) for t in top["topModels"]] == ranked
    canonical = [*base[:66], *replacement]
    assert after == expected(canonical, 3600)
    assert after != hourly  # the hour the reorg touched shrank
