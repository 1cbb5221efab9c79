"""Reward trees match OpenZeppelin's StandardMerkleTree and its proofs behave."""

from __future__ import annotations

import pytest
from eth_abi.abi import encode
from eth_hash.auto import keccak
from hypothesis import given
from hypothesis import strategies as st

from artisan.domain.merkle import (
    RewardLeaf,
    build,
    build_from_hashes,
    hash_pair,
    leaf_hash,
    process_proof,
    verify,
    verify_leaf,
)
from artisan.errors import DomainError


def h(hex_string: str) -> bytes:
    return bytes.fromhex(hex_string.removeprefix("0x"))


def standard_leaf(types: list[str], values: list[object]) -> bytes:
    return keccak(keccak(encode(types, values)))


def test_openzeppelin_sorted_string_fixture() -> None:
    """The 'abcdef' tree of OZ merkle-tree's standard.test.ts (sorted leaves), node by node."""
    # Source: OpenZeppelin/merkle-tree src/standard.test.ts ('renders tree representation',
    # sortLeaves true) and test/dumps/standard-v1.sorted.1_0_6.json, leafEncoding ['string'].
    expected = [
        "6deb52b5da8fd108f79fab00341f38d2587896634c646ee52e49f845680a70c8",
        "52426e0f1f65ff7e209a13b8c29cffe82e3acaf3dad0a9b9088f3b9a61a929c3",
        "fd3cf45654e88d1cc5d663578c82c76f4b5e3826bacaa1216441443504538f51",
        "8076923e76cf01a7c048400a2304c9a9c23bbbdac3a98ea3946340fdafbba34f",
        "965b92c6cf08303cc4feb7f3e0819c436c2cec17c6f0688a6af139c9a368707c",
        "eba909cf4bb90c6922771d7f126ad0fd11dfde93f3937a196274e1ac20fd2f5b",
        "c62a8cfa41edc0ef6f6ae27a2985b7d39c7fea770787d7e104696c6e81f64848",
        "9cf5a63718145ba968a01c1d557020181c5b252f665cf7386d370eddb176517b",
        "9c15a6a0eaeed500fd9eed4cbeab71f797cefcc67bfd46683e4d2e6ff7f06d1c",
        "9a4f64e953595df82d1b4f570d34c4f4f0cfaf729a61e9d60e83e579e1aa283e",
        "19ba6c6333e0e9a15bf67523e0676e2f23eb8e574092552d5e888c64a4bb3681",
    ]
    tree = build_from_hashes([standard_leaf(["string"], [c]) for c in "abcdef"])
    assert [node.hex() for node in tree.nodes] == expected
    # The dump's treeIndex of each value, a..f.
    assert tree.positions == (8, 10, 7, 5, 9, 6)
    assert tree.root == h(expected[0])


def test_openzeppelin_readme_address_amount_vector() -> None:
    """OZ's README (address, uint256) example gives the root its ports publish."""
    # Values from the OpenZeppelin/merkle-tree README; the dumped tree [root, 0xeb02..., 0xb92c...]
    # is asserted by the Rust and Go StandardMerkleTree ports' tests and docs.
    leaves = [
        standard_leaf(["address", "uint256"], ["0x" + "11" * 20, 5 * 10**18]),
        standard_leaf(["address", "uint256"], ["0x" + "22" * 20, 25 * 10**17]),
    ]
    tree = build_from_hashes(leaves)
    assert tree.root.hex() == "d4dee0beab2d53f2cc83e567171bd2820e49898130a22622b10ead383e90bd77"
    assert tree.leaf_hash(0).hex() == (
        "eb02c421cfa48976e66dfb29120745909ea3a0f843456c263cf8f1253483e283"
    )
    assert tree.proof(0) == (h("b92c48e9d7abe27fd8dfd6b5dfdbfb1c9a463f80c712b66f3a5180a090cccafc"),)


def test_leaf_hash_is_the_double_hashed_abi_encoding() -> None:
    """The leaf hash is keccak(keccak(three 32-byte words: epoch, padded account, amount))."""
    account = "0x" + "ab" * 20
    words = (7).to_bytes(32, "big") + bytes(12) + bytes.fromhex("ab" * 20)
    words += (10**18).to_bytes(32, "big")
    assert leaf_hash(RewardLeaf(7, account, 10**18)) == keccak(keccak(words))


def test_one_leaf_is_its_own_root() -> None:
    """A one-leaf tree's root is the leaf hash and its proof is empty."""
    leaf = RewardLeaf(1, "0x" + "cd" * 20, 5)
    tree = build([leaf])
    assert tree.root == leaf_hash(leaf)
    assert tree.proof(0) == ()
    assert verify_leaf(tree.root, leaf, ())


def test_two_leaves_hash_sorted() -> None:
    """With two leaves the root is keccak of the smaller hash then the larger."""
    a, b = RewardLeaf(1, "0x" + "01" * 20, 1), RewardLeaf(1, "0x" + "02" * 20, 2)
    lo, hi = sorted([leaf_hash(a), leaf_hash(b)])
    assert build([a, b]).root == keccak(lo + hi) == build([b, a]).root


def test_empty_tree_is_refused() -> None:
    """There is no tree of no leaves."""
    with pytest.raises(DomainError, match="at least one leaf"):
        build([])


def test_duplicate_account_in_an_epoch_is_refused() -> None:
    """An account listed twice in one epoch could claim only once, so it is refused."""
    with pytest.raises(DomainError, match="twice"):
        build([RewardLeaf(1, "0x" + "01" * 20, 1), RewardLeaf(1, "0x" + "01" * 20, 2)])


def test_proof_by_value_and_bad_lookups() -> None:
    """A proof can be asked by value; an absent value or an index out of range is refused."""
    leaves = [RewardLeaf(3, "0x" + f"{i:040x}", i + 1) for i in range(5)]
    tree = build(leaves)
    assert tree.proof(leaves[2]) == tree.proof(2)
    with pytest.raises(DomainError, match="not in the tree"):
        tree.proof(RewardLeaf(3, "0x" + "ff" * 20, 1))
    with pytest.raises(DomainError, match="out of range"):
        tree.proof(5)


def test_malformed_proof_element_is_refused() -> None:
    """A proof element that is not 32 bytes is an error, not a silent mismatch."""
    with pytest.raises(DomainError, match=r"proof\[0\]"):
        verify(bytes(32), bytes(32), [bytes(31)])


def reward_leaves(max_size: int = 40) -> st.SearchStrategy[list[RewardLeaf]]:
    return st.lists(
        st.builds(
            RewardLeaf,
            st.integers(0, 2**256 - 1),
            st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex()),
            st.integers(0, 2**256 - 1),
        ),
        min_size=1,
        max_size=max_size,
        unique_by=lambda leaf: (leaf.epoch, leaf.account),
    )


@given(reward_leaves())
def test_every_leaf_proves(leaves: list[RewardLeaf]) -> None:
    """In random trees of 1..40 leaves every leaf's proof leads to the root."""
    tree = build(leaves)
    for i, leaf in enumerate(leaves):
        assert verify_leaf(tree.root, leaf, tree.proof(i))
        assert process_proof(leaf_hash(leaf), tree.proof(leaf)) == tree.root


@given(reward_leaves(), st.data())
def test_a_proof_does_not_prove_another_leaf(leaves: list[RewardLeaf], data: st.DataObject) -> None:
    """One leaf's proof fails for any other leaf, and for the same leaf with amount + 1."""
    tree = build(leaves)
    i = data.draw(st.integers(0, len(leaves) - 1))
    proof = tree.proof(i)
    for j, other in enumerate(leaves):
        if j != i:
            assert not verify_leaf(tree.root, other, proof)
    bumped = RewardLeaf(leaves[i].epoch, leaves[i].account, (leaves[i].amount + 1) % 2**256)
    assert not verify_leaf(tree.root, bumped, proof)


@given(reward_leaves().filter(lambda leaves: len(leaves) >= 2))
def test_an_internal_node_is_not_a_leaf(leaves: list[RewardLeaf]) -> None:
    """An internal node's 64-byte preimage, hashed as a leaf, never proves against the root."""
    tree = build(leaves)
    n = len(leaves)
    for k in range(n - 1):  # the internal nodes are 0..n-2
        path = []
        node = k
        while node > 0:
            path.append(tree.nodes[node - (-1) ** (node % 2)])
            node = (node - 1) // 2
        left, right = sorted([tree.nodes[2 * k + 1], tree.nodes[2 * k + 2]])
        assert hash_pair(left, right) == tree.nodes[k]
        # Single hashing would let the children's concatenation pass for a leaf ...
        assert verify(tree.root, keccak(left + right), path)
        # ... double hashing, as the distributor does, does not.
        assert not verify(tree.root, keccak(keccak(left + right)), path)
        # Nor does the node itself with a full leaf-length proof of a real leaf.
        assert not verify(tree.root, tree.nodes[k], tree.proof(0))
