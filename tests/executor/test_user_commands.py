"""A user's commands end to end on anvil: fund escrow, look at the account, run a model through
a served executor (with its emitter) until the chain confirms it, ask escrow back."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import numpy as np
import orjson
import pytest
from eth_account import Account
from typer.testing import CliRunner
from web3 import Web3

from artisan.chain.anvil import Anvil
from artisan.chain.protocol import Protocol
from artisan.chain.signer import Signer
from artisan.cli.account import art, parse_art
from artisan.cli.main import app
from artisan.config import ANVIL_OPERATOR_KEY
from artisan.emitter.config import EmitterConfig
from artisan.emitter.emitter import Emitter
from artisan.errors import ConfigError
from artisan.executor.api import create_app
from artisan.executor.assembly import ExecutorConfig, open_executor
from artisan.executor.assets import AssetStore
from artisan.executor.client import ExecutorClient
from artisan.executor.serving import serve_in_thread
from artisan.executor.sessions import SessionConfig
from artisan.storage.database import Database
from artisan.testing import onnx_models as models
from tests.executor.api_helpers import Api


def test_amounts_of_art_are_exact() -> None:
    """$ART amounts parse to wei exactly and print back the same; nonsense is named."""
    assert parse_art("2.5") == 25 * 10**17 and parse_art("0.000000000000000001") == 1
    assert art(parse_art("1234.000100")) == "1234.0001" and art(0) == "0"
    for bad in ("-1", "abc", "1e-19", "nan"):
        with pytest.raises(ConfigError, match="amount of \\$ART"):
            parse_art(bad)


@pytest.fixture
def served(
    protocol: Protocol, anvil: Anvil, fresh_db: Database, deployer: Signer, operator: Signer,
    w3: Web3, tmp_path: Path, chain_snapshot: None,
) -> Iterator[tuple[Api, str]]:  # fmt: skip
    """An executor served over HTTP, and its emitter running on a thread."""
    store = AssetStore(tmp_path / "assets")
    d = protocol.deployment
    config = ExecutorConfig(sessions=SessionConfig(prefer_cuda=False))
    stop = threading.Event()
    with (
        open_executor(protocol, anvil.rpc_url, store, operator=operator.address, db=fresh_db,
                      config=config) as service,  # fmt: skip
        serve_in_thread(create_app(service)) as url,
        Emitter(fresh_db, anvil.rpc_url, ANVIL_OPERATOR_KEY, chain_id=d.chain_id, ledger=d.ledger,
                config=EmitterConfig(max_wait=0.0, start_block=d.start_block)) as emitter,
    ):  # fmt: skip
        worker = threading.Thread(target=emitter.run, kwargs={"stop": stop}, daemon=True)
        worker.start()
        client = ExecutorClient.connect(url, chain_id=d.chain_id, ledger=d.ledger)
        try:
            yield Api(client, service, protocol, store, fresh_db, w3, deployer), url
        finally:
            stop.set()
            worker.join(10)
            client.http.close()


def test_deposit_look_run_and_withdraw(served: tuple[Api, str], tmp_path: Path) -> None:
    """`escrow deposit --mint`, `account`, `run` (confirmed on chain, splits summing to the
    cost, the output as the model computes it), `account` again (escrow down by exactly the
    cost), `escrow withdraw`; a withdraw with nothing to do is exit 2, named."""
    api, url = served
    key = "0x" + secrets.token_hex(32)
    address = Account.from_key(key).address
    api.w3.provider.make_request("anvil_setBalance", [address, hex(10**20)])  # type: ignore[arg-type]
    deployment = tmp_path / "deployment.json"
    api.protocol.deployment.save(deployment)
    env = {"ARTISAN_RPC_URL": api.w3.provider.endpoint_uri,  # type: ignore[attr-defined]
           "ARTISAN_DEPLOYMENT_FILE": str(deployment), "ARTISAN_USER_KEY": key,
           "ARTISAN_EXECUTOR_URL": url}  # fmt: skip
    cli = CliRunner()

    def line(*args: str) -> dict[str, object]:
        result = cli.invoke(app, list(args), env=env)
        assert result.exit_code == 0, result.output
        return dict(orjson.loads(result.stdout.splitlines()[-1]))

    funded = line("escrow", "deposit", "5", "--mint")
    assert funded["deposited"] == "5" and funded["escrow"] == "5" and funded["address"] == address

    model = api.register(models.mlp(8, [16], 4, seed=50))
    x = np.random.default_rng(5).standard_normal((1, 8), dtype=np.float32)
    inputs = tmp_path / "x.json"
    inputs.write_bytes(orjson.dumps({"x": {"dtype": "float32", "shape": [1, 8],
                                           "data": x.tolist()}}))  # fmt: skip
    ran = line("run", str(model), "--input", str(inputs), "--max-cost", "0.5", "--json")
    assert ran["status"] == "confirmed" and ran["txHash"]
    splits = ran["splits"]
    assert isinstance(splits, list) and splits
    assert sum(Decimal(s["amount"]) for s in splits) == Decimal(str(ran["cost"]))
    output = ran["output"]
    assert isinstance(output, dict) and output["y"]["shape"] == [1, 4]

    listed = cli.invoke(app, ["executions", "list", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    mine = [orjson.loads(text) for text in listed.stdout.splitlines()]
    assert [m["executionId"] for m in mine] == [ran["executionId"]]
    shown = line("executions", "show", str(ran["executionId"]))
    assert shown["cost"] == ran["cost"] and shown["splits"] == splits
    assert shown["txHash"] == ran["txHash"] and shown["modelId"] == model
    unknown = cli.invoke(app, ["executions", "show", "0x" + "00" * 32], env=env)
    assert unknown.exit_code == 1 and "no execution" in unknown.output
    assert cli.invoke(app, ["executions", "show", "0x12"], env=env).exit_code == 2

    after = line("account", "--json")
    assert Decimal(str(after["escrow"])) == 5 - Decimal(str(ran["cost"]))
    asked = line("escrow", "withdraw", "1")
    assert asked["pendingWithdrawal"] == "1"
    neither = cli.invoke(app, ["escrow", "withdraw"], env=env)
    assert neither.exit_code == 2 and "--execute" in neither.output
