"""Holds on a user's escrow, nonces and usage count for executions admitted but not settled.

The ledger only learns of an execution when its batch is recorded, so between admission and
confirmation the chain overstates what a user can still pay and understates how often they
ran a model. A hold covers that gap: its quote is subtracted from the escrow the chain reports,
it counts towards the user's prior executions of its model, and its nonce cannot be admitted
twice. A hold is released when its execution is confirmed or rejected on chain (the chain then
shows it), fails to run (nothing will be charged), or passes its deadline (the ledger can no
longer charge it).

Admission of one user runs under that user's lock, from the chain read to the new hold, and
releases take the same lock: a release can never fall between a read of the chain that did not
yet show an execution and the check that stops counting its hold.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

_STRIPES = 64


@dataclass(frozen=True, slots=True)
class Hold:
    """What one admitted execution may still take from its user."""

    execution_id: bytes
    user: str
    model_id: int
    nonce: int
    quote: int
    deadline: int


@dataclass(frozen=True, slots=True)
class Pending:
    """A user's holds as admission sees them."""

    count_for_model: int
    total_quote: int


@dataclass(slots=True)
class _UserHolds:
    """One user's holds with their sums kept up to date: checks stay O(1) however many
    executions wait for the emitter."""

    holds: dict[bytes, Hold] = field(default_factory=dict)
    nonces: set[int] = field(default_factory=set)
    per_model: Counter[int] = field(default_factory=Counter)
    total_quote: int = 0

    def add(self, hold: Hold) -> None:
        self.holds[hold.execution_id] = hold
        self.nonces.add(hold.nonce)
        self.per_model[hold.model_id] += 1
        self.total_quote += hold.quote

    def remove(self, hold: Hold) -> None:
        del self.holds[hold.execution_id]
        self.nonces.discard(hold.nonce)
        self.per_model[hold.model_id] -= 1
        self.total_quote -= hold.quote


class Reservations:
    """Every live hold, indexed by execution id and by user."""

    def __init__(self) -> None:
        # Striped locks: one lock per user would grow without bound, one lock for all users
        # would serialise their chain reads.
        self._locks = tuple(threading.Lock() for _ in range(_STRIPES))
        self._by_id: dict[bytes, Hold] = {}
        self._by_user: dict[str, _UserHolds] = {}
        self._index_lock = threading.Lock()

    def user_lock(self, user: str) -> threading.Lock:
        """The lock under which this user's holds are checked and changed."""
        return self._locks[hash(user) % _STRIPES]

    def nonce_held(self, user: str, nonce: int) -> bool:
        with self._index_lock:
            holds = self._by_user.get(user)
            return holds is not None and nonce in holds.nonces

    def pending(self, user: str, model_id: int) -> Pending:
        with self._index_lock:
            holds = self._by_user.get(user)
            if holds is None:
                return Pending(0, 0)
            return Pending(holds.per_model[model_id], holds.total_quote)

    def hold(self, hold: Hold) -> None:
        """Add a hold (the caller holds the user's lock and has checked it fits)."""
        with self._index_lock:
            self._by_id[hold.execution_id] = hold
            self._by_user.setdefault(hold.user, _UserHolds()).add(hold)

    def release(self, execution_ids: Iterable[bytes]) -> int:
        """Drop these holds (unknown ids are ignored); returns how many were dropped."""
        dropped = 0
        for execution_id in execution_ids:
            with self._index_lock:
                hold = self._by_id.get(execution_id)
            if hold is None:
                continue
            with self.user_lock(hold.user), self._index_lock:
                if self._by_id.pop(execution_id, None) is None:
                    continue
                holds = self._by_user[hold.user]
                holds.remove(hold)
                if not holds.holds:
                    del self._by_user[hold.user]
                dropped += 1
        return dropped

    def live(self) -> list[bytes]:
        """The execution ids still held."""
        with self._index_lock:
            return list(self._by_id)

    def expired(self, now: int) -> list[bytes]:
        """Holds whose deadline has passed: the ledger would reject them as EXPIRED."""
        with self._index_lock:
            return [i for i, h in self._by_id.items() if h.deadline < now]

    def __len__(self) -> int:
        with self._index_lock:
            return len(self._by_id)
