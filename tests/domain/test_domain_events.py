"""The typed contract events (``artisan.domain.events``) match the compiled ABIs, and every
event field the code reads (SQL on the stored arguments included) exists."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import get_type_hints

from artisan.config import REPO_ROOT
from artisan.domain import events, request_events
from artisan.projections.registry import ALL

# args->>'field', args->'struct'->>'field', e.args->>'field' ...
_SQL_KEY = re.compile(r"args(?:\s*->>?\s*'(\w+)')+")
_KEY = re.compile(r"->>?\s*'(\w+)'")


def test_the_generated_module_is_what_the_abis_give() -> None:
    """Regenerating from build/contracts changes nothing (a renamed Solidity field fails
    here until events.py, and the code reading it, follow)."""
    check = subprocess.run(
        [sys.executable, "scripts/gen_events.py", "--check"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert check.returncode == 0, check.stderr


def test_every_typed_event_lists_its_fields_and_signature() -> None:
    """Each event's TypedDict, FIELDS and SIGNATURES agree on its arguments."""
    for name, fields in events.FIELDS.items():
        kind = getattr(events, name)
        assert tuple(get_type_hints(kind)) == fields
        assert events.SIGNATURES[name].startswith(f"{name}(")


def test_projections_handle_only_events_that_exist() -> None:
    declared = {name for p in ALL for name in p.events}
    assert declared and declared <= set(events.SIGNATURES)


def _struct_fields() -> set[str]:
    out: set[str] = set()
    for value in [*vars(events).values(), *vars(request_events).values()]:
        if isinstance(value, type) and hasattr(value, "__required_keys__"):
            out |= set(get_type_hints(value))
    return out


def test_every_argument_the_sql_reads_is_a_field_of_an_event() -> None:
    """Each ``args->>'key'`` in the package's SQL names a field of some event or struct (the
    contracts' events, and the indexer's own ``RequestSigned``)."""
    known = _struct_fields()
    used: dict[str, set[str]] = {}
    for path in Path(REPO_ROOT, "artisan").rglob("*.py"):
        for match in _SQL_KEY.finditer(path.read_text()):
            for key in _KEY.findall(match.group(0)):
                used.setdefault(key, set()).add(str(path.relative_to(REPO_ROOT)))
    assert {"executionId", "recipient", "inputUnits"} <= set(used)  # the scan sees the SQL
    unknown = {k: sorted(v) for k, v in used.items() if k not in known}
    assert unknown == {}
