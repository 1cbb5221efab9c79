"""What the audit of one execution reads from the node, and nothing else: its log found by id,
the transaction and receipt that carry it, the block at its height now, the events before it
that decide its price, the user's code and a wallet's EIP-1271 answer at that block.

Raw JSON-RPC (``chain/jsonrpc.py``) for the reads, web3 for the ABI work (decoding the
``recordBatch`` calldata, the wallet's ``isValidSignature`` and the ledger's ``treasury``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from web3 import Web3

from artisan.audit.chain_reads import protocol_abis
from artisan.chain.abi.decoder import EventDecoder
from artisan.chain.abi.ledger import INFERENCE_EXECUTED_TOPIC
from artisan.chain.contracts import Artifact, Deployment
from artisan.chain.jsonrpc import JsonRpc
from artisan.chain.signer import connect
from artisan.chain.types import RawLog
from artisan.domain.events import SIGNATURES
from artisan.domain.hashing import keccak
from artisan.domain.types import InferenceRequest
from artisan.projections.events import Event, from_rows

EIP1271_MAGIC = bytes.fromhex("1626ba7e")
_WALLET_ABI = [{
    "type": "function", "name": "isValidSignature", "stateMutability": "view",
    "inputs": [{"name": "hash", "type": "bytes32"}, {"name": "signature", "type": "bytes"}],
    "outputs": [{"name": "", "type": "bytes4"}],
}]  # fmt: skip
_SETTLEMENT_TOPIC = "0x" + keccak(SIGNATURES["Settlement"].encode()).hex()
_PRICE_TOPICS = ["0x" + keccak(SIGNATURES[n].encode()).hex() for n in ("RatesSet", "TreasurySet")]


@dataclass(frozen=True, slots=True)
class SignedItem:
    """One item of a ``recordBatch`` call: the signed request and what the operator measured."""

    request: InferenceRequest
    signature: bytes
    meter: tuple[int, int, int, int, int]
    output_digest: bytes


def _word(value: str) -> str:
    return "0x" + value.lower().removeprefix("0x").rjust(64, "0")


def position(log: Mapping[str, Any]) -> tuple[int, int]:
    return int(log["blockNumber"], 16), int(log["logIndex"], 16)


class ExecutionChain:
    """The node, as one execution's audit reads it."""

    def __init__(self, rpc_url: str, deployment: Deployment, artifacts: dict[str, Artifact]):
        self.deployment = deployment
        self.rpc = JsonRpc(rpc_url)
        self.w3 = connect(rpc_url)
        self.ledger = self.w3.eth.contract(
            address=Web3.to_checksum_address(deployment.ledger),
            abi=artifacts["ExecutionLedger"].abi,
        )
        self.decoder = EventDecoder(protocol_abis(deployment, artifacts))

    def close(self) -> None:
        self.rpc.close()

    def __enter__(self) -> ExecutionChain:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _logs(self, address: str, topics: list[Any], to_block: int | str) -> list[RawLog]:
        query = {"address": address, "topics": topics,
                 "fromBlock": hex(self.deployment.start_block),
                 "toBlock": to_block if isinstance(to_block, str) else hex(to_block)}  # fmt: skip
        logs: list[RawLog] = self.rpc.call("eth_getLogs", query)
        return logs

    def executed_logs(self, execution_id: str) -> list[RawLog]:
        """Every ``InferenceExecuted`` of this id on the node's canonical chain (one, or none)."""
        return self._logs(self.deployment.ledger, [INFERENCE_EXECUTED_TOPIC, _word(execution_id)],
                          "latest")  # fmt: skip

    def head(self) -> int:
        return int(self.rpc.call("eth_blockNumber"), 16)

    def block_hash(self, number: int) -> str | None:
        block = self.rpc.call("eth_getBlockByNumber", hex(number), False)
        return None if block is None else str(block["hash"]).lower()

    def block_timestamp(self, number: int) -> int:
        return int(self.rpc.call("eth_getBlockByNumber", hex(number), False)["timestamp"], 16)

    def receipt(self, tx_hash: str) -> dict[str, Any] | None:
        receipt: dict[str, Any] | None = self.rpc.call("eth_getTransactionReceipt", tx_hash)
        return receipt

    def transaction(self, tx_hash: str) -> dict[str, Any] | None:
        tx: dict[str, Any] | None = self.rpc.call("eth_getTransactionByHash", tx_hash)
        return tx

    def batch_items(self, calldata: str) -> list[SignedItem]:
        """The items of a ``recordBatch`` call (ValueError where it is not one)."""
        function, args = self.ledger.decode_function_input(calldata)
        if function.fn_name != "recordBatch":
            raise ValueError(f"the transaction calls {function.fn_name}, not recordBatch")
        out = []
        for item in args["items"]:
            r = item["request"]
            request = InferenceRequest(
                str(r["user"]).lower(), int(r["modelId"]), bytes(r["inputDigest"]),
                bytes(r["paramsHash"]), int(r["priority"]), int(r["maxCost"]), int(r["nonce"]),
                int(r["deadline"]),
            )  # fmt: skip
            m = item["meter"]
            meter = (int(m["inputUnits"]), int(m["gpuMicros"]), int(m["latencyMicros"]),
                     int(m["storageBytes"]), int(m["concurrentLoad"]))  # fmt: skip
            out.append(SignedItem(request, bytes(item["signature"]), meter,
                                  bytes(item["outputDigest"])))  # fmt: skip
        return out

    def settlements(self, receipt: Mapping[str, Any], execution_id: str) -> list[Event]:
        """The ``Settlement`` events of this execution in its receipt, in order."""
        ledger, key = self.deployment.ledger.lower(), _word(execution_id)
        logs = [log for log in receipt["logs"]
                if str(log["address"]).lower() == ledger and len(log["topics"]) > 1
                and log["topics"][0] == _SETTLEMENT_TOPIC and log["topics"][1] == key]  # fmt: skip
        return self.decode(logs)

    def pricing_events(self, at: tuple[int, int], model_id: int, user: str) -> list[Event]:
        """What decides the price of the execution at ``at`` (block, log index), in chain
        order and strictly before it: every registry event (terms, access, remixes), the
        ledger's rates versions and treasury changes, and the user's earlier executions of
        the model (their count sets the tier)."""
        block = at[0]
        d = self.deployment
        logs = self._logs(d.registry, [], block)
        logs += self._logs(d.ledger, [_PRICE_TOPICS], block)
        logs += self._logs(d.ledger, [INFERENCE_EXECUTED_TOPIC, None, _word(hex(model_id)),
                                      _word(user)], block)  # fmt: skip
        before = sorted((log for log in logs if position(log) < at), key=position)
        return self.decode(before)

    def decode(self, logs: list[RawLog]) -> list[Event]:
        for log in logs:  # the decoder takes the node's hex as lowercase (as the indexer does)
            log["address"] = str(log["address"]).lower()
        times: defaultdict[int, int] = defaultdict(int)  # timestamps play no part here
        return from_rows(self.decoder.rows(self.deployment.chain_id, logs, times))

    def code(self, address: str, block: int) -> bytes:
        return bytes.fromhex(str(self.rpc.call("eth_getCode", address, hex(block)))[2:])

    def wallet_accepts(self, wallet: str, digest: bytes, signature: bytes, block: int) -> bytes:
        """What the wallet's ``isValidSignature`` answers at ``block`` (the magic value
        ``0x1626ba7e`` when it accepts)."""
        contract = self.w3.eth.contract(address=Web3.to_checksum_address(wallet), abi=_WALLET_ABI)
        answer = contract.functions.isValidSignature(digest, signature).call(block_identifier=block)
        return bytes(answer)

    def treasury_before(self, block: int) -> str:
        """The ledger's treasury at the end of ``block`` - 1: with no ``TreasurySet`` before
        the audited log, the one its constructor set (which no event names)."""
        value = self.ledger.functions.treasury().call(block_identifier=block - 1)
        return str(value).lower()
