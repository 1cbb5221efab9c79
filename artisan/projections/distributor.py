"""Projection ``rewards``: epochs published on chain and the claims made against them.

The leaves themselves are computed by the epoch job (``epochs``) from final blocks; this
projection records what the chain says happened: each ``EpochPublished`` and each
``Claimed``, which mark leaves as claimed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg

from artisan.domain.events import Claimed, EpochPublished
from artisan.projections import history
from artisan.projections.events import Event, args_as
from artisan.projections.tables import Row, TableSpec

_RANGE = "e.chain_id = %(chain)s AND e.position > %(after)s AND e.position <= %(upto)s"

_PUBLISHED = f"""
INSERT INTO proj_epochs_published (epoch, from_block, to_block, total, root, block_number,
    log_index, tx_hash)
SELECT (e.args->>'epoch')::numeric, (e.args->>'fromBlock')::bigint,
    (e.args->>'toBlock')::bigint, (e.args->>'total')::numeric, e.args->>'root', e.block_number,
    e.log_index, e.tx_hash
FROM live_events e
WHERE e.event_name = 'EpochPublished' AND {_RANGE}
"""

_CLAIMED = f"""
INSERT INTO proj_claims (epoch, account, amount, block_number, log_index, tx_hash)
SELECT (e.args->>'epoch')::numeric, e.args->>'account', (e.args->>'amount')::numeric,
    e.block_number, e.log_index, e.tx_hash
FROM live_events e
WHERE e.event_name = 'Claimed' AND {_RANGE}
"""

PUBLISHED_COLUMNS = (
    "epoch", "from_block", "to_block", "total", "root", "block_number", "log_index", "tx_hash",
)  # fmt: skip
CLAIM_COLUMNS = ("epoch", "account", "amount", "block_number", "log_index", "tx_hash")


class RewardsProjection:
    """Published epochs and claims."""

    name = "rewards"
    events = ("EpochPublished", "Claimed")
    tables = (
        TableSpec("proj_epochs_published", PUBLISHED_COLUMNS, (0,)),
        TableSpec("proj_claims", CLAIM_COLUMNS, (0, 1)),
    )
    reader_indexes: tuple[str, ...] = ()  # a few rows per epoch: nothing to gain

    def apply(self, conn: psycopg.Connection[Any], chain_id: int, after: int, upto: int) -> None:
        params = {"chain": chain_id, "after": after, "upto": upto}
        conn.execute(_PUBLISHED, params)
        conn.execute(_CLAIMED, params)

    def revert(self, conn: psycopg.Connection[Any], ancestor: int) -> None:
        history.revert_appended(conn, "proj_claims", ancestor)
        history.revert_appended(conn, "proj_epochs_published", ancestor)

    def memory(self) -> MemoryRewards:
        return MemoryRewards()


class MemoryRewards:
    """The in-memory twin."""

    def __init__(self) -> None:
        self.published: list[Row] = []
        self.claims: list[Row] = []

    def apply(self, event: Event) -> None:
        if event.name == "EpochPublished":
            p = args_as(event, EpochPublished)
            self.published.append(
                (
                    int(p["epoch"]),
                    int(p["fromBlock"]),
                    int(p["toBlock"]),
                    int(p["total"]),
                    p["root"],
                    event.block_number,
                    event.log_index,
                    event.tx_hash,
                )
            )
        elif event.name == "Claimed":
            c = args_as(event, Claimed)
            self.claims.append(
                (
                    int(c["epoch"]),
                    c["account"],
                    int(c["amount"]),
                    event.block_number,
                    event.log_index,
                    event.tx_hash,
                )
            )

    def rows(self, table: str) -> Iterable[Row]:
        return self.published if table == "proj_epochs_published" else self.claims
