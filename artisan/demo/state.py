"""What the demo's stages share: the environment, the actors, and what earlier stages made."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.console import Console

from artisan.chain.protocol import Protocol
from artisan.chain.signer import Signer
from artisan.domain.types import InferenceRequest
from artisan.environment import Environment
from artisan.errors import ArtisanError


class DemoCheckFailed(ArtisanError):
    """A demo stage saw something other than what an independent computation expects."""


def check(condition: bool, what: str) -> None:
    if not condition:
        raise DemoCheckFailed(f"demo check failed: {what}")


@dataclass
class Actor:
    name: str
    signer: Signer
    key: bytes

    @property
    def address(self) -> str:
        return self.signer.address


@dataclass
class DemoState:
    env: Environment
    protocol: Protocol
    console: Console
    deployer: Signer
    operator: Signer
    actors: dict[str, Actor] = field(default_factory=dict)
    models: dict[str, int] = field(default_factory=dict)
    executions: list[dict[str, Any]] = field(default_factory=list)
    requests: dict[bytes, InferenceRequest] = field(default_factory=dict)
