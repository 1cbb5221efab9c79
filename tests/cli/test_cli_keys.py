"""Keys are read from a file or the environment and never shown (docs/SECURITY.md, "Keys"):
commands that sign with them, and one that fails while holding them, are run with every
logger at DEBUG, and neither their output nor any log record holds a key."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

import pytest
from eth_account import Account
from typer.testing import CliRunner
from web3 import Web3

from artisan.chain.anvil import Anvil
from artisan.chain.contracts import Deployment
from artisan.chain.protocol import WAD, attach
from artisan.chain.signer import Signer
from artisan.cli.main import app
from artisan.config import load_settings


@pytest.mark.usefixtures("chain_snapshot")
def test_signing_commands_never_show_their_keys(
    anvil: Anvil, w3: Web3, tmp_path: Path, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """`deploy` (the deployer's key from a file, the operator's from the environment),
    `escrow deposit` and `account` (the user's key) succeed, and a deposit beyond the wallet
    fails; no output and no log record, at DEBUG, holds any of the keys."""
    deployer, operator, user = ("0x" + secrets.token_hex(32) for _ in range(3))
    for key in (deployer, user):
        address = Account.from_key(key).address
        w3.provider.make_request("anvil_setBalance", [address, hex(10**21)])  # type: ignore[arg-type]
    key_file = tmp_path / "deployer.key"
    key_file.write_text(deployer + "\n")
    deployment = tmp_path / "deployment.json"
    for name in [n for n in os.environ if n.startswith("ARTISAN_")]:
        monkeypatch.delenv(name)
    env = {
        "ARTISAN_DEV": "0", "ARTISAN_RPC_URL": anvil.rpc_url,
        "ARTISAN_CHAIN_ID": str(anvil.chain_id),
        "ARTISAN_DEPLOYER_KEY_FILE": str(key_file), "ARTISAN_OPERATOR_KEY": operator,
        "ARTISAN_USER_KEY": user, "ARTISAN_DEPLOYMENT_FILE": str(deployment),
        "ARTISAN_DATA_DIR": str(tmp_path / "data"),
    }  # fmt: skip
    caplog.set_level(logging.DEBUG)
    runner = CliRunner()
    outputs = []

    deployed = runner.invoke(app, ["deploy"], env=env)
    outputs.append(deployed.output)
    assert deployed.exit_code == 0, deployed.output
    protocol = attach(w3, Deployment.load(deployment), load_settings().artifacts_dir)
    Signer.from_key(w3, deployer).send(protocol.token.functions.mint(Account.from_key(user).address,
                                                                     2 * WAD))  # fmt: skip
    deposited = runner.invoke(app, ["escrow", "deposit", "1"], env=env)
    outputs.append(deposited.output)
    assert deposited.exit_code == 0 and '"deposited":"1"' in deposited.output, deposited.output
    shown = runner.invoke(app, ["account", "--json"], env=env)
    outputs.append(shown.output)
    assert shown.exit_code == 0 and Account.from_key(user).address.lower() in shown.output.lower()
    refused = runner.invoke(app, ["escrow", "deposit", "1000"], env=env)
    outputs.append(refused.output)
    assert refused.exit_code != 0, refused.output

    logged = caplog.text + "".join(str(r.__dict__) for r in caplog.records)
    assert len(caplog.records) > 0  # DEBUG records were captured (web3's requests among them)
    for key in (deployer, operator, user):
        for hexed in (key[2:], key[2:].upper()):
            assert all(hexed not in output for output in outputs)
            assert hexed not in logged
