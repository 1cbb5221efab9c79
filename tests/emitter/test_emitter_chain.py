"""The emitter on a real anvil and a real Postgres: confirmed once, whatever goes wrong.

The module runs its own anvil and deployment: the reorg test rewrites history, which the
session chain's snapshots cannot undo. Each test has fresh users and a database of its own.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3

from artisan.chain.actions import BatchItem, ModelSpec, record_batch, register_model
from artisan.chain.anvil import Anvil, start_anvil
from artisan.chain.codec import meter_from_abi, meter_tuple
from artisan.chain.jsonrpc import JsonRpc
from artisan.chain.protocol import WAD, Protocol, deploy
from artisan.chain.signer import Signer, connect
from artisan.config import ANVIL_OPERATOR_KEY, REPO_ROOT, Settings
from artisan.domain.eip712 import sign_request
from artisan.domain.types import InferenceRequest, Meter
from artisan.emitter.config import EmitterConfig
from artisan.emitter.emitter import Emitter, wait_idle
from artisan.emitter.errors import BatchReverted, EmitterBusy, LedgerMissing
from artisan.executor import outbox
from artisan.executor.outbox import OutboxEntry, OutboxStatus
from artisan.storage.database import Database
from artisan.testing.rpc_proxy import FaultPlan, RpcProxy

METER = Meter(
    input_units=64, gpu_micros=150, latency_micros=2_000, storage_bytes=512, concurrent_load=1
)
OPERATOR = Account.from_key(ANVIL_OPERATOR_KEY).address


@dataclass(frozen=True)
class Chain:
    node: Anvil
    w3: Web3
    rpc: JsonRpc
    protocol: Protocol
    deployer: Signer
    model_id: int

    def call(self, method: str, *params: Any) -> Any:
        return self.rpc.call(method, *params)

    @property
    def ledger(self) -> Any:
        return self.protocol.ledger


@dataclass(frozen=True)
class User:
    address: str
    key: bytes


@pytest.fixture(scope="module")
def chain(settings: Settings) -> Iterator[Chain]:
    node = start_anvil(settings.anvil_bin, chain_id=settings.chain_id)
    rpc = JsonRpc(node.rpc_url)
    try:
        w3 = connect(node.rpc_url)
        deployer = Signer.from_key(w3, settings.key("deployer"))
        protocol = deploy(deployer, settings.artifacts_dir, operators=(OPERATOR,))
        model_id = register_model(
            deployer, protocol, ModelSpec(cid_digest=secrets.token_bytes(32), fixed_price=10**15)
        )
        yield Chain(node, w3, rpc, protocol, deployer, model_id)
    finally:
        rpc.close()
        node.stop()


def new_user(chain: Chain, escrow: int = 100 * WAD) -> User:
    key = secrets.token_bytes(32)
    signer = Signer(w3=chain.w3, account=Account.from_key(key))
    chain.call("anvil_setBalance", signer.address, hex(10**20))
    p, d = chain.protocol, chain.deployer
    d.send(p.token.functions.mint(signer.address, escrow))
    signer.send(p.token.functions.approve(p.deployment.ledger, escrow))
    signer.send(p.ledger.functions.deposit(escrow))
    return User(signer.address, key)


def executions(chain: Chain, user: User, nonces: range) -> list[OutboxEntry]:
    d = chain.protocol.deployment
    out = []
    for nonce in nonces:
        req = InferenceRequest(
            user=user.address,
            model_id=chain.model_id,
            input_digest=secrets.token_bytes(32),
            params_hash=secrets.token_bytes(32),
            priority=1,
            max_cost=10 * WAD,
            nonce=nonce,
            deadline=2**40,
        )
        out.append(
            OutboxEntry.create(
                req,
                sign_request(req, user.key, d.chain_id, d.ledger),
                METER,
                secrets.token_bytes(32),
                f"bafk-test-{nonce}",
                chain_id=d.chain_id,
                ledger=d.ledger,
                operator=OPERATOR,
                metering={"batch_id": "b1", "batch_size": len(nonces), "share_ppm": 1_000},
            )
        )
    return out


def enqueue(db: Database, items: list[OutboxEntry]) -> None:
    with db.connect() as conn, conn.transaction():
        for ex in items:
            assert outbox.enqueue(conn, ex)


def emitter(db: Database, chain: Chain, **config: Any) -> Emitter:
    config.setdefault("max_wait", 0.0)
    config.setdefault("rebroadcast_after", 0.1)
    d = chain.protocol.deployment
    return Emitter(
        db,
        chain.node.rpc_url,
        ANVIL_OPERATOR_KEY,
        chain_id=d.chain_id,
        ledger=d.ledger,
        config=EmitterConfig(start_block=d.start_block, **config),
    )


def cost_each(chain: Chain, user: User) -> int:
    # A FIXED-price model: every execution with the same meter and priority costs the same.
    return int(
        chain.ledger.functions.quote(chain.model_id, user.address, meter_tuple(METER), 1).call()
    )


def escrow(chain: Chain, user: User) -> int:
    return int(chain.ledger.functions.escrowOf(user.address).call())


def executed_logs(chain: Chain, ids: list[bytes]) -> dict[bytes, list[Any]]:
    """Every InferenceExecuted on the canonical chain for these execution ids."""
    event = chain.ledger.events.InferenceExecuted()
    logs = chain.w3.eth.get_logs(
        {
            "address": Web3.to_checksum_address(chain.protocol.deployment.ledger),
            "fromBlock": 0,
            "topics": [event.topic, ["0x" + i.hex() for i in ids]],
        }
    )
    found: dict[bytes, list[Any]] = {i: [] for i in ids}
    for log in logs:
        found[bytes(log["topics"][1])].append(event.process_log(log))
    return found


def assert_charged_once(
    chain: Chain, db: Database, items: list[OutboxEntry], user: User, before: int
) -> None:
    ids = [ex.execution_id for ex in items]
    logs = executed_logs(chain, ids)
    assert {i: len(v) for i, v in logs.items()} == dict.fromkeys(ids, 1)
    statuses = [outbox.get(db, i) for i in ids]
    assert all(s is not None and s.status is OutboxStatus.CONFIRMED for s in statuses)
    charged = sum(int(v[0]["args"]["cost"]) for v in logs.values())
    assert before - escrow(chain, user) == charged == sum(s.cost or 0 for s in statuses if s)


def batches(db: Database) -> list[tuple[int, str, str, int]]:
    with db.connect() as conn:
        rows = conn.execute(
            "SELECT nonce, status, tx_hash, (SELECT count(*) FROM outbox_transactions t "
            "WHERE t.batch_id = b.id) FROM outbox_batches b ORDER BY nonce"
        ).fetchall()
    return [(int(r[0]), r[1], r[2], int(r[3])) for r in rows]


def step_until(em: Emitter, done: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "the emitter did not get there in time"
        if not em.step():
            time.sleep(0.02)


def test_batches_are_confirmed_with_matching_fields(chain: Chain, fresh_db: Database) -> None:
    """Outbox rows go out in several recordBatch txs; each InferenceExecuted matches its row."""
    alice, bob = new_user(chain), new_user(chain)
    items = executions(chain, alice, range(1, 14)) + executions(chain, bob, range(1, 10))
    before = {u.address: escrow(chain, u) for u in (alice, bob)}
    enqueue(fresh_db, items)
    assert {outbox.get(fresh_db, ex.execution_id).status for ex in items} == {"pending"}  # type: ignore[union-attr]
    with emitter(fresh_db, chain, max_items=8) as em:
        wait_idle(em, 30)
    logs = executed_logs(chain, [ex.execution_id for ex in items])
    for ex in items:
        status = outbox.get(fresh_db, ex.execution_id)
        assert status is not None and status.status is OutboxStatus.CONFIRMED
        [log] = logs[ex.execution_id]
        args, req = log["args"], ex.request
        assert (args["modelId"], args["user"].lower(), args["operator"]) == (
            req.model_id,
            req.user,
            OPERATOR,
        )
        assert (args["inputDigest"], args["paramsHash"], args["outputDigest"]) == (
            req.input_digest,
            req.params_hash,
            ex.output_digest,
        )
        assert (args["priority"], meter_from_abi(args["meter"])) == (req.priority, ex.meter)
        assert args["cost"] == status.cost
        assert (status.tx_hash, status.block_number, status.block_hash) == (
            "0x" + log["transactionHash"].hex(),
            log["blockNumber"],
            "0x" + log["blockHash"].hex(),
        )
        assert status.output_cid == ex.output_cid and status.attempts == 1
    done = batches(fresh_db)
    first_nonce = done[0][0]
    assert [b[:2] for b in done] == [(first_nonce + i, "done") for i in range(3)]
    for u, n in ((alice, 13), (bob, 9)):
        assert before[u.address] - escrow(chain, u) == n * cost_each(chain, u)


def test_the_heartbeat_tells_how_long_ago_the_last_pass_ended(
    chain: Chain, fresh_db: Database
) -> None:
    """The heartbeat beats on a thread of its own, so an emitter thread that hangs would look
    alive: its figures carry the age of the emitter's last pass, and a gauge its end time."""
    with emitter(fresh_db, chain) as em, fresh_db.connect() as conn:
        assert em.metrics.measure(conn, em.key)["last_pass_s"] is None  # no pass yet
        before = time.time()
        em.step()
        ended = em.metrics.registry.get_sample_value("artisan_emitter_last_pass_timestamp_seconds")
        assert ended is not None and before <= ended <= time.time()
        first = em.metrics.measure(conn, em.key)["last_pass_s"]
        assert isinstance(first, float) and 0 <= first < 5  # loose: a loaded machine
        time.sleep(0.6)
        age = em.metrics.measure(conn, em.key)["last_pass_s"]
        assert isinstance(age, float) and age >= max(0.6, first)


def test_second_emitter_for_the_same_key_is_refused(chain: Chain, fresh_db: Database) -> None:
    """While one emitter holds the operator key's lock, a second one cannot start."""
    with emitter(fresh_db, chain), pytest.raises(EmitterBusy):
        emitter(fresh_db, chain)
    emitter(fresh_db, chain).close()  # released with the first


def test_nonce_used_by_an_earlier_attempt_counts_as_confirmed(
    chain: Chain, fresh_db: Database
) -> None:
    """NONCE_USED for an execution already executed on chain is confirmed, never charged twice."""
    user = new_user(chain)
    items = executions(chain, user, range(1, 4))
    before = escrow(chain, user)
    enqueue(fresh_db, items)
    first = items[0]
    operator = Signer.from_key(chain.w3, ANVIL_OPERATOR_KEY)
    earlier = record_batch(
        operator,
        chain.protocol,
        [BatchItem(first.request, first.signature, first.meter, first.output_digest)],
    )
    with emitter(fresh_db, chain) as em:
        wait_idle(em, 20)
    assert_charged_once(chain, fresh_db, items, user, before)
    status = outbox.get(fresh_db, first.execution_id)
    assert status is not None and status.tx_hash == "0x" + earlier["transactionHash"].hex()


def test_reverted_batch_puts_its_executions_back(chain: Chain, fresh_db: Database) -> None:
    """A batch that reverts (operator role revoked) stops the emitter and loses nothing."""
    user = new_user(chain)
    items = executions(chain, user, range(1, 4))
    before = escrow(chain, user)
    enqueue(fresh_db, items)
    ledger = chain.ledger
    role = ledger.functions.OPERATOR_ROLE().call()
    chain.deployer.send(ledger.functions.revokeRole(role, OPERATOR))
    try:
        with emitter(fresh_db, chain) as em, pytest.raises(BatchReverted):
            wait_idle(em, 10)
    finally:
        chain.deployer.send(ledger.functions.grantRole(role, OPERATOR))
    assert {outbox.get(fresh_db, ex.execution_id).api_state for ex in items} == {"ran"}  # type: ignore[union-attr]
    assert [b[1] for b in batches(fresh_db)] == ["reverted"]
    with emitter(fresh_db, chain) as em:
        wait_idle(em, 10)
    assert_charged_once(chain, fresh_db, items, user, before)
    assert {outbox.get(fresh_db, ex.execution_id).attempts for ex in items} == {2}  # type: ignore[union-attr]


def test_a_ledger_with_no_code_stops_the_emitter_instead_of_sending_forever(
    chain: Chain, fresh_db: Database
) -> None:
    """A recordBatch to an address with no code succeeds and logs nothing. The emitter stops
    with LedgerMissing, charges nothing and sends nothing more, even when started again.

    Seen in a soak: anvil 1.7.1 loses every contract's code in a reorg deeper than the states
    it keeps in memory (10, once a chain is long); a node whose chain was reset does the same.
    Before, the emitter put the batch's executions back to pending and sent them again, one
    batch each block time, without end."""
    user = new_user(chain)
    items = executions(chain, user, range(1, 4))
    before = escrow(chain, user)
    enqueue(fresh_db, items)
    ledger = chain.protocol.deployment.ledger
    code = chain.call("eth_getCode", ledger, "latest")
    chain.call("anvil_setCode", ledger, "0x")
    try:
        with (
            emitter(fresh_db, chain) as em,
            pytest.raises(
                LedgerMissing, match=f"no code is at the ledger address {ledger.lower()} on chain"
            ),
        ):
            wait_idle(em, 10)
        sent = chain.call("eth_getTransactionCount", OPERATOR, "latest")
        with emitter(fresh_db, chain) as em, pytest.raises(LedgerMissing):
            wait_idle(em, 10)
        assert chain.call("eth_getTransactionCount", OPERATOR, "latest") == sent
    finally:
        chain.call("anvil_setCode", ledger, code)
    assert [(b[1], b[3]) for b in batches(fresh_db)] == [("broadcast", 1)]
    statuses = [outbox.get(fresh_db, ex.execution_id) for ex in items]
    assert {s.status for s in statuses if s} == {OutboxStatus.BROADCAST} and all(statuses)
    assert {s.attempts for s in statuses if s} == {1}
    assert escrow(chain, user) == before


def test_dropped_transaction_is_sent_again(chain: Chain, fresh_db: Database) -> None:
    """A batch anvil drops from its mempool is broadcast again and charged once."""
    user = new_user(chain)
    items = executions(chain, user, range(1, 6))
    before = escrow(chain, user)
    enqueue(fresh_db, items)
    with emitter(fresh_db, chain) as em:
        chain.call("evm_setAutomine", False)
        try:
            em.step()
            em.flush()
            [(_, status, tx_hash, _)] = batches(fresh_db)
            assert status == "broadcast" and chain.call("eth_getTransactionByHash", tx_hash)
            chain.call("anvil_dropTransaction", tx_hash)
            assert chain.call("eth_getTransactionByHash", tx_hash) is None
        finally:
            chain.call("evm_setAutomine", True)
        assert outbox.get(fresh_db, items[0].execution_id).status == "broadcast"  # type: ignore[union-attr]
        wait_idle(em, 20)
    assert_charged_once(chain, fresh_db, items, user, before)
    assert [b[1:] for b in batches(fresh_db)] == [("done", tx_hash, 1)]


def test_batch_whose_nonce_went_elsewhere_is_sent_under_a_new_one(
    chain: Chain, fresh_db: Database
) -> None:
    """If another transaction takes a batch's nonce, its executions go out in a new batch."""
    user = new_user(chain)
    items = executions(chain, user, range(1, 4))
    before = escrow(chain, user)
    enqueue(fresh_db, items)
    with emitter(fresh_db, chain) as em:
        chain.call("evm_setAutomine", False)
        try:
            em.step()
            em.flush()
            [(nonce, _, tx_hash, _)] = batches(fresh_db)
            chain.call("anvil_dropTransaction", tx_hash)
            chain.call(
                "eth_sendTransaction", {"from": OPERATOR, "to": OPERATOR, "nonce": hex(nonce)}
            )
            chain.call("evm_mine")
        finally:
            chain.call("evm_setAutomine", True)
        wait_idle(em, 20)
    assert_charged_once(chain, fresh_db, items, user, before)
    assert [b[:2] for b in batches(fresh_db)] == [(nonce, "lost"), (nonce + 1, "done")]
    assert {outbox.get(fresh_db, ex.execution_id).attempts for ex in items} == {2}  # type: ignore[union-attr]


def test_stuck_transaction_is_replaced_with_higher_fees(chain: Chain, fresh_db: Database) -> None:
    """A batch with no receipt after replace_after is re-signed, same nonce, bumped fees."""
    user = new_user(chain)
    items = executions(chain, user, range(1, 4))
    before = escrow(chain, user)
    enqueue(fresh_db, items)
    with emitter(fresh_db, chain, replace_after=0.3) as em:
        chain.call("evm_setAutomine", False)
        try:
            em.step()
            em.flush()
            [(nonce, _, first_hash, _)] = batches(fresh_db)
            time.sleep(0.4)
            em.step()
            [(_, _, second_hash, count)] = batches(fresh_db)
            assert count == 2 and second_hash != first_hash
            chain.call("evm_mine")
        finally:
            chain.call("evm_setAutomine", True)
        wait_idle(em, 20)
    assert_charged_once(chain, fresh_db, items, user, before)
    assert batches(fresh_db) == [(nonce, "done", second_hash, 2)]
    assert chain.call("eth_getTransactionReceipt", first_hash) is None


def test_reorged_out_transaction_is_sent_again(chain: Chain, fresh_db: Database) -> None:
    """A mined batch whose block a reorg removes is sent again and charged once."""
    user = new_user(chain)
    items = executions(chain, user, range(1, 6))
    before = escrow(chain, user)
    enqueue(fresh_db, items)
    with emitter(fresh_db, chain, confirmations=3) as em:
        step_until(em, lambda: [b[1] for b in batches(fresh_db)] == ["mined"])
        receipt = chain.call("eth_getTransactionReceipt", batches(fresh_db)[0][2])
        head = int(chain.call("eth_blockNumber"), 16)
        depth = head - int(receipt["blockNumber"], 16) + 1
        chain.call("anvil_reorg", depth, [])
        assert chain.call("eth_getTransactionReceipt", receipt["transactionHash"]) is None
        assert escrow(chain, user) == before

        def confirmed() -> bool:
            chain.call("anvil_mine", 1)
            return not em.has_work()

        step_until(em, confirmed)
    assert_charged_once(chain, fresh_db, items, user, before)
    status = outbox.get(fresh_db, items[0].execution_id)
    assert status is not None and status.block_hash != receipt["blockHash"]


def run_emitter_process(
    chain: Chain, db: Database, *extra: str
) -> subprocess.CompletedProcess[str]:
    d = chain.protocol.deployment
    args = [sys.executable, "-m", "artisan.cli", "emit", "--ledger", d.ledger,
            "--max-items", "4", "--max-wait", "0", "--start-block", str(d.start_block),
            "--until-idle", "--timeout", "30", *extra]  # fmt: skip
    env = {
        **os.environ,
        "ARTISAN_RPC_URL": chain.node.rpc_url,
        "ARTISAN_DATABASE_URL": db.url,
        "ARTISAN_FINALITY_DEPTH": "1",
    }  # a dev chain: final at once
    return subprocess.run(args, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("point", ["persisted", "broadcast"])
def test_emitter_killed_and_restarted_charges_once(
    chain: Chain, fresh_db: Database, point: str
) -> None:
    """SIGKILL after the first batch is persisted, or after it is broadcast: a restarted
    emitter finishes every execution, each charged exactly once."""
    user = new_user(chain)
    items = executions(chain, user, range(1, 11))
    before = escrow(chain, user)
    enqueue(fresh_db, items)
    crashed = run_emitter_process(chain, fresh_db, "--crash-at", point)
    assert crashed.returncode == -9, crashed.stderr
    # The first batch (4 items) died persisted but unsent, or sent; later ones may have been
    # persisted too before the kill, but never sent: the sender sends in nonce order.
    first = batches(fresh_db)[0]
    on_chain = chain.call("eth_getTransactionReceipt", first[2])
    assert (on_chain is not None) == (point == "broadcast")
    assert before - escrow(chain, user) == (4 * cost_each(chain, user) if on_chain else 0)
    restarted = run_emitter_process(chain, fresh_db)
    assert restarted.returncode == 0, restarted.stderr
    assert_charged_once(chain, fresh_db, items, user, before)
    assert [b[1] for b in batches(fresh_db)] == ["done"] * 3


class LaggingNode(JsonRpc):
    """Fault injection: while ``hide`` is set, the node knows no receipt and no log (a replica
    that has not caught up with the block that used the nonce)."""

    hide = False

    def call(self, method: str, *params: Any) -> Any:
        answer = super().call(method, *params)
        return self._lag(method, answer)

    def batch(self, calls: Any) -> list[Any]:
        answers = super().batch(calls)
        return [self._lag(method, a) for (method, _), a in zip(calls, answers, strict=True)]

    def _lag(self, method: str, answer: Any) -> Any:
        if self.hide and method == "eth_getTransactionReceipt":
            return None
        if self.hide and method == "eth_getLogs":
            return []
        return answer


def test_receipt_served_after_the_nonce_is_not_taken_for_a_lost_batch(
    chain: Chain, fresh_db: Database
) -> None:
    """A node that reports the new nonce before it serves the receipt does not make the
    emitter give up a mined batch: it waits ``lost_after`` before calling the nonce taken."""
    user = new_user(chain)
    items = executions(chain, user, range(1, 4))
    before = escrow(chain, user)
    enqueue(fresh_db, items)
    lagging = LaggingNode(chain.node.rpc_url)
    with emitter(fresh_db, chain, lost_after=5.0) as em:
        em._reconciler.rpc = lagging
        lagging.hide = True
        try:
            em.step()
            em.flush()
            [(nonce, _, _, _)] = batches(fresh_db)
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline:  # many passes with the nonce passed
                em.step()
            assert int(chain.call("eth_getTransactionCount", OPERATOR, "latest"), 16) > nonce
            assert [b[:2] for b in batches(fresh_db)] == [(nonce, "broadcast")]
        finally:
            lagging.hide = False
        wait_idle(em, 20)
    lagging.close()
    assert_charged_once(chain, fresh_db, items, user, before)
    assert [b[:2] for b in batches(fresh_db)] == [(nonce, "done")]
    assert {outbox.get(fresh_db, ex.execution_id).attempts for ex in items} == {1}  # type: ignore[union-attr]


@pytest.mark.parametrize("seed", [3, 4])
def test_through_a_faulty_node_every_execution_is_charged_once(
    chain: Chain, fresh_db: Database, seed: int
) -> None:
    """The emitter behind the fault-injecting proxy (a third of its requests failing: lost
    answers to sent transactions among them, rate limits, 5xx, cut answers, a lagging
    replica) confirms every execution, each charged exactly once."""
    alice = new_user(chain)
    items = executions(chain, alice, range(1, 25))
    before = escrow(chain, alice)
    enqueue(fresh_db, items)
    d = chain.protocol.deployment
    with RpcProxy(chain.node.rpc_url, FaultPlan.uniform(0.33), seed) as proxy:
        with Emitter(fresh_db, proxy.url, ANVIL_OPERATOR_KEY, chain_id=d.chain_id,
                     ledger=d.ledger, config=EmitterConfig(start_block=d.start_block,
                     max_wait=0.0, rebroadcast_after=0.1, max_items=5)) as em:  # fmt: skip
            wait_idle(em, 60)
        faults = dict(proxy.faults)
    assert_charged_once(chain, fresh_db, items, alice, before)
    assert sum(faults.values()) >= 3, faults
