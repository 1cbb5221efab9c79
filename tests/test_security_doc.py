"""docs/SECURITY.md cites only tests that exist: each ``(test: path::name)`` names a file of
the repository that defines that test (``function name(`` in Solidity, ``def name(`` in
Python)."""

from __future__ import annotations

import re

from artisan.config import REPO_ROOT

DOC = REPO_ROOT / "docs" / "SECURITY.md"
CITATION = re.compile(r"\(test: ([\w./-]+)::(\w+)\)")


def citations() -> list[tuple[str, str]]:
    return CITATION.findall(DOC.read_text())


def test_every_cited_test_exists() -> None:
    missing = []
    for path, name in citations():
        file = REPO_ROOT / path
        definition = f"function {name}(" if path.endswith(".sol") else f"def {name}("
        if not file.is_file() or definition not in file.read_text():
            missing.append(f"{path}::{name}")
    assert missing == []


def test_the_doc_cites_tests_of_every_kind() -> None:
    """The pattern finds the doc's citations (a changed format would find none), forge's and
    pytest's alike, and no citation is malformed."""
    found = citations()
    assert any(p.endswith(".sol") for p, _ in found) and any(p.endswith(".py") for p, _ in found)
    assert DOC.read_text().count("(test: ") == len(found)
