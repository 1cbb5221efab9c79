"""Hostile configuration: random ARTISAN_* values and random deployment files. Each is taken
or refused with a ConfigError naming the variable or the field, never another exception, and
a refusal never shows a secret setting's value."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from artisan.chain.contracts import Deployment
from artisan.config import Settings, known_variables, load_settings
from artisan.errors import ConfigError

# A value the environment can carry: no NUL, no lone surrogate.
ENV_TEXT = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\0"),
                   max_size=60)  # fmt: skip
VARIABLES = [v for v in known_variables() if v != "ARTISAN_DEV"]
# Settings whose values may be secrets (keys, passwords in URLs): never shown in an error.
SECRET = {"ARTISAN_DATABASE_URL", "ARTISAN_READ_DATABASE_URL", "ARTISAN_RPC_URL",
          "ARTISAN_DEPLOYER_KEY", "ARTISAN_OPERATOR_KEY", "ARTISAN_REWARD_PUBLISHER_KEY",
          "ARTISAN_USER_KEY"}  # fmt: skip
MARK = "Zq9sekrit"  # put inside a secret value: the error must not repeat it
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                 max_size=4),
    max_leaves=10,
)  # fmt: skip


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def value_for(variable: str) -> st.SearchStrategy[str]:
    if variable in SECRET:
        return st.tuples(ENV_TEXT, ENV_TEXT).map(lambda p: p[0] + MARK + p[1])
    return st.one_of(ENV_TEXT, JSON.map(json.dumps), st.integers().map(str))


@st.composite
def hostile_environments(draw: st.DrawFn) -> dict[str, str]:
    names = draw(st.lists(st.sampled_from(VARIABLES), min_size=1, max_size=3, unique=True))
    return {name: draw(value_for(name)) for name in names}


@settings(max_examples=150, deadline=None)
@given(env=hostile_environments())
@example(env={"ARTISAN_DATA_DIR": "x" * 5000})  # was OSError: File name too long
@example(env={"ARTISAN_DATABASE_URL": f"host=x password=ab {MARK}"})  # echoed the password
def test_any_setting_value_is_taken_or_refused_by_name(env: dict[str, str]) -> None:
    """Whatever values ARTISAN_* variables hold, load_settings gives Settings or a ConfigError
    naming a variable it was given, and never repeats a secret setting's value."""
    with environment(env):
        try:
            loaded = load_settings()
        except ConfigError as exc:
            message = str(exc)
            assert any(name in message for name in env), message
            assert MARK not in message, message
        else:
            assert isinstance(loaded, Settings)


def valid_deployment() -> dict[str, Any]:
    return {"chain_id": 31337, "start_block": 0, "token": "0x" + "11" * 20,
            "registry": "0x" + "22" * 20, "ledger": "0x" + "33" * 20,
            "curation": "0x" + "44" * 20, "feedback": "0x" + "55" * 20,
            "distributor": "0x" + "66" * 20, "treasury": "0x" + "77" * 20}  # fmt: skip


FIELDS = list(valid_deployment())


def load_text(tmp_path: Path, text: str | bytes) -> Deployment:
    path = tmp_path / "deployment.json"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return Deployment.load(path)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("deployments")


@settings(max_examples=100, deadline=None)
@given(body=st.one_of(st.binary(max_size=200), JSON.map(json.dumps)))
@example(body="[]")  # was TypeError: argument after ** must be a mapping
@example(body="{}")  # was TypeError: missing 9 required positional arguments
@example(body="nope")  # was json.JSONDecodeError
@example(body="[" * 100_000)  # nesting past the parser's recursion limit
def test_a_deployment_file_of_random_bytes_is_refused_by_name(
    folder: Path, body: str | bytes
) -> None:
    """Random bytes or JSON in the deployment file: a ConfigError naming the file."""
    with pytest.raises(ConfigError, match="deployment file"):
        load_text(folder, body)


@settings(max_examples=100, deadline=None)
@given(field=st.sampled_from(FIELDS), value=st.one_of(JSON, st.just("0x" + "zz" * 20)),
       drop=st.booleans())  # fmt: skip
@example(field="chain_id", value="31337", drop=False)  # was accepted: a string chain id
@example(field="token", value="0x1234", drop=False)  # was accepted: a short address
@example(field="start_block", value=None, drop=True)  # was TypeError: missing argument
def test_a_missing_or_mistyped_field_is_refused_naming_it(
    folder: Path, field: str, value: Any, drop: bool
) -> None:
    """A valid deployment with one field dropped or given a random value: refused naming the
    field, or taken when the value happens to be valid for it."""
    doc = valid_deployment()
    if drop:
        del doc[field]
    else:
        doc[field] = value
    try:
        loaded = load_text(folder, json.dumps(doc))
    except ConfigError as exc:
        assert field in str(exc), str(exc)
    else:
        assert not drop and getattr(loaded, field) == value
        assert type(value) is (int if field in ("chain_id", "start_block") else str)


def test_a_valid_deployment_file_round_trips(tmp_path: Path) -> None:
    """What Deployment.save writes, Deployment.load reads back equal."""
    deployment = Deployment(**valid_deployment())
    deployment.save(tmp_path / "d.json")
    assert Deployment.load(tmp_path / "d.json") == deployment
