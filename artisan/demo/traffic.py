"""Executions through the executor's HTTP API, as users send them: signed requests at mixed
priorities, in chains where each output is the next request's input (so lineage has
``feeds`` edges to draw). Used by the demo's load stage and by its trickle once it stays up.

Two models make a chain: ``wide`` (16 features in, 4 out) and ``narrow`` (4 in, 16 out), so
each one's output is the other's input, byte for byte (a one-tensor asset is its bare .npy):
the next request's input CID is the last one's output CID.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from artisan.chain.protocol import WAD
from artisan.demo.state import Actor
from artisan.executor.client import ExecutorClient

CHAIN_LENGTH = 4  # requests per chain before a fresh input starts the next one
PRIORITIES = (0, 1, 2, 3)


@dataclass
class Chain:
    """One user's chain of requests: the last output, fed to the other model next."""

    user: Actor
    step: int = 0
    last: Any = None  # the last output tensor, or None: start afresh


@dataclass
class Traffic:
    """Sends requests along chains; ``receipts`` keeps every executor answer, in order."""

    client: ExecutorClient
    models: tuple[int, int]  # (wide: 16 -> 4, narrow: 4 -> 16)
    seed: int = 7
    max_cost: int = WAD // 10  # a bound: a loaded machine quotes high (costs are ~1e-3)
    receipts: list[dict[str, Any]] = field(default_factory=list)
    fed: int = 0  # requests whose input was an earlier output
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def step(self, chain: Chain, n: int) -> dict[str, Any]:
        """The chain's next request, sent and answered (the executor's receipt)."""
        rng = np.random.default_rng(self.seed + n)
        if chain.last is None or chain.step % CHAIN_LENGTH == 0:
            rows = int(rng.choice([1, 2, 4]))
            x, model, fed = rng.standard_normal((rows, 16), dtype=np.float32), self.models[0], False
        else:
            x, fed = chain.last, True
            model = self.models[1] if x.shape[1] == 4 else self.models[0]
        signed = self.client.sign(chain.user.key, chain.user.address, model, {"x": x},
                                  max_cost=self.max_cost, priority=PRIORITIES[n % 4])  # fmt: skip
        receipt: dict[str, Any] = self.client.submit(signed, npy=n % 2 == 1)
        chain.last = self.client.outputs(receipt)["y"]
        chain.step += 1
        with self._lock:
            self.receipts.append(receipt)
            self.fed += fed
        return receipt

    def run(
        self, users: Sequence[Actor], total: int, *, workers: int = 4,
        on_done: Callable[[], None] = lambda: None,
    ) -> None:  # fmt: skip
        """``total`` requests over ``workers`` concurrent chains (so batches form)."""
        counter = iter(range(total))
        lock = threading.Lock()
        errors: list[BaseException] = []

        def work(k: int) -> None:
            chain = Chain(users[k % len(users)])
            while not errors:
                with lock:
                    n = next(counter, None)
                if n is None:
                    return
                try:
                    self.step(chain, n)
                except BaseException as exc:
                    errors.append(exc)
                    return
                on_done()

        threads = [threading.Thread(target=work, args=(k,)) for k in range(workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
