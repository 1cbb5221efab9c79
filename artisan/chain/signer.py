"""Signed transactions from one local key: build, sign, send, wait, and translate failures.

web3.py is used for ABIs, signing and transactions; its log formatters stay out of hot paths.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractLogicError, TimeExhausted, TransactionNotFound, Web3Exception
from web3.types import Nonce, TxParams, TxReceipt

from artisan.chain.contracts import Artifact
from artisan.config import redact_url
from artisan.errors import ChainError, ContractRevert


def connect(rpc_url: str, timeout: float = 60.0, *, wait_s: float = 0.0) -> Web3:
    """web3 on ``rpc_url``; with ``wait_s``, a node still starting is waited for that long."""
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))
    deadline = time.monotonic() + wait_s
    while not _answers(w3):
        if time.monotonic() >= deadline:
            raise ChainError(f"cannot reach a JSON-RPC node at {redact_url(rpc_url)}")
        time.sleep(0.2)
    return w3


def _answers(w3: Web3) -> bool:
    """Whether the node answers; a cut or garbled answer (web3 raises JSONDecodeError and the
    like there) is a node not answering yet, asked again until the deadline."""
    try:
        return bool(w3.is_connected())
    except Exception:  # any failure of the probe: not connected, for now
        return False


@dataclass
class Signer:
    """One key that sends transactions (one sender per key at a time in this process).

    The nonce of each transaction is the chain's pending count, read under a lock held until
    the transaction is handed to the node: a counter kept here would run ahead of the chain
    after a failed send, a dropped transaction or a reorg (anvil forgets reorged
    transactions), and everything signed after that could never be mined. The one exception is
    a node that has our last transaction but does not count it yet (a load-balanced pool):
    then the next nonce is one past it.
    """

    w3: Web3
    account: LocalAccount
    _last: tuple[int, Any] | None = field(default=None, repr=False)  # (nonce, hash) last sent
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_key(cls, w3: Web3, key: str) -> Signer:
        return cls(w3=w3, account=Account.from_key(key))

    @property
    def address(self) -> str:
        return str(self.account.address)

    def _next_nonce(self) -> int:
        """The nonce for the next transaction (call with the lock held)."""
        pending = self.w3.eth.get_transaction_count(self.account.address, "pending")
        if self._last is not None and self._last[0] >= pending:
            with contextlib.suppress(TransactionNotFound):
                self.w3.eth.get_transaction(self._last[1])
                return self._last[0] + 1  # the node has it but does not count it yet
        return pending

    def reset_nonce(self) -> None:
        """Forget the last transaction sent (after reverting the chain under it, say)."""
        with self._lock:
            self._last = None

    def send(self, fn: ContractFunction, *, gas: int | None = None, wait: bool = True) -> Any:
        """Sign and send a contract call; with ``wait``, return its receipt or raise on revert."""
        with self._lock:
            try:
                params: TxParams = {
                    "from": self.account.address,
                    "nonce": Nonce(self._next_nonce()),
                    "chainId": self.w3.eth.chain_id,
                }
                if gas:
                    params["gas"] = gas
                tx: dict[str, Any] = dict(fn.build_transaction(params))
            except ContractLogicError as exc:
                raise ContractRevert(f"{fn.fn_name} would revert: {exc}", reason=str(exc)) from exc
            except Web3Exception as exc:
                raise ChainError(f"cannot build {fn.fn_name}: {exc}") from exc
            tx_hash = self._broadcast(tx, label=fn.fn_name)
        return self.wait(tx_hash, label=fn.fn_name) if wait else tx_hash

    def _broadcast(self, tx: dict[str, Any], *, label: str) -> Any:
        signed = self.account.sign_transaction(tx)
        try:
            tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        except Web3Exception as exc:
            raise ChainError(f"{label}: the node refused the transaction: {exc}") from exc
        self._last = (int(tx["nonce"]), tx_hash)
        return tx_hash

    def wait(self, tx_hash: Any, *, label: str, timeout: float = 120.0) -> TxReceipt:
        try:
            receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout)
        except TimeExhausted as exc:
            raise ChainError(
                f"{label}: transaction {tx_hash.hex()} was not mined within {timeout} s"
            ) from exc
        if receipt["status"] != 1:
            raise ContractRevert(f"{label} reverted in transaction {tx_hash.hex()}")
        return receipt

    def deploy(self, artifact: Artifact, *args: Any) -> str:
        """Deploy ``artifact`` with constructor ``args``; its address once mined."""
        return self.deploy_at(artifact, *args)[0]

    def deploy_at(self, artifact: Artifact, *args: Any) -> tuple[str, int]:
        """Deploy ``artifact``; its address and the block that holds its creation."""
        factory = self.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        with self._lock:
            tx = dict(
                factory.constructor(*args).build_transaction(
                    {
                        "from": self.account.address,
                        "nonce": self._next_nonce(),
                        "chainId": self.w3.eth.chain_id,
                    }
                )
            )
            tx_hash = self._broadcast(tx, label=f"deploy {artifact.name}")
        receipt = self.wait(tx_hash, label=f"deploy {artifact.name}")
        address = receipt["contractAddress"]
        if address is None:
            raise ChainError(f"deploying {artifact.name} returned no contract address")
        return str(address), int(receipt["blockNumber"])


def bind(w3: Web3, artifact: Artifact, address: str) -> Contract:
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=artifact.abi)
