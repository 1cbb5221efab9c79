"""Reaching Postgres: a configured server, or an embedded one started from the pgserver wheel.

The schema (``schema.sql``, and the migrations an existing database gets) is applied by
``artisan.storage.migrations.migrate``.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from artisan.config import Settings, redact_url
from artisan.errors import StorageError


@dataclass
class Database:
    """A database URL and, for the embedded default, the server handle that keeps it alive."""

    url: str
    _server: Any = field(default=None, repr=False)

    def connect(self, **kwargs: Any) -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(self.url, **kwargs)
        except psycopg.OperationalError as exc:
            raise StorageError(
                f"cannot connect to Postgres at {redact_url(self.url)}: {exc}"
            ) from exc

    def recreate(self, name: str) -> Database:
        """A new, empty database ``name`` on this server (dropped first if it exists), with no
        schema yet; it shares this database's server handle."""
        with self.connect(autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        info = conninfo_to_dict(self.url)
        info["dbname"] = name
        fresh = Database(url=make_conninfo(**info), _server=self._server)  # type: ignore[arg-type]
        self._server = None  # the new handle owns the server now
        return fresh

    def close(self) -> None:
        if self._server is not None:
            with contextlib.suppress(Exception):
                self._server.cleanup()
            self._server = None


def start_embedded(data_dir: Path) -> Database:
    """Start (or reuse) the embedded Postgres whose cluster lives under ``data_dir/pg``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        import pgserver

    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        get_server = pgserver.get_server  # type: ignore[attr-defined]
        server = get_server(data_dir / "pg", cleanup_mode="stop")
    except Exception as exc:  # pgserver raises bare exceptions from its subprocesses
        raise StorageError(
            f"cannot start the embedded Postgres in {data_dir / 'pg'}: {exc}"
        ) from exc
    return Database(url=server.get_uri(), _server=server)


def open_database(settings: Settings) -> Database:
    """The configured database, or the embedded default when no URL is set."""
    if settings.database_url:
        return Database(url=settings.database_url)
    return start_embedded(settings.data_dir)


@contextlib.contextmanager
def transaction(db: Database) -> Iterator[psycopg.Connection[Any]]:
    """A connection inside one transaction, committed on success and rolled back on error."""
    with db.connect() as conn, conn.transaction():
        yield conn
