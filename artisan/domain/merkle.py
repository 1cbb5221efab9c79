"""Reward Merkle trees, laid out exactly as OpenZeppelin's ``StandardMerkleTree`` lays them.

Layout (``@openzeppelin/merkle-tree``, ``src/core.ts`` ``makeMerkleTree`` and
``src/merkletree.ts`` ``prepare`` with the default ``sortLeaves: true``):

- leaf hashes are sorted ascending as 256-bit integers, then written into a flat array of
  ``2n - 1`` nodes from the end backwards: the i-th smallest hash goes to index
  ``2n - 2 - i``, so the largest hash sits at ``n - 1`` and the smallest at the very end;
- each internal node ``i`` (from ``n - 2`` down to 0) is ``hash_pair(node[2i+1], node[2i+2])``
  and the root is node 0;
- a proof walks from a leaf's index to the root collecting each sibling
  (``i - (-1) ** (i % 2)``), moving to the parent ``(i - 1) // 2``.

Leaves are double-hashed (``keccak256(keccak256(abi.encode(...)))``) so that no leaf can
be mistaken for the 64-byte concatenation behind an internal node.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from eth_abi.abi import encode

from artisan.domain.hashing import keccak
from artisan.domain.types import normalize_address, require_bytes32, require_uint
from artisan.errors import DomainError

LEAF_ENCODING = ("uint256", "address", "uint256")


@dataclass(frozen=True, slots=True)
class RewardLeaf:
    """One claimable reward: ``amount`` wei to ``account`` (lowercase hex) in ``epoch``."""

    epoch: int
    account: str
    amount: int

    def __post_init__(self) -> None:
        require_uint(self.epoch, 256, "epoch")
        object.__setattr__(self, "account", normalize_address(self.account, "account"))
        require_uint(self.amount, 256, "amount")


def leaf_hash(leaf: RewardLeaf) -> bytes:
    """``keccak256(bytes.concat(keccak256(abi.encode(epoch, account, amount))))``."""
    return keccak(keccak(encode(list(LEAF_ENCODING), [leaf.epoch, leaf.account, leaf.amount])))


def hash_pair(a: bytes, b: bytes) -> bytes:
    """An internal node: keccak256 of the smaller child followed by the larger."""
    # Comparing equal-length big-endian bytes is comparing the 256-bit integers.
    return keccak(a + b) if a <= b else keccak(b + a)


@dataclass(frozen=True, slots=True)
class Tree:
    """A built tree: ``nodes`` in OpenZeppelin's flat layout, ``positions[i]`` the node
    index of the i-th leaf as given to the builder."""

    nodes: tuple[bytes, ...]
    positions: tuple[int, ...]
    _by_hash: Mapping[bytes, int] = field(repr=False, compare=False)

    @property
    def root(self) -> bytes:
        """The root to publish on chain."""
        return self.nodes[0]

    def __len__(self) -> int:
        return len(self.positions)

    def leaf_hash(self, index: int) -> bytes:
        """The hash of the ``index``-th leaf as given to the builder."""
        return self.nodes[self._position(index)]

    def proof(self, which: int | RewardLeaf) -> tuple[bytes, ...]:
        """The sibling path of a leaf, given by its input index or by its value."""
        if isinstance(which, RewardLeaf):
            node = self._by_hash.get(leaf_hash(which))
            if node is None:
                raise DomainError(f"leaf is not in the tree: {which}")
        else:
            node = self._position(which)
        path = []
        while node > 0:
            path.append(self.nodes[node - (-1) ** (node % 2)])
            node = (node - 1) // 2
        return tuple(path)

    def _position(self, index: int) -> int:
        if isinstance(index, bool) or not 0 <= index < len(self.positions):
            raise DomainError(f"leaf index {index} out of range 0..{len(self.positions) - 1}")
        return self.positions[index]


def build(leaves: Sequence[RewardLeaf]) -> Tree:
    """The reward tree of ``leaves``; one account may appear once per epoch."""
    seen: set[tuple[int, str]] = set()
    for leaf in leaves:
        key = (leaf.epoch, leaf.account)
        if key in seen:
            # The distributor pays an account once per epoch: a second leaf is money lost.
            raise DomainError(f"account {leaf.account} appears twice in epoch {leaf.epoch}")
        seen.add(key)
    return build_from_hashes([leaf_hash(leaf) for leaf in leaves])


def build_from_hashes(hashes: Sequence[bytes]) -> Tree:
    """A tree over ready-made 32-byte leaf hashes (OpenZeppelin's ``SimpleMerkleTree``)."""
    if not hashes:
        raise DomainError("a Merkle tree needs at least one leaf")
    for i, h in enumerate(hashes):
        require_bytes32(h, f"leaf hash {i}")
    n = len(hashes)
    order = sorted(range(n), key=lambda i: hashes[i])
    nodes: list[bytes] = [b""] * (2 * n - 1)
    positions = [0] * n
    for rank, i in enumerate(order):
        positions[i] = len(nodes) - 1 - rank
        nodes[positions[i]] = hashes[i]
    for k in range(n - 2, -1, -1):
        nodes[k] = hash_pair(nodes[2 * k + 1], nodes[2 * k + 2])
    by_hash = {nodes[p]: p for p in positions}
    return Tree(tuple(nodes), tuple(positions), MappingProxyType(by_hash))


def process_proof(leaf: bytes, proof: Iterable[bytes]) -> bytes:
    """The root a proof leads to from ``leaf`` (OpenZeppelin ``MerkleProof.processProof``)."""
    computed = require_bytes32(leaf, "leaf")
    for i, sibling in enumerate(proof):
        computed = hash_pair(computed, require_bytes32(sibling, f"proof[{i}]"))
    return computed


def verify(root: bytes, leaf: bytes, proof: Iterable[bytes]) -> bool:
    """Whether ``proof`` leads from the leaf hash ``leaf`` to ``root`` (``MerkleProof.verify``)."""
    return process_proof(leaf, proof) == require_bytes32(root, "root")


def verify_leaf(root: bytes, leaf: RewardLeaf, proof: Iterable[bytes]) -> bool:
    """Whether ``proof`` shows ``leaf`` is in the tree with ``root``, as ``claim`` checks it."""
    return verify(root, leaf_hash(leaf), proof)
