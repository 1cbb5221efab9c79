"""Pruning block rows the indexer no longer needs: finalized, canonical, and holding no events.

The indexer stores every block of the unfinalized window (to trace forks) and, below it, the
ends of each fetched range and the blocks that hold events. Once finalized, a block without
events only takes room. What stays:

- every block of the unfinalized window, so that a fork is traced to its common ancestor;
- the highest finalized block: the boundary against which a fork below finality is detected
  (without it, a walk down the window would find no finalized block and rewind to the start);
- every block that holds events, live or removed (their timestamps and hashes are evidence);
- orphaned blocks: the record of what each reorg replaced.

Deleting a finalized block cannot race the writer: it never writes at or below a finalized
block again (a reorg that deep halts it), so a pruning connection of its own needs no lock.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from artisan.errors import StorageError
from artisan.storage.database import Database

_DELETE = """
DELETE FROM blocks b
WHERE b.chain_id = %(chain)s AND b.finalized AND b.orphaned_by IS NULL
  AND b.number >= %(low)s AND b.number < %(high)s
  AND NOT EXISTS (SELECT 1 FROM events e WHERE e.chain_id = b.chain_id AND e.block_hash = b.hash)
"""

_BOUNDS = """
SELECT min(number), max(number) FROM blocks
WHERE chain_id = %s AND finalized AND orphaned_by IS NULL
"""


@dataclass
class BlockPruner:
    """Prunes one chain's finalized empty blocks, in windows of ``window`` heights per
    transaction (short locks), remembering how far it got so a run only scans what is new."""

    db: Database
    chain_id: int
    window: int = 50_000
    pruned_below: int | None = None

    def prune(self) -> int:
        """Delete what is prunable now; the number of block rows deleted."""
        try:
            return self._prune()
        except psycopg.Error as exc:
            raise StorageError(f"pruning blocks of chain {self.chain_id} failed: {exc}") from exc

    def _prune(self) -> int:
        deleted = 0
        with self.db.connect(autocommit=True) as conn:
            row = conn.execute(_BOUNDS, (self.chain_id,)).fetchone()
            if row is None or row[1] is None:
                return 0
            lowest, boundary = int(row[0]), int(row[1])  # the boundary block itself stays
            low = lowest if self.pruned_below is None else max(lowest, self.pruned_below)
            while low < boundary:
                high = min(boundary, low + self.window)
                with conn.transaction():
                    params = {"chain": self.chain_id, "low": low, "high": high}
                    deleted += conn.execute(_DELETE, params).rowcount
                low = high
            self.pruned_below = boundary
        return deleted
