"""One writer per stream: a Postgres session advisory lock held on the writer's own connection.

``pg_try_advisory_lock`` answers at once, so a second writer is refused immediately instead of
queueing; the lock dies with its session, so a crashed writer never leaves it stuck.
"""

from __future__ import annotations

import contextlib
import hashlib
from typing import Any

import psycopg

from artisan.errors import StorageError
from artisan.storage.database import Database


class WriterLockHeld(StorageError):
    """Another session holds the writer lock of this stream."""


def lock_key(stream: str) -> int:
    """A stable signed 64-bit advisory-lock key for a stream name."""
    digest = hashlib.blake2b(stream.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def acquire_writer_connection(db: Database, stream: str) -> psycopg.Connection[Any]:
    """An autocommit connection holding the stream's writer lock; raises if already held.

    Every write of the stream must go through this connection: if it drops, the lock goes with
    it, and so does the right to write.
    """
    conn = db.connect(autocommit=True)
    try:
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (lock_key(stream),)).fetchone()
    except psycopg.Error as exc:
        conn.close()
        raise StorageError(f"cannot take the writer lock of {stream}: {exc}") from exc
    if row is None or not row[0]:
        conn.close()
        raise WriterLockHeld(f"another process is already writing {stream}")
    return conn


def release_writer_connection(conn: psycopg.Connection[Any], stream: str) -> None:
    """Release the stream's writer lock and close the connection.

    Unlocking first matters: a closed session's locks go only when its backend has exited,
    which a writer started right after may not wait for.
    """
    if not conn.closed:
        with contextlib.suppress(psycopg.Error):
            conn.execute("SELECT pg_advisory_unlock(%s)", (lock_key(stream),))
        conn.close()
