"""`artisan models register` pins a model file and registers it with the terms it was given."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from artisan.chain.anvil import Anvil
from artisan.chain.codec import terms_from_chain
from artisan.chain.protocol import Protocol
from artisan.cli.main import app
from artisan.cli.models import parse_dao, parse_pricing
from artisan.domain.types import Access, PricingKind
from artisan.errors import DomainError
from artisan.executor.assets import AssetStore, digest_of
from artisan.testing import onnx_models as models

DAO = "0x" + "d0" * 20


def test_pricing_and_dao_options_parse() -> None:
    """fixed:PRICE and tiered:T=P,... become registry pricing; ADDR:BPS a DAO; typos are named."""
    assert parse_pricing("fixed:1000") == (PricingKind.FIXED, 1000, (), ())
    assert parse_pricing("tiered:0=30,10=20,100=5") == (
        PricingKind.TIERED, 0, (0, 10, 100), (30, 20, 5),
    )  # fmt: skip
    assert parse_dao(f"{DAO}:250") == (DAO, 250) and parse_dao(None)[1] == 0
    for bad in ("fixed:", "tiered:0=1,5", "flat:3"):
        with pytest.raises(DomainError, match="--pricing"):
            parse_pricing(bad)
    with pytest.raises(DomainError, match="--dao"):
        parse_dao(f"{DAO}:x")


@pytest.mark.usefixtures("chain_snapshot")
def test_models_register_pins_and_registers(
    protocol: Protocol, anvil: Anvil, tmp_path: Path
) -> None:
    """The command stores the file under the data dir and registers its digest, tiers, access
    and DAO; it prints the model id and CID."""
    model_file = tmp_path / "m.onnx"
    model_file.write_bytes(models.mlp(4, [8], 2, seed=9))
    deployment = tmp_path / "deployment.json"
    protocol.deployment.save(deployment)
    env = {
        "ARTISAN_RPC_URL": anvil.rpc_url,
        "ARTISAN_DEPLOYMENT_FILE": str(deployment),
        "ARTISAN_DATA_DIR": str(tmp_path / "data"),
    }
    args = ["models", "register", str(model_file), "--pricing", "tiered:0=300,5=200",
            "--access", "allowlist", "--size-class", "2", "--dao", f"{DAO}:500"]  # fmt: skip
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    printed = orjson.loads(result.output)
    store = AssetStore(tmp_path / "data" / "assets")
    assert store.get(printed["cid"]) == model_file.read_bytes()
    reg = protocol.registry.functions
    raw = reg.getModel(printed["modelId"]).call()
    terms = terms_from_chain(raw, reg.tiers(printed["modelId"]).call())
    assert bytes(raw[0]) == digest_of(printed["cid"]) and raw[4] == Access.ALLOWLIST
    assert terms.thresholds == (0, 5) and terms.prices == (300, 200) and terms.size_class == 2
    assert terms.dao_treasury == DAO and terms.dao_share_bps == 500

    again = CliRunner().invoke(app, args, env=env)  # the same file: its CID is taken
    assert again.exit_code == 1


@pytest.mark.usefixtures("chain_snapshot")
def test_models_register_refuses_a_broken_file_before_storing_anything(
    protocol: Protocol, anvil: Anvil, tmp_path: Path
) -> None:
    """A truncated model file is refused with exit 1 and a named reason; nothing is stored in
    the asset store and nothing is registered on chain."""
    model_file = tmp_path / "broken.onnx"
    model_file.write_bytes(models.corrupt(models.mlp(4, [8], 2, seed=10)))
    deployment = tmp_path / "deployment.json"
    protocol.deployment.save(deployment)
    env = {
        "ARTISAN_RPC_URL": anvil.rpc_url,
        "ARTISAN_DEPLOYMENT_FILE": str(deployment),
        "ARTISAN_DATA_DIR": str(tmp_path / "data"),
    }
    before = protocol.registry.functions.modelCount().call()
    result = CliRunner().invoke(app, ["models", "register", str(model_file), "--pricing",
                                      "fixed:1000"], env=env)  # fmt: skip
    assert result.exit_code == 1 and "cannot load" in result.output
    assert not list((tmp_path / "data").rglob("bafk*"))
    assert protocol.registry.functions.modelCount().call() == before


@pytest.mark.usefixtures("chain_snapshot")
def test_models_sample_register_list_and_show(
    protocol: Protocol, anvil: Anvil, tmp_path: Path
) -> None:
    """The sample model registers as any file would; `models list --json` gives one object a
    line with it among them, and `models show` its terms; an unknown id exits 1, named."""
    deployment = tmp_path / "deployment.json"
    protocol.deployment.save(deployment)
    env = {"ARTISAN_RPC_URL": anvil.rpc_url, "ARTISAN_DEPLOYMENT_FILE": str(deployment),
           "ARTISAN_DATA_DIR": str(tmp_path / "data")}  # fmt: skip
    runner, sample = CliRunner(), tmp_path / "sample.onnx"
    assert runner.invoke(app, ["models", "sample", str(sample)]).exit_code == 0
    registered = runner.invoke(app, ["models", "register", str(sample), "--pricing", "fixed:7"],
                               env=env)  # fmt: skip
    assert registered.exit_code == 0, registered.output
    model_id = orjson.loads(registered.output)["modelId"]
    listed = runner.invoke(app, ["models", "list", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    rows = [orjson.loads(line) for line in listed.output.splitlines()]
    assert [r["modelId"] for r in rows] == list(range(1, len(rows) + 1))
    assert any(r["modelId"] == model_id and r["fixedPrice"] == "7" for r in rows)
    shown = orjson.loads(runner.invoke(app, ["models", "show", str(model_id)], env=env).output)
    assert shown["pricing"] == "fixed" and shown["access"] == "public"
    missing = runner.invoke(app, ["models", "show", "999999"], env=env)
    assert missing.exit_code == 1 and "no model 999999" in missing.output


@pytest.mark.usefixtures("chain_snapshot")
def test_models_register_takes_its_owner_key_from_a_file(
    protocol: Protocol, anvil: Anvil, tmp_path: Path
) -> None:
    """The owner's key comes from a file (never the command line, where `ps` shows it), checked
    as a setting's key is: the model is that key's; anvil's public keys are refused outside
    development mode, named by the option and never printed."""
    import secrets

    import httpx
    from eth_account import Account

    from artisan.config import ANVIL_OPERATOR_KEY

    model_file = tmp_path / "m.onnx"
    model_file.write_bytes(models.mlp(4, [8], 2, seed=11))
    deployment = tmp_path / "deployment.json"
    protocol.deployment.save(deployment)
    owner = Account.from_key(secrets.token_bytes(32))
    httpx.post(anvil.rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": "anvil_setBalance",
                                    "params": [owner.address, hex(10**20)]})  # fmt: skip
    key_file = tmp_path / "owner.key"
    key_file.write_text("0x" + bytes(owner.key).hex() + "\n")
    env = {"ARTISAN_RPC_URL": anvil.rpc_url, "ARTISAN_DEPLOYMENT_FILE": str(deployment),
           "ARTISAN_DATA_DIR": str(tmp_path / "data")}  # fmt: skip
    args = ["models", "register", str(model_file), "--pricing", "fixed:5",
            "--owner-key-file", str(key_file)]  # fmt: skip
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    model_id = orjson.loads(result.output)["modelId"]
    assert protocol.registry.functions.getModel(model_id).call()[1] == owner.address
    key_file.write_text(ANVIL_OPERATOR_KEY)
    refused = CliRunner().invoke(app, [*args[:4], "fixed:6", *args[5:]],
                                 env={**env, "ARTISAN_DEV": "0"})  # fmt: skip
    assert refused.exit_code != 0
    assert "--owner-key-file" in refused.output and "anvil's public" in refused.output
    assert ANVIL_OPERATOR_KEY[2:] not in refused.output
