"""Fixtures for tests against the deployed protocol on a real anvil."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from eth_account import Account
from web3 import Web3

from artisan.chain.anvil import Anvil
from artisan.chain.protocol import WAD, Protocol, deploy
from artisan.chain.signer import Signer, connect
from artisan.config import ANVIL_OPERATOR_KEY, Settings


@dataclass(frozen=True)
class User:
    signer: Signer
    key: bytes

    @property
    def address(self) -> str:
        return self.signer.address


@pytest.fixture(scope="session")
def w3(anvil: Anvil) -> Web3:
    return connect(anvil.rpc_url)


@pytest.fixture(scope="session")
def deployer(w3: Web3, settings: Settings) -> Signer:
    return Signer.from_key(w3, settings.key("deployer"))


@pytest.fixture(scope="session")
def operator(w3: Web3) -> Signer:
    return Signer.from_key(w3, ANVIL_OPERATOR_KEY)


@pytest.fixture(scope="session")
def protocol(deployer: Signer, operator: Signer, settings: Settings) -> Protocol:
    return deploy(deployer, settings.artifacts_dir, operators=(operator.address,))


@pytest.fixture
def chain_snapshot(w3: Web3, deployer: Signer, operator: Signer) -> Iterator[None]:
    """Revert the chain after the test, so tests do not see each other's state."""
    snap = w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    try:
        yield
    finally:
        w3.provider.make_request("evm_revert", [snap])  # type: ignore[arg-type]
        deployer.reset_nonce()
        operator.reset_nonce()


def new_user(w3: Web3, protocol: Protocol, deployer: Signer, *, escrow: int = 100 * WAD) -> User:
    """A fresh account with gas money, $ART and (if asked) escrow on the ledger."""
    key = secrets.token_bytes(32)
    acct = Account.from_key(key)
    w3.provider.make_request("anvil_setBalance", [acct.address, hex(10**20)])  # type: ignore[arg-type]
    user = User(signer=Signer(w3=w3, account=acct), key=key)
    if escrow:
        deployer.send(protocol.token.functions.mint(acct.address, escrow))
        user.signer.send(protocol.token.functions.approve(protocol.deployment.ledger, escrow))
        user.signer.send(protocol.ledger.functions.deposit(escrow))
    return user
