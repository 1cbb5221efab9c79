"""Static files the API serves by name: a folder seen through a list of the files that may be
read from it, nothing else, each cached for good (its URL names its version)."""

from __future__ import annotations

import os
from collections.abc import Collection
from pathlib import Path

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

_CACHE_CONTROL = "public, max-age=31536000, immutable"


class Listed(StaticFiles):
    """``root`` as seen through ``files`` (paths relative to it); any other path is a 404."""

    def __init__(self, root: Path, files: Collection[str]) -> None:
        super().__init__(directory=root, check_dir=False)
        self.files = frozenset(files)

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        if path not in self.files:
            return "", None
        return super().lookup_path(path)

    def file_response(
        self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope,
        status_code: int = 200,
    ) -> Response:  # fmt: skip
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["cache-control"] = _CACHE_CONTROL
        return response
