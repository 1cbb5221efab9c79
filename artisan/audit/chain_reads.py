"""Independent re-reading of the chain for `artisan verify`: logs straight from the node,
decoded without the event store, as the envelopes the projections' in-memory twins take; the
ledger's own balances at a block, read by ``eth_call``; and the RewardDistributor's epochs."""

from __future__ import annotations

from collections.abc import Sequence

from eth_typing import HexStr
from web3 import Web3
from web3.exceptions import TransactionNotFound
from web3.logs import DISCARD

from artisan.chain.abi.decoder import ContractAbi, EventDecoder
from artisan.chain.contracts import Artifact, Deployment
from artisan.chain.protocol import Protocol
from artisan.chain.signer import connect
from artisan.indexer.fetch import fetch_range
from artisan.indexer.rpc import JsonRpcSource
from artisan.projections.balances import LedgerBalance
from artisan.projections.events import Event, from_rows


def protocol_abis(deployment: Deployment, artifacts: dict[str, Artifact]) -> list[ContractAbi]:
    """Every protocol contract's address (lowercase) with its ABI, for the indexer's decoder."""
    return [
        ContractAbi(address.lower(), artifacts[name].abi)
        for name, address in deployment.addresses().items()
    ]


def chain_events(
    rpc_url: str, deployment: Deployment, artifacts: dict[str, Artifact], to_block: int
) -> list[Event]:
    """Every protocol event from the deployment block to ``to_block``, read from the node."""
    contracts = protocol_abis(deployment, artifacts)
    with JsonRpcSource(rpc_url) as source:
        fetched = fetch_range(
            source,
            [c.address for c in contracts],
            deployment.start_block,
            to_block,
            unfinalized_from=to_block + 1,
        )
    rows = EventDecoder(contracts).rows(deployment.chain_id, fetched.logs, fetched.timestamps)
    return from_rows(rows)


class LedgerReader:
    """The ledger's own balances of accounts at a block (``eth_call`` at that block), for
    ``verify``'s balance check. Each account costs three calls; verify is an audit, not a
    hot path."""

    def __init__(self, rpc_url: str, deployment: Deployment, artifacts: dict[str, Artifact]):
        self._w3 = connect(rpc_url)
        self._ledger = Protocol(w3=self._w3, deployment=deployment, artifacts=artifacts).ledger

    def __call__(self, accounts: Sequence[str], block: int) -> dict[str, LedgerBalance]:
        f, out = self._ledger.functions, {}
        for account in accounts:
            address = Web3.to_checksum_address(account)
            amount, unlock_at = f.pendingWithdrawal(address).call(block_identifier=block)
            out[account] = LedgerBalance(
                f.escrowOf(address).call(block_identifier=block),
                f.owed(address).call(block_identifier=block),
                amount,
                unlock_at,
            )
        return out


class DistributorReader:
    """The RewardDistributor's epochs as the chain holds them now, and whether a recorded
    publication transaction is on the canonical chain (``verify``'s publication check)."""

    def __init__(self, rpc_url: str, deployment: Deployment, artifacts: dict[str, Artifact]):
        self._w3 = connect(rpc_url)
        self._distributor = Protocol(
            w3=self._w3, deployment=deployment, artifacts=artifacts
        ).distributor

    def epoch(self, epoch: int) -> tuple[str, int] | None:
        root, _from, _to, total, _claimed = self._distributor.functions.epochs(epoch).call()
        return None if bytes(root) == bytes(32) else ("0x" + bytes(root).hex(), int(total))

    def publishes(self, tx_hash: str, epoch: int) -> bool:
        if len(tx_hash) != 66 or not tx_hash.startswith("0x"):
            return False  # not a transaction hash (older versions recorded "published")
        try:
            receipt = self._w3.eth.get_transaction_receipt(HexStr(tx_hash))
        except (TransactionNotFound, ValueError):
            return False
        if receipt["status"] != 1:
            return False
        found = self._distributor.events.EpochPublished().process_receipt(receipt, errors=DISCARD)
        return any(int(e["args"]["epoch"]) == epoch for e in found)
