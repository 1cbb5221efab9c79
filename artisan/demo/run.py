"""`make demo`: the whole pipeline on embedded defaults, end to end, with checks along the way.

Each stage uses the real components (an embedded or configured Postgres, anvil, the deployed
contracts) and checks what it did against an independent computation, so a demo that finishes
is a demo that worked.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from eth_account import Account
from psycopg.conninfo import conninfo_to_dict
from rich.console import Console
from rich.table import Table

from artisan.chain.actions import (
    BatchItem,
    ModelSpec,
    events_in,
    permit_signature,
    record_batch,
    register_model,
)
from artisan.chain.codec import meter_from_abi, rates_from_tuple, request_tuple, terms_from_chain
from artisan.chain.protocol import WAD
from artisan.chain.signer import Signer
from artisan.config import Settings
from artisan.demo.api import stage_graphql
from artisan.demo.pipeline import PIPELINE_STAGES
from artisan.demo.state import Actor, DemoState, check
from artisan.demo.stay import StayOptions, stay_up
from artisan.domain.eip712 import sign_request
from artisan.domain.metering import quote
from artisan.domain.splits import settle
from artisan.domain.types import InferenceRequest, Meter, RejectReason, SettlementRole
from artisan.environment import open_environment
from artisan.storage.migrations import migrate


def _actor(state: DemoState, name: str) -> Actor:
    key = secrets.token_bytes(32)
    account = Account.from_key(key)
    state.env.w3.provider.make_request("anvil_setBalance", [account.address, hex(10**20)])  # type: ignore[arg-type]
    actor = Actor(name, Signer(w3=state.env.w3, account=account), key)
    state.actors[name] = actor
    return actor


def stage_models(state: DemoState) -> None:
    """Creators register models: a fixed-price base, a tiered remix with a DAO, a private one."""
    p, c = state.protocol, state.console
    alice, bob, carol = (_actor(state, n) for n in ("alice", "bob", "carol"))
    dao = _actor(state, "dao")
    base = ModelSpec(
        secrets.token_bytes(32), size_class=2, fixed_price=2 * 10**15, remix_share_bps=2_000
    )
    state.models["base"] = register_model(alice.signer, p, base)
    remix = ModelSpec(
        secrets.token_bytes(32),
        size_class=1,
        parent_id=state.models["base"],
        remix_share_bps=1_000,
        dao_treasury=dao.address,
        dao_share_bps=500,
        pricing_kind=1,
        thresholds=(0, 2),
        prices=(3 * 10**15, 10**15),
    )
    state.models["remix"] = register_model(bob.signer, p, remix)
    state.models["private"] = register_model(
        carol.signer, p, ModelSpec(secrets.token_bytes(32), access=1, pricing_kind=1,
                                   thresholds=(0, 3), prices=(2 * 10**15, 10**15)),
    )  # fmt: skip
    state.deployer.send(p.registry.functions.setKind(state.models["base"], 1))  # curated
    check(p.registry.functions.getModel(state.models["base"]).call()[2] == 1, "base is curated")
    c.print(f"  registered models {state.models}: base (fixed price, curated by the protocol),"
            " remix of base (tiered, with a DAO), private (tiered, allowlist)")  # fmt: skip


def stage_escrow(state: DemoState) -> None:
    """Users fund escrow: one by approve + deposit, one by an EIP-2612 permit."""
    p = state.protocol
    for name in ("user1", "user2"):
        _actor(state, name)
    u1, u2 = state.actors["user1"], state.actors["user2"]
    for u in (u1, u2):
        state.deployer.send(p.token.functions.mint(u.address, 50 * WAD))
    u1.signer.send(p.token.functions.approve(p.deployment.ledger, 20 * WAD))
    u1.signer.send(p.ledger.functions.deposit(20 * WAD))
    deadline = state.env.w3.eth.get_block("latest")["timestamp"] + 3600
    v, r, s = permit_signature(u2.key, p, p.deployment.ledger, 20 * WAD, deadline)
    u2.signer.send(p.ledger.functions.depositWithPermit(20 * WAD, deadline, v, r, s))
    for u in (u1, u2):
        check(p.ledger.functions.escrowOf(u.address).call() == 20 * WAD, f"{u.name} escrow")
    carol = state.actors["carol"]
    carol.signer.send(p.registry.functions.grantAccess(state.models["private"], u1.address))
    check(p.registry.functions.hasAccess(state.models["private"], u1.address).call(),
          "carol's private model lists user1")  # fmt: skip
    state.console.print("  user1 deposited 20 ART (approve), user2 20 ART (permit);"
                        " carol let user1 use her private model")  # fmt: skip


def _request(
    state: DemoState, user: Actor, model: str, nonce: int, priority: int = 1
) -> InferenceRequest:
    return InferenceRequest(
        user=user.address, model_id=state.models[model], input_digest=secrets.token_bytes(32),
        params_hash=secrets.token_bytes(32), priority=priority, max_cost=WAD, nonce=nonce,
        deadline=2**40,
    )  # fmt: skip


def stage_executions(state: DemoState) -> None:
    """The operator records one batch: good items settle exactly, bad ones are rejected alone."""
    p, d = state.protocol, state.protocol.deployment
    u1, u2 = state.actors["user1"], state.actors["user2"]
    rng_meter = [
        Meter(3_072, 150 + 40 * i, 2_500 + 300 * i, 12_000 + 1_000 * i, 1 + i * 20)
        for i in range(6)
    ]
    plan = [(u1, "base", 1, 0), (u1, "remix", 2, 1), (u2, "remix", 1, 2), (u1, "remix", 3, 3),
            (u2, "private", 2, 1), (u2, "base", 1, 2)]  # fmt: skip
    items = []
    for i, (user, model, nonce, prio) in enumerate(plan):
        req = _request(state, user, model, nonce, prio)
        items.append(BatchItem(req, sign_request(req, user.key, d.chain_id, d.ledger), rng_meter[i],
                               secrets.token_bytes(32)))  # fmt: skip
        state.requests[req.nonce.to_bytes(32, "big") + bytes.fromhex(user.address[2:])] = req
    receipt = record_batch(state.operator, p, items)
    executed = events_in(p.ledger, "InferenceExecuted", receipt)
    rejected = events_in(p.ledger, "ExecutionRejected", receipt)
    settlements = events_in(p.ledger, "Settlement", receipt)
    check(len(executed) == 4, "four executions accepted")
    check([int(e["args"]["reason"]) for e in rejected] == [RejectReason.NO_ACCESS] * 1
          + [RejectReason.NONCE_USED], "private model and reused nonce rejected")  # fmt: skip

    reg = p.registry.functions
    models = {
        i: terms_from_chain(reg.getModel(i).call(), reg.tiers(i).call())
        for i in state.models.values()
    }
    rates = rates_from_tuple(p.ledger.functions.ratesAt(1).call())
    prior: dict[tuple[str, int], int] = {}
    table = Table("execution", "model", "user", "cost (ART)", "credits")
    by_exec: dict[bytes, list[Any]] = {}
    for s in settlements:
        by_exec.setdefault(bytes(s["args"]["executionId"]), []).append(s["args"])
    for e in executed:
        a = e["args"]
        key = (str(a["user"]).lower(), int(a["modelId"]))
        n = prior.get(key, 0)
        prior[key] = n + 1
        meter = meter_from_abi(a["meter"])
        cost = int(a["cost"])
        check(cost == quote(models[int(a["modelId"])], n, rates, meter, int(a["priority"])),
              "on-chain cost equals the Python metering rule")  # fmt: skip
        credits = settle(cost, rates, int(a["modelId"]), models, operator=state.operator.address,
                         treasury=d.treasury)  # fmt: skip
        seen = by_exec[bytes(a["executionId"])]
        got = [(str(s["recipient"]).lower(), int(s["role"]), int(s["amount"])) for s in seen]
        want = [(c.recipient, int(c.role), c.amount) for c in credits]
        check(got == want, "settlements equal the Python splits")
        check(sum(int(s["amount"]) for s in seen) == cost, "credits sum to cost")
        state.executions.append({"id": bytes(a["executionId"]), "user": key[0], "model": key[1],
                                 "cost": cost})  # fmt: skip
        table.add_row(
            "0x" + bytes(a["executionId"]).hex()[:10],
            str(a["modelId"]),
            str(a["user"])[:10],
            f"{cost / WAD:.6f}",
            ", ".join(
                f"{SettlementRole(int(s['role'])).name}={int(s['amount']) / WAD:.6f}" for s in seen
            ),
        )
    state.console.print(table)
    state.console.print(f"  batch gas: {receipt['gasUsed']:,} for {len(items)} items; "
                        "costs and splits match the Python rule")  # fmt: skip


def stage_curation_feedback(state: DemoState) -> None:
    """Curators stake signals; a user rates an execution once."""
    p = state.protocol
    carol, u1 = state.actors["carol"], state.actors["user1"]
    state.deployer.send(p.token.functions.mint(carol.address, 10 * WAD))
    carol.signer.send(p.token.functions.approve(p.deployment.curation, 10 * WAD))
    target = state.models["base"].to_bytes(32, "big")
    for kind, amount in ((0, WAD), (1, 4 * WAD), (3, WAD)):
        carol.signer.send(p.curation.functions.signal(0, target, kind, amount))
    check(p.curation.functions.totalStaked().call() == 6 * WAD, "stake accounted")
    req = next(r for r in state.requests.values() if r.user == u1.address.lower() and r.nonce == 1)
    receipt = u1.signer.send(p.feedback.functions.rate(request_tuple(req), 5))
    rated = events_in(p.feedback, "Rated", receipt)
    check(len(rated) == 1 and rated[0]["args"]["rating"] == 5, "rating recorded")
    state.console.print(
        "  carol staked LIKE/STAR/CITE on the base model; user1 rated an execution 5/5"
    )


LOAD_EXECUTIONS = 240  # the load stage's requests through the executor


def stage_executor(state: DemoState) -> None:
    """The executor runs a real ONNX model for signed requests: outputs, quotes and meters."""
    import numpy as np
    import onnxruntime as ort
    from rich.progress import MofNCompleteColumn, Progress

    from artisan.demo.traffic import PRIORITIES, Traffic
    from artisan.executor.api import create_app
    from artisan.executor.assembly import open_executor
    from artisan.executor.assets import AssetStore
    from artisan.executor.client import ExecutorApiError, ExecutorClient
    from artisan.executor.serving import serve_in_thread
    from artisan.executor.wire import meter_from_json
    from artisan.testing import onnx_models as models

    p, d, env = state.protocol, state.protocol.deployment, state.env
    store = AssetStore(env.settings.data_dir / "assets")
    model = models.mlp(16, [32], 4, seed=2024)
    alice, user = state.actors["alice"], state.actors["user1"]
    spec = ModelSpec(store.put(model).digest, size_class=1, fixed_price=5 * 10**14)
    model_id = register_model(alice.signer, p, spec)
    narrow = models.mlp(4, [16], 16, seed=2025)  # takes the first one's outputs as its inputs
    bob = state.actors["bob"]
    narrow_id = register_model(
        bob.signer, p, ModelSpec(store.put(narrow).digest, size_class=1, fixed_price=3 * 10**14)
    )
    state.models["wide"], state.models["narrow"] = model_id, narrow_id
    reference = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    reg = p.registry.functions
    terms = terms_from_chain(reg.getModel(model_id).call(), reg.tiers(model_id).call())
    rates = rates_from_tuple(
        p.ledger.functions.ratesAt(p.ledger.functions.ratesVersion().call()).call()
    )
    rng = np.random.default_rng(7)
    with (
        open_executor(p, env.rpc_url, store, operator=state.operator.address, db=env.db) as service,
        serve_in_thread(create_app(service)) as url,
    ):
        client = ExecutorClient.connect(url, chain_id=d.chain_id, ledger=d.ledger)
        table = Table(
            "execution", "rows", "priority", "quote (ART)", "cost (ART)", "gpu us", "storage B"
        )
        for i, (rows, priority) in enumerate([(1, 0), (4, 1), (2, 3), (8, 1)]):
            x = rng.standard_normal((rows, 16), dtype=np.float32)
            signed = client.sign(user.key, user.address, model_id, {"x": x}, max_cost=WAD // 10,
                                 priority=priority)  # fmt: skip
            receipt = client.submit(signed, npy=i % 2 == 1)
            outputs = client.outputs(receipt)
            check(np.array_equal(outputs["y"], reference.run(None, {"x": x})[0]),
                  "executor output equals a direct ONNX Runtime run")  # fmt: skip
            meter = meter_from_json(receipt["meter"])
            cost, quoted = int(receipt["cost"]), int(receipt["quote"])
            check(cost == quote(terms, i, rates, meter, priority), "cost is the metering rule")
            check(cost <= quoted <= signed.request.max_cost, "cost within quote within maxCost")
            sizes = len(signed.input_asset) + len(client.asset(receipt["outputCid"]))
            check(meter.storage_bytes == sizes, "storage = input + output asset bytes")
            check(client.status(receipt["executionId"])["status"] == "ran", "recorded")
            table.add_row(receipt["executionId"][:12], str(rows), str(priority),
                          f"{quoted / WAD:.6f}", f"{cost / WAD:.6f}", str(meter.gpu_micros),
                          str(meter.storage_bytes))  # fmt: skip
        low = client.sign(user.key, user.address, model_id, {"x": x}, max_cost=10**14)
        try:
            client.submit(low)
            refused = ""
        except ExecutorApiError as exc:
            refused = exc.code
        check(refused == "cost_above_max", "a maxCost below the quote is refused")
        state.console.print(table)
        traffic = Traffic(client, (model_id, narrow_id))
        with Progress(*Progress.get_default_columns(), MofNCompleteColumn(),
                      console=state.console, transient=False) as bar:  # fmt: skip
            task = bar.add_task("  executions through the executor", total=LOAD_EXECUTIONS)
            traffic.run([user, state.actors["user2"]], LOAD_EXECUTIONS,
                        on_done=lambda: bar.advance(task))  # fmt: skip
        client.http.close()
    receipts = traffic.receipts
    check(len(receipts) == LOAD_EXECUTIONS and all(
        int(r["cost"]) <= int(r["quote"]) <= traffic.max_cost for r in receipts),
        "every request of the load ran, each cost within its quote within its maxCost")  # fmt: skip
    check(traffic.fed >= LOAD_EXECUTIONS // 2,
          "most requests took an earlier execution's output as their input")  # fmt: skip
    batched = max(int(r["batch"]["batchSize"]) for r in receipts)
    state.console.print(
        f"  model {model_id} served on {service.provider}; 4 checked executions recorded,"
        " outputs match ONNX Runtime, costs within quotes; a low maxCost was refused"
    )
    state.console.print(
        f"  {LOAD_EXECUTIONS} more through the executor's HTTP API by 4 concurrent clients at"
        f" priorities {list(PRIORITIES)}: {traffic.fed} took an earlier output as input"
        f" (lineage), batches of up to {batched} requests"
    )


STAGES = (
    stage_models,
    stage_escrow,
    stage_executions,
    stage_curation_feedback,
    stage_executor,
    *PIPELINE_STAGES,
    stage_graphql,
)


def demo_database_name(settings: Settings) -> str:
    """The demo's own database: ``artisan_demo`` on the embedded server; beside a configured
    database, its name with ``_demo`` (two demos on one server, as in concurrent test runs,
    must not drop each other's)."""
    if not settings.database_url:
        return "artisan_demo"
    name = conninfo_to_dict(settings.database_url).get("dbname") or "artisan"
    return f"{name}_demo"[:63]


def run_demo(
    settings: Settings, console: Console | None = None, *, once: bool = True,
    stay: StayOptions | None = None,
) -> DemoState:  # fmt: skip
    """Every stage, each checked; then, unless ``once``, the services stay up (``stay.py``)
    until Ctrl-C."""
    console = console or Console()
    t0 = time.monotonic()
    with open_environment(settings) as env:
        if env.embedded_chain:
            # A new chain each run: the outbox, event store and projections must start empty too.
            env.db = env.db.recreate(demo_database_name(settings))
            migrate(env.db)
        where = "embedded Postgres" if not settings.database_url else "configured Postgres"
        chain = "local anvil" if env.embedded_chain else env.rpc_url
        console.print(f"[bold]Artisan demo[/bold]: {where}, chain {chain}")
        # Its own record: a demo never replaces the deployment the services use.
        deployment_file = settings.data_dir / "demo-deployment.json"
        protocol = env.deploy(deployment_file)
        for name, where in protocol.deployment.addresses().items():
            console.print(f"  deployed {name:<18} {where}")
        state = DemoState(env, protocol, console, env.deployer(), env.operator())
        for stage in STAGES:
            console.print(f"[bold cyan]{(stage.__doc__ or stage.__name__).strip()}[/bold cyan]")
            stage(state)
        took = time.monotonic() - t0
        console.print(f"[bold green]every stage passed its checks in {took:.1f} s[/bold green]")
        if not once:
            stay_up(state, deployment_file, stay or StayOptions(), t0)
    console.print(f"[bold green]demo finished in {time.monotonic() - t0:.1f} s[/bold green]")
    return state
