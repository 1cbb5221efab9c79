"""Projection ``balances``: every account's escrow and credits, versioned by block range.

Per account (lowercase 0x address), from the ledger's events:

- ``escrow``: ``Deposited`` less the ``cost`` of the user's ``InferenceExecuted`` less
  ``EscrowWithdrawn``: the ledger's ``escrowOf``;
- ``owed``: ``Settlement`` to the account less ``Withdrawn``: the ledger's ``owed``, what
  the account can pull;
- ``pending_withdrawal`` and ``unlock_at``: the last ``WithdrawalRequested`` (amount,
  unlockAt), cleared by ``EscrowWithdrawn`` (the ledger deletes the request when it pays);
- ``spent`` and ``earned``: the running totals of costs paid and credits received.

``apply`` is set-based: one scan sums each account's changes per block into a temporary
table, the rare withdrawal requests and payouts are laid over it, each touched account's open
version is closed at its first new block, and one window query writes a version per
(account, block) with the running sums. The twin folds the same events one by one.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

import psycopg

from artisan.domain.events import (
    Deposited,
    EscrowWithdrawn,
    InferenceExecuted,
    Settlement,
    WithdrawalRequested,
    Withdrawn,
)
from artisan.projections import history
from artisan.projections.events import Event, args_as
from artisan.projections.tables import Row, TableSpec
from artisan.projections.versions import Key, Overlay, VersionLog

EVENTS = (
    "Deposited", "InferenceExecuted", "EscrowWithdrawn", "WithdrawalRequested", "Settlement",
    "Withdrawn",
)  # fmt: skip


class BalanceRow(NamedTuple):
    """The value columns of ``proj_balances``."""

    escrow: int
    owed: int
    pending_withdrawal: int
    unlock_at: int
    spent: int
    earned: int


EMPTY = BalanceRow(0, 0, 0, 0, 0, 0)


class LedgerBalance(NamedTuple):
    """What the ledger itself holds for an account: ``escrowOf``, ``owed``, and
    ``pendingWithdrawal`` (amount, unlockAt). The projection's columns of the same names
    must equal it at every block."""

    escrow: int
    owed: int
    pending_withdrawal: int
    unlock_at: int


TABLE = "proj_balances"

# The batch's changes, summed per (account, block) in one scan of the events (hashed, not
# sorted); then each (account, block) that requested or was paid a withdrawal takes its last
# such event's state (rare events, read through the event-name index).
_TEMP = """
CREATE TEMP TABLE IF NOT EXISTS balance_changes (
    account text COLLATE "C", block bigint, escrow numeric, owed numeric, spent numeric,
    earned numeric, pending numeric, unlock_at bigint
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS balance_base (LIKE proj_balances) ON COMMIT DELETE ROWS;
"""

_RANGE = "e.chain_id = %(chain)s AND e.position > %(after)s AND e.position <= %(upto)s"

_CHANGES = f"""
INSERT INTO balance_changes
SELECT account, block_number,
    coalesce(sum(CASE WHEN event_name IN ('Deposited') THEN amount
                      WHEN event_name IN ('InferenceExecuted', 'EscrowWithdrawn') THEN -amount
                 END), 0),
    coalesce(sum(CASE event_name WHEN 'Settlement' THEN amount WHEN 'Withdrawn' THEN -amount
                 END), 0),
    coalesce(sum(amount) FILTER (WHERE event_name = 'InferenceExecuted'), 0),
    coalesce(sum(amount) FILTER (WHERE event_name = 'Settlement'), 0),
    NULL, NULL
FROM (
    SELECT (CASE e.event_name
                WHEN 'Settlement' THEN e.args->>'recipient'
                WHEN 'Withdrawn' THEN e.args->>'account'
                ELSE e.args->>'user' END) COLLATE "C" AS account,
        e.block_number, e.event_name,
        (CASE e.event_name WHEN 'InferenceExecuted' THEN e.args->>'cost'
                           ELSE e.args->>'amount' END)::numeric AS amount
    FROM live_events e
    WHERE {_RANGE} AND e.event_name = ANY(%(names)s)
) touched
GROUP BY account, block_number
"""

_PENDING = f"""
UPDATE balance_changes c SET pending = p.pending, unlock_at = p.unlock_at
FROM (
    SELECT DISTINCT ON (1, 2) (e.args->>'user') COLLATE "C" AS account, e.block_number,
        CASE e.event_name WHEN 'WithdrawalRequested' THEN (e.args->>'amount')::numeric
                          ELSE 0 END AS pending,
        CASE e.event_name WHEN 'WithdrawalRequested' THEN (e.args->>'unlockAt')::bigint
                          ELSE 0 END AS unlock_at
    FROM live_events e
    WHERE {_RANGE} AND e.event_name IN ('WithdrawalRequested', 'EscrowWithdrawn')
    ORDER BY 1, 2, e.position DESC
) p
WHERE c.account = p.account AND c.block = p.block_number
"""

# Each touched account's open version is its starting point: closed at the account's first
# block in the batch (or dropped, if it starts there: superseded within its own block), and
# kept aside as the base of the running sums.
_CLOSE = """
WITH firsts AS (SELECT account, min(block) AS first FROM balance_changes GROUP BY account),
dropped AS (
    DELETE FROM proj_balances b USING firsts f
    WHERE b.account = f.account AND upper_inf(b.block_range) AND lower(b.block_range) >= f.first
    RETURNING b.*
),
closed AS (
    UPDATE proj_balances b SET block_range = int8range(lower(b.block_range), f.first)
    FROM firsts f
    WHERE b.account = f.account AND upper_inf(b.block_range) AND lower(b.block_range) < f.first
    RETURNING b.*
)
INSERT INTO balance_base SELECT * FROM dropped UNION ALL SELECT * FROM closed
"""

# One version per (account, block): the base plus the running sums up to the block; the
# pending request is the one set at the account's last block up to this one that set one
# (found through the same window, then joined: such blocks are rare), else the base's. Each
# version ends where the account's next one starts.
_VERSIONS = """
INSERT INTO proj_balances (account, escrow, owed, pending_withdrawal, unlock_at, spent, earned,
    block_range)
SELECT r.account, r.escrow, r.owed,
    CASE WHEN r.request_block IS NULL THEN r.base_pending ELSE p.pending END,
    CASE WHEN r.request_block IS NULL THEN r.base_unlock ELSE p.unlock_at END,
    r.spent, r.earned, int8range(r.block, r.next_block)
FROM (
    SELECT c.account, c.block,
        coalesce(b.pending_withdrawal, 0) AS base_pending,
        coalesce(b.unlock_at, 0) AS base_unlock,
        max(c.block) FILTER (WHERE c.pending IS NOT NULL) OVER w AS request_block,
        coalesce(b.escrow, 0) + sum(c.escrow) OVER w AS escrow,
        coalesce(b.owed, 0) + sum(c.owed) OVER w AS owed,
        coalesce(b.spent, 0) + sum(c.spent) OVER w AS spent,
        coalesce(b.earned, 0) + sum(c.earned) OVER w AS earned,
        lead(c.block) OVER w AS next_block
    FROM balance_changes c
    LEFT JOIN balance_base b ON b.account = c.account
    WINDOW w AS (PARTITION BY c.account ORDER BY c.block)
) r
-- only the rare rows that set a request: a small hash, not a second sort of the batch
LEFT JOIN (
    SELECT account, block, pending, unlock_at FROM balance_changes WHERE pending IS NOT NULL
) p ON p.account = r.account AND p.block = r.request_block
"""


def fold(event: Event, balances: Overlay) -> None:
    """Apply one event to the current balances (the twin's path, one event at a time)."""
    name = event.name
    escrow = owed = spent = earned = 0
    pending_amount = unlock_at = 0
    if name == "Settlement":
        s = args_as(event, Settlement)
        account, owed, earned = s["recipient"], int(s["amount"]), int(s["amount"])
    elif name == "Withdrawn":
        w = args_as(event, Withdrawn)
        account, owed = w["account"], -int(w["amount"])
    elif name == "Deposited":
        d = args_as(event, Deposited)
        account, escrow = d["user"], int(d["amount"])
    elif name == "InferenceExecuted":
        x = args_as(event, InferenceExecuted)
        account, escrow, spent = x["user"], -int(x["cost"]), int(x["cost"])
    elif name == "EscrowWithdrawn":
        e = args_as(event, EscrowWithdrawn)
        account, escrow = e["user"], -int(e["amount"])
    else:
        r = args_as(event, WithdrawalRequested)
        account, pending_amount, unlock_at = r["user"], int(r["amount"]), int(r["unlockAt"])
    key: Key = (account,)
    stored = balances.get(key)
    c = EMPTY if stored is None else BalanceRow(*stored)
    pending, unlock = c.pending_withdrawal, c.unlock_at
    if name == "WithdrawalRequested":
        pending, unlock = pending_amount, unlock_at
    elif name == "EscrowWithdrawn":
        pending, unlock = 0, 0
    row = BalanceRow(c.escrow + escrow, c.owed + owed, pending, unlock, c.spent + spent,
                     c.earned + earned)  # fmt: skip
    balances.put(key, event.block_number, tuple(row))


class BalancesProjection:
    """Escrow, credits and running totals per account, with their block ranges."""

    name = "balances"
    events = EVENTS
    tables = (TableSpec(TABLE, ("account", *BalanceRow._fields), (0,), versioned=True),)
    # The unique (account, first block) index is the versions' invariant: a replay from the
    # first event builds it at the end, which checks it for every version at once.
    reader_indexes = ("proj_balances_versions", "proj_balances_upper")

    def apply(self, conn: psycopg.Connection[Any], chain_id: int, after: int, upto: int) -> None:
        params = {"chain": chain_id, "after": after, "upto": upto, "names": list(EVENTS)}
        conn.execute(_TEMP)
        # A hashed aggregate (the planner misjudges the groups and sorts 900,000 rows
        # instead, about twice the time), for this statement only.
        conn.execute("SET LOCAL enable_sort = off")
        changed = conn.execute(_CHANGES, params).rowcount
        conn.execute("SET LOCAL enable_sort TO DEFAULT")
        if changed == 0:
            return
        conn.execute(_PENDING, params)
        conn.execute(_CLOSE)
        conn.execute(_VERSIONS)
        # ON COMMIT DELETE ROWS empties them at commit; the runner may apply more first.
        conn.execute("TRUNCATE balance_changes, balance_base")

    def revert(self, conn: psycopg.Connection[Any], ancestor: int) -> None:
        history.revert_versions(conn, TABLE, ancestor)

    def memory(self) -> MemoryBalances:
        return MemoryBalances()


class MemoryBalances:
    """The in-memory twin."""

    def __init__(self) -> None:
        self.balances = VersionLog()

    def apply(self, event: Event) -> None:
        balances = Overlay(self.balances.current)
        fold(event, balances)
        self.balances.put(balances.versions)

    def rows(self, table: str) -> Iterable[Row]:
        return self.balances.rows()

    def accounts(self) -> list[str]:
        """Every account with a version, sorted."""
        return sorted(str(row[0]) for row in self.balances.rows() if row[-1] is None)


_STORED_AT = """
SELECT account, escrow, owed, pending_withdrawal, unlock_at FROM proj_balances
WHERE block_range @> %s::bigint
"""


def stored_at(conn: psycopg.Connection[Any], block: int) -> dict[str, LedgerBalance]:
    """Every account's ledger-facing balances in the store, as of ``block``."""
    return {
        r[0]: LedgerBalance(int(r[1]), int(r[2]), int(r[3]), int(r[4]))
        for r in conn.execute(_STORED_AT, (block,))
    }
