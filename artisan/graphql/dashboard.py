"""The dashboard at ``/``: one page of our own scripts, bundled by `make install` (esbuild, from
``dashboard/src`` and the npm packages chart.js and cytoscape) into ``build/dashboard``, and
served by this app: nothing is loaded from elsewhere. The page reads only the public GraphQL
API (``/graphql``: queries over HTTP, subscriptions over its websocket).

A missing bundle is a page naming what is missing and how to build it (503), never a blank one.
"""

from __future__ import annotations

import functools
import hashlib
import html
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from artisan.config import REPO_ROOT
from artisan.graphql.static import Listed

BUNDLE = REPO_ROOT / "build" / "dashboard"
PREFIX = "/dashboard"
FILES = ("app.js", "app.css")
TITLE = "Artisan"


class Assets(Listed):
    """``build/dashboard`` as seen through ``/dashboard/``: the bundle's files, nothing else."""

    def __init__(self, root: Path = BUNDLE) -> None:
        super().__init__(root, FILES)


@functools.lru_cache(maxsize=8)
def _digest_of(path: Path, mtime_ns: int, size: int) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def _digest(path: Path) -> str:
    stat = path.stat()
    return _digest_of(path, stat.st_mtime_ns, stat.st_size)


@dataclass(frozen=True)
class Page:
    """The dashboard's page over the bundle found under ``root``."""

    root: Path = BUNDLE

    def _versions(self) -> dict[str, str] | None:
        """Each file's content digest, hashed again only when the file changed (a rebuilt
        bundle needs no restart; an unchanged one costs a stat per request)."""
        try:
            return {f: _digest(self.root / f) for f in FILES}
        except OSError:
            return None

    async def endpoint(self, request: Request) -> Response:
        versions = self._versions()
        if versions is None:
            missing = [f for f in FILES if not (self.root / f).is_file()]
            items = "".join(
                f"<li><code>{html.escape(str(self.root / f))}</code></li>" for f in missing
            )
            return HTMLResponse(
                f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{TITLE}'
                f"</title></head><body><h1>{TITLE}</h1><p>The dashboard is not built: these files"
                f" are missing:</p><ul>{items}</ul><p>Run <code>make install</code> (it bundles"
                ' the dashboard) and reload. The API works without it: <a href="graphql">'
                "GraphiQL</a>.</p></body></html>\n",
                status_code=503,
            )
        base = request.scope.get("root_path", "") + PREFIX
        return HTMLResponse(
            '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f'<title>{TITLE}</title>\n<link rel="icon" href="data:,">\n'
            f'<link rel="stylesheet" href="{base}/app.css?v={versions["app.css"]}">\n'
            "</head>\n<body>\n<noscript>The dashboard needs JavaScript; the API itself is at"
            ' <a href="graphql">/graphql</a>.</noscript>\n<p>Loading&hellip;</p>\n'
            f'<script src="{base}/app.js?v={versions["app.js"]}"></script>\n</body>\n</html>\n'
        )
