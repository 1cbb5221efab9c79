"""Independent re-reading of the chain for `artisan verify`: logs straight from the node,
decoded without the event store, as the envelopes the projections' in-memory twins take."""

from __future__ import annotations

from artisan.chain.contracts import Artifact, Deployment
from artisan.indexer.decoder import ContractAbi, EventDecoder
from artisan.indexer.fetch import fetch_range
from artisan.indexer.rpc import JsonRpcSource
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
