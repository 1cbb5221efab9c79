"""Shared fixtures: a real Postgres (local server if reachable, else embedded), a real anvil."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from hypothesis import settings as hypothesis_settings
from psycopg import sql

from artisan.chain.anvil import Anvil, start_anvil
from artisan.config import Settings, load_settings
from artisan.storage.database import Database, start_embedded
from artisan.storage.migrations import migrate

LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/test"

# The tests run on development chains with anvil's public keys: development mode, for this
# process and every command a test starts (ARTISAN_DEV=0 in a test's env says otherwise).
os.environ.setdefault("ARTISAN_DEV", "1")

# `make test` is reproducible: the same examples on every run, so a red CI is a red laptop.
# `make fuzz` explores: random examples, many more of them (--hypothesis-profile=fuzz).
hypothesis_settings.register_profile("default", derandomize=True, database=None)
hypothesis_settings.register_profile("fuzz", derandomize=False, max_examples=2_000)
hypothesis_settings.load_profile("default")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--reverse", action="store_true", help="run the tests in reverse order (make test-order)"
    )


# What a test needs, marked from the fixtures it uses (`pytest -m "not anvil"`, say).
_NEEDS = {
    "postgres": {"pg_server", "database", "fresh_db", "empty_databases", "module_store"},
    "anvil": {"anvil", "w3", "protocol", "deployer", "operator", "chain"},
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        for marker, fixtures in _NEEDS.items():
            if used & fixtures:
                item.add_marker(marker)
    # `make test-order` runs the suite backwards (and shuffled, by pytest-random-order): a test
    # that passes only after another has run, or fails only after one, shows up there.
    if config.getoption("--reverse"):
        items.reverse()


def _local_server_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            pass
        with psycopg.connect(LOCAL_SERVER, connect_timeout=2):
            return True
    except (OSError, psycopg.Error):
        return False


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load_settings()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Database]:
    """A Postgres server to make databases on: the local one, else an embedded one."""
    if _local_server_reachable():
        yield Database(url=LOCAL_SERVER)
        return
    with tempfile.TemporaryDirectory(prefix="artisan-pg-") as tmp:
        db = start_embedded(Path(tmp))
        try:
            yield db
        finally:
            db.close()


def _fresh_database(server: Database, prefix: str) -> tuple[str, str]:
    name = f"{prefix}_{secrets.token_hex(4)}"
    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    info = psycopg.conninfo.conninfo_to_dict(server.url)
    info["dbname"] = name
    return name, psycopg.conninfo.make_conninfo(**info)  # type: ignore[arg-type]


def _drop_database(server: Database, name: str) -> None:
    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture(scope="session")
def database(pg_server: Database) -> Iterator[Database]:
    """A fresh database for this test session, with the current schema."""
    name, url = _fresh_database(pg_server, "artisan_test")
    db = Database(url=url)
    migrate(db)
    try:
        yield db
    finally:
        with contextlib.suppress(psycopg.Error):
            _drop_database(pg_server, name)


@pytest.fixture
def fresh_db(pg_server: Database) -> Iterator[Database]:
    """A database of its own for one test, with the current schema, dropped afterwards."""
    name, url = _fresh_database(pg_server, "artisan_t")
    db = Database(url=url)
    migrate(db)
    try:
        yield db
    finally:
        with contextlib.suppress(psycopg.Error):
            _drop_database(pg_server, name)


@pytest.fixture
def empty_databases(pg_server: Database) -> Iterator[Callable[[], Database]]:
    """Makes databases with no schema at all for one test; each is dropped afterwards."""
    names: list[str] = []

    def make() -> Database:
        name, url = _fresh_database(pg_server, "artisan_e")
        names.append(name)
        return Database(url=url)

    try:
        yield make
    finally:
        for name in names:
            with contextlib.suppress(psycopg.Error):
                _drop_database(pg_server, name)


@pytest.fixture(scope="session")
def anvil(settings: Settings) -> Iterator[Anvil]:
    """One anvil per test run, on a free port."""
    node = start_anvil(settings.anvil_bin, chain_id=settings.chain_id)
    try:
        yield node
    finally:
        node.stop()
