"""Publishing epoch roots on the RewardDistributor through a chain signer.

The distributor pulls each epoch's total from the publisher, so the publisher approves it
first; in development the publisher (the deployer, a minter) can mint the total to itself.
"""

from __future__ import annotations

from artisan.chain.client import Signer
from artisan.chain.protocol import Protocol

ZERO_ROOT = b"\x00" * 32


class ChainPublisher:
    """The ``Publisher`` of the epoch job on a deployed protocol."""

    def __init__(self, protocol: Protocol, signer: Signer, *, mint: bool = False) -> None:
        self.protocol = protocol
        self.signer = signer
        self.mint = mint

    def published_root(self, epoch: int) -> str | None:
        root = self.protocol.distributor.functions.epochs(epoch).call()[0]
        return None if bytes(root) == ZERO_ROOT else "0x" + bytes(root).hex()

    def publish(self, epoch: int, from_block: int, to_block: int, total: int, root: str) -> str:
        token, distributor = self.protocol.token, self.protocol.distributor
        if self.mint:
            self.signer.send(token.functions.mint(self.signer.address, total))
        self.signer.send(token.functions.approve(distributor.address, total))
        receipt = self.signer.send(
            distributor.functions.publishEpoch(
                epoch, from_block, to_block, total, bytes.fromhex(root[2:])
            )
        )
        return "0x" + bytes(receipt["transactionHash"]).hex()
