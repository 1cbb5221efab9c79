"""Random argument lists for read-only commands, through typer's runner: each ends in a usage
error (exit 2), a named failure (exit 1 or 2, one message) or an answer, never an exception
escaping the command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from artisan.cli.main import app
from artisan.storage.database import Database

COMMANDS = [["lineage"], ["status"], ["db", "status"], ["projections", "status"],
            ["executions", "show"], ["audit"], ["report", "rewards"]]  # fmt: skip
WORDS = st.one_of(
    st.sampled_from(["--json", "--depth", "--direction", "--help", "--all", "--model", "0",
                     "-1", "99999999999999999999999", "0x" + "ab" * 32, "0x", "both",
                     "upstream", "nowhere", "--", "-", "''", "\\x00"]),
    st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\0"),
            max_size=20),
)  # fmt: skip


@pytest.fixture
def env(database: Database, tmp_path: Path) -> dict[str, str]:
    """The test database; a node nobody listens at; a deployment file that names it."""
    deployment = {"chain_id": 31337, "start_block": 0, **{
        k: "0x" + f"{i + 1:02x}" * 20 for i, k in enumerate(
            ["token", "registry", "ledger", "curation", "feedback", "distributor", "treasury"])
    }}  # fmt: skip
    path = tmp_path / "deployment.json"
    path.write_text(json.dumps(deployment))
    return {"ARTISAN_DATABASE_URL": database.url, "ARTISAN_RPC_URL": "http://127.0.0.1:9",
            "ARTISAN_DEPLOYMENT_FILE": str(path), "ARTISAN_DEV": "1"}  # fmt: skip


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(command=st.sampled_from(COMMANDS), words=st.lists(WORDS, max_size=4))
@example(command=["lineage"], words=["0x" + "ab" * 32, "--depth", "99999999999999999999999"])
@example(command=["executions", "show"], words=["0x" + "ab" * 32])
def test_random_arguments_end_in_usage_a_named_error_or_an_answer(
    env: dict[str, str], command: list[str], words: list[str]
) -> None:
    """Whatever follows a read-only command: exit 0, 1 or 2 and no exception of ours or a
    library's escaping it (typer's runner would hold it in ``exception``)."""
    result = CliRunner().invoke(app, [*command, *words], env=env)
    escaped = result.exception
    assert escaped is None or isinstance(escaped, SystemExit), (command, words, repr(escaped))
    assert result.exit_code in (0, 1, 2), (result.exit_code, result.output)
    assert "Traceback" not in result.output
