"""The demo's last stage: the GraphQL API serves what the pipeline built, over real HTTP."""

from __future__ import annotations

import re
from typing import Any

import httpx
from rich.table import Table

from artisan.chain.protocol import WAD
from artisan.demo.pipeline import index_and_project
from artisan.demo.state import DemoState, check
from artisan.executor.serving import serve_in_thread
from artisan.graphql.app import create_app
from artisan.graphql.audit import Auditor

_QUERY = """
query($user: Bytes!, $id: ID!, $before: Int!) {
  _meta { block { number hash } }
  executions(first: 1000, where: {user: $user}, orderBy: blockNumber) {
    id modelId cost blockNumber
    model { id fixedPrice }
    settlements { roleName recipient amount }
  }
  earlier: executions(first: 1000, where: {user: $user}, block: {number: $before}) { id }
  account(id: $id) { escrow spent }
  models(first: 50) { id executions(first: 3, orderBy: blockNumber, orderDirection: desc) { id } }
  rejectedExecutions(first: 1000) { executionId reasonName }
  curationScores(first: 5, orderBy: score, orderDirection: desc) { target score }
  rewardReport(epoch: 1) { total recomputedRoot publishedRoot rootMatches
                           creators { account amount claimed } }
}
"""

_AUDIT = """
query($id: String!) { audit(executionId: $id) { verdict reasons checks { name ok } evidence } }
"""


def stage_graphql(state: DemoState) -> None:
    """The GraphQL API answers for a user: their executions, escrow, and the past."""
    d = state.protocol.deployment
    names = {a.address.lower(): name for name, a in state.actors.items()}
    index_and_project(state)  # up to the chain's head: the epoch's publication and claim too
    with state.env.db.connect() as conn:
        busiest = conn.execute(
            "SELECT user_address FROM proj_executions GROUP BY user_address"
            " ORDER BY count(*) DESC, user_address LIMIT 1"
        ).fetchone()
        check(busiest is not None, "the projections hold executions to ask about")
        assert busiest is not None
        user = str(busiest[0])
        trails = conn.execute(
            "SELECT execution_id, cost, block_number FROM proj_executions WHERE user_address = %s"
            " ORDER BY block_number, execution_id",
            (user,),
        ).fetchall()
        per_model = dict(conn.execute(
            "SELECT model_id::text, least(count(*), 3) FROM proj_executions GROUP BY model_id"
        ).fetchall())  # fmt: skip
        refused = conn.execute(
            "SELECT count(*) FROM live_events WHERE chain_id = %s"
            " AND event_name = 'ExecutionRejected'", (d.chain_id,)
        ).fetchone()  # fmt: skip
    before = int(trails[-1][2]) - 1  # the block before her last execution
    auditor = Auditor(state.env.rpc_url, d, state.protocol.artifacts,
                      state.env.settings.data_dir / "assets")  # fmt: skip
    app = create_app(state.env.db.url, chain_id=d.chain_id, auditor=auditor)
    with serve_in_thread(app, lifespan=True) as url, httpx.Client(base_url=url) as http:
        ready = http.get("/ready").json()
        response = http.post(
            "/graphql",
            json={"query": _QUERY, "variables": {"user": user, "id": user, "before": before}},
        )
        audited = http.post("/graphql", json={"query": _AUDIT, "variables": {"id": trails[-1][0]}},
                            timeout=60).json()  # fmt: skip
        page = http.get("/graphql", headers={"accept": "text/html"})
        linked = re.findall(r'(?:src|href)="(/graphiql/[^"]+)"', page.text)
        assets = [http.get(src).status_code for src in linked]
    body: dict[str, Any] = response.json()
    check("errors" not in body, f"the API answered without errors: {body.get('errors')}")
    got = body["data"]
    served = {(e["id"], int(e["cost"])) for e in got["executions"]}
    check(served == {(str(t[0]), int(t[1])) for t in trails},
          "the API serves the user's executions and costs as projected")  # fmt: skip
    check(all(e["model"]["id"] == e["modelId"] for e in got["executions"]),
          "each execution's model comes with it")  # fmt: skip
    check(all(sum(int(s["amount"]) for s in e["settlements"]) == int(e["cost"])
              for e in got["executions"]),
          "each execution's settlements, served with it, sum to its cost")  # fmt: skip
    check(len(got["earlier"]) == sum(1 for t in trails if int(t[2]) <= before),
          "as of an earlier block, the API serves only what had happened by then")  # fmt: skip
    check(ready.get("ready") is True, f"the API is ready: {ready}")
    check({m["id"]: len(m["executions"]) for m in got["models"] if m["executions"]}
          == {k: int(v) for k, v in per_model.items() if k in {m["id"] for m in got["models"]}},
          "each model lists its latest executions, all in one batched read")  # fmt: skip
    check(len(got["rejectedExecutions"]) == int(refused[0] if refused else 0),
          "the requests the ledger refused are served, each with its reason")  # fmt: skip
    report = got["rewardReport"]
    check(report["rootMatches"] and report["publishedRoot"] == report["recomputedRoot"],
          "the reward report recomputes epoch 1's root by the rule: the one on chain")  # fmt: skip
    check(any(c["claimed"] for c in report["creators"]),
          "the report shows the creator's claim against the published root")  # fmt: skip
    check(page.status_code == 200 and "graphiql" in page.text.lower() and len(assets) >= 3
          and all(code == 200 for code in assets),
          "a browser gets GraphiQL, its scripts served by the API itself")  # fmt: skip
    verdict = (audited.get("data") or {}).get("audit") or {}
    check(verdict.get("verdict") == "PASS",
          f"the user's last execution, audited against the chain alone (signature, receipt,"
          f" metering at its log, credits) and our store, passes: {audited}")  # fmt: skip
    table = Table("execution", "model", "cost (ART)", "block")
    for e in got["executions"][:5]:
        table.add_row(e["id"][:12], e["modelId"], f"{int(e['cost']) / WAD:.6f}", e["blockNumber"])
    state.console.print(table)
    account = got["account"] or {}
    state.console.print(
        f"  GraphQL, as of block {got['_meta']['block']['number']}:"
        f" {names.get(user, user)} ran"
        f" {len(served)} executions ({len(got['earlier'])} by block {before}), escrow"
        f" {int(account.get('escrow', 0)) / WAD:.6f} ART; `artisan api serve` serves the same API"
    )
    state.console.print(
        f"  audit of {str(trails[-1][0])[:12]}…: {verdict.get('verdict')} on"
        f" {len(verdict.get('checks', []))} checks, signer {verdict['evidence']['signer']['kind']}"
        " (`artisan audit ID` prints the same)"
    )
    reasons = sorted({r["reasonName"] for r in got["rejectedExecutions"]})
    state.console.print(
        f"  {len(got['rejectedExecutions'])} refused requests ({', '.join(reasons) or 'none'}),"
        f" {len(got['curationScores'])} curated targets; a browser at /graphql gets GraphiQL"
    )
