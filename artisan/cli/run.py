"""`artisan run`: sign a request, send it to an executor, wait until the chain has it.

The user's key signs (``ARTISAN_USER_KEY``); the executor is ``ARTISAN_EXECUTOR_URL`` (or
``--executor``). The request's ``maxCost`` is what you agree to pay at most; the executor
quotes the run and refuses it if the quote is higher. Once the execution is confirmed on chain
the command prints the output, its CID, the cost, how it was split and the transaction.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from artisan.cli.account import ROLES, art, parse_art, user_side
from artisan.cli.common import console, fail, json_line, settings_or_exit
from artisan.errors import ArtisanError, ConfigError


def read_inputs(path: Path) -> tuple[dict[str, Any], bool]:
    """The tensors in ``path`` and whether to send them as .npy: a ``.npy`` file is one
    tensor (for a one-input model); a ``.json`` file maps each input's name to
    ``{"dtype", "shape", "data"}``."""
    import numpy as np
    import orjson

    from artisan.executor.tensors import from_json

    if not path.is_file():
        raise ConfigError(f"--input {path}: no such file")
    if path.suffix == ".npy":
        try:
            return {"input": np.load(path, allow_pickle=False)}, True
        except (ValueError, OSError) as exc:
            raise ConfigError(f"--input {path}: not a .npy file numpy can read: {exc}") from exc
    try:
        doc = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"--input {path}: not JSON: {exc}") from exc
    if not isinstance(doc, dict) or not doc:
        raise ConfigError(f'--input {path}: expected {{"name": {{"dtype", "shape", "data"}}}}')
    return {name: from_json(name, value) for name, value in doc.items()}, False


def run(
    model_id: Annotated[int, typer.Argument(help="the model's id (`artisan models list`)")],
    input_file: Annotated[
        Path, typer.Option("--input", help=".npy (one input) or .json (named inputs)")
    ],
    priority: int = typer.Option(1, min=0, max=3, help="tier 0 (lowest) .. 3 (highest)"),
    max_cost: str = typer.Option("1", help="the most $ART you agree to pay"),
    executor: str | None = typer.Option(None, help="the executor's URL (ARTISAN_EXECUTOR_URL)"),
    wait: bool = typer.Option(True, help="wait until the execution is confirmed on chain"),
    timeout: float = typer.Option(120.0, help="seconds to wait for the confirmation"),
    as_json: bool = typer.Option(False, "--json", help="one JSON object"),
) -> None:
    """Run a model: sign the request with your key, send it with its inputs, wait for the
    on-chain confirmation, print the output, its CID, the cost, the splits and the
    transaction."""
    from artisan.executor.client import ExecutorClient
    from artisan.executor.tensors import to_json

    settings = settings_or_exit()
    try:
        tensors, npy = read_inputs(input_file)
        protocol, user = user_side()
        d = protocol.deployment
        client = ExecutorClient.connect(executor or settings.executor_url, chain_id=d.chain_id,
                                        ledger=d.ledger)  # fmt: skip
        _wait_for_executor(client, 60.0)
        signed = client.sign(user.account.key, user.address, model_id, tensors,
                             max_cost=parse_art(max_cost), priority=priority)  # fmt: skip
        ran = client.submit(signed, npy=npy)
        execution_id = str(ran["executionId"])
        view = _confirmed(client, execution_id, timeout, as_json) if wait else ran
        outputs = {n: to_json(t) for n, t in client.outputs(ran).items()}
        splits = _splits(protocol, view.get("txHash"), execution_id)
        client.http.close()
    except ArtisanError as exc:
        raise fail(exc) from exc
    result = {
        "executionId": execution_id, "status": view["status"], "modelId": str(model_id),
        "outputCid": ran["outputCid"], "output": outputs, "quote": art(int(ran["quote"])),
        "cost": art(int(ran["cost"])), "splits": splits, "txHash": view.get("txHash"),
        "blockNumber": view.get("blockNumber"),
    }  # fmt: skip
    if as_json:
        json_line(result)
        return
    console.print(f"execution {execution_id}: {view['status']}")
    console.print(f"output    {ran['outputCid']}: {orjson.dumps(outputs).decode()}",
                  soft_wrap=True)  # fmt: skip
    console.print(f"cost      {result['cost']} $ART (quoted {result['quote']}, at most {max_cost})")
    for split in splits:
        console.print(f"  {split['amount']:>24} $ART to the {split['role']} {split['recipient']}")
    if view.get("txHash"):
        console.print(f"recorded  in transaction {view['txHash']}, block {view['blockNumber']}")


def _wait_for_executor(client: Any, seconds: float) -> None:
    """An executor that is still starting (loading its models) is waited for."""
    import httpx

    deadline = time.monotonic() + seconds
    while True:
        try:
            client.health()
            return
        except httpx.TransportError as exc:
            if time.monotonic() >= deadline:
                raise ArtisanError(
                    f"no executor answers at {client.http.base_url}: {exc} (start one with"
                    " `artisan executor serve`, or name another with --executor)"
                ) from None
            time.sleep(0.5)


def _confirmed(client: Any, execution_id: str, timeout: float, quiet: bool) -> Any:
    """Poll until the execution is confirmed, rejected or failed, showing its progress."""
    deadline, last = time.monotonic() + timeout, ""
    while True:
        view = client.status(execution_id)
        if view["status"] != last and not quiet:
            sys.stderr.write(f"  {execution_id[:12]}: {view['status']}\n")
            last = view["status"]
        if view["status"] in ("confirmed", "rejected", "failed"):
            if view["status"] != "confirmed":
                raise ArtisanError(f"execution {execution_id} {view['status']}: {view['reason']}")
            return view
        if time.monotonic() > deadline:
            raise ArtisanError(
                f"execution {execution_id} not confirmed within {timeout} s (it is"
                f" {view['status']}: is the executor's emitter running?)"
            )
        time.sleep(0.2)


def _splits(protocol: Any, tx_hash: str | None, execution_id: str) -> list[dict[str, str]]:
    """The ledger's Settlement credits of the execution, from its transaction's receipt."""
    if not tx_hash:
        return []
    from web3.logs import DISCARD

    receipt = protocol.ledger.w3.eth.get_transaction_receipt(tx_hash)
    out = []
    for event in protocol.ledger.events.Settlement().process_receipt(receipt, errors=DISCARD):
        args = event["args"]
        if "0x" + bytes(args["executionId"]).hex() == execution_id:
            out.append({"recipient": str(args["recipient"]), "role": ROLES[int(args["role"])],
                        "amount": art(int(args["amount"]))})  # fmt: skip
    return out
