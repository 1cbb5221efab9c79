"""Compiled contract artifacts (ABI and bytecode from solc-js) and the deployment file."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from artisan.errors import ConfigError, ToolchainError

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
        """The deployment in ``path``; a file that is not one is a ``ConfigError`` naming the
        field at fault (it is hand-edited and copied between machines: never a traceback)."""
        if not path.exists():
            raise ToolchainError(f"no deployment file at {path}: deploy first (`artisan deploy`)")
        try:
            raw = json.loads(path.read_text())
        except (OSError, ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
            raise ConfigError(f"deployment file {path}: not readable JSON: {exc}") from None
        return cls(**_checked_fields(raw, path))


_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_NUMBERS = {"chain_id": 1, "start_block": 0}  # the integer fields, and their least value


def _checked_fields(raw: Any, path: Path) -> dict[str, Any]:
    """The deployment file's fields, each of its type, or ``ConfigError`` naming one."""
    if not isinstance(raw, dict):
        raise ConfigError(f"deployment file {path}: not a JSON object")
    names = [f.name for f in fields(Deployment)]
    missing = [n for n in names if n not in raw]
    unknown = sorted(str(k) for k in raw if k not in names)
    if missing or unknown:
        what = [f"lacks {', '.join(missing)}"] if missing else []
        what += [f"has unknown {', '.join(unknown)}"] if unknown else []
        raise ConfigError(f"deployment file {path}: {'; '.join(what)}")
    for name in names:
        value = raw[name]
        if name in _NUMBERS:
            if type(value) is not int or value < _NUMBERS[name]:
                raise ConfigError(
                    f"deployment file {path}: {name} must be an integer >= {_NUMBERS[name]}"
                )
        elif not (isinstance(value, str) and _ADDRESS.fullmatch(value)):
            raise ConfigError(
                f"deployment file {path}: {name} must be a 0x-prefixed 20-byte address"
            )
    return raw
