"""How the emitter batches, prices and waits: one frozen value, checked on construction."""

from __future__ import annotations

from dataclasses import dataclass

from artisan.chain.transactions import GWEI
from artisan.emitter.errors import InvalidEmitterConfig


@dataclass(frozen=True, slots=True)
class EmitterConfig:
    # Items per recordBatch (608 bytes of calldata each with a 65-byte signature). anvil takes
    # 500 and more; a geth-like pool refuses transactions over 128 KiB, about 200 items.
    max_items: int = 500  # a batch leaves when this many are pending...
    max_wait: float = 0.25  # ...or when the oldest pending one has waited this long (seconds)
    max_in_flight: int = 4  # batches sent and not yet mined, at most
    confirmations: int = 1  # blocks on top of (and including) the batch's block before final
    replace_after: float = 60.0  # seconds without a receipt before a fee-bumped replacement
    rebroadcast_after: float = 2.0  # seconds between asking the node if it still has a tx
    # Seconds a batch's nonce must stay passed with no receipt for any of its transactions
    # before it counts as lost: a node (or one behind a load balancer) can report the new
    # account nonce a moment before it serves the receipt.
    lost_after: float = 1.0
    priority_fee: int = GWEI
    # Gas is a bound, not an estimate: estimating would execute every batch twice on the node.
    # A first execution of a new (user, model) costs about 170,000; later ones about 30,000.
    gas_base: int = 100_000
    gas_per_item: int = 200_000
    start_block: int = 0  # where to look for an earlier InferenceExecuted (the deploy block)
    poll_interval: float = 0.02  # seconds between passes when nothing moved (anvil: small;
    # a chain with 12-second blocks wants a second or so)

    def __post_init__(self) -> None:
        for name in ("max_items", "max_in_flight", "confirmations", "gas_per_item"):
            if getattr(self, name) < 1:
                raise InvalidEmitterConfig(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("max_wait", "replace_after", "rebroadcast_after", "lost_after",
                     "poll_interval", "priority_fee", "gas_base"):  # fmt: skip
            if getattr(self, name) < 0:
                raise InvalidEmitterConfig(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.start_block < 0:
            raise InvalidEmitterConfig(f"start_block must be >= 0, got {self.start_block}")
