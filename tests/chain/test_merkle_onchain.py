"""Reward Merkle trees built in Python verify on chain; claims pay once and never past the total."""

from __future__ import annotations

import random
import secrets

import pytest
from web3 import Web3

from artisan.chain.actions import events_in
from artisan.chain.anvil import Anvil
from artisan.chain.jsonrpc import JsonRpc
from artisan.chain.protocol import WAD, Protocol
from artisan.chain.signer import Signer
from artisan.domain.merkle import RewardLeaf, build, leaf_hash
from artisan.errors import ContractRevert


def _random_leaves(rng: random.Random, epoch: int, n: int) -> list[RewardLeaf]:
    return [
        RewardLeaf(epoch, "0x" + rng.randbytes(20).hex(), rng.randrange(1, 10**24))
        for _ in range(n)
    ]


def test_python_proofs_verify_on_chain_for_1000_random_trees(
    anvil: Anvil, protocol: Protocol
) -> None:
    """For 1,000 random trees (1 leaf, odd and even sizes), each proof checked verifies on chain
    and a wrong one does not. The ~4,000 ``verify`` calls go as JSON-RPC batches of
    ``eth_call`` (one call at a time through web3 took 31 s of `make test`)."""
    rng = random.Random(20261122)
    distributor = protocol.distributor
    sizes = [1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 33] + [rng.randrange(1, 64) for _ in range(989)]
    calls: list[tuple[str, list[object]]] = []
    expected: list[bool] = []

    def ask(root: bytes, leaf: bytes, proof: list[bytes], valid: bool) -> None:
        data = distributor.encode_abi("verify", args=[root, leaf, proof])
        calls.append(("eth_call", [{"to": distributor.address, "data": data}, "latest"]))
        expected.append(valid)

    for i, size in enumerate(sizes):
        tree = build(_random_leaves(rng, i, size))
        picks = range(size) if size <= 9 else rng.sample(range(size), 3)
        for k in picks:
            ask(tree.root, tree.leaf_hash(k), list(tree.proof(k)), True)
        if size > 1:
            wrong = (picks[0] + 1) % size
            ask(tree.root, tree.leaf_hash(picks[0]), list(tree.proof(wrong)), False)
    with JsonRpc(anvil.rpc_url) as rpc:
        answers = rpc.batch(calls)
    verified = [int(a, 16) == 1 for a in answers]  # an ABI bool: one word, 0 or 1
    assert verified == expected
    assert len(sizes) == 1000 and sum(expected) >= 3000 and len(expected) - sum(expected) >= 900


@pytest.mark.usefixtures("chain_snapshot")
def test_epoch_claims_pay_once_and_reject_internal_nodes(
    w3: Web3, protocol: Protocol, deployer: Signer
) -> None:
    """A published epoch pays each leaf once; a second claim and an internal node are refused."""
    rng = random.Random(7)
    leaves = _random_leaves(rng, 1, 5)
    total = sum(leaf.amount for leaf in leaves)
    tree = build(leaves)
    dist = protocol.distributor
    deployer.send(protocol.token.functions.mint(deployer.address, total))
    deployer.send(protocol.token.functions.approve(protocol.deployment.distributor, total))
    deployer.send(dist.functions.publishEpoch(1, 0, 10, total, tree.root))

    # An internal node is in the tree (its raw path verifies), but no leaf values hash to it.
    internal = tree.nodes[1]
    path = [tree.nodes[2]]
    assert dist.functions.verify(tree.root, internal, path).call()
    acct = Web3.to_checksum_address(leaves[0].account)
    with pytest.raises(ContractRevert):
        deployer.send(dist.functions.claim(1, acct, int.from_bytes(internal, "big"), path))

    for leaf in leaves:
        account = Web3.to_checksum_address(leaf.account)
        receipt = deployer.send(
            dist.functions.claim(1, account, leaf.amount, list(tree.proof(leaf)))
        )
        assert events_in(dist, "Claimed", receipt)[0]["args"]["amount"] == leaf.amount
        assert protocol.token.functions.balanceOf(account).call() == leaf.amount
    assert dist.functions.epochs(1).call()[4] == total

    first = leaves[0]
    with pytest.raises(ContractRevert):
        deployer.send(
            dist.functions.claim(1, Web3.to_checksum_address(first.account), first.amount,
                                 list(tree.proof(first)))
        )  # fmt: skip
    assert leaf_hash(first) == tree.leaf_hash(0)


@pytest.mark.usefixtures("chain_snapshot")
def test_claims_cannot_exceed_the_epoch_total(protocol: Protocol, deployer: Signer) -> None:
    """A tree whose leaves sum past the published total pays out at most that total."""
    leaves = [RewardLeaf(2, "0x" + secrets.token_hex(20), 3 * WAD) for _ in range(3)]
    tree = build(leaves)
    total = 5 * WAD  # less than the 9 ART the leaves claim
    deployer.send(protocol.token.functions.mint(deployer.address, total))
    deployer.send(protocol.token.functions.approve(protocol.deployment.distributor, total))
    dist = protocol.distributor
    deployer.send(dist.functions.publishEpoch(2, 0, 10, total, tree.root))
    paid = 0
    for leaf in leaves:
        call = dist.functions.claim(2, Web3.to_checksum_address(leaf.account), leaf.amount,
                                    list(tree.proof(leaf)))  # fmt: skip
        try:
            deployer.send(call)
            paid += leaf.amount
        except ContractRevert:
            pass
    assert paid == 3 * WAD and dist.functions.epochs(2).call()[4] == paid
