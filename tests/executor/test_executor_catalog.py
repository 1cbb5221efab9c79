"""The admission's cache of rarely changing chain reads (``executor.catalog``), on a real node."""

from __future__ import annotations

import threading

import pytest

from artisan.chain.anvil import Anvil
from artisan.chain.ledger_reads import LedgerViews
from artisan.chain.protocol import Protocol
from artisan.domain.types import Rates
from artisan.errors import ChainError
from artisan.executor.catalog import ModelCatalog
from tests.executor.threads import in_thread
from tests.waiting import wait_until

pytestmark = pytest.mark.usefixtures("chain_snapshot")

THREADS = 6


class SlowNode(LedgerViews):
    """The real reads, each held until the test lets it through (a slow node); counted, and
    failing on demand (a node that went away)."""

    def __init__(self, protocol: Protocol, rpc_url: str) -> None:
        super().__init__(protocol, rpc_url)
        self.reads = 0
        self.reading = threading.Event()
        self.gate = threading.Event()
        self.down = False

    def rates(self) -> tuple[int, Rates]:
        self.reads += 1  # only ever one load at a time: what the test asserts
        self.reading.set()
        assert self.gate.wait(60), "the test never let the read through"
        if self.down:
            raise ChainError("cannot read the ledger's rates: connection refused (injected)")
        return super().rates()


class Clock:
    """The cache's clock, counting its callers: each ``get`` reads it once, on entry."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.calls = 0
        self.called = threading.Condition()

    def __call__(self) -> float:
        with self.called:
            self.calls += 1
            self.called.notify_all()
        return self.now

    def wait_for(self, calls: int) -> None:
        with self.called:
            assert self.called.wait_for(lambda: self.calls >= calls, 30)


def test_a_missing_or_expired_entry_is_read_once_for_every_caller_waiting(
    anvil: Anvil, protocol: Protocol
) -> None:
    """Six admissions that find the rates missing, then expired, then unreadable: each time
    one read reaches the node and all six take its answer, or its error (not cached)."""
    node, clock = SlowNode(protocol, anvil.rpc_url), Clock()
    catalog = ModelCatalog(node, ttl_s=30.0, clock=clock)
    flights = catalog._rates._flights
    truth = LedgerViews(protocol, anvil.rpc_url)
    try:
        expected = truth.rates()
        for round_, (advance, down) in enumerate([(0.0, False), (31.0, False), (31.0, True)]):
            clock.now += advance
            node.down, node.gate, node.reading = down, threading.Event(), threading.Event()
            started = [in_thread(catalog.rates) for _ in range(THREADS)]
            threads = [thread for thread, _ in started]
            assert node.reading.wait(30)
            clock.wait_for(THREADS * (round_ + 1))  # every caller is in...
            wait_until(  # ...and waits for the one read
                lambda: flights.waiting(None) >= THREADS - 1, 30.0, what="the callers to wait"
            )
            node.gate.set()
            for thread in threads:
                thread.join(30)
            assert not any(t.is_alive() for t in threads)
            out = [result for _, got in started for result in got]
            assert node.reads == round_ + 1, f"round {round_}: {node.reads} reads"
            if down:
                assert len(out) == THREADS and all(
                    isinstance(e, ChainError) and "injected" in str(e) for e in out
                ), out
            else:
                assert out == [expected] * THREADS
        # The failure was not kept: the next call reads again, and is served.
        node.down = False
        assert catalog.rates() == expected and node.reads == 4
        assert catalog.rates() == expected and node.reads == 4  # fresh: from the cache
    finally:
        node.gate.set()
        node.close()
        truth.close()
