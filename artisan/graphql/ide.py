"""GraphiQL on ``GET /graphql`` from a browser, its scripts and styles served by this app.

strawberry's own GraphiQL page loads React and GraphiQL from a CDN, and nothing here may
download at run time: this page loads the same builds from ``node_modules`` (pinned in
package.json, put there by `make install`), served under ``/graphiql/``. Only the files the
page loads are served, never the rest of ``node_modules``.

GraphiQL 3 is the last major with a UMD bundle (plain ``<script>`` tags, React 18 and ReactDOM
as globals); GraphiQL 4 and 5 are ES modules with web workers and would need a bundler, and
React 19 has no UMD build.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from starlette.responses import HTMLResponse

from artisan.config import REPO_ROOT
from artisan.graphql.static import Listed

NODE_MODULES = REPO_ROOT / "node_modules"
PREFIX = "/graphiql"
TITLE = "Artisan GraphQL"
DEFAULT_QUERY = """\
{
  _meta { block { number hash } }
  executions(first: 5) { id cost }
}
"""
# (package, file inside it), in the order the page loads them: React before ReactDOM before
# GraphiQL, whose UMD bundle reads both globals.
STYLES = (("graphiql", "graphiql.min.css"),)
SCRIPTS = (
    ("react", "umd/react.production.min.js"),
    ("react-dom", "umd/react-dom.production.min.js"),
    ("graphiql", "graphiql.min.js"),
)
FILES = frozenset(f"{package}/{file}" for package, file in STYLES + SCRIPTS)

_BOOT = """\
(function () {
  "use strict";
  var endpoint = window.location.pathname;
  async function fetcher(params, options) {
    var headers = Object.assign({}, options && options.headers, {
      "Content-Type": "application/json", "Accept": "application/json"});
    var response = await fetch(endpoint, {method: "POST", headers: headers,
      body: JSON.stringify(params), credentials: "same-origin"});
    var text = await response.text();
    try {
      return JSON.parse(text);
    } catch (e) {
      return {errors: [{message: response.status + " " + response.statusText + ": " + text}]};
    }
  }
  ReactDOM.createRoot(document.getElementById("graphiql")).render(
    React.createElement(GraphiQL, {fetcher: fetcher, defaultQuery: DEFAULT_QUERY}));
})();
"""


class Assets(Listed):
    """``node_modules`` as seen through ``/graphiql/``: the files of ``FILES`` and nothing else."""

    def __init__(self, root: Path = NODE_MODULES) -> None:
        super().__init__(root, FILES)


@dataclass(frozen=True)
class Page:
    """The GraphiQL page over the files found under ``root``, or a page naming those missing."""

    versions: Mapping[str, str]
    missing: tuple[str, ...]
    root: Path

    @classmethod
    def find(cls, root: Path = NODE_MODULES) -> Page:
        missing = tuple(sorted(f for f in FILES if not (root / f).is_file()))
        versions: dict[str, str] = {}
        for package in sorted({package for package, _ in STYLES + SCRIPTS}):
            try:
                meta = json.loads((root / package / "package.json").read_text(encoding="utf-8"))
                versions[package] = str(meta["version"])
            except (OSError, ValueError, KeyError):
                missing += (f"{package}/package.json",)
        return cls(versions, missing, root)

    def response(self, root_path: str = "") -> HTMLResponse:
        """The page; ``root_path``: where the app is mounted, if not at the root."""
        if self.missing:
            return HTMLResponse(self._missing_html(), status_code=503)
        return HTMLResponse(self._html(root_path + PREFIX))

    def _html(self, base: str) -> str:
        def url(package: str, file: str) -> str:
            return html.escape(f"{base}/{package}/{file}?v={self.versions[package]}")

        styles = "".join(f'<link rel="stylesheet" href="{url(*s)}">\n' for s in STYLES)
        scripts = "".join(f'<script src="{url(*s)}"></script>\n' for s in SCRIPTS)
        # "<" escaped, so that no text in the query can close the <script> element.
        query = json.dumps(DEFAULT_QUERY).replace("<", "\\u003c")
        boot = _BOOT.replace("DEFAULT_QUERY", query)
        return (
            '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{TITLE}</title>\n{styles}"
            "<style>html, body, #graphiql { height: 100%; margin: 0; }</style>\n"
            '</head>\n<body>\n<div id="graphiql">Loading GraphiQL&hellip;</div>\n'
            f"{scripts}<script>\n{boot}</script>\n</body>\n</html>\n"
        )

    def _missing_html(self) -> str:
        items = "".join(f"<li><code>{html.escape(f)}</code></li>\n" for f in self.missing)
        return (
            '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{TITLE}</title>\n</head>\n<body>\n<h1>{TITLE}</h1>\n"
            "<p>GraphiQL cannot be shown: these files are missing under "
            f"<code>{html.escape(str(self.root))}</code>:</p>\n<ul>\n{items}</ul>\n"
            "<p>Run <code>make install</code> (it runs <code>npm ci</code>) and restart the"
            " API. The API itself works: POST queries to this URL.</p>\n</body>\n</html>\n"
        )
