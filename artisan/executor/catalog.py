"""A per-process cache of what changes rarely on chain: model terms, grants and rates.

Entries are refreshed after ``ttl_s``: a change of terms, a revoked grant or new rates reach
this executor within that time (until then a request may be quoted on old terms and the ledger
decides). Unknown model ids are not cached, so a model registered a moment ago is found at
once. One instance per executor, built at start-up and passed down (no module-level cache).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from artisan.chain.ledger_reads import Account, RegisteredModel
from artisan.domain.types import Rates
from artisan.executor.flights import Flights

Clock = Callable[[], float]
T = TypeVar("T")
K = TypeVar("K")


class ChainReader(Protocol):
    """The chain reads admission needs (``chain.ledger_reads.LedgerViews`` implements it)."""

    chain_id: int
    ledger_address: str

    def model(self, model_id: int) -> RegisteredModel | None: ...
    def has_access(self, model_id: int, user: str) -> bool: ...
    def rates(self) -> tuple[int, Rates]: ...
    def account(self, user: str, nonce: int, model_id: int) -> Account: ...
    def has_code(self, address: str) -> bool: ...
    def model_count(self) -> int: ...


class _TtlCache(Generic[K, T]):
    """Values by key, each kept ``ttl_s`` seconds after it was read.

    A key that is missing or stale is loaded by one caller, never under the lock; the others
    that want it meanwhile wait for that load (``Flights``) instead of asking the chain again:
    under load an expiry was a burst of identical reads, one per admission thread.
    """

    def __init__(self, ttl_s: float, clock: Clock) -> None:
        self._ttl, self._clock = ttl_s, clock
        self._entries: dict[K, tuple[float, T]] = {}
        self._flights: Flights[K, T | None] = Flights()
        self._lock = threading.Lock()

    def get(self, key: K, load: Callable[[], T | None]) -> T | None:
        now = self._clock()
        fresh = self._fresh(key, now)
        if fresh is not None:
            return fresh
        return self._flights.load(key, lambda: self._load(key, now, load))

    def _fresh(self, key: K, now: float) -> T | None:
        with self._lock:
            entry = self._entries.get(key)
        return entry[1] if entry is not None and now - entry[0] < self._ttl else None

    def _load(self, key: K, now: float, load: Callable[[], T | None]) -> T | None:
        # A load that ended between our look and this flight's start has stored it.
        fresh = self._fresh(key, now)
        if fresh is not None:
            return fresh
        value = load()
        with self._lock:
            if value is None:
                self._entries.pop(key, None)
            else:
                self._entries[key] = (now, value)
        return value


class ModelCatalog:
    """Cached registry and rates reads for admission."""

    def __init__(self, chain: ChainReader, *, ttl_s: float = 30.0, clock: Clock = time.time):
        self.chain = chain
        self._models: _TtlCache[int, RegisteredModel] = _TtlCache(ttl_s, clock)
        self._grants: _TtlCache[tuple[int, str], bool] = _TtlCache(ttl_s, clock)
        self._rates: _TtlCache[None, tuple[int, Rates]] = _TtlCache(ttl_s, clock)

    def model(self, model_id: int) -> RegisteredModel | None:
        return self._models.get(model_id, lambda: self.chain.model(model_id))

    def model_count(self) -> int:
        """How many models the registry holds (ids are 1..count); not cached."""
        return self.chain.model_count()

    def has_access(self, model_id: int, user: str) -> bool:
        granted = self._grants.get((model_id, user), lambda: self.chain.has_access(model_id, user))
        return bool(granted)

    def rates(self) -> tuple[int, Rates]:
        rates = self._rates.get(None, self.chain.rates)
        assert rates is not None  # chain.rates never answers None
        return rates
