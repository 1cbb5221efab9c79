"""How a service finds its protocol at start (``Environment.protocol``): the deployment file,
checked against the node."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from web3 import Web3

from artisan.chain.anvil import Anvil
from artisan.chain.protocol import Protocol
from artisan.config import Settings
from artisan.environment import Environment
from artisan.errors import ConfigError
from artisan.storage.database import Database

pytestmark = pytest.mark.usefixtures("chain_snapshot")


def _environment(settings: Settings, tmp_path: Path, protocol: Protocol, database: Database,
                 w3: Web3, anvil: Anvil) -> Environment:  # fmt: skip
    path = tmp_path / "deployment.json"
    protocol.deployment.save(path)
    ours = settings.model_copy(update={"deployment_file": path})
    return Environment(settings=ours, db=database, w3=w3, rpc_url=anvil.rpc_url, anvil=None)


def test_no_code_for_a_moment_is_waited_out_and_none_at_all_is_a_named_error(
    settings: Settings, tmp_path: Path, protocol: Protocol, database: Database, w3: Web3,
    anvil: Anvil,
) -> None:  # fmt: skip
    """Code that comes back within a moment (a node behind a load balancer, or still
    syncing) is waited for; code that never comes is the named error."""
    env = _environment(settings, tmp_path, protocol, database, w3, anvil)
    ledger = protocol.deployment.ledger
    code = w3.provider.make_request("eth_getCode", [ledger, "latest"])["result"]  # type: ignore[arg-type]
    w3.provider.make_request("anvil_setCode", [ledger, "0x"])  # type: ignore[arg-type]
    back = threading.Timer(
        0.4,
        lambda: w3.provider.make_request("anvil_setCode", [ledger, code]),  # type: ignore[arg-type]
    )
    back.start()
    try:
        attached = env.protocol()
    finally:
        back.join()
    assert attached.deployment.ledger == ledger
    w3.provider.make_request("anvil_setCode", [ledger, "0x"])  # type: ignore[arg-type]
    try:
        with pytest.raises(ConfigError, match="names no ledger on chain 31337"):
            env.protocol()
    finally:
        w3.provider.make_request("anvil_setCode", [ledger, code])  # type: ignore[arg-type]
