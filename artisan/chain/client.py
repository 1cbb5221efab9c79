"""Signed transactions from one local key: build, sign, send, wait, and translate failures.

web3.py is used for ABIs, signing and transactions; its log formatters stay out of hot paths.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractLogicError, Web3Exception
from web3.types import Nonce, TxParams, TxReceipt

from artisan.chain.contracts import Artifact
from artisan.errors import ChainError, ContractRevert


def connect(rpc_url: str, timeout: float = 60.0) -> Web3:
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))
    if not w3.is_connected():
        raise ChainError(f"cannot reach a JSON-RPC node at {rpc_url}")
    return w3


@dataclass
class Signer:
    """One key that sends transactions, with its own nonce counter (one sender per key)."""

    w3: Web3
    account: LocalAccount
    _nonce: int | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_key(cls, w3: Web3, key: str) -> Signer:
        return cls(w3=w3, account=Account.from_key(key))

    @property
    def address(self) -> str:
        return str(self.account.address)

    def next_nonce(self) -> int:
        with self._lock:
            if self._nonce is None:
                self._nonce = self.w3.eth.get_transaction_count(self.account.address, "pending")
            n = self._nonce
            self._nonce += 1
            return n

    def reset_nonce(self) -> None:
        with self._lock:
            self._nonce = None

    def send(self, fn: ContractFunction, *, gas: int | None = None, wait: bool = True) -> Any:
        """Sign and send a contract call; with ``wait``, return its receipt or raise on revert."""
        try:
            params: TxParams = {
                "from": self.account.address,
                "nonce": Nonce(self.next_nonce()),
                "chainId": self.w3.eth.chain_id,
            }
            if gas:
                params["gas"] = gas
            tx: dict[str, Any] = dict(fn.build_transaction(params))
        except ContractLogicError as exc:
            self.reset_nonce()
            raise ContractRevert(f"{fn.fn_name} would revert: {exc}", reason=str(exc)) from exc
        except Web3Exception as exc:
            self.reset_nonce()
            raise ChainError(f"cannot build {fn.fn_name}: {exc}") from exc
        return self.send_raw(tx, label=fn.fn_name, wait=wait)

    def send_raw(self, tx: dict[str, Any], *, label: str, wait: bool = True) -> Any:
        signed = self.account.sign_transaction(tx)
        try:
            tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        except Web3Exception as exc:
            self.reset_nonce()
            raise ChainError(f"{label}: the node refused the transaction: {exc}") from exc
        if not wait:
            return tx_hash
        return self.wait(tx_hash, label=label)

    def wait(self, tx_hash: Any, *, label: str, timeout: float = 120.0) -> TxReceipt:
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout)
        if receipt["status"] != 1:
            raise ContractRevert(f"{label} reverted in transaction {tx_hash.hex()}")
        return receipt

    def deploy(self, artifact: Artifact, *args: Any) -> str:
        factory = self.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        tx = dict(
            factory.constructor(*args).build_transaction(
                {
                    "from": self.account.address,
                    "nonce": self.next_nonce(),
                    "chainId": self.w3.eth.chain_id,
                }
            )
        )
        receipt = self.send_raw(tx, label=f"deploy {artifact.name}")
        address = receipt["contractAddress"]
        if address is None:
            raise ChainError(f"deploying {artifact.name} returned no contract address")
        return str(address)


def bind(w3: Web3, artifact: Artifact, address: str) -> Contract:
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=artifact.abi)
