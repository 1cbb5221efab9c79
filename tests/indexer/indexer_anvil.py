"""A private anvil with the real ArtToken deployed: Transfer events on demand, reorgs on demand.

Indexer tests reorganize their chain, so they get an anvil of their own rather than the
session's shared one. Transactions go through anvil's unlocked default accounts
(``eth_sendTransaction``); ``anvil_reorg`` needs signed ones, made with eth-account.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from artisan.chain.abi.decoder import ContractAbi
from artisan.chain.anvil import Anvil, start_anvil
from artisan.config import ANVIL_DEPLOYER_KEY, Settings

DEPLOYER = Account.from_key(ANVIL_DEPLOYER_KEY).address.lower()
_MINT = keccak(text="mint(address,uint256)")[:4]


def _artifact(settings: Settings) -> dict[str, Any]:
    path = Path(settings.artifacts_dir) / "ArtToken.json"
    if not path.exists():
        pytest.skip(f"{path} not built: run `make contracts`")
    artifact: dict[str, Any] = json.loads(path.read_text())
    return artifact


@dataclass
class TokenChain:
    """An anvil with ArtToken deployed by the first default account (admin and minter)."""

    node: Anvil
    token: ContractAbi
    _client: httpx.Client

    def rpc(self, method: str, *params: Any) -> Any:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
        reply = orjson.loads(
            self._client.post(self.node.rpc_url, content=orjson.dumps(body)).content
        )
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    def head(self) -> int:
        return int(self.rpc("eth_blockNumber"), 16)

    def _mint_data(self, i: int) -> str:
        to = "0x" + (i % 50 + 1).to_bytes(20, "big").hex()
        return "0x" + (_MINT + abi_encode(["address", "uint256"], [to, 10**18 + i])).hex()

    def mint_blocks(self, blocks: int, per_block: int) -> None:
        """Mine ``blocks`` blocks of ``per_block`` mint transactions (one Transfer each)."""
        self.rpc("evm_setAutomine", False)
        # Explicit nonces: anvil handles a batch's requests concurrently and may race on them.
        nonce = int(self.rpc("eth_getTransactionCount", DEPLOYER, "pending"), 16)
        try:
            for b in range(blocks):
                batch = [
                    {
                        "jsonrpc": "2.0",
                        "id": i,
                        "method": "eth_sendTransaction",
                        "params": [
                            {
                                "from": DEPLOYER,
                                "to": to_checksum_address(self.token.address),
                                "data": self._mint_data(b * per_block + i),
                                "gas": hex(100_000),
                                "nonce": hex(nonce + b * per_block + i),
                            }
                        ],
                    }
                    for i in range(per_block)
                ]
                replies = orjson.loads(
                    self._client.post(self.node.rpc_url, content=orjson.dumps(batch)).content
                )
                assert all("result" in r for r in replies), [r for r in replies if "error" in r][:1]
                self.rpc("anvil_mine", "0x1")
        finally:
            self.rpc("evm_setAutomine", True)

    def signed_mint(self, i: int, nonce: int) -> str:
        """A signed mint transaction for ``anvil_reorg`` (which takes raw transactions)."""
        tx = {
            "to": to_checksum_address(self.token.address),
            "data": self._mint_data(i),
            "gas": 100_000,
            "gasPrice": 10**10,
            "nonce": nonce,
            "chainId": self.node.chain_id,
        }
        signed = Account.sign_transaction(tx, ANVIL_DEPLOYER_KEY)
        return "0x" + bytes(signed.raw_transaction).hex()

    def reorg(self, depth: int, txs_per_block: int = 1) -> None:
        """Replace the last ``depth`` blocks with as many blocks holding new mints."""
        ancestor = self.head() - depth
        nonce = int(self.rpc("eth_getTransactionCount", DEPLOYER, hex(ancestor)), 16)
        txs = []
        for k in range(depth):
            for _ in range(txs_per_block):
                txs.append([self.signed_mint(50_000 + nonce, nonce), k])
                nonce += 1
        self.rpc("anvil_reorg", depth, txs)


def token_chain(settings: Settings) -> Iterator[TokenChain]:
    """Start a private anvil, deploy ArtToken on it, and yield it; stops it afterwards."""
    artifact = _artifact(settings)
    node = start_anvil(settings.anvil_bin, chain_id=31337)
    client = httpx.Client(timeout=30, headers={"content-type": "application/json"})
    try:
        chain = TokenChain(node, ContractAbi("0x", artifact["abi"]), client)
        data = artifact["bytecode"] + abi_encode(["address"], [DEPLOYER]).hex()
        tx = chain.rpc(
            "eth_sendTransaction", {"from": DEPLOYER, "data": data, "gas": hex(5_000_000)}
        )
        receipt = None
        for _ in range(200):  # automine answers before the receipt is always readable
            receipt = chain.rpc("eth_getTransactionReceipt", tx)
            if receipt is not None:
                break
            time.sleep(0.01)
        assert receipt is not None and receipt["status"] == "0x1", receipt
        chain.token = ContractAbi(receipt["contractAddress"].lower(), artifact["abi"])
        yield chain
    finally:
        client.close()
        node.stop()
