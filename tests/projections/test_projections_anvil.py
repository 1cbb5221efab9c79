"""The full cycle on a real chain: executions to a claimed reward, all served by projections."""

from __future__ import annotations

import secrets

import pytest
from web3 import Web3

from artisan.audit.chain_reads import LedgerReader, chain_events
from artisan.audit.verify import verify
from artisan.chain.abi.decoder import EventDecoder
from artisan.chain.actions import BatchItem, ModelSpec, record_batch, register_model
from artisan.chain.anvil import Anvil
from artisan.chain.codec import request_tuple
from artisan.chain.protocol import WAD, Protocol
from artisan.chain.signer import Signer
from artisan.config import Settings
from artisan.domain.eip712 import execution_id, sign_request
from artisan.indexer.fetch import fetch_range
from artisan.indexer.rpc import JsonRpcSource
from artisan.projections import positions
from artisan.projections.balances import stored_at
from artisan.projections.events import from_rows
from artisan.projections.rewards.closing import close_final_epochs, epoch_leaves, proof_for
from artisan.projections.rewards.epochs import RewardConfig
from artisan.storage.database import Database
from tests.chain.helpers import new_user

from .chain_support import (
    EPOCH_LENGTH,
    FINALITY,
    METER,
    contracts,
    index,
    publish_until_final,
    publisher,
    request,
)

pytestmark = pytest.mark.usefixtures("chain_snapshot")


def test_full_cycle_from_executions_to_a_claim(
    store: Database, w3: Web3, anvil: Anvil, protocol: Protocol, deployer: Signer,
    operator: Signer, settings: Settings,
) -> None:  # fmt: skip
    """Models and a remix, executions (one feeding another), ratings and signals; the epoch
    closes once final, its root is published, a creator claims with the proof the projection
    serves, the claim shows, and verify finds the store in agreement with the chain."""
    d = protocol.deployment
    creator, remixer = (
        new_user(w3, protocol, deployer, escrow=0),
        new_user(w3, protocol, deployer, escrow=0),
    )
    alice, bob = new_user(w3, protocol, deployer), new_user(w3, protocol, deployer)
    genesis = w3.eth.block_number + 1
    original = register_model(creator.signer, protocol, ModelSpec(
        secrets.token_bytes(32), fixed_price=10**15, remix_share_bps=2_000))  # fmt: skip
    remix = register_model(remixer.signer, protocol, ModelSpec(
        secrets.token_bytes(32), parent_id=original, fixed_price=2 * 10**15))  # fmt: skip

    first = request(alice, original, 1, secrets.token_bytes(32))
    output = secrets.token_bytes(32)
    second = request(bob, remix, 1, secrets.token_bytes(32))
    third = request(alice, remix, 2, output)  # alice feeds the first output to the remix
    items = [
        BatchItem(r, sign_request(r, u.key, d.chain_id, d.ledger), METER, out)
        for r, u, out in ((first, alice, output), (second, bob, secrets.token_bytes(32)),
                          (third, alice, secrets.token_bytes(32)))
    ]  # fmt: skip
    record_batch(operator, protocol, items)
    alice.signer.send(protocol.feedback.functions.rate(request_tuple(first), 5))
    bob.signer.send(protocol.feedback.functions.rate(request_tuple(second), 4))
    deployer.send(protocol.token.functions.mint(bob.address, 10 * WAD))
    bob.signer.send(protocol.token.functions.approve(d.curation, 10 * WAD))
    bob.signer.send(protocol.curation.functions.signal(0, original.to_bytes(32, "big"), 1, 4 * WAD))
    bob.signer.send(protocol.curation.functions.signal(1, output, 3, WAD))
    w3.provider.make_request("anvil_mine", [hex(EPOCH_LENGTH + FINALITY + 2)])  # type: ignore[arg-type]

    config = RewardConfig(
        genesis_block=genesis, epoch_length=EPOCH_LENGTH, default_pool=1_000 * WAD
    )
    index(store, anvil, protocol)
    closed = close_final_epochs(store, d.chain_id, config, finality_depth=FINALITY)
    assert [c.epoch for c in closed] == [1] and closed[0].root is not None
    with publisher(store, anvil, protocol, settings.key("deployer")) as pub:
        final = publish_until_final(pub, w3)
        assert [p.epoch for p in final] == [1]
        assert pub.published(1) == (closed[0].root, closed[0].total)

    with store.connect() as conn:
        leaf = proof_for(conn, 1, creator.address)
    assert leaf is not None and leaf.amount > 0 and not leaf.claimed
    before = protocol.token.functions.balanceOf(creator.address).call()
    proof = [bytes.fromhex(p[2:]) for p in leaf.proof]
    creator.signer.send(
        protocol.distributor.functions.claim(1, creator.address, leaf.amount, proof)
    )
    assert protocol.token.functions.balanceOf(creator.address).call() == before + leaf.amount

    w3.provider.make_request("anvil_mine", [hex(FINALITY + 1)])  # type: ignore[arg-type]
    index(store, anvil, protocol)
    with store.connect() as conn:
        claimed = {leaf.account: leaf.claimed for leaf in epoch_leaves(conn, 1)}
        ids = ["0x" + execution_id(r, d.chain_id, d.ledger).hex() for r in (first, third)]
        edges = set(conn.execute(
            "SELECT relation, src, dst FROM lineage_edges"
            " WHERE relation IN ('feeds', 'remix', 'cite')"
        ).fetchall())  # fmt: skip
        trail = conn.execute(
            "SELECT rating, creator_amount + operator_amount + treasury_amount + dao_amount"
            " + remix_ancestors_amount = cost FROM execution_trails WHERE execution_id = %s",
            (ids[0],),
        ).fetchone()
        tip = positions.indexed_block(conn, d.chain_id)
    assert claimed[creator.address.lower()] is True
    assert ("feeds", ids[0], ids[1]) in edges
    assert ("remix", str(original), str(remix)) in edges
    assert ("cite", bob.address.lower(), "0x" + output.hex()) in edges
    assert trail == (5, True)

    # verify reads the chain again, without the event store, and finds nothing amiss.
    assert tip is not None
    with JsonRpcSource(anvil.rpc_url) as source:
        addresses = [c.address for c in contracts(protocol)]
        fetched = fetch_range(source, addresses, d.start_block, tip, unfinalized_from=tip + 1)
    rows = EventDecoder(contracts(protocol)).rows(d.chain_id, fetched.logs, fetched.timestamps)
    assert verify(store, from_rows(rows), block=tip, rewards=config) == []


def test_balances_equal_the_ledger_state_through_every_flow(
    store: Database, w3: Web3, anvil: Anvil, protocol: Protocol, deployer: Signer, operator: Signer
) -> None:
    """Deposits, charges, credits, a pulled credit, a withdrawal request paid after its delay
    and one still pending: the projected balances equal the ledger's own views at the head and
    at an earlier block, verify's balance check agrees, and a tampered row is named."""
    d = protocol.deployment
    creator = new_user(w3, protocol, deployer, escrow=0)
    alice, bob = new_user(w3, protocol, deployer), new_user(w3, protocol, deployer)
    model = register_model(creator.signer, protocol, ModelSpec(secrets.token_bytes(32),
                                                               fixed_price=10**15))  # fmt: skip
    items = [
        BatchItem(r, sign_request(r, u.key, d.chain_id, d.ledger), METER, secrets.token_bytes(32))
        for r, u in ((request(alice, model, n, secrets.token_bytes(32)), alice) for n in range(3))
    ]
    record_batch(operator, protocol, items)
    record_batch(operator, protocol, [
        BatchItem(r, sign_request(r, bob.key, d.chain_id, d.ledger), METER, bytes(32))
        for r in [request(bob, model, 1, secrets.token_bytes(32))]
    ])  # fmt: skip
    middle = w3.eth.block_number
    creator.signer.send(protocol.ledger.functions.withdraw())
    alice.signer.send(protocol.ledger.functions.requestWithdrawal(30 * WAD))
    w3.provider.make_request("evm_increaseTime", [3_601])  # type: ignore[arg-type]
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    alice.signer.send(protocol.ledger.functions.executeWithdrawal())
    bob.signer.send(protocol.ledger.functions.requestWithdrawal(500 * WAD))  # more than he has
    head = w3.eth.block_number
    index(store, anvil, protocol)

    reader = LedgerReader(anvil.rpc_url, d, protocol.artifacts)
    accounts = [u.address.lower() for u in (creator, alice, bob)] + [operator.address.lower()]
    with store.connect() as conn:
        for block in (middle, head):
            stored = stored_at(conn, block)
            assert {a: stored[a] for a in accounts} == dict(reader(accounts, block))
        now = stored_at(conn, head)
    assert now[creator.address.lower()].owed == 0  # pulled
    assert now[alice.address.lower()].pending_withdrawal == 0  # paid
    assert now[alice.address.lower()].escrow < 70 * WAD
    assert now[bob.address.lower()].pending_withdrawal == 500 * WAD
    assert now[operator.address.lower()].owed > 0

    events = chain_events(anvil.rpc_url, d, protocol.artifacts, head)
    assert verify(store, events, block=head, ledger=reader) == []
    with store.connect() as conn:
        conn.execute(
            "UPDATE proj_balances SET escrow = escrow + 1 WHERE account = %s"
            " AND upper_inf(block_range)",
            (bob.address.lower(),),
        )
    found = verify(store, events, block=head, ledger=reader)
    assert {m.kind for m in found} == {"digest", "balance"}
    assert [m.subject for m in found if m.kind == "balance"] == [
        f"{bob.address.lower()} at block {head}"
    ]
