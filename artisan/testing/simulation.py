"""The whole system under faults, seed by seed, checked against ground truth (`make simulate`).

Per seed, on a fresh anvil and a fresh database: the protocol is deployed, models registered
(fixed and tiered pricing, public and allowlisted, a remix), users funded; then the services
run as the real `artisan` commands in processes of their own, each reaching the node only
through the fault-injecting proxy (``rpc_proxy``): the indexer, the projections (closing reward
epochs and publishing their roots), two executors with operator keys of their own (each with
its emitter), and the API; the indexer's newHeads websocket goes through the proxy too, and
where the seed faults RPC most of its connections are dropped (reset, stalled or cut). A
scripted workload drawn from the seed sends signed executions to either executor (chains of
outputs fed back as inputs, mixed priorities), rates, signals and removes signals, registers
models and requests withdrawals, while anvil reorganizes (depth
1..12) and services are SIGKILLed and restarted at random points. The rates come from the
seed: faulted RPC requests {0, 2, 5} %, reorgs {0, 2, 5} % and restarts {0, 2, 5} % of
workload steps. Then the faults stop, every service catches up, the creators claim their
rewards, and the ground truth kept by the simulation is checked:

- ``charged_once``: every request an executor accepted is executed exactly once on the final
  chain, every request it refused never, one whose answer was lost (a killed executor) at
  most once; no execution id appears twice;
- ``events``: the event store holds exactly the final chain's events (a clean index of it);
- ``digests``: every projection's digest equals a clean index's, projected from scratch;
- ``verify``: `artisan verify`'s checks are clean: projections, costs, every closed epoch's
  root recomputed by the rule, published roots, the ledger's balances;
- ``rewards``: every epoch due is closed and its root is on chain; each claim succeeded once;
- ``graphql``: fixed queries answer the same from the simulated store and the clean one.

What is not claimed: the same seed gives the same workload and faults, not the same chain
(which executor batches what, and when, depends on timing), so digests are compared with a
clean index of the same run's chain, not across runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import re
import secrets
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg
from eth_account import Account
from psycopg import sql
from web3.types import RPCEndpoint

from artisan.audit.chain_reads import (
    DistributorReader,
    LedgerReader,
    chain_events,
    protocol_abis,
)
from artisan.audit.digest import db_digest, table_rows
from artisan.audit.verify import verify
from artisan.chain.actions import ModelSpec, events_in, register_model
from artisan.chain.anvil import Anvil, start_anvil
from artisan.chain.codec import request_tuple
from artisan.chain.jsonrpc import no_code
from artisan.chain.protocol import WAD, Protocol, deploy
from artisan.chain.signer import Signer, connect
from artisan.config import ANVIL_DEPLOYER_KEY, ANVIL_OPERATOR_KEY, load_settings
from artisan.domain import eip712
from artisan.domain.types import InferenceRequest
from artisan.executor.assets import AssetStore
from artisan.executor.client import ExecutorApiError, ExecutorClient
from artisan.executor.serving import serve_in_thread
from artisan.graphql.app import create_app
from artisan.indexer.indexer import Indexer
from artisan.indexer.rpc import JsonRpcSource
from artisan.projections.registry import ALL as READ_MODELS
from artisan.projections.rewards.closing import proof_for
from artisan.projections.rewards.epochs import RewardConfig
from artisan.projections.runner import run_once
from artisan.storage.database import Database, start_embedded
from artisan.storage.migrations import migrate
from artisan.testing import onnx_models
from artisan.testing.rpc_proxy import FaultPlan, RpcProxy
from artisan.testing.services import ServiceFailed, Services, free_port

RATES = (0.0, 0.02, 0.05)
FINALITY = 16  # deeper than the deepest reorg (12), as a real deployment's must be
EPOCH_LENGTH = 40
POOL = 10 * WAD
MAX_REORG = 12
# anvil 1.7.1 keeps the states of only the last 10 blocks in memory once a chain is a few
# hundred blocks long (older ones go to disk), and a reorg whose ancestor state comes from
# disk loses the code of every contract (storage, balances and nonces survive). A seed's chain
# is short; the soak's is not, so it reorgs at most this deep (``reorg`` checks either way).
ANVIL_SAFE_REORG = 10
SERVICES = ("indexer", "projections", "executor-a", "executor-b", "api")
WS_DROPS = 0.75  # share of websocket connections dropped, where the seed faults RPC
QUERIES = (
    "{ executions(first: 1000, orderBy: id) { id modelId user operator cost priority"
    " blockNumber settlements { recipient role amount } } }",
    "{ accounts(first: 1000, orderBy: id) { id escrow owed pendingWithdrawal spent earned } }",
    "{ models(first: 1000, orderBy: id) { id owner kind access pricingKind fixedPrice parentId } }",
    "{ curationScores(first: 1000, orderBy: id) { id score likes stars forks cites } }",
    "{ claims(first: 1000, orderBy: id) { id epoch account amount } }",
    "{ rejectedExecutions(first: 1000, orderBy: id) { id reason } }",
)


class SimulationFailed(Exception):
    """A service did not converge, or the run could not finish in its time."""


@dataclass(frozen=True)
class Params:
    seed: int
    rpc_error_rate: float
    reorg_rate: float
    restart_rate: float
    steps: int

    @classmethod
    def of(cls, seed: int, steps: int) -> Params:
        rng = random.Random(f"params-{seed}")
        return cls(seed, rng.choice(RATES), rng.choice(RATES), rng.choice(RATES), steps)


@dataclass
class Truth:
    """What the simulation itself saw: its ground truth."""

    accepted: dict[str, InferenceRequest] = field(default_factory=dict)  # id -> request
    refused: set[str] = field(default_factory=set)
    unknown: set[str] = field(default_factory=set)  # the answer was lost (a killed executor)
    reorgs: list[int] = field(default_factory=list)
    restarts: Counter[str] = field(default_factory=Counter)
    actions: Counter[str] = field(default_factory=Counter)
    claims: list[tuple[int, str, int]] = field(default_factory=list)
    due: int = 0  # reward epochs that had to be closed and published when the run settled


@dataclass
class World:
    """One seed's chain, database, proxy, services and actors."""

    params: Params
    root: Path
    anvil: Anvil
    db: Database
    protocol: Protocol
    proxy: RpcProxy
    services: Services
    users: list[tuple[str, bytes]]  # (address, key)
    creators: dict[str, Signer]
    curator: Signer
    executors: dict[str, str]  # name -> base URL
    api: str  # the API's base URL
    models: tuple[int, int]  # (wide, narrow): the models the executors serve
    rng: random.Random
    truth: Truth = field(default_factory=Truth)

    @property
    def w3(self) -> Any:
        return self.protocol.w3

    def rpc(self, method: str, *params: Any) -> Any:
        answer = self.w3.provider.make_request(RPCEndpoint(method), list(params))
        if "error" in answer:
            raise SimulationFailed(f"{method}: {answer['error']}")
        return answer.get("result")

    def mine(self, blocks: int) -> None:
        self.rpc("anvil_mine", hex(blocks))

    def head(self) -> int:
        return int(self.w3.eth.block_number)


def _fund(w3: Any, deployer: Signer, protocol: Protocol, key: bytes, art: int) -> Signer:
    account = Account.from_key(key)
    w3.provider.make_request(RPCEndpoint("anvil_setBalance"), [account.address, hex(10**21)])
    signer = Signer(w3=w3, account=account)
    if art:
        deployer.send(protocol.token.functions.mint(account.address, art))
    return signer


@contextlib.contextmanager
def databases(
    url: str | None, root: Path, keep: Callable[[], bool] = lambda: False
) -> Iterator[tuple[Database, Callable[[], Database]]]:
    """The server, a fresh database for the run, and a maker of more: each dropped after,
    unless the run failed (an exception, or ``keep()``): then they stay for a post-mortem
    (an embedded server's data directory stays under ``root``), named on stderr."""
    server = Database(url) if url else start_embedded(root / "pg")
    names: list[str] = []

    def make() -> Database:
        name = f"artisan_sim_{secrets.token_hex(4)}"
        with psycopg.connect(server.url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        names.append(name)
        info = psycopg.conninfo.conninfo_to_dict(server.url)
        info["dbname"] = name
        db = Database(psycopg.conninfo.make_conninfo(**info))  # type: ignore[arg-type]
        migrate(db)
        return db

    failed = False
    try:
        yield make(), make
    except BaseException:
        failed = True
        raise
    finally:
        if failed or keep():
            print(json.dumps({"kept_databases": names, "server": server.url}), file=sys.stderr,
                  flush=True)  # fmt: skip
        else:
            with psycopg.connect(server.url, autocommit=True) as conn:
                for name in names:
                    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(name)))  # fmt: skip
        if not url:
            server.close()


@contextlib.contextmanager
def world(params: Params, root: Path, db: Database) -> Iterator[World]:
    settings = load_settings()
    rng = random.Random(f"world-{params.seed}")
    with start_anvil(settings.anvil_bin, chain_id=31337) as anvil:
        w3 = connect(anvil.rpc_url)
        deployer = Signer.from_key(w3, ANVIL_DEPLOYER_KEY)
        op_b_key = secrets.token_bytes(32)
        op_b = Account.from_key(op_b_key).address
        operator_a = Signer.from_key(w3, ANVIL_OPERATOR_KEY)
        protocol = deploy(deployer, settings.artifacts_dir,
                          operators=(operator_a.address, op_b), curation_cooldown=1)  # fmt: skip
        w3.provider.make_request(RPCEndpoint("anvil_setBalance"), [op_b, hex(10**21)])
        deployment_file = root / "deployment.json"
        protocol.deployment.save(deployment_file)
        creators = {n: _fund(w3, deployer, protocol, secrets.token_bytes(32), 0)
                    for n in ("alice", "bob")}  # fmt: skip
        curator = _fund(w3, deployer, protocol, secrets.token_bytes(32), 100 * WAD)
        curator.send(protocol.token.functions.approve(protocol.deployment.curation, 100 * WAD))
        users = []
        for _ in range(3):
            key = secrets.token_bytes(32)
            user = _fund(w3, deployer, protocol, key, 100 * WAD)
            user.send(protocol.token.functions.approve(protocol.deployment.ledger, 100 * WAD))
            user.send(protocol.ledger.functions.deposit(100 * WAD))
            users.append((user.address, key))
        wide, narrow = onnx_models.mlp(16, [32], 4, seed=7), onnx_models.mlp(4, [16], 16, seed=8)
        dirs = {"a": root / "executor-a", "b": root / "executor-b"}
        for d in dirs.values():
            AssetStore(d / "assets").put(wide)
            AssetStore(d / "assets").put(narrow)
        store = AssetStore(dirs["a"] / "assets")
        wide_spec = ModelSpec(store.put(wide).digest, size_class=1, fixed_price=3 * 10**14,
                              remix_share_bps=1_000)  # fmt: skip
        wide_id = register_model(creators["alice"], protocol, wide_spec)
        narrow_id = register_model(creators["bob"], protocol,
                                   ModelSpec(store.put(narrow).digest, size_class=1,
                                             pricing_kind=1, thresholds=(0, 5),
                                             prices=(4 * 10**14, 2 * 10**14),
                                             parent_id=wide_id))  # fmt: skip
        private = register_model(
            creators["bob"],
            protocol,
            ModelSpec(secrets.token_bytes(32), access=1, fixed_price=10**14),
        )
        creators["bob"].send(protocol.registry.functions.grantAccess(private, users[0][0]))
        w3.provider.make_request(
            RPCEndpoint("anvil_mine"), [hex(FINALITY + 4)]
        )  # the setup is final
        rate = params.rpc_error_rate
        plan = FaultPlan.uniform(rate, ws=WS_DROPS if rate else 0.0)
        with RpcProxy(anvil.rpc_url, plan, params.seed) as proxy:
            env = {
                "ARTISAN_DEV": "1", "ARTISAN_DATABASE_URL": db.url,
                "ARTISAN_RPC_URL": proxy.url, "ARTISAN_DEPLOYMENT_FILE": str(deployment_file),
                "ARTISAN_FINALITY_DEPTH": str(FINALITY), "ARTISAN_CHAIN_ID": "31337",
                "ARTISAN_REWARD_EPOCH_LENGTH": str(EPOCH_LENGTH),
                "ARTISAN_REWARD_POOL": str(POOL), "ARTISAN_REWARD_MINT": "true",
                "ARTISAN_STATUS_INTERVAL": "1", "ARTISAN_API_MAX_LAG_BLOCKS": "1000",
            }  # fmt: skip
            services = Services(env, root / "logs")
            ports = {"a": free_port(0), "b": free_port(0)}
            executors = {f"executor-{k}": f"http://127.0.0.1:{ports[k]}" for k in ports}
            keys = {"a": ANVIL_OPERATOR_KEY, "b": "0x" + op_b_key.hex()}
            try:
                services.start("indexer", "index", "--json", "--poll-interval", "0.2")
                services.start("projections", "projections", "run", "--follow", "--interval",
                               "0.5", "--epoch-interval", "0.5")  # fmt: skip
                for k in ("a", "b"):
                    services.start(f"executor-{k}", "executor", "serve", "--port",
                                   str(ports[k]), "--cpu",
                                   env={"ARTISAN_OPERATOR_KEY": keys[k],
                                        "ARTISAN_DATA_DIR": str(dirs[k])})  # fmt: skip
                api = f"http://127.0.0.1:{free_port(0)}"
                services.start("api", "api", "serve", "--port", api.rsplit(":", 1)[1])
                for url in executors.values():
                    services.wait_http(f"{url}/healthz", 90)
                yield World(params, root, anvil, db, protocol, proxy, services, users, creators,
                            curator, executors, api, (wide_id, narrow_id), rng)  # fmt: skip
            finally:
                services.stop()


# ---------------------------------------------------------------------------------------------
# The workload.


@dataclass
class Chains:
    """Each user's last output, fed to the other model next (lineage's ``feeds`` edges)."""

    last: dict[str, Any] = field(default_factory=dict)


def execute_one(w: World, clients: dict[str, ExecutorClient], chains: Chains) -> str:
    """One signed execution sent to either executor; its outcome, kept in ``w.truth``:
    ``accepted``, ``refused`` or ``unknown``."""
    user, key = w.rng.choice(w.users)
    name = w.rng.choice(sorted(clients))
    client = clients[name]
    last = chains.last.get(user)
    if last is None or w.rng.random() < 0.3:
        rows = w.rng.choice([1, 2, 4])
        x = np.asarray(np.random.default_rng(w.rng.getrandbits(32)).standard_normal((rows, 16)),
                       dtype=np.float32)  # fmt: skip
        model = w.models[0]
    else:
        x = last
        model = w.models[1] if x.shape[1] == 4 else w.models[0]
    signed = client.sign(key, user, model, {"x": x}, max_cost=WAD // 10,
                         priority=w.rng.randrange(4))  # fmt: skip
    d = w.protocol.deployment
    execution_id = "0x" + eip712.execution_id(signed.request, d.chain_id, d.ledger).hex()
    try:
        receipt = client.submit(signed, npy=w.rng.random() < 0.5)
    except ExecutorApiError as exc:
        if exc.status >= 500:
            w.truth.unknown.add(execution_id)
            return "unknown"
        w.truth.refused.add(execution_id)
        return "refused"
    except httpx.HTTPError:  # the executor died under the request: it may or may not run it
        w.truth.unknown.add(execution_id)
        return "unknown"
    w.truth.accepted[execution_id] = signed.request
    with contextlib.suppress(ExecutorApiError, httpx.HTTPError):
        chains.last[user] = client.outputs(receipt)["y"]
    return "accepted"


def _send(signer: Signer, fn: Any) -> Any:
    """A user's own transaction; a revert (a rating of an execution a reorg removed, a
    signal in its cooldown) is part of the workload, not a failure of the run."""
    try:
        return signer.send(fn)
    except Exception:
        return None


def _other_action(w: World, signals: list[int]) -> None:
    p, x = w.protocol, w.rng.random()
    if x < 0.35 and w.truth.accepted:
        execution_id = w.rng.choice(sorted(w.truth.accepted))
        request = w.truth.accepted[execution_id]
        key = next(k for a, k in w.users if a.lower() == request.user.lower())
        rater = Signer(w3=w.w3, account=Account.from_key(key))
        _send(rater, p.feedback.functions.rate(request_tuple(request), w.rng.randint(1, 5)))
        w.truth.actions["rate"] += 1
    elif x < 0.65:
        target = w.rng.choice(w.models).to_bytes(32, "big")
        receipt = _send(w.curator, p.curation.functions.signal(0, target, w.rng.choice([0, 1, 3]),
                                                               WAD // 10))  # fmt: skip
        if receipt is not None:
            signals += [int(e["args"]["signalId"]) for e in events_in(p.curation, "Signaled",
                                                                      receipt)]  # fmt: skip
        w.truth.actions["signal"] += 1
    elif x < 0.8 and signals:
        _send(w.curator, p.curation.functions.unsignal(signals.pop(w.rng.randrange(len(signals)))))
        w.truth.actions["unsignal"] += 1
    elif x < 0.9:
        owner = w.rng.choice(sorted(w.creators))
        kind = w.rng.randrange(3)
        spec = ModelSpec(secrets.token_bytes(32), access=int(kind == 2),
                         pricing_kind=int(kind == 1),
                         fixed_price=10**14, thresholds=(0, 3) if kind == 1 else (),
                         prices=(3 * 10**14, 10**14) if kind == 1 else (),
                         parent_id=w.models[0] if kind == 0 else 0)  # fmt: skip
        with contextlib.suppress(Exception):
            register_model(w.creators[owner], p, spec)
        w.truth.actions["register"] += 1
    else:
        _, key = w.rng.choice(w.users)
        user = Signer(w3=w.w3, account=Account.from_key(key))
        _send(user, p.ledger.functions.requestWithdrawal(WAD // 100))
        w.truth.actions["withdrawal"] += 1


def reorg(w: World, depth: int) -> bool:
    """Replace the last ``depth`` blocks with empty ones, unless that reaches into the setup."""
    if w.head() - depth <= w.protocol.deployment.start_block + FINALITY + 4:
        return False
    w.rpc("anvil_reorg", depth, [])
    w.truth.reorgs.append(depth)
    if no_code(w.rpc("eth_getCode", w.protocol.deployment.ledger, "latest")):
        raise SimulationFailed(
            f"anvil lost the contracts' code in a reorg of depth {depth} at block {w.head()}: "
            f"it keeps only the last {ANVIL_SAFE_REORG} states in memory on a long chain, and "
            "one restored from disk has no code (see ANVIL_SAFE_REORG)"
        )
    return True


def crash_restart(w: World, name: str) -> None:
    """SIGKILL the service ``name`` and start it again with the same command."""
    w.services.kill(name)
    w.services.restart(name)
    w.truth.restarts[name] += 1


def _chaos(w: World) -> None:
    if w.rng.random() < w.params.reorg_rate:
        reorg(w, w.rng.randint(1, MAX_REORG))
    if w.rng.random() < w.params.restart_rate:
        crash_restart(w, w.rng.choice(SERVICES))


def run_workload(w: World, deadline: float) -> None:
    d = w.protocol.deployment
    clients = {name: ExecutorClient.connect(url, chain_id=d.chain_id, ledger=d.ledger, timeout=20)
               for name, url in w.executors.items()}  # fmt: skip
    chains, signals = Chains(), list[int]()
    try:
        for step in range(w.params.steps):
            if time.monotonic() > deadline:
                break
            if w.rng.random() < 0.7:
                execute_one(w, clients, chains)
            else:
                _other_action(w, signals)
            if step % 5 == 4:
                w.mine(w.rng.randint(1, 4))  # time passes: epochs end
                services_alive(w)
            _chaos(w)
    finally:
        for client in clients.values():
            client.http.close()


# ---------------------------------------------------------------------------------------------
# Settling: faults stop, every service catches up, epochs close and publish, creators claim.


def services_alive(w: World) -> None:
    """Raise if a service process ended, or one of its parts stopped on an error while the
    process lives on (its ``service_status`` row is ``failed``: an executor whose emitter
    thread stopped goes on serving, and its executions would simply never become final).
    Rows of processes no longer running (stopped, or killed and started again) are history."""
    w.services.check()
    live = w.services.instances()
    with w.db.connect() as conn:
        failed = conn.execute("SELECT service, instance, last_error FROM service_status"
                              " WHERE state = 'failed' AND instance = ANY(%s) ORDER BY 1, 2",
                              (list(live),)).fetchall()  # fmt: skip
    if failed:
        raise SimulationFailed("; ".join(f"the {s} of {live[i]} ({i}) failed: {e}"
                                         for s, i, e in failed))  # fmt: skip


def _wait(what: str, check: Callable[[], bool], deadline: float, w: World | None = None) -> None:
    while not check():
        if w is not None:
            services_alive(w)
        if time.monotonic() > deadline:
            raise SimulationFailed(f"not within the run's time: {what}")
        time.sleep(0.2)


def _scalar(db: Database, query: str, *params: Any) -> Any:
    with db.connect() as conn:
        row = conn.execute(query, params).fetchone()
    return None if row is None else row[0]


def _outbox_drained(w: World) -> bool:
    left = _scalar(w.db, "SELECT count(*) FROM outbox_executions"
                         " WHERE status IN ('pending', 'broadcast')")  # fmt: skip
    return bool(left == 0)


def _caught_up(w: World) -> bool:
    head = w.head()
    indexed = _scalar(w.db, "SELECT block_number FROM indexer_checkpoints")
    if indexed is None or indexed < head:
        return False
    behind = _scalar(w.db, "SELECT count(*) FROM projection_tracking t WHERE t.last_position <"
                           " (SELECT coalesce(max(position), 0) FROM events)")  # fmt: skip
    tracked = _scalar(w.db, "SELECT count(*) FROM projection_tracking")
    return bool(behind == 0 and tracked == len(READ_MODELS))


def _epochs_due(w: World) -> int:
    start = w.protocol.deployment.start_block
    return max(0, (w.head() - FINALITY - start + 1) // EPOCH_LENGTH)


def _published(w: World, epoch: int) -> bool:
    """The epoch's root is on chain, or it has none to publish (nothing was earned in it)."""
    root = _scalar(w.db, "SELECT root FROM reward_epochs WHERE epoch = %s", epoch)
    if root is None:
        return bool(_scalar(w.db, "SELECT 1 FROM reward_epochs WHERE epoch = %s", epoch) == 1)
    onchain = w.protocol.distributor.functions.epochs(epoch).call()[0]
    return "0x" + bytes(onchain).hex() == str(root)


def settle(w: World, deadline: float) -> None:
    def drained() -> bool:  # a batch is final FINALITY blocks deep: time passes, blocks come
        if _outbox_drained(w):
            return True
        w.mine(1)
        return False

    _wait("every accepted execution final on chain", drained, deadline, w)
    due = w.truth.due = _epochs_due(w)
    while True:  # mine until each due epoch is closed and its root published and final
        closed = _scalar(w.db, "SELECT count(*) FROM reward_epochs")
        if closed >= due and all(_published(w, e) for e in range(1, due + 1)):
            break
        services_alive(w)
        if time.monotonic() > deadline:
            raise SimulationFailed(f"epochs: {closed} of {due} closed and published in time")
        w.mine(1)
        time.sleep(0.3)
    w.mine(FINALITY + 1)
    _wait("the indexer and every projection at the head", lambda: _caught_up(w), deadline, w)
    for epoch in range(1, due + 1):
        for _, creator in sorted(w.creators.items()):
            with w.db.connect() as conn:
                leaf = proof_for(conn, epoch, creator.address)
            if leaf is None or leaf.amount == 0:
                continue
            proof = [bytes.fromhex(x[2:]) for x in leaf.proof]
            creator.send(w.protocol.distributor.functions.claim(epoch, creator.address,
                                                                leaf.amount, proof))  # fmt: skip
            w.truth.claims.append((epoch, creator.address.lower(), leaf.amount))
    # Nothing sends transactions any more (the executors and the projection service, which
    # publishes, stop first); the indexer reaches the head, then the projections apply the
    # rest, as their service's next catch-up would.
    for name in ("executor-a", "executor-b", "projections", "api"):
        w.services.stop_one(name)
    _wait("the indexer at the head", lambda: _indexed(w) >= w.head(), deadline, w)
    w.services.stop()
    run_once(w.db, w.protocol.deployment.chain_id)


def _indexed(w: World) -> int:
    return int(_scalar(w.db, "SELECT block_number FROM indexer_checkpoints") or 0)


# ---------------------------------------------------------------------------------------------
# The checks against ground truth.


def _executed(w: World, tip: int) -> Counter[str]:
    """Each execution id's InferenceExecuted logs on the final chain, read from the node."""
    ledger = w.protocol.ledger
    logs = ledger.events.InferenceExecuted().get_logs(
        from_block=w.protocol.deployment.start_block, to_block=tip
    )
    return Counter("0x" + bytes(e["args"]["executionId"]).hex() for e in logs)


def _events(db: Database) -> list[tuple[Any, ...]]:
    with db.connect() as conn:
        return conn.execute(
            "SELECT block_number, block_hash, log_index, event_name, args::text FROM live_events"
            " ORDER BY block_number, log_index"
        ).fetchall()


def _answers(db: Database, chain_id: int) -> list[Any]:
    app = create_app(db.url, chain_id=chain_id, max_lag_blocks=10**6)
    with serve_in_thread(app, lifespan=True) as url, httpx.Client(base_url=url) as http:
        return [http.post("/graphql", json={"query": q}, timeout=60).json() for q in QUERIES]


def check(w: World, clean: Database) -> dict[str, Any]:
    d, protocol = w.protocol.deployment, w.protocol
    tip = int(_scalar(w.db, "SELECT block_number FROM indexer_checkpoints"))
    results: dict[str, Any] = {}
    executed = _executed(w, tip)
    twice = sorted(k for k, n in executed.items() if n > 1)
    missing = sorted(k for k in w.truth.accepted if executed[k] != 1)
    charged_refused = sorted(k for k in w.truth.refused if executed[k])
    results["charged_once"] = not (twice or missing or charged_refused)
    results["charged_once_detail"] = {"twice": twice[:5], "missing": missing[:5],
                                      "refused_but_charged": charged_refused[:5]}  # fmt: skip
    lost = [k for k in w.truth.accepted if executed[k] == 0]
    with (
        JsonRpcSource(w.anvil.rpc_url) as source,
        Indexer(clean, source, d.chain_id, protocol_abis(d, protocol.artifacts),
                finality_depth=FINALITY, start_block=d.start_block) as indexer,
    ):  # fmt: skip
        indexer.backfill()
    run_once(clean, d.chain_id)
    ours, theirs = _events(w.db), _events(clean)
    results["events"] = ours == theirs
    stored_keys = Counter((e[0], e[2]) for e in ours)
    duplicates = sum(n - 1 for n in stored_keys.values())
    if ours != theirs:
        results["events_detail"] = {
            "stored": len(ours), "chain": len(theirs),
            "only_stored": [str(e)[:300] for e in sorted(set(ours) - set(theirs))[:3]],
            "only_chain": [str(e)[:300] for e in sorted(set(theirs) - set(ours))[:3]],
        }  # fmt: skip
    differ: dict[str, Any] = {}
    with w.db.connect() as sim, clean.connect() as fresh:
        for p in READ_MODELS:
            if db_digest(sim, p, tip) == db_digest(fresh, p, tip):
                continue
            for spec in p.tables:
                a, b = set(table_rows(sim, spec, tip)), set(table_rows(fresh, spec, tip))
                if a != b:
                    differ[spec.name] = {
                        "only_stored": [str(r)[:300] for r in sorted(a - b, key=str)[:3]],
                        "only_chain": [str(r)[:300] for r in sorted(b - a, key=str)[:3]],
                    }
    results["digests"] = not differ
    results["digests_detail"] = differ
    rewards = RewardConfig(genesis_block=d.start_block, epoch_length=EPOCH_LENGTH,
                           default_pool=POOL)  # fmt: skip
    mismatches = verify(
        w.db, chain_events(w.anvil.rpc_url, d, protocol.artifacts, tip), block=tip,
        rewards=rewards, ledger=LedgerReader(w.anvil.rpc_url, d, protocol.artifacts),
        distributor=DistributorReader(w.anvil.rpc_url, d, protocol.artifacts),
    )  # fmt: skip
    results["verify"] = not mismatches
    bad_roots = [
        m for m in mismatches if m.kind in ("reward_root", "reward_total", "reward_publication")
    ]
    results["verify_detail"] = [str(m) for m in mismatches[:5]]
    due = w.truth.due
    closed = int(_scalar(w.db, "SELECT count(*) FROM reward_epochs WHERE to_block <= %s", tip))
    claims = Counter(
        (int(e["args"]["epoch"]), str(e["args"]["account"]).lower())
        for e in protocol.distributor.events.Claimed().get_logs(
            from_block=d.start_block, to_block=tip)
    )  # fmt: skip
    results["rewards"] = (
        closed >= due
        and all(_published(w, e) for e in range(1, due + 1))
        and all(claims[(e, a)] == 1 for e, a, _ in w.truth.claims)
    )
    results["graphql"] = _answers(w.db, d.chain_id) == _answers(clean, d.chain_id)
    results["counts"] = {
        "accepted": len(w.truth.accepted), "refused": len(w.truth.refused),
        "unknown": len(w.truth.unknown), "executed_on_chain": sum(executed.values()),
        "events": len(_events(clean)), "epochs": due, "claims": len(w.truth.claims),
        "reorgs": len(w.truth.reorgs), "restarts": sum(w.truth.restarts.values()),
        "rpc_faults": sum(w.proxy.faults.values()), "rpc_requests": w.proxy.requests,
        "ws_connections": w.proxy.tunnels.connections,
        "ws_drops": sum(n for k, n in w.proxy.faults.items() if k.startswith("ws_")),
        "head": tip,
    }  # fmt: skip
    results["losses"] = {
        "divergent": int(not (results["events"] and results["digests"] and results["graphql"])),
        "lost": len(lost) + len(set(theirs) - set(ours)),
        "double_charged": len(twice) + len(charged_refused),
        "duplicates": duplicates + len(set(ours) - set(theirs)),
        "bad_roots": len(bad_roots),
    }  # fmt: skip
    results["reorg_depths"] = w.truth.reorgs
    results["restarted"] = dict(w.truth.restarts)
    results["actions"] = dict(w.truth.actions)
    return results


def _rows(w: World, query: str) -> list[tuple[Any, ...]] | None:
    """A post-mortem's read: None if the database cannot answer (the run may have broken it)."""
    with contextlib.suppress(Exception), w.db.connect() as conn:
        return conn.execute(query.encode()).fetchall()
    return None


def open_batches(w: World) -> list[dict[str, Any]]:
    """A failed seed's batches not yet final, each beside what the node says of its latest
    transaction and of its operator's nonce: where an emitter stopped, in facts."""
    rows = _rows(w, "SELECT id, operator, nonce, status, tx_hash, block_number,"
                    " round(extract(epoch FROM now() - updated_at)::numeric, 1)::float"
                    " FROM outbox_batches WHERE status IN ('broadcast', 'mined')"
                    " ORDER BY operator, nonce")  # fmt: skip
    if rows is None:
        return []
    with contextlib.suppress(Exception):  # the node may be gone as well
        nonces = {op: int(w.rpc("eth_getTransactionCount", op, "latest"), 16)
                  for op in {r[1] for r in rows}}  # fmt: skip
        return [
            {"id": i, "operator": op, "nonce": n, "status": st, "tx": tx, "block": b,
             "idle_s": idle, "node_nonce": nonces[op],
             "node_has_tx": w.rpc("eth_getTransactionByHash", tx) is not None}
            for i, op, n, st, tx, b, idle in rows
        ]  # fmt: skip
    return []


def post_mortem(w: World) -> dict[str, Any]:
    """What a failed run keeps of a world still up: each open batch beside the node's view
    (``open_batches``), every service's thread stacks written to its log (SIGUSR1), and the
    outbox by operator and status."""
    out: dict[str, Any] = {"open_batches": open_batches(w),
                           "stacks_in_logs_of": w.services.dump_stacks()}  # fmt: skip
    rows = _rows(w, "SELECT 'execution', operator, status, count(*) FROM outbox_executions"
                    " GROUP BY 2, 3 UNION ALL SELECT 'batch', operator, status, count(*)"
                    " FROM outbox_batches GROUP BY 2, 3 ORDER BY 1, 2, 3")  # fmt: skip
    if rows is not None:
        out["outbox"] = [list(map(str, r)) for r in rows]
    rows = _rows(w, "SELECT service, instance, state, last_error,"
                    " round(extract(epoch FROM now() - updated_at)::numeric, 1)::float,"
                    " (details->>'last_pass_s')::float FROM service_status"
                    " ORDER BY 1, 2")  # fmt: skip
    if rows is not None:  # a row not beaten for seconds: a process killed, or one hung; an
        # emitter's last pass long ago: its thread hangs while the process beats on
        out["service_status"] = [{"service": s, "instance": i, "state": st, "last_error": e,
                                  "silent_s": age, "last_pass_s": last}
                                 for s, i, st, e, age, last in rows]  # fmt: skip
    return out


CHECKS = ("charged_once", "events", "digests", "verify", "rewards", "graphql")
LOSSES = ("divergent", "lost", "double_charged", "duplicates", "bad_roots")


def run_seed(seed: int, *, steps: int, budget_s: float, url: str | None) -> dict[str, Any]:
    params = Params.of(seed, steps)
    t0 = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix=f"artisan-sim-{seed}-"))
    out: dict[str, Any] = {"seed": seed, "rpc_error_rate": params.rpc_error_rate,
                           "reorg_rate": params.reorg_rate,
                           "restart_rate": params.restart_rate}  # fmt: skip
    try:
        with databases(url, root, keep=lambda: "failure" in out) as (db, make):
            w_seen: list[World] = []
            try:
                with world(params, root, db) as w:
                    w_seen.append(w)
                    print(json.dumps({"seed": seed, "anvil": w.anvil.rpc_url, "proxy": w.proxy.url,
                                      "database": db.url, "logs": str(root / "logs")}),
                          file=sys.stderr, flush=True)  # fmt: skip
                    try:
                        run_workload(w, t0 + budget_s * 0.45)
                        w.proxy.plan = FaultPlan()  # the faults stop: everything must converge
                        settle(w, t0 + budget_s * 0.85)
                        out.update(check(w, make()))
                    except (SimulationFailed, ServiceFailed):
                        out.update(post_mortem(w))
                        raise
            except (SimulationFailed, ServiceFailed) as exc:
                out["failure"] = str(exc)
                if w_seen:
                    t = w_seen[0].truth
                    out["counts"] = {"accepted": len(t.accepted), "refused": len(t.refused),
                                     "unknown": len(t.unknown), "reorgs": len(t.reorgs),
                                     "restarts": sum(t.restarts.values())}  # fmt: skip
    finally:
        out["seconds"] = round(time.monotonic() - t0, 1)
        out["ok"] = "failure" not in out and all(out.get(c) for c in CHECKS)
        if out["ok"]:
            shutil.rmtree(root, ignore_errors=True)
        else:
            out["logs"] = str(root / "logs")
    return out


def _table(results: list[dict[str, Any]]) -> str:
    head = ("seed", "rpc%", "reorg%", "restart%", "accepted", "on chain", "reorgs", "restarts",
            "faults", "epochs", "claims", "s", *CHECKS)  # fmt: skip
    lines = [" ".join(f"{h:>9}" for h in head)]
    for r in results:
        c = r.get("counts", {})
        cells = [r["seed"], int(r["rpc_error_rate"] * 100), int(r["reorg_rate"] * 100),
                 int(r["restart_rate"] * 100), c.get("accepted", "-"),
                 c.get("executed_on_chain", "-"), c.get("reorgs", "-"), c.get("restarts", "-"),
                 c.get("rpc_faults", "-"), c.get("epochs", "-"), c.get("claims", "-"),
                 r["seconds"], *("ok" if r.get(k) else "FAIL" for k in CHECKS)]  # fmt: skip
        lines.append(" ".join(f"{x!s:>9}" for x in cells))
    return "\n".join(lines)


def failure_digest(result: dict[str, Any], lines: int = 4) -> str:
    """A failed seed in a few lines for the end of the output (where CI's tail shows it): its
    failure, its outbox and open batches, odd status rows, and each service's last errors
    (an exception's own line, not its traceback's first) before its last distinct warnings."""
    out = [f"seed {result['seed']} failed after {result['seconds']} s: "
           f"{result.get('failure', 'a check failed')}"]  # fmt: skip
    for key in ("counts", "outbox", "open_batches", "losses"):
        if result.get(key):
            out.append(f"  {key}: {json.dumps(result[key], default=str)[:600]}")
    for row in result.get("service_status", ()):
        quiet = max(float(row.get("silent_s") or 0), float(row.get("last_pass_s") or 0))
        if row.get("state") != "running" or quiet > 5:
            out.append(f"  status: {json.dumps(row, default=str)[:300]}")
    logs = Path(str(result.get("logs", "")))
    for path in sorted(logs.glob("*.log")) if result.get("logs") else []:
        try:
            errors, warnings = _noted(path.read_text(errors="replace").splitlines())
        except OSError as exc:
            out.append(f"  {path.stem}: unreadable ({exc})")
            continue
        kept = errors[-lines:]
        kept += warnings[-(lines - len(kept)) :] if len(kept) < lines else []
        out.extend(f"  {path.stem}: {line[:240]}" for line in kept)
    return "\n".join(out)


def _noted(text: list[str]) -> tuple[list[str], list[str]]:
    """A log's errors (ERROR lines and each traceback's exception line) and its warnings,
    each kind of warning once (its last time: numbers and hashes aside), in order."""
    errors, warnings, in_traceback = [], dict[str, str](), False
    for line in text:
        if line.startswith("Traceback (most recent call last)"):
            in_traceback = True
        elif in_traceback and line[:1] not in (" ", "\t", ""):
            in_traceback = False
            errors.append(line)  # the exception itself: what the traceback ends with
        elif " ERROR " in line:
            errors.append(line)
        elif " WARNING " in line:
            alike = re.sub(r"[0-9a-fx.]*[0-9][0-9a-fx.]*", "#", line.split(" WARNING ", 1)[1])
            warnings.pop(alike, None)  # "batch 4 ...", "batch 5 ...": the same warning
            warnings[alike] = line
    return errors, list(warnings.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--first", type=int, default=1, help="the first seed")
    parser.add_argument("--steps", type=int, default=60, help="workload steps per seed")
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per seed")
    parser.add_argument("--url", default=None, help="a Postgres server (default: configured,"
                        " else embedded)")  # fmt: skip
    args = parser.parse_args(argv)
    url = args.url or load_settings().database_url or None
    results = []
    for seed in range(args.first, args.first + args.seeds):
        result = run_seed(seed, steps=args.steps, budget_s=args.budget, url=url)
        results.append(result)
        print(json.dumps(result, default=str), file=sys.stderr, flush=True)
    print(_table(results))
    for r in results:
        if not r["ok"]:
            try:
                print(failure_digest(r))
            except Exception as exc:  # the final JSON line must come, whatever a log holds
                print(f"seed {r['seed']}: no digest ({type(exc).__name__}: {exc})")
    failed = [r["seed"] for r in results if not r["ok"]]
    summary: dict[str, Any] = {"seeds": len(results), "passed": len(results) - len(failed),
                               "failed": failed,
                               "max_seconds": max(r["seconds"] for r in results)}  # fmt: skip
    for key in LOSSES:
        summary[key] = sum(r.get("losses", {}).get(key, 0) for r in results)
    if failed:  # the reasons on the last line too: CI may show no more than that
        summary["failures"] = {r["seed"]: str(r.get("failure", "a check failed"))[:300]
                               for r in results if not r["ok"]}  # fmt: skip
    for key in ("accepted", "executed_on_chain", "reorgs", "restarts", "rpc_faults"):
        summary[key] = sum(r.get("counts", {}).get(key, 0) for r in results)
    print(json.dumps(summary))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
