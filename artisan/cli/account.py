"""`artisan account` and `artisan escrow deposit|withdraw`: the user's side of the ledger.

The user's key is ``ARTISAN_USER_KEY`` (or ``..._FILE``; in development mode anvil's third
account). Amounts are in $ART (decimals allowed: ``0.5``); the chain counts wei (10**18).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import typer

from artisan.cli.common import console, fail, json_line, settings_or_exit
from artisan.domain.types import SettlementRole
from artisan.errors import ArtisanError, ConfigError

if TYPE_CHECKING:
    from artisan.chain.protocol import Protocol
    from artisan.chain.signer import Signer

escrow_app = typer.Typer(no_args_is_help=True, add_completion=False,
                         help="Move $ART into or out of your escrow on the ledger.")  # fmt: skip

WAD = 10**18
# The ledger's Settlement roles in words, by their number: creator, operator, treasury, ...
ROLES = tuple(role.name.lower().replace("_", " ") for role in SettlementRole)


def parse_art(text: str) -> int:
    """``text`` $ART as wei: a non-negative decimal with at most 18 places."""
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise ConfigError(f"{text!r} is not an amount of $ART (a decimal such as 2.5)") from None
    wei = amount * WAD
    if not amount.is_finite() or amount < 0 or wei != wei.to_integral_value():
        raise ConfigError(f"{text!r} is not an amount of $ART (>= 0, at most 18 decimals)")
    return int(wei)


def art(wei: int) -> str:
    """Wei as $ART, exactly (trailing zeros dropped)."""
    whole, frac = divmod(wei, WAD)
    return f"{whole}.{frac:018d}".rstrip("0").rstrip(".")


def user_side() -> tuple[Protocol, Signer]:
    """The deployed protocol and the user's signer, from the settings."""
    from artisan.chain.contracts import Deployment
    from artisan.chain.protocol import attach
    from artisan.chain.signer import Signer, connect

    settings = settings_or_exit()
    if not settings.rpc_url:
        raise ConfigError("ARTISAN_RPC_URL is not set: the ledger is read from a node")
    w3 = connect(settings.rpc_url)
    protocol = attach(w3, Deployment.load(settings.deployment_file), settings.artifacts_dir)
    return protocol, Signer.from_key(w3, settings.key("user"))


def balances(protocol: Protocol, address: str) -> dict[str, Any]:
    """What the chain holds for ``address``: tokens, escrow, credits, a pending withdrawal."""
    token, ledger = protocol.token.functions, protocol.ledger.functions
    pending, unlock_at = ledger.pendingWithdrawal(address).call()
    return {
        "address": address,
        "art": art(token.balanceOf(address).call()),
        "escrow": art(ledger.escrowOf(address).call()),
        "owed": art(ledger.owed(address).call()),
        "pendingWithdrawal": art(pending),
        "unlockAt": int(unlock_at),
    }


def account(as_json: bool = typer.Option(False, "--json", help="one JSON object")) -> None:
    """Your address and what the ledger holds for it (all amounts in $ART): tokens in your
    wallet, escrow (what executions are charged from), credits owed to you, and a withdrawal
    waiting for its delay."""
    try:
        protocol, user = user_side()
        held = balances(protocol, user.address)
    except ArtisanError as exc:
        raise fail(exc) from exc
    if as_json:
        json_line(held)
        return
    console.print(f"address             {held['address']}")
    console.print(f"$ART in the wallet  {held['art']}")
    console.print(f"escrow              {held['escrow']}   (what executions are charged from)")
    console.print(f"owed to you         {held['owed']}   (credits: `artisan escrow withdraw`"
                  " does not touch them)")  # fmt: skip
    if held["pendingWithdrawal"] != "0":
        console.print(f"withdrawal pending  {held['pendingWithdrawal']}, unlocks at unix time"
                      f" {held['unlockAt']}")  # fmt: skip


@escrow_app.command("deposit")
def deposit(
    amount: str = typer.Argument(..., help="$ART to move from your wallet into escrow"),
    mint: bool = typer.Option(False, help="development chains: the deployer mints it to you"),
) -> None:
    """Approve the ledger and deposit AMOUNT $ART into your escrow."""
    from artisan.chain.signer import Signer

    try:
        wei = parse_art(amount)
        protocol, user = user_side()
        if mint:
            settings = settings_or_exit()
            if not settings.dev:
                raise ConfigError("--mint is for development chains (ARTISAN_DEV=1)")
            minter = Signer.from_key(user.w3, settings.key("deployer"))
            minter.send(protocol.token.functions.mint(user.address, wei))
        user.send(protocol.token.functions.approve(protocol.deployment.ledger, wei))
        user.send(protocol.ledger.functions.deposit(wei))
        held = balances(protocol, user.address)
    except ArtisanError as exc:
        raise fail(exc) from exc
    json_line({"deposited": art(wei), **held})


@escrow_app.command("withdraw")
def withdraw(
    amount: str | None = typer.Argument(None, help="$ART to ask back (starts the delay)"),
    execute: bool = typer.Option(False, help="pay out a withdrawal whose delay has passed"),
) -> None:
    """Ask for AMOUNT $ART of escrow back (it unlocks after the ledger's delay), or with
    --execute take a withdrawal whose delay has passed."""
    try:
        if (amount is None) == (not execute):
            raise ConfigError("give an AMOUNT to ask back, or --execute (not both)")
        protocol, user = user_side()
        if execute:
            user.send(protocol.ledger.functions.executeWithdrawal())
        else:
            user.send(protocol.ledger.functions.requestWithdrawal(parse_art(str(amount))))
        held = balances(protocol, user.address)
    except ArtisanError as exc:
        raise fail(exc) from exc
    json_line(held)
