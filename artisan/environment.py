"""The running environment: the database and the chain, configured or embedded.

With no database URL, an embedded Postgres under the data directory; with no RPC URL, a local
anvil from node_modules (its state lives as long as the environment). The protocol is
deployed on first use and its addresses recorded in the deployment file.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from web3 import Web3

from artisan.chain.anvil import Anvil, start_anvil
from artisan.chain.contracts import Deployment
from artisan.chain.protocol import Protocol, attach, deploy
from artisan.chain.signer import Signer, connect
from artisan.config import Settings
from artisan.storage.database import Database, open_database


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
        return Signer.from_key(self.w3, self.settings.deployer_key)

    def operator(self) -> Signer:
        return Signer.from_key(self.w3, self.settings.operator_key)

    def protocol(self) -> Protocol:
        """The deployed protocol: the recorded deployment if it is on this chain, else a new one."""
        path = self.settings.deployment_file
        if path.exists() and not self.embedded_chain:
            deployment = Deployment.load(path)
            if deployment.chain_id == self.w3.eth.chain_id and self.w3.eth.get_code(
                Web3.to_checksum_address(deployment.ledger)
            ):
                return attach(self.w3, deployment, self.settings.artifacts_dir)
        protocol = deploy(
            self.deployer(), self.settings.artifacts_dir, operators=(self.operator().address,)
        )
        protocol.deployment.save(path)
        return protocol


@contextlib.contextmanager
def open_environment(settings: Settings, *, apply_schema: bool = True) -> Iterator[Environment]:
    db = open_database(settings)
    anvil: Anvil | None = None
    try:
        if apply_schema:
            db.apply_schema()
        rpc_url = settings.rpc_url
        if not rpc_url:
            anvil = start_anvil(
                settings.anvil_bin, chain_id=settings.chain_id, block_time=settings.anvil_block_time
            )
            rpc_url = anvil.rpc_url
        yield Environment(
            settings=settings, db=db, w3=connect(rpc_url), rpc_url=rpc_url, anvil=anvil
        )
    finally:
        if anvil is not None:
            anvil.stop()
        db.close()
