"""Compiled contract artifacts (ABI and bytecode from solc-js) and the deployment file."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from artisan.errors import ToolchainError

CONTRACT_NAMES = (
    "ArtToken",
    "ModelRegistry",
    "ExecutionLedger",
    "Curation",
    "Feedback",
    "RewardDistributor",
)


@dataclass(frozen=True)
class Artifact:
    name: str
    abi: list[dict[str, Any]]
    bytecode: str


def load_artifact(artifacts_dir: Path, name: str) -> Artifact:
    path = artifacts_dir / f"{name}.json"
    if not path.exists():
        raise ToolchainError(f"no artifact for {name} at {path}: run `make contracts`")
    data = json.loads(path.read_text())
    return Artifact(name=name, abi=data["abi"], bytecode=data["bytecode"])


@dataclass(frozen=True)
class Deployment:
    """Where the protocol lives on one chain, and the block it was deployed at."""

    chain_id: int
    start_block: int
    token: str
    registry: str
    ledger: str
    curation: str
    feedback: str
    distributor: str
    treasury: str

    def addresses(self) -> dict[str, str]:
        """Contract name to address, for every protocol contract."""
        return {
            "ArtToken": self.token,
            "ModelRegistry": self.registry,
            "ExecutionLedger": self.ledger,
            "Curation": self.curation,
            "Feedback": self.feedback,
            "RewardDistributor": self.distributor,
        }

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Deployment:
        if not path.exists():
            raise ToolchainError(f"no deployment file at {path}: deploy first (`artisan deploy`)")
        return cls(**json.loads(path.read_text()))
