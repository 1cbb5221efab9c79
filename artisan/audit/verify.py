"""Audit verification: recompute the projections from the chain's events and compare.

``replay`` folds a list of events (read from the chain by the caller, independently of the
event store) into every projection's in-memory twin. ``verify`` then compares, up to a block:

- each projection's digest (and, on a mismatch, each table's) with the one of its rows in
  Postgres;
- every execution's cost and credits with the metering rule and splits (``audit``);
- every closed epoch's reward root and total with the rule's, and with the root the chain's
  ``EpochPublished`` carries, when published;
- with a ``ledger`` reader, every account's stored balances as of the block with the ledger's
  own state at that block (``escrowOf``, ``owed``, ``pendingWithdrawal``), which no event
  replay can vouch for: it catches an event the store lacks and the replay lacks too;
- with a ``distributor`` reader, every closed epoch against the RewardDistributor as it is
  now: the root and total it holds equal the epoch's (an epoch with a root that the chain
  does not hold is a mismatch: its rewards cannot be claimed), and the recorded publication
  transaction is on the canonical chain and published that epoch.

Each disagreement is one ``Mismatch``; an empty list means everything agrees.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

import psycopg

from artisan.audit.costs import Mismatch, audit_costs
from artisan.audit.digest import (
    combine,
    db_table_digests,
    memory_table_digests,
)
from artisan.domain import merkle
from artisan.projections import balances
from artisan.projections.abc import MemoryProjection
from artisan.projections.balances import LedgerBalance, MemoryBalances
from artisan.projections.distributor import MemoryRewards
from artisan.projections.events import Event
from artisan.projections.executions import MemoryExecutions
from artisan.projections.models import MemoryModels
from artisan.projections.registry import READ_MODELS
from artisan.projections.rewards import rule as reward_rule
from artisan.projections.rewards.epochs import RewardConfig, memory_inputs
from artisan.storage.database import Database


def replay(events: Iterable[Event]) -> dict[str, MemoryProjection]:
    """Every projection's twin fed with ``events`` (sorted into chain order first)."""
    twins = {p.name: p.memory() for p in READ_MODELS}
    handlers: dict[str, list[MemoryProjection]] = {}
    for p in READ_MODELS:
        for name in p.events:
            handlers.setdefault(name, []).append(twins[p.name])
    for event in sorted(events, key=lambda e: (e.block_number, e.log_index)):
        for twin in handlers.get(event.name, ()):
            twin.apply(event)
    return twins


def memory_root(
    twins: Mapping[str, MemoryProjection], config: RewardConfig, epoch: int, pool: int
) -> tuple[str | None, int]:
    """(root or None, total) of ``epoch`` recomputed from the twins with ``pool``."""
    models, executions = twins["models"], twins["executions"]
    assert isinstance(models, MemoryModels) and isinstance(executions, MemoryExecutions)
    inputs = memory_inputs(models, executions, config, epoch)
    inputs = reward_rule.EpochInputs(epoch, pool, inputs.models, inputs.fees, inputs.ratings)
    leaves = reward_rule.leaves(inputs)
    if not leaves:
        return None, 0
    return "0x" + merkle.build(leaves).root.hex(), sum(leaf.amount for leaf in leaves)


def verify(
    db: Database,
    events: Sequence[Event],
    *,
    block: int,
    rewards: RewardConfig | None = None,
    ledger: Callable[[Sequence[str], int], Mapping[str, LedgerBalance]] | None = None,
    distributor: DistributorState | None = None,
) -> list[Mismatch]:
    """Every mismatch between the store's projections up to ``block`` and ``events`` (and the
    ledger's state: ``ledger(accounts, block)``; the distributor's: ``distributor``)."""
    upto = [e for e in events if e.block_number <= block]
    twins = replay(upto)
    out: list[Mismatch] = []
    with db.connect() as conn:
        for projection in READ_MODELS:
            stored = db_table_digests(conn, projection, block)
            computed = memory_table_digests(projection, twins[projection.name], block)
            if combine(stored.values()) == combine(computed.values()):
                continue
            for table, digest in computed.items():
                if stored[table] != digest:
                    subject = f"{projection.name}.{table} up to block {block}"
                    out.append(Mismatch("digest", subject, digest.hex(), stored[table].hex()))
        out.extend(audit_costs(upto))
        if rewards is not None:
            closed = conn.execute(
                "SELECT epoch, pool, total, root FROM reward_epochs WHERE to_block <= %s"
                " ORDER BY epoch",
                (block,),
            ).fetchall()
            published = _published(twins)
            for epoch, pool, total, root in closed:
                out.extend(_check_epoch(twins, rewards, int(epoch), int(pool), int(total), root))
                onchain = published.get(int(epoch))
                if onchain is not None and onchain != root:
                    out.append(
                        Mismatch("reward_root", f"epoch {epoch} on chain", str(root), onchain)
                    )
        if ledger is not None:
            out.extend(_check_balances(conn, twins, ledger, block))
        if distributor is not None:
            out.extend(_check_publications(conn, distributor, block))
    return out


class DistributorState(Protocol):
    """The RewardDistributor as the chain holds it now (``chain_reads.DistributorReader``)."""

    def epoch(self, epoch: int) -> tuple[str, int] | None:
        """(root, total) held for ``epoch``; None if it holds none."""
        ...

    def publishes(self, tx_hash: str, epoch: int) -> bool:
        """Whether ``tx_hash`` is mined on the canonical chain, succeeded, and published
        ``epoch``."""
        ...


def _check_publications(
    conn: psycopg.Connection[Any], distributor: DistributorState, block: int
) -> list[Mismatch]:
    out = []
    closed = conn.execute(
        "SELECT epoch, total, root, publish_tx FROM reward_epochs WHERE to_block <= %s"
        " ORDER BY epoch",
        (block,),
    ).fetchall()
    for epoch, total, root, tx in closed:
        subject = f"epoch {epoch} on the distributor"
        held = distributor.epoch(int(epoch))
        want = "no root" if root is None else f"root {root} total {total}"
        if root is None and held is None:
            continue
        if held is None:
            pending = "publication pending" if tx is None else f"recorded as published by {tx}"
            out.append(Mismatch("reward_publication", subject, want, f"no root ({pending})"))
        elif root is None or held != (str(root), int(total)):
            out.append(Mismatch("reward_publication", subject, want,
                                f"root {held[0]} total {held[1]}"))  # fmt: skip
        if tx is not None and not distributor.publishes(str(tx), int(epoch)):
            out.append(Mismatch("reward_publication", f"epoch {epoch} publication {tx}",
                                "on the canonical chain", "not on it"))  # fmt: skip
    return out


def _check_balances(
    conn: psycopg.Connection[Any],
    twins: Mapping[str, MemoryProjection],
    ledger: Callable[[Sequence[str], int], Mapping[str, LedgerBalance]],
    block: int,
) -> list[Mismatch]:
    twin = twins["balances"]
    assert isinstance(twin, MemoryBalances)
    stored = balances.stored_at(conn, block)
    accounts = sorted(set(stored) | set(twin.accounts()))
    onchain = ledger(accounts, block)
    zero = LedgerBalance(0, 0, 0, 0)
    return [
        Mismatch("balance", f"{account} at block {block}", str(onchain[account]),
                 str(stored.get(account, zero)))
        for account in accounts
        if stored.get(account, zero) != onchain[account]
    ]  # fmt: skip


def _published(twins: Mapping[str, MemoryProjection]) -> dict[int, str]:
    rewards = twins["rewards"]
    assert isinstance(rewards, MemoryRewards)
    return {int(row[0]): str(row[4]) for row in rewards.published}


def _check_epoch(
    twins: Mapping[str, MemoryProjection],
    config: RewardConfig,
    epoch: int,
    pool: int,
    total: int,
    root: str | None,
) -> list[Mismatch]:
    want_root, want_total = memory_root(twins, config, epoch, pool)
    out = []
    if want_root != root:
        out.append(Mismatch("reward_root", f"epoch {epoch}", str(want_root), str(root)))
    if want_total != total:
        out.append(Mismatch("reward_total", f"epoch {epoch}", str(want_total), str(total)))
    return out
