"""The one typed Settings object, built once at start-up and passed down.

Every key reads from the environment with the prefix ``ARTISAN_``; a bad value fails at start
with the key's name. Nothing else in Artisan reads ``os.environ``.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from artisan.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent

# anvil's first default account: the dev chain's deployer and governor, never a real key.
ANVIL_DEPLOYER_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
# anvil's second default account: the dev chain's operator (executor) key.
ANVIL_OPERATOR_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"


class Settings(BaseSettings):
    """Everything Artisan can be configured with. Empty URLs select the embedded defaults."""

    model_config = SettingsConfigDict(env_prefix="ARTISAN_", extra="forbid", frozen=True)

    data_dir: Path = Field(default=REPO_ROOT / ".data", description="embedded Postgres, assets")
    database_url: str = Field(default="", description="empty: an embedded Postgres in data_dir")
    rpc_url: str = Field(default="", description="empty: a local anvil from node_modules")
    chain_id: int = Field(default=31337, gt=0)
    deployer_key: str = ANVIL_DEPLOYER_KEY
    operator_key: str = ANVIL_OPERATOR_KEY
    deployment_file: Path = Field(default=REPO_ROOT / ".data" / "deployment.json")
    artifacts_dir: Path = REPO_ROOT / "build" / "contracts"
    anvil_bin: Path = (
        REPO_ROOT / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
    )
    anvil_block_time: float = Field(default=0.0, ge=0, description="0: mine on each transaction")
    finality_depth: int = Field(
        default=64, gt=0, description="blocks under the head before a block is final"
    )
    # Reward epochs (docs/REWARDS.md); the epoch job of `artisan projections run --follow`.
    reward_epoch_length: int = Field(default=0, ge=0, description="blocks; 0: no epoch job")
    reward_genesis_block: int | None = Field(
        default=None, ge=0, description="first block of epoch 1; empty: the deploy block"
    )
    reward_pool: int = Field(default=0, ge=0, description="$ART wei paid out per epoch")
    reward_pools: dict[int, int] = Field(
        default_factory=dict, description='per-epoch pools, JSON: {"3": 5000000000000000000}'
    )
    reward_publisher_key: str | None = Field(
        default=None, description="publishes epoch roots; empty: the deployer key"
    )
    reward_mint: bool = Field(
        default=False, description="dev chains: the publisher mints each epoch's total"
    )

    @field_validator("deployer_key", "operator_key", "reward_publisher_key")
    @classmethod
    def _is_private_key(cls, value: str | None) -> str | None:
        if value is None:
            return None
        raw = value.removeprefix("0x")
        if len(raw) != 64 or any(c not in "0123456789abcdefABCDEF" for c in raw):
            raise ValueError("must be a 32-byte hex private key")
        return "0x" + raw.lower()

    @field_validator("database_url")
    @classmethod
    def _is_postgres_url(cls, value: str) -> str:
        if not value:
            return value
        try:
            conninfo_to_dict(value)
        except psycopg.ProgrammingError as exc:
            raise ValueError(
                f"must be a postgresql:// URL, a libpq key=value string, or empty: {exc}"
            ) from exc
        return value

    @field_validator("rpc_url")
    @classmethod
    def _is_rpc_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://", "ws://", "wss://")):
            raise ValueError("must be an http(s):// or ws(s):// URL or empty for a local anvil")
        return value

    @field_validator("reward_pools")
    @classmethod
    def _pools_are_epochs(cls, value: dict[int, int]) -> dict[int, int]:
        bad = [f"{e}: {p}" for e, p in value.items() if e < 1 or p < 0]
        if bad:
            raise ValueError(f"epochs are numbered from 1 and pools are >= 0: {', '.join(bad)}")
        return value


def load_settings(**overrides: object) -> Settings:
    """Build the Settings from the environment (and explicit overrides), naming a bad key."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"ARTISAN_{'.'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from exc
