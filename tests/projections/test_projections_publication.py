"""Reward publication on a real anvil, exactly once across reorgs, drops, stuck transactions and
a killed service: each test ends with the root on chain once, the total minted once, verify
clean, and every leaf claimed with the proof the projection serves."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3
from web3.contract.contract import ContractFunction
from web3.types import Nonce, TxParams

from artisan.audit.chain_reads import DistributorReader, LedgerReader, chain_events
from artisan.audit.verify import verify
from artisan.chain.actions import BatchItem, ModelSpec, record_batch, register_model
from artisan.chain.anvil import Anvil
from artisan.chain.errors import ChainMoved
from artisan.chain.protocol import WAD, Protocol
from artisan.chain.signer import Signer
from artisan.config import ANVIL_OPERATOR_KEY, REPO_ROOT, Settings
from artisan.domain.eip712 import sign_request
from artisan.errors import TransientChainError
from artisan.projections import positions
from artisan.projections.errors import PublicationError
from artisan.projections.rewards.closing import ClosedEpoch, close_final_epochs, epoch_leaves
from artisan.projections.rewards.epochs import RewardConfig
from artisan.projections.rewards.publications import attempts_of
from artisan.projections.rewards.publisher import (
    EPOCH_PUBLISHED_TOPIC,
    ChainPublisher,
    Contracts,
    PublisherConfig,
)
from artisan.storage.database import Database
from artisan.testing.rpc_proxy import FaultPlan, RpcProxy
from tests.chain.helpers import User, new_user
from tests.processes import Child

from .chain_support import (
    EPOCH_LENGTH,
    FINALITY,
    METER,
    index,
    publish_until_final,
    publisher,
    request,
)

pytestmark = pytest.mark.usefixtures("chain_snapshot")

ZERO = "0x" + "00" * 20
TRANSFER_TOPIC = "0x" + Web3.keccak(text="Transfer(address,address,uint256)").hex()


@dataclass
class World:
    w3: Web3
    anvil: Anvil
    protocol: Protocol
    deployer: Signer
    operator: Signer
    settings: Settings
    genesis: int
    config: RewardConfig
    users: list[User]
    bystander: User  # holds tokens and has sent nothing: its transactions make a new branch
    models: list[int]

    def mine(self, blocks: int = 1) -> None:
        self.w3.provider.make_request("anvil_mine", [hex(blocks)])  # type: ignore[arg-type]

    def rpc(self, method: str, *params: Any) -> Any:
        reply = self.w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
        assert "error" not in reply, reply
        return reply["result"]

    def automine(self, on: bool) -> None:
        self.rpc("evm_setAutomine", on)

    def reorg(self, depth: int, txs: list[str]) -> None:
        """Replace the last ``depth`` blocks with as many new ones, ``txs`` in the first."""
        self.rpc("anvil_reorg", depth, [[raw, 0] for raw in txs])

    def signed(self, user: User | Signer, fn: ContractFunction, nonce: int) -> str:
        """``fn`` signed by ``user`` at ``nonce``, not sent: for a reorg's new branch."""
        signer = user if isinstance(user, Signer) else user.signer
        params: TxParams = {"from": signer.account.address, "nonce": Nonce(nonce),
                            "chainId": self.w3.eth.chain_id, "gas": 500_000}  # fmt: skip
        tx: dict[str, Any] = dict(fn.build_transaction(params))
        return "0x" + bytes(signer.account.sign_transaction(tx).raw_transaction).hex()


@pytest.fixture
def world(
    store: Database, w3: Web3, anvil: Anvil, protocol: Protocol, deployer: Signer,
    operator: Signer, settings: Settings,
) -> World:  # fmt: skip
    """Two creators' models run by two users in epoch 1, which is then final, indexed,
    projected and closed (its leaves and root stored: the publication's intent)."""
    d = protocol.deployment
    genesis = w3.eth.block_number + 1
    config = RewardConfig(genesis_block=genesis, epoch_length=EPOCH_LENGTH, default_pool=70 * WAD)
    creators = [new_user(w3, protocol, deployer, escrow=0) for _ in range(2)]
    users = [new_user(w3, protocol, deployer) for _ in range(2)]
    bystander = new_user(w3, protocol, deployer, escrow=0)
    deployer.send(protocol.token.functions.mint(bystander.address, 3 * WAD))
    items, models = [], []
    for i, creator in enumerate(creators):
        model = register_model(creator.signer, protocol, ModelSpec(
            secrets.token_bytes(32), fixed_price=(i + 1) * 10**15))  # fmt: skip
        models.append(model)
        for n, user in enumerate(users):
            r = request(user, model, 10 * i + n, secrets.token_bytes(32))
            sig = sign_request(r, user.key, d.chain_id, d.ledger)
            items.append(BatchItem(r, sig, METER, secrets.token_bytes(32)))
    record_batch(operator, protocol, items)
    world = World(w3, anvil, protocol, deployer, operator, settings, genesis, config, users,
                  bystander, models)  # fmt: skip
    world.mine(config.bounds(1)[1] + FINALITY + 1 - w3.eth.block_number)
    return world


def close(store: Database, world: World) -> ClosedEpoch:
    index(store, world.anvil, world.protocol)
    closed = close_final_epochs(
        store, world.protocol.deployment.chain_id, world.config, finality_depth=FINALITY
    )
    assert [c.epoch for c in closed] == [1] and closed[0].root is not None
    return closed[0]


def on_chain(pub: ChainPublisher, epoch: ClosedEpoch) -> None:
    """Pass after pass until the distributor holds the epoch's root (anvil mines each
    transaction at once, but may serve its receipt a moment after answering the send)."""
    deadline = time.monotonic() + 10.0
    while pub.published(epoch.epoch) is None:
        assert time.monotonic() < deadline, "not published within 10 s"
        pub.step()
        time.sleep(0.02)
    assert pub.published(epoch.epoch) == (epoch.root, epoch.total)


def activity(world: World) -> None:
    """Blocks of protocol activity by other keys: executions, a withdrawal request."""
    d, user = world.protocol.deployment, world.users[0]
    r = request(user, world.models[0], 100, secrets.token_bytes(32))
    item = BatchItem(r, sign_request(r, user.key, d.chain_id, d.ledger), METER, bytes(32))
    record_batch(world.operator, world.protocol, [item])
    user.signer.send(world.protocol.ledger.functions.requestWithdrawal(WAD))


def new_branch(world: World) -> list[str]:
    """The other branch's transactions: the bystander's approve and deposit."""
    p, user = world.protocol, world.bystander
    return [
        world.signed(user, p.token.functions.approve(p.deployment.ledger, 3 * WAD), 0),
        world.signed(user, p.ledger.functions.deposit(3 * WAD), 1),
    ]


def follow_and_publish(store: Database, world: World, pub: ChainPublisher) -> None:
    """The indexer follows the chain as it is now, then the publisher takes epoch 1 to final."""
    index(store, world.anvil, world.protocol)
    assert publish_until_final(pub, world.w3)[0].epoch == 1


def assert_each_step_signed_once(store: Database) -> None:
    with store.connect() as conn:
        steps = attempts_of(conn, 1)
    assert [s for s, _n, _status in steps] == ["mint", "approve", "publish"]


def minted_to(world: World, account: str, since: int) -> list[int]:
    """Every amount minted to ``account`` from block ``since`` on the canonical chain."""
    logs = world.rpc("eth_getLogs", {
        "address": world.protocol.deployment.token, "fromBlock": hex(since), "toBlock": "latest",
        "topics": [TRANSFER_TOPIC, "0x" + "00" * 32, "0x" + "00" * 12 + account.lower()[2:]],
    })  # fmt: skip
    return [int(log["data"], 16) for log in logs]


def assert_published_once(store: Database, world: World, epoch: ClosedEpoch, since: int) -> None:
    """The root and total on chain, one EpochPublished for the epoch, its total minted once,
    verify clean (publication included), and every leaf claimed with its served proof."""
    p, d = world.protocol, world.protocol.deployment
    onchain = p.distributor.functions.epochs(epoch.epoch).call()
    assert ("0x" + bytes(onchain[0]).hex(), onchain[3]) == (epoch.root, epoch.total)
    published = world.rpc("eth_getLogs", {
        "address": d.distributor, "fromBlock": hex(world.genesis), "toBlock": "latest",
        "topics": [EPOCH_PUBLISHED_TOPIC, "0x" + epoch.epoch.to_bytes(32, "big").hex()],
    })  # fmt: skip
    assert len(published) == 1
    assert minted_to(world, world.deployer.address, since) == [epoch.total]

    with store.connect() as conn:
        leaves = epoch_leaves(conn, epoch.epoch)
        tx = conn.execute(
            "SELECT publish_tx FROM reward_epochs WHERE epoch = %s", (epoch.epoch,)
        ).fetchone()
    assert tx is not None and tx[0] == published[0]["transactionHash"]
    assert len(leaves) == 2 and sum(leaf.amount for leaf in leaves) == epoch.total
    for leaf in leaves:
        before = p.token.functions.balanceOf(Web3.to_checksum_address(leaf.account)).call()
        proof = [bytes.fromhex(x[2:]) for x in leaf.proof]
        world.operator.send(p.distributor.functions.claim(
            epoch.epoch, Web3.to_checksum_address(leaf.account), leaf.amount, proof))  # fmt: skip
        after = p.token.functions.balanceOf(Web3.to_checksum_address(leaf.account)).call()
        assert after == before + leaf.amount

    world.mine(FINALITY + 1)
    index(store, world.anvil, p)
    with store.connect() as conn:
        tip = positions.indexed_block(conn, d.chain_id)
        assert all(leaf.claimed for leaf in epoch_leaves(conn, epoch.epoch))
    assert tip is not None
    mismatches = verify(
        store, chain_events(world.anvil.rpc_url, d, p.artifacts, tip), block=tip,
        rewards=world.config, ledger=LedgerReader(world.anvil.rpc_url, d, p.artifacts),
        distributor=DistributorReader(world.anvil.rpc_url, d, p.artifacts),
    )  # fmt: skip
    assert mismatches == []


def test_a_reorg_that_removes_the_publication_gets_it_sent_again(
    store: Database, world: World
) -> None:
    """Mint, approve and publishEpoch are mined, then a reorg replaces them (and the activity
    around them) with a branch of other transactions: the publisher sends the same
    transactions again, the indexer and projections follow, and the epoch is published once."""
    epoch = close(store, world)
    since = world.w3.eth.block_number
    activity(world)
    with publisher(store, world.anvil, world.protocol, world.settings.key("deployer")) as pub:
        on_chain(pub, epoch)
        depth = world.w3.eth.block_number - since  # the activity and all three steps
        world.reorg(depth, new_branch(world))
        assert pub.published(1) is None  # gone with the branch
        follow_and_publish(store, world, pub)  # the indexer follows the reorg
    assert_each_step_signed_once(store)
    assert_published_once(store, world, epoch, since)


def test_a_reorg_between_reading_the_root_and_finding_its_log_is_the_chain_moving(
    store: Database, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seen in the soak: the distributor answered with the epoch's root, then a reorg took the
    publication away before its EpochPublished was looked up. The publisher logged an ERROR
    and counted a failed publication for what is the chain moving: it is ``ChainMoved``
    (transient, asked again next pass), and the epoch is then published once."""
    epoch = close(store, world)
    since = world.w3.eth.block_number
    activity(world)
    with publisher(store, world.anvil, world.protocol, world.settings.key("deployer")) as pub:
        on_chain(pub, epoch)
        depth = world.w3.eth.block_number - since
        look_up = pub._published_by_us

        def reorg_then_look_up(e: Any) -> Any:  # the fault, at the one point it matters
            monkeypatch.setattr(pub, "_published_by_us", look_up)
            world.reorg(depth, new_branch(world))
            return look_up(e)

        monkeypatch.setattr(pub, "_published_by_us", reorg_then_look_up)
        with pytest.raises(ChainMoved, match="epoch 1: the distributor's root left the chain"):
            pub.step()
        assert pub.published(1) is None
        follow_and_publish(store, world, pub)
    assert_each_step_signed_once(store)
    assert_published_once(store, world, epoch, since)


def test_a_reorg_that_takes_the_mint_away_mid_pass_signs_nothing_at_its_nonce(
    store: Database, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seen in the soak: the mint's receipt was read, then a reorg took the mint away before
    the approve was signed. The approve went out under the mint's nonce, and the publish's
    estimate then reverted (ERC20InsufficientBalance), logged as a failed publication. The
    pending nonce not past the mint's is ``ChainMoved`` now: nothing is signed at it, the mint
    is sent again, and each step lands once."""
    epoch = close(store, world)
    since = world.w3.eth.block_number
    with publisher(store, world.anvil, world.protocol, world.settings.key("deployer")) as pub:
        send = pub._send
        sent: list[str] = []

        def reorg_before_the_approve(e: Any, step: str, *rest: Any) -> Any:
            if step == "approve" and "approve" not in sent:
                world.reorg(1, new_branch(world))  # the mint's block: the mint with it
            sent.append(step)
            return send(e, step, *rest)

        monkeypatch.setattr(pub, "_send", reorg_before_the_approve)
        deadline = time.monotonic() + 10.0
        with pytest.raises(ChainMoved, match="epoch 1: the pending nonce"):
            while "approve" not in sent:  # anvil may serve the mint's receipt a pass late
                assert time.monotonic() < deadline, "the approve was never sent"
                pub.step()
                time.sleep(0.02)
        assert sent == ["mint", "approve"]
        monkeypatch.setattr(pub, "_send", send)
        follow_and_publish(store, world, pub)
    assert_each_step_signed_once(store)
    assert_published_once(store, world, epoch, since)


def test_a_reorg_whose_branch_spends_the_publishers_nonces(store: Database, world: World) -> None:
    """The new branch holds other transactions of the publisher's own key at the nonces of its
    mint and approve: those attempts are lost (and the publish after them abandoned), and each
    step is signed again under new nonces; the mint that can no longer land is followed by
    exactly one that does."""
    epoch = close(store, world)
    user = new_user(world.w3, world.protocol, world.deployer, escrow=0)
    since = world.w3.eth.block_number
    with publisher(store, world.anvil, world.protocol, world.settings.key("deployer")) as pub:
        on_chain(pub, epoch)
        with store.connect() as conn:
            mint_nonce = attempts_of(conn, 1)[0][1]
        mint = world.protocol.token.functions.mint(user.address, 1)
        branch = [world.signed(world.deployer, mint, mint_nonce + i) for i in range(2)]
        world.reorg(world.w3.eth.block_number - since, branch)
        assert pub.published(1) is None
        index(store, world.anvil, world.protocol)
        publish_until_final(pub, world.w3)
    with store.connect() as conn:
        steps = attempts_of(conn, 1)
    assert [(s, st) for s, _n, st in steps] == [
        ("mint", "lost"), ("approve", "lost"), ("publish", "lost"),
        ("mint", "open"), ("approve", "open"), ("publish", "open"),
    ]  # fmt: skip
    assert_published_once(store, world, epoch, since)


@pytest.mark.parametrize("step", ["mint", "approve"])
def test_a_reorg_that_removes_only_one_step(store: Database, world: World, step: str) -> None:
    """Blocks mined one at a time: the mint (or the approve) alone is mined and then reorged
    out. The publisher notices the receipt gone, sends the same bytes again, and carries on."""
    epoch = close(store, world)
    since = world.w3.eth.block_number
    with publisher(store, world.anvil, world.protocol, world.settings.key("deployer")) as pub:
        world.automine(False)
        try:
            pub.step()  # mint sent
            world.mine()
            if step == "approve":
                pub.step()  # the mint is mined: approve sent
                world.mine()
            with store.connect() as conn:
                assert attempts_of(conn, 1)[-1][0] == step
            world.reorg(1, [])  # the block holding it is replaced by an empty one
            assert world.w3.eth.get_transaction_count(world.deployer.account.address) == (
                attempts_of_nonce(store, step)
            )
        finally:
            world.automine(True)
        publish_until_final(pub, world.w3)
    with store.connect() as conn:
        assert [s for s, _n, _st in attempts_of(conn, 1)] == ["mint", "approve", "publish"]
    assert_published_once(store, world, epoch, since)


def attempts_of_nonce(store: Database, step: str) -> int:
    with store.connect() as conn:
        return next(n for s, n, _st in attempts_of(conn, 1) if s == step)


def test_a_dropped_transaction_is_sent_again_and_a_stuck_one_replaced(
    store: Database, world: World
) -> None:
    """With mining paused, the mint sits unmined past replace_after and is replaced by nonce
    (fees bumped); the publishEpoch is dropped from the pool and sent again: one mint, one
    publication."""
    epoch = close(store, world)
    since = world.w3.eth.block_number
    key = world.settings.key("deployer")
    with publisher(store, world.anvil, world.protocol, key, replace_after=0.0) as pub:
        world.automine(False)
        try:
            pub.step()  # mint sent
            pub.step()  # unmined at once: replaced (same nonce, higher fees)
            with store.connect() as conn:
                mints = conn.execute(
                    "SELECT tx_hash, nonce, max_fee FROM reward_publication_txs"
                    " WHERE step = 'mint' ORDER BY signed_at"
                ).fetchall()
            assert len(mints) == 2 and mints[0][1] == mints[1][1] and mints[1][2] > mints[0][2]
            world.mine()
        finally:
            world.automine(True)
    with publisher(store, world.anvil, world.protocol, key) as pub:  # a restart, too
        world.automine(False)
        try:
            pub.step()  # mint mined: approve sent
            world.mine()
            pub.step()  # publish sent
            with store.connect() as conn:
                row = conn.execute(
                    "SELECT tx_hash FROM reward_publication_txs WHERE step = 'publish'"
                ).fetchone()
            assert row is not None
            world.rpc("anvil_dropTransaction", row[0])
            assert world.rpc("eth_getTransactionByHash", row[0]) is None
        finally:
            world.automine(True)
        publish_until_final(pub, world.w3)
    assert_published_once(store, world, epoch, since)


def test_the_service_killed_mid_publication_and_restarted_after_a_reorg(
    store: Database, world: World, tmp_path: Path
) -> None:
    """`projections run --follow` publishes; it is killed (SIGKILL) right after, a reorg removes
    the publication, and a restarted service publishes it again, once."""
    d = world.protocol.deployment
    deployment_file = tmp_path / "deployment.json"
    d.save(deployment_file)
    env = {
        **os.environ,
        "ARTISAN_DATABASE_URL": store.url,
        "ARTISAN_RPC_URL": world.anvil.rpc_url,
        "ARTISAN_DEPLOYMENT_FILE": str(deployment_file),
        "ARTISAN_FINALITY_DEPTH": str(FINALITY),
        "ARTISAN_REWARD_EPOCH_LENGTH": str(EPOCH_LENGTH),
        "ARTISAN_REWARD_GENESIS_BLOCK": str(world.genesis),
        "ARTISAN_REWARD_POOL": str(world.config.default_pool),
        "ARTISAN_REWARD_MINT": "true",
    }
    command = [sys.executable, "-m", "artisan.cli", "projections", "run", "--follow",
               "--interval", "0.2", "--epoch-interval", "0.2"]  # fmt: skip
    index(store, world.anvil, world.protocol, project=False)
    since = world.w3.eth.block_number
    with Child(command, env=env, stderr=tmp_path / "first.txt", cwd=REPO_ROOT) as service:
        service.until(lambda line: '"closed"' in line, timeout=60.0)
        deadline = time.monotonic() + 30
        while world.protocol.distributor.functions.epochs(1).call()[0] == bytes(32):
            assert time.monotonic() < deadline, service.stderr_text()
            time.sleep(0.1)
        service.stop(signal.SIGKILL)
    world.reorg(world.w3.eth.block_number - since, new_branch(world))
    assert world.protocol.distributor.functions.epochs(1).call()[0] == bytes(32)
    index(store, world.anvil, world.protocol, project=False)
    with Child(command, env=env, stderr=tmp_path / "second.txt", cwd=REPO_ROOT) as service:
        deadline = time.monotonic() + 60
        published = None
        while published is None:
            assert time.monotonic() < deadline, service.stderr_text()
            world.mine()
            time.sleep(0.2)
            with store.connect() as conn:
                row = conn.execute("SELECT publish_tx FROM reward_epochs WHERE epoch = 1")
                found = row.fetchone()
            published = None if found is None else found[0]
        assert service.stop(signal.SIGTERM) == 0, service.stderr_text()
    assert_published_once(store, world, close_row(store), since)


def close_row(store: Database) -> ClosedEpoch:
    with store.connect() as conn:
        row = conn.execute(
            "SELECT epoch, from_block, to_block, pool, total, root, leaf_count, publish_tx"
            " FROM reward_epochs WHERE epoch = 1"
        ).fetchone()
    assert row is not None
    e, f, t, pool, total, root, n, tx = row
    return ClosedEpoch(int(e), int(f), int(t), int(pool), int(total), root, int(n), tx)


def test_verify_names_an_epoch_whose_root_is_not_on_chain(store: Database, world: World) -> None:
    """A closed epoch that the distributor does not hold is a mismatch naming it; so is a
    recorded publication transaction that is not on the canonical chain."""
    close(store, world)
    p, d = world.protocol, world.protocol.deployment
    with store.connect() as conn:
        tip = positions.indexed_block(conn, d.chain_id)
    assert tip is not None

    def check() -> list[str]:
        found = verify(
            store, chain_events(world.anvil.rpc_url, d, p.artifacts, tip), block=tip,
            rewards=world.config, distributor=DistributorReader(world.anvil.rpc_url, d,
                                                               p.artifacts),
        )  # fmt: skip
        return [str(m) for m in found]

    assert check() == [
        f"reward_publication epoch 1 on the distributor: expected root {root_of(store)} total"
        f" {total_of(store)}, found no root (publication pending)"
    ]
    with store.connect() as conn:
        conn.execute("UPDATE reward_epochs SET publish_tx = %s", ("0x" + "12" * 32,))
    found = check()
    assert len(found) == 2 and "recorded as published by 0x1212" in found[0]
    assert found[1].startswith("reward_publication epoch 1 publication 0x1212")


def root_of(store: Database) -> str:
    return close_row(store).root or ""


def total_of(store: Database) -> int:
    return close_row(store).total


def test_an_allowance_spent_behind_the_publishers_back_is_approved_again(
    store: Database, world: World
) -> None:
    """The approve is mined, then the key's allowance is reset by another transaction: the
    publisher sees it before publishing and approves again (a publish would revert)."""
    epoch = close(store, world)
    since = world.w3.eth.block_number
    p = world.protocol
    with publisher(store, world.anvil, p, world.settings.key("deployer")) as pub:
        world.automine(False)
        try:
            pub.step()  # mint sent
            world.mine()
            pub.step()  # approve sent
            world.mine()
            world.automine(True)
            world.deployer.send(p.token.functions.approve(p.deployment.distributor, 0))
            publish_until_final(pub, world.w3)
        finally:
            world.automine(True)
    with store.connect() as conn:
        assert [s for s, _n, _st in attempts_of(conn, 1)] == [
            "mint",
            "approve",
            "approve",
            "publish",
        ]
    assert_published_once(store, world, epoch, since)


def test_one_publisher_per_distributor_whatever_its_key(store: Database, world: World) -> None:
    """A second publisher of the same distributor is refused while the first runs; once it
    stops, a publisher with another key refuses to step while the first key's transactions
    are in flight (two keys would each mint)."""
    close(store, world)
    p = world.protocol
    with publisher(store, world.anvil, p, world.settings.key("deployer")) as first:
        with pytest.raises(PublicationError, match="is running"):
            publisher(store, world.anvil, p, ANVIL_OPERATOR_KEY)
        world.automine(False)
        try:
            first.step()  # mint sent, unmined
        finally:
            world.automine(True)
    with (
        publisher(store, world.anvil, p, ANVIL_OPERATOR_KEY) as second,
        pytest.raises(PublicationError, match="another publisher key"),
    ):
        second.step()


@pytest.mark.parametrize("seed", [5, 6])
def test_through_a_faulty_node_the_root_is_published_once(
    store: Database, world: World, seed: int
) -> None:
    """The publisher behind the fault-injecting proxy (a third of its requests failing: lost
    answers to its sent transactions, rate limits, 5xx, cut answers, a lagging replica):
    every step lands once, the root is published once."""
    epoch = close(store, world)
    since = world.w3.eth.block_number
    config = PublisherConfig(confirmations=FINALITY, mint=True, rebroadcast_after=0.0,
                             lost_after=0.0)  # fmt: skip
    with (
        RpcProxy(world.anvil.rpc_url, FaultPlan.uniform(0.33), seed) as proxy,
        ChainPublisher(store, proxy.url, world.settings.key("deployer"),
                       Contracts.of(world.protocol.deployment), config) as pub,
    ):  # fmt: skip
        deadline = time.monotonic() + 60
        final: list[Any] = []
        while not final:
            assert time.monotonic() < deadline, f"not final within 60 s: {dict(proxy.faults)}"
            # A transient failure is left to the service job's next run: a test steps again.
            with contextlib.suppress(TransientChainError):
                final = pub.step()
            world.w3.provider.make_request("anvil_mine", [hex(1)])  # type: ignore[arg-type]
            time.sleep(0.01)
        faults = dict(proxy.faults)
    assert final[0].epoch == 1
    assert_published_once(store, world, epoch, since)
    assert sum(faults.values()) >= 3, faults
