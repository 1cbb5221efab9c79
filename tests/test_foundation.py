"""The foundation: settings fail loudly, the database and the dev chain are reachable."""

from __future__ import annotations

import httpx
import pytest

from artisan.chain.anvil import Anvil
from artisan.config import load_settings
from artisan.errors import ConfigError
from artisan.storage.database import Database


def test_bad_setting_names_its_key() -> None:
    """An invalid value fails at start with the environment key's name."""
    with pytest.raises(ConfigError, match="ARTISAN_RPC_URL"):
        load_settings(rpc_url="localhost:8545")
    with pytest.raises(ConfigError, match="ARTISAN_OPERATOR_KEY"):
        load_settings(operator_key="0x1234")


def test_database_has_schema(database: Database) -> None:
    """The test database is reachable and schema.sql has been applied to it."""
    with database.connect() as conn:
        row = conn.execute("SELECT to_regclass('schema_info')").fetchone()
    assert row is not None and row[0] == "schema_info"


def test_anvil_answers_with_its_chain_id(anvil: Anvil) -> None:
    """The dev chain started for the run answers JSON-RPC with the configured chain id."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
    reply = httpx.post(anvil.rpc_url, json=body, timeout=5).json()
    assert int(reply["result"], 16) == anvil.chain_id
