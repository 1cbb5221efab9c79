"""The deployed protocol: every contract bound to its address, and the deploy step."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from web3 import Web3
from web3.contract import Contract

from artisan.chain.codec import rates_tuple
from artisan.chain.contracts import CONTRACT_NAMES, Artifact, Deployment, load_artifact
from artisan.chain.signer import Signer, bind
from artisan.domain.defaults import DEV_RATES
from artisan.domain.types import Rates

WAD = 10**18

DEFAULT_RATES = DEV_RATES
DEFAULT_CURATION_COOLDOWN = 3600


@dataclass(frozen=True)
class Protocol:
    """The protocol's contracts on one chain, bound for calls and transactions."""

    w3: Web3
    deployment: Deployment
    artifacts: dict[str, Artifact]

    def contract(self, name: str) -> Contract:
        return bind(self.w3, self.artifacts[name], self.deployment.addresses()[name])

    @property
    def token(self) -> Contract:
        return self.contract("ArtToken")

    @property
    def registry(self) -> Contract:
        return self.contract("ModelRegistry")

    @property
    def ledger(self) -> Contract:
        return self.contract("ExecutionLedger")

    @property
    def curation(self) -> Contract:
        return self.contract("Curation")

    @property
    def feedback(self) -> Contract:
        return self.contract("Feedback")

    @property
    def distributor(self) -> Contract:
        return self.contract("RewardDistributor")


def load_artifacts(artifacts_dir: Path) -> dict[str, Artifact]:
    return {name: load_artifact(artifacts_dir, name) for name in CONTRACT_NAMES}


def attach(w3: Web3, deployment: Deployment, artifacts_dir: Path) -> Protocol:
    return Protocol(w3=w3, deployment=deployment, artifacts=load_artifacts(artifacts_dir))


def deploy(
    deployer: Signer,
    artifacts_dir: Path,
    *,
    operators: tuple[str, ...] = (),
    treasury: str | None = None,
    rates: Rates = DEFAULT_RATES,
    curation_cooldown: int = DEFAULT_CURATION_COOLDOWN,
) -> Protocol:
    """Deploy every protocol contract, set the first rates and grant the operator roles."""
    w3 = deployer.w3
    artifacts = load_artifacts(artifacts_dir)
    admin = deployer.address
    treasury = treasury or admin
    # The deploy block, exactly: the block of the first contract's creation (the indexer starts
    # there, and so does the first reward epoch unless ARTISAN_REWARD_GENESIS_BLOCK says not).
    token, start_block = deployer.deploy_at(artifacts["ArtToken"], admin)
    registry = deployer.deploy(artifacts["ModelRegistry"], admin)
    ledger = deployer.deploy(artifacts["ExecutionLedger"], token, registry, admin, treasury)
    curation = deployer.deploy(artifacts["Curation"], token, registry, curation_cooldown)
    feedback = deployer.deploy(artifacts["Feedback"], ledger)
    distributor = deployer.deploy(artifacts["RewardDistributor"], token, admin)
    deployment = Deployment(
        chain_id=w3.eth.chain_id,
        start_block=start_block,
        token=token,
        registry=registry,
        ledger=ledger,
        curation=curation,
        feedback=feedback,
        distributor=distributor,
        treasury=treasury,
    )
    protocol = Protocol(w3=w3, deployment=deployment, artifacts=artifacts)
    led = protocol.ledger
    deployer.send(led.functions.setRates(rates_tuple(rates)))
    operator_role = led.functions.OPERATOR_ROLE().call()
    for op in operators:
        deployer.send(led.functions.grantRole(operator_role, Web3.to_checksum_address(op)))
    return protocol
