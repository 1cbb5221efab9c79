"""The one typed Settings object, built once at start-up and passed down.

Every key reads from the environment with the prefix ``ARTISAN_``; a bad value fails at start
with the key's name, and so does a misspelled ``ARTISAN_`` variable. Nothing else in Artisan
reads ``os.environ``.

Keys: each of ``ARTISAN_DEPLOYER_KEY``, ``ARTISAN_OPERATOR_KEY`` and
``ARTISAN_REWARD_PUBLISHER_KEY`` can come from a file instead (``..._KEY_FILE``, as secret
stores mount them). They are ``SecretStr``: a repr, a log line or an error message shows
``**********``, never the key. Development mode (``ARTISAN_DEV=1``: `make demo`, the tests,
a local `artisan node`) fills in anvil's public development keys where none is given; outside
it those keys are refused at start, since anyone can spend from them.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

from artisan.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent

# anvil's first default account: the dev chain's deployer and governor, never a real key.
ANVIL_DEPLOYER_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
# anvil's second default account: the dev chain's operator (executor) key.
ANVIL_OPERATOR_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
# The well-known keys of anvil's default accounts 0..9 (the mnemonic "test test ... junk"):
# public, so never to hold anything of value.
ANVIL_KEYS = frozenset({
    ANVIL_DEPLOYER_KEY,
    ANVIL_OPERATOR_KEY,
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
})  # fmt: skip
# anvil's third default account: the dev chain's user (`artisan account`, `escrow`, `run`).
ANVIL_USER_KEY = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"
KeyRole = Literal["deployer", "operator", "reward_publisher", "user"]
_DEV_DEFAULTS = {
    "deployer": ANVIL_DEPLOYER_KEY, "operator": ANVIL_OPERATOR_KEY, "user": ANVIL_USER_KEY,
}  # fmt: skip


def _problem(err: Any) -> str:
    """One validation error as a line naming its variable (never its value: it may be a key)."""
    message = str(err["msg"]).removeprefix("Value error, ")
    if not err["loc"]:  # a model-level check: its message names the variable itself
        return message
    return f"ARTISAN_{'.'.join(str(p) for p in err['loc']).upper()}: {message}"


def checked_key(raw: str, name: str, dev: bool) -> str:
    """``raw`` as a normalized private key; a ValueError naming ``name`` (never the value)
    when it is not one, or when it is one of anvil's public keys outside development mode."""
    key = _normal_key(raw)
    if key is None:
        raise ValueError(f"{name}: must be a 32-byte hex private key")
    if key in ANVIL_KEYS and not dev:
        raise ValueError(
            f"{name}: this is one of anvil's public development keys; anyone can spend"
            " from it. Use a key of your own, or ARTISAN_DEV=1 on a development chain"
        )
    return key


def key_from_file(path: Path, name: str, dev: bool) -> str:
    """The private key in the file at ``path``, checked as a setting's key is; a ConfigError
    naming ``name`` otherwise (a key is never given on a command line, where `ps` shows it)."""
    try:
        return checked_key(path.read_text().strip(), name, dev)
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


class Settings(BaseSettings):
    """Everything Artisan can be configured with. Empty URLs select the embedded defaults."""

    model_config = SettingsConfigDict(env_prefix="ARTISAN_", extra="forbid", frozen=True)

    data_dir: Path = Field(default=REPO_ROOT / ".data", description="embedded Postgres, assets")
    database_url: str = Field(default="", description="empty: an embedded Postgres in data_dir")
    read_database_url: str = Field(
        default="", description="where the API reads (a replica); empty: the main database"
    )
    api_max_lag_blocks: int = Field(
        default=10, ge=0, description="/ready: how far the projections may trail the indexer"
    )
    api_statement_timeout_ms: int = Field(
        default=5_000, gt=0, description="the API: how long one SQL statement may run"
    )
    api_introspection: bool = Field(
        default=True, description="the API: answer __schema/__type queries"
    )
    api_max_subscriptions: int = Field(
        default=10, ge=1, description="the API: subscriptions one websocket connection may hold"
    )
    api_allowed_origins: str = Field(
        default="",
        description="the API: comma-separated other sites' origins whose pages may"
        " subscribe (* for any; empty: only the API's own)",
    )
    api_max_result_bytes: int = Field(
        default=10_000_000, gt=0, description="the API: the largest answer it sends, in bytes"
    )
    rpc_url: str = Field(default="", description="empty: a local anvil from node_modules")
    chain_id: int = Field(default=31337, gt=0)
    dev: bool = Field(default=False, description="development mode: anvil's public keys allowed")
    deployer_key: SecretStr | None = None
    deployer_key_file: Path | None = None
    operator_key: SecretStr | None = None
    operator_key_file: Path | None = None
    deployment_file: Path = Field(default=REPO_ROOT / ".data" / "deployment.json")
    artifacts_dir: Path = REPO_ROOT / "build" / "contracts"
    anvil_bin: Path = (
        REPO_ROOT / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
    )
    anvil_block_time: float = Field(default=0.0, ge=0, description="0: mine on each transaction")
    deploy_wait_s: float = Field(
        default=30.0,
        ge=0,
        description="seconds `artisan deploy` waits for a node started a moment ago",
    )
    asset_sync: Literal["fsync", "syncfs"] = Field(
        default="fsync",
        description="how the executor makes a group of asset files durable: fsync per file and"
        " directory, or one syncfs(2) per step (only for a data dir on a filesystem of its own)",
    )
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
    reward_publisher_key: SecretStr | None = Field(
        default=None, description="publishes epoch roots; empty: the deployer key"
    )
    reward_publisher_key_file: Path | None = None
    # The user side: whose key `artisan account`, `escrow` and `run` sign with, and where the
    # executor they send requests to listens.
    user_key: SecretStr | None = None
    user_key_file: Path | None = None
    executor_url: str = Field(default="http://127.0.0.1:8600", description="an executor's API")
    reward_mint: bool = Field(
        default=False, description="dev chains: the publisher mints each epoch's total"
    )
    # Observability (docs/OPERATIONS.md): Prometheus ports of the processes without an HTTP
    # app of their own (0: not served; the executor and the API answer /metrics on theirs),
    # the heartbeats each service writes into service_status, and the log lines' format.
    metrics_addr: str = Field(default="127.0.0.1", description="where metrics ports listen")
    indexer_metrics_port: int = Field(
        default=0, ge=0, le=65535, description="`artisan index`: /metrics on this port (0: off)"
    )
    projections_metrics_port: int = Field(
        default=0, ge=0, le=65535,
        description="`artisan projections run --follow`: /metrics on this port (0: off)",
    )  # fmt: skip
    emitter_metrics_port: int = Field(
        default=0, ge=0, le=65535, description="`artisan emit`: /metrics on this port (0: off)"
    )
    status_interval: float = Field(
        default=5.0, gt=0, description="seconds between a service's heartbeats (`artisan status`)"
    )
    status_instance: str = Field(
        default="", description="this process's name in `artisan status`; empty: host:pid"
    )
    log_format: Literal["text", "json"] = Field(
        default="text", description="log lines as text, or one JSON object each"
    )
    log_executions: bool = Field(
        default=False,
        description="log each execution's way (request, confirmation, projection row) by its id",
    )

    @model_validator(mode="before")
    @classmethod
    def _keys(cls, data: Any) -> Any:
        """Keys from their files; anvil's development keys only in development mode."""
        if not isinstance(data, dict):
            return data
        values = dict(data)
        dev = str(values.get("dev", "")).strip().lower() in ("1", "true", "yes", "on")
        for role in ("deployer", "operator", "reward_publisher", "user"):
            field, env = f"{role}_key", f"ARTISAN_{role.upper()}_KEY"
            path = values.get(f"{field}_file")
            if path not in (None, ""):
                if values.get(field) not in (None, ""):
                    raise ValueError(f"set {env} or {env}_FILE, not both")
                try:
                    values[field] = Path(str(path)).read_text().strip()
                except OSError as exc:
                    raise ValueError(f"{env}_FILE: cannot read {path}: {exc.strerror}") from None
            raw = values.get(field)
            if isinstance(raw, SecretStr):
                raw = raw.get_secret_value()
            if raw in (None, ""):
                values[field] = _DEV_DEFAULTS.get(role) if dev else None
                continue
            values[field] = checked_key(str(raw), env, dev)
        return values

    def key(self, role: KeyRole) -> str:
        """The private key of ``role`` (the publisher's defaults to the deployer's); a missing
        one is a ``ConfigError`` naming the variables that set it."""
        secret = getattr(self, f"{role}_key")
        if secret is None and role == "reward_publisher":
            return self.key("deployer")
        if secret is None:
            env = f"ARTISAN_{role.upper()}_KEY"
            raise ConfigError(
                f"{env} is not set (nor {env}_FILE); ARTISAN_DEV=1 uses anvil's development"
                " keys on a development chain"
            )
        return str(secret.get_secret_value())

    @field_validator("data_dir")
    @classmethod
    def _is_usable_dir(cls, value: Path) -> Path:
        try:
            if value.exists() and not value.is_dir():
                raise ValueError(f"{value} exists and is not a directory")
            parent = value
            while not parent.exists():  # the nearest existing ancestor must let us create it
                parent = parent.parent
        except OSError as exc:  # a name too long for the file system, say
            raise ValueError(f"not a usable path: {exc.strerror}") from None
        if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
            raise ValueError(f"{value} cannot be created: {parent} is not a writable directory")
        return value

    @field_validator("database_url", "read_database_url")
    @classmethod
    def _is_postgres_url(cls, value: str) -> str:
        if not value:
            return value
        try:
            conninfo_to_dict(value)
        except psycopg.ProgrammingError:
            # Not libpq's message: it quotes the text it stumbled on, a password perhaps.
            raise ValueError(
                "must be a postgresql:// URL, a libpq key=value string, or empty"
            ) from None
        return value

    @field_validator("executor_url")
    @classmethod
    def _is_http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s):// URL")
        return value.rstrip("/")

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


def _normal_key(raw: str) -> str | None:
    hex_part = raw.removeprefix("0x")
    if len(hex_part) != 64 or any(c not in "0123456789abcdefABCDEF" for c in hex_part):
        return None
    return "0x" + hex_part.lower()


def known_variables() -> list[str]:
    """Every ``ARTISAN_*`` variable the Settings read."""
    return sorted(f"ARTISAN_{name.upper()}" for name in Settings.model_fields)


def unknown_variables(environ: dict[str, str] | None = None) -> list[str]:
    """``ARTISAN_*`` variables set in the environment that no setting reads (a misspelling
    would otherwise be ignored, and its default used instead), each with the closest name."""
    known = known_variables()
    out = []
    for name in sorted(environ if environ is not None else os.environ):
        if name.startswith("ARTISAN_") and name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            out.append(f"{name} (did you mean {close[0]}?)" if close else name)
    return out


def load_settings(**overrides: object) -> Settings:
    """Build the Settings from the environment (and explicit overrides); a bad or unknown
    variable is a ``ConfigError`` naming it (never its value: it may be a secret)."""
    unknown = unknown_variables()
    if unknown:
        raise ConfigError(f"unknown setting {', '.join(unknown)}")
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(_problem(err) for err in exc.errors())
        raise ConfigError(f"invalid settings: {problems}") from None
    except SettingsError as exc:  # a value the environment source cannot parse (bad JSON)
        field = re.search(r'field "(\w+)"', str(exc))
        name = f"ARTISAN_{field.group(1).upper()}" if field else "an ARTISAN_* variable"
        raise ConfigError(f"invalid settings: {name}: not valid JSON") from None


def redact_url(url: str) -> str:
    """``url`` fit to print: no password, no query string, and path segments that look like
    API keys elided (providers put keys there)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if not parts.scheme or not parts.netloc:
        # A libpq key=value string: drop the password.
        return re.sub(r"(password\s*=\s*)('[^']*'|\S+)", r"\1***", url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    if parts.username:
        host = f"{parts.username}{':***' if parts.password else ''}@{host}"
    path = "/".join(
        "***" if len(seg) >= 20 and seg.isalnum() else seg for seg in parts.path.split("/")
    )
    return urlunsplit((parts.scheme, host, path, "***" if parts.query else "", ""))
