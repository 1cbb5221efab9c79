"""`artisan executions list|show`: executions as the chain records them (``InferenceExecuted``
and its ``Settlement`` credits), read from the node; no indexer or database needed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from artisan.cli.account import ROLES, art, user_side
from artisan.cli.common import console, fail, json_line
from artisan.errors import ArtisanError, ConfigError

if TYPE_CHECKING:
    from artisan.chain.protocol import Protocol

executions_app = typer.Typer(no_args_is_help=True, add_completion=False,
                             help="Executions recorded on the ledger.")  # fmt: skip


def _hex(value: Any) -> str:
    return "0x" + bytes(value).hex()


def execution_json(event: Any) -> dict[str, Any]:
    a = event["args"]
    meter = a["meter"]
    return {
        "executionId": _hex(a["executionId"]), "modelId": int(a["modelId"]),
        "user": str(a["user"]), "operator": str(a["operator"]),
        "inputDigest": _hex(a["inputDigest"]), "outputDigest": _hex(a["outputDigest"]),
        "priority": int(a["priority"]), "cost": art(int(a["cost"])),
        "meter": {"inputUnits": int(meter["inputUnits"]), "gpuMicros": int(meter["gpuMicros"]),
                  "latencyMicros": int(meter["latencyMicros"]),
                  "storageBytes": int(meter["storageBytes"]),
                  "concurrentLoad": int(meter["concurrentLoad"])},
        "block": int(event["blockNumber"]), "txHash": _hex(event["transactionHash"]),
    }  # fmt: skip


def _executed(protocol: Protocol, **filters: Any) -> list[Any]:
    start = protocol.deployment.start_block
    event = protocol.ledger.events.InferenceExecuted()
    return list(event.get_logs(from_block=start, argument_filters=filters or None))


@executions_app.command("list")
def list_executions(
    user: str | None = typer.Option(None, help="whose (default: yours, ARTISAN_USER_KEY)"),
    model: int | None = typer.Option(None, help="only this model's"),
    everyone: bool = typer.Option(False, "--all", help="every user's"),
    as_json: bool = typer.Option(False, "--json", help="one JSON object per line"),
) -> None:
    """Executions on the ledger, oldest first: yours, a user's, a model's, or --all."""
    from rich.table import Table
    from web3 import Web3

    try:
        protocol, me = user_side()
        filters: dict[str, Any] = {}
        if not everyone:
            filters["user"] = Web3.to_checksum_address(user or me.address)
        if model is not None:
            filters["modelId"] = model
        found = [execution_json(e) for e in _executed(protocol, **filters)]
    except ArtisanError as exc:
        raise fail(exc) from exc
    except ValueError as exc:  # a malformed --user address
        raise fail(ConfigError(f"--user {user!r} is not an address: {exc}")) from exc
    if as_json:
        for row in found:
            json_line(row)
        return
    table = Table("execution", "model", "user", "cost ($ART)", "block")
    for row in found:
        table.add_row(row["executionId"][:18] + "…", str(row["modelId"]), row["user"],
                      row["cost"], str(row["block"]))  # fmt: skip
    console.print(table)
    console.print(f"{len(found)} executions (`artisan executions show ID` for one in full)")


@executions_app.command("show")
def show_execution(execution_id: str = typer.Argument(..., help="0x… (64 hex digits)")) -> None:
    """One execution in full, as JSON: what the ledger recorded and how its cost was split."""
    from web3.logs import DISCARD

    try:
        raw = bytes.fromhex(execution_id.removeprefix("0x"))
        if len(raw) != 32:
            raise ValueError("32 bytes expected")
    except ValueError:
        raise fail(ConfigError(f"{execution_id!r} is not an execution id (0x + 64 hex)")) from None
    try:
        protocol, _me = user_side()
        found = _executed(protocol, executionId=raw)
        if not found:
            raise ArtisanError(f"no execution {execution_id} is recorded on this ledger")
        row = execution_json(found[0])
        receipt = protocol.ledger.w3.eth.get_transaction_receipt(found[0]["transactionHash"])
        settlements = protocol.ledger.events.Settlement().process_receipt(receipt, errors=DISCARD)
        row["splits"] = [
            {"recipient": str(e["args"]["recipient"]), "role": ROLES[int(e["args"]["role"])],
             "amount": art(int(e["args"]["amount"]))}
            for e in settlements if _hex(e["args"]["executionId"]) == row["executionId"]
        ]  # fmt: skip
    except ArtisanError as exc:
        raise fail(exc) from exc
    json_line(row)
