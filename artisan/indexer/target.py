"""What a live indexer follows: the node's URLs, the chain id, the protocol's contracts.

From the settings: ARTISAN_RPC_URL (http or ws; anvil and most nodes serve both on one
port), the deployment file for the contract addresses and the block the protocol was deployed
at, and the compiled ABIs. Or, for a demonstration, a local anvil started here with the
protocol freshly deployed, under a chain id of its own (the deployment file is left alone: it
describes another chain).
"""

from __future__ import annotations

import contextlib
import secrets
import time
from dataclasses import dataclass

from artisan.chain.abi.decoder import ContractAbi
from artisan.chain.anvil import start_anvil
from artisan.chain.contracts import Deployment, load_artifact
from artisan.chain.errors import NodeError
from artisan.chain.jsonrpc import JsonRpc
from artisan.config import Settings, redact_url
from artisan.errors import ChainError, ConfigError
from artisan.retry import STARTUP, Backoff, RetriesExhausted, call_with_retries

DEMO_CHAIN_IDS = 900_000_000  # demo chains get ids from here up


@dataclass(frozen=True)
class IndexTarget:
    """A chain to index and the protocol's contracts on it."""

    rpc_url: str  # http(s)
    ws_url: str | None  # the same node's websocket, if its URL says where
    chain_id: int
    start_block: int
    contracts: tuple[ContractAbi, ...]


def http_and_ws(url: str) -> tuple[str, str | None]:
    """The http(s) URL for requests and the ws(s) URL of the same endpoint."""
    for http, ws in (("http://", "ws://"), ("https://", "wss://")):
        if url.startswith(ws):
            return http + url[len(ws) :], url
        if url.startswith(http):
            return url, ws + url[len(http) :]
    return url, None


def node_chain_id(rpc_url: str, backoff: Backoff | None = None) -> int:
    """``eth_chainId`` of the node, asked through the one transport: a transient failure (a
    rate limit, a cut or garbled answer, a node still starting) is retried with backoff, as
    every later call is; a node that never answers is a ChainError saying why."""
    with JsonRpc(rpc_url, timeout=10) as rpc:
        try:
            answer = call_with_retries(lambda: rpc.call("eth_chainId"), backoff or STARTUP,
                                       time.sleep, "reading the chain id")  # fmt: skip
            return int(answer, 16)
        except (RetriesExhausted, NodeError, TypeError, ValueError) as exc:
            raise ChainError(f"cannot read the chain id from {redact_url(rpc_url)}: {exc}") from exc


def target_of(settings: Settings, rpc_url: str, deployment: Deployment) -> IndexTarget:
    """The deployment's contracts on the node at ``rpc_url``, checked to be that chain."""
    http, ws = http_and_ws(rpc_url)
    chain_id = node_chain_id(http)
    if chain_id != deployment.chain_id:
        raise ConfigError(
            f"the deployment file {settings.deployment_file} is for chain {deployment.chain_id},"
            f" but the node at {http} is chain {chain_id}: deploy there first (`artisan deploy`)"
        )
    contracts = tuple(
        ContractAbi(address.lower(), load_artifact(settings.artifacts_dir, name).abi)
        for name, address in deployment.addresses().items()
    )
    return IndexTarget(http, ws, chain_id, deployment.start_block, contracts)


def open_target(settings: Settings, demo_chain: bool, stack: contextlib.ExitStack) -> IndexTarget:
    """The configured chain, or with ``demo_chain`` and no RPC URL a local one (stopped by
    ``stack``) with the protocol deployed on it."""
    if settings.rpc_url:
        return target_of(settings, settings.rpc_url, Deployment.load(settings.deployment_file))
    if not demo_chain:
        raise ConfigError("ARTISAN_RPC_URL is not set")
    from artisan.chain.protocol import deploy
    from artisan.chain.signer import Signer, connect

    # A chain id of its own each time: the event store may outlive the chain (an embedded
    # database persists), and a new chain under an old id would read as a deep reorg.
    chain_id = DEMO_CHAIN_IDS + secrets.randbelow(1_000_000)
    node = stack.enter_context(start_anvil(settings.anvil_bin, chain_id=chain_id))
    w3 = connect(node.rpc_url)
    operator = Signer.from_key(w3, settings.key("operator"))
    protocol = deploy(
        Signer.from_key(w3, settings.key("deployer")),
        settings.artifacts_dir,
        operators=(operator.address,),
    )
    return target_of(settings, node.rpc_url, protocol.deployment)
