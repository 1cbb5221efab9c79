"""The foundation: settings fail loudly, the database and the dev chain are reachable."""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from artisan.chain.anvil import Anvil
from artisan.cli.main import app
from artisan.config import ANVIL_DEPLOYER_KEY, ANVIL_OPERATOR_KEY, load_settings
from artisan.errors import ConfigError
from artisan.storage.database import Database


def test_bad_setting_names_its_key() -> None:
    """An invalid value fails at start with the environment key's name."""
    with pytest.raises(ConfigError, match="ARTISAN_RPC_URL"):
        load_settings(rpc_url="localhost:8545")
    with pytest.raises(ConfigError, match="ARTISAN_OPERATOR_KEY"):
        load_settings(operator_key="0x1234")


def test_development_keys_only_in_development_mode(tmp_path: Path) -> None:
    """Outside development mode anvil's public keys are refused, naming the variable, and a
    missing key is named when it is needed; in it they are the defaults."""
    with pytest.raises(ConfigError, match="ARTISAN_OPERATOR_KEY: this is one of anvil's"):
        load_settings(dev=False, operator_key=ANVIL_OPERATOR_KEY)
    bare = load_settings(dev=False)
    with pytest.raises(ConfigError, match="ARTISAN_DEPLOYER_KEY is not set"):
        bare.key("deployer")
    dev = load_settings(dev=True)
    assert dev.key("deployer") == ANVIL_DEPLOYER_KEY and dev.key("operator") == ANVIL_OPERATOR_KEY
    assert dev.key("reward_publisher") == ANVIL_DEPLOYER_KEY


def test_keys_from_files_and_never_shown(tmp_path: Path) -> None:
    """A key can come from a file; neither a repr of the settings nor an error shows a key."""
    key = "0x" + secrets.token_hex(32)
    path = tmp_path / "operator.key"
    path.write_text(key + "\n")
    settings = load_settings(dev=False, operator_key_file=path)
    assert settings.key("operator") == key
    assert key[2:] not in repr(settings) and key[2:] not in str(settings)
    with pytest.raises(ConfigError, match="not both") as both:
        load_settings(dev=False, operator_key=key, operator_key_file=path)
    with pytest.raises(ConfigError, match="ARTISAN_DEPLOYER_KEY_FILE: cannot read") as missing:
        load_settings(dev=False, deployer_key_file=tmp_path / "absent.key")
    with pytest.raises(ConfigError, match="ARTISAN_OPERATOR_KEY: must be") as short:
        load_settings(dev=False, operator_key=key[:-1])
    for error in (both, missing, short):
        assert key[2:12] not in str(error.value)


def test_a_failing_command_never_prints_its_keys() -> None:
    """A command that fails after reading its keys (no node at the URL) names the problem and
    shows no key, whatever it prints."""
    deployer, operator = "0x" + secrets.token_hex(32), "0x" + secrets.token_hex(32)
    env = {"ARTISAN_DEV": "0", "ARTISAN_DEPLOYER_KEY": deployer, "ARTISAN_OPERATOR_KEY": operator,
           "ARTISAN_RPC_URL": "http://127.0.0.1:9", "ARTISAN_DEPLOY_WAIT_S": "1"}  # fmt: skip
    result = CliRunner().invoke(app, ["deploy"], env=env)
    assert result.exit_code == 1 and "cannot reach" in result.output
    bad = CliRunner().invoke(app, ["deploy"], env={**env, "ARTISAN_OPERATOR_KEY": operator[:-2]})
    assert bad.exit_code == 2 and "ARTISAN_OPERATOR_KEY" in bad.output
    for output in (result.output, bad.output):
        assert deployer[2:12] not in output and operator[2:12] not in output


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
