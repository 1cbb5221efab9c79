"""The running environment: the database and the chain, configured or embedded.

With no database URL, an embedded Postgres under the data directory; with no RPC URL, a local
anvil from node_modules (its state lives as long as the environment). No service deploys the
protocol on its own: ``protocol`` attaches to the recorded deployment, and only `artisan
deploy` (or the demo, on its own throwaway chain, through ``deploy``) deploys one.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from web3 import Web3

from artisan.chain.anvil import Anvil, start_anvil
from artisan.chain.contracts import Deployment
from artisan.chain.errors import NodeUnavailable
from artisan.chain.jsonrpc import JsonRpc, no_code
from artisan.chain.protocol import Protocol, attach, deploy
from artisan.chain.signer import Signer, connect
from artisan.config import Settings, redact_url
from artisan.errors import ConfigError
from artisan.retry import STARTUP, RetriesExhausted, call_with_retries
from artisan.storage.database import Database, open_database
from artisan.storage.migrations import migrate

STARTUP_WAIT_S = 5.0  # a node that does not answer at start is waited for this long


class _NoLedgerCode(NodeUnavailable):
    """The node answers, with no code at the deployment's ledger address (yet)."""


@dataclass
class Environment:
    settings: Settings
    db: Database
    w3: Web3
    rpc_url: str
    anvil: Anvil | None

    @property
    def embedded_chain(self) -> bool:
        return self.anvil is not None

    def deployer(self) -> Signer:
        return Signer.from_key(self.w3, self.settings.key("deployer"))

    def operator(self) -> Signer:
        return Signer.from_key(self.w3, self.settings.key("operator"))

    def protocol(self) -> Protocol:
        """The protocol recorded in the deployment file, checked to be on this chain."""
        path = self.settings.deployment_file
        if self.embedded_chain or not path.exists():
            where = (
                "a fresh local chain"
                if self.embedded_chain
                else f"the node at {redact_url(self.rpc_url)}"
            )
            raise ConfigError(
                f"no protocol is deployed on {where} (deployment file {path}): set"
                " ARTISAN_RPC_URL to a node and run `artisan deploy` there first"
            )
        deployment = Deployment.load(path)
        # Through the one transport, retried: a service starting while the node hiccups waits
        # a few seconds for it instead of exiting.
        with JsonRpc(self.rpc_url, timeout=10) as rpc:
            chain_id = int(call_with_retries(lambda: rpc.call("eth_chainId"), STARTUP,
                                             time.sleep, "reading the chain id"), 16)  # fmt: skip
            missing = ConfigError(
                f"the deployment file {path} names no ledger on chain {chain_id} at"
                f" {redact_url(self.rpc_url)}: run `artisan deploy` there first"
            )
            if deployment.chain_id != chain_id:
                raise missing

            def ledger_code() -> None:
                if no_code(rpc.call("eth_getCode", deployment.ledger, "latest")):
                    raise _NoLedgerCode(f"no code at the ledger's address {deployment.ledger}")

            # Empty code is asked again for a few seconds (as a node that does not answer is)
            # before it means a wrong deployment: a node behind a load balancer, or one still
            # syncing, can answer for a block before the deployment. (The soak's executor that
            # exited 2 here had met code that was gone for good: anvil drops it in reorgs
            # deeper than 10 blocks on a long chain, see simulation.ANVIL_SAFE_REORG.)
            def give_up(exc: Exception) -> Exception:
                if isinstance(exc, _NoLedgerCode):
                    return missing
                return RetriesExhausted(f"reading the ledger's code: {exc}")

            call_with_retries(
                ledger_code, STARTUP, time.sleep, "reading the ledger's code", give_up=give_up
            )
        return attach(self.w3, deployment, self.settings.artifacts_dir)

    def deploy(self, record: Path | None = None) -> Protocol:
        """Deploy the protocol and record it in ``record`` (default: the deployment file):
        `artisan deploy`, and the demo (which keeps its own record)."""
        protocol = deploy(
            self.deployer(), self.settings.artifacts_dir, operators=(self.operator().address,)
        )
        protocol.deployment.save(record or self.settings.deployment_file)
        return protocol


@contextlib.contextmanager
def open_environment(settings: Settings) -> Iterator[Environment]:
    db = open_database(settings)
    anvil: Anvil | None = None
    try:
        migrate(db)
        rpc_url = settings.rpc_url
        if not rpc_url:
            anvil = start_anvil(
                settings.anvil_bin, chain_id=settings.chain_id, block_time=settings.anvil_block_time
            )
            rpc_url = anvil.rpc_url
        yield Environment(
            settings=settings,
            db=db,
            w3=connect(rpc_url, wait_s=STARTUP_WAIT_S),
            rpc_url=rpc_url,
            anvil=anvil,
        )
    finally:
        if anvil is not None:
            anvil.stop()
        db.close()
