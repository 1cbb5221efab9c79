"""GraphiQL on GET /graphql: a page whose every script and style this app serves itself."""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from graphql import get_introspection_query

from artisan.graphql import ide

from .support import data

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


class _Loads(HTMLParser):
    """The URLs a browser loads from a page: script sources and link targets."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script" and values.get("src"):
            self.scripts.append(str(values["src"]))
        if tag == "link" and values.get("href"):
            self.links.append(str(values["href"]))


def _page(client: httpx.Client) -> tuple[str, _Loads]:
    response = client.get("/graphql", headers=BROWSER)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    loads = _Loads()
    loads.feed(response.text)
    return response.text, loads


def test_a_browser_gets_graphiql_whose_files_all_come_from_this_app(
    client: httpx.Client,
) -> None:
    page, loads = _page(client)
    assert "<title>Artisan GraphQL</title>" in page
    # Nothing a browser would fetch from elsewhere: no CDN, no absolute URL at all.
    assert "http://" not in page and "https://" not in page and "//" not in page
    assert len(loads.scripts) == 3 and len(loads.links) == 1
    loaded = [(u, "javascript") for u in loads.scripts] + [(u, "css") for u in loads.links]
    for url, kind in loaded:
        assert url.startswith(ide.PREFIX + "/"), url
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert kind in asset.headers["content-type"], (url, asset.headers["content-type"])
        assert len(asset.content) > 5_000, url
        assert "immutable" in asset.headers["cache-control"]
        again = client.get(url, headers={"If-None-Match": asset.headers["etag"]})
        assert again.status_code == 304
        if kind == "css":
            assert "url(http" not in asset.text and "@import" not in asset.text


def test_only_the_files_the_page_loads_are_served(client: httpx.Client) -> None:
    for path in ["graphiql/package.json", "react/index.js", "graphiql/dist/index.umd.js",
                 "@openzeppelin/contracts/package.json", "", "graphiql"]:  # fmt: skip
        assert client.get(f"{ide.PREFIX}/{path}").status_code == 404, path


def test_queries_by_get_and_post_still_answer_json(client: httpx.Client) -> None:
    query = "{ _meta { block { number } } }"
    for headers in [{"Accept": "application/json"}, BROWSER]:  # a query: never the page
        response = client.get("/graphql", params={"query": query}, headers=headers)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/json")
        assert response.json()["data"]["_meta"]["block"]["number"] > 0


def test_the_page_default_query_and_graphiql_introspection_answer(client: httpx.Client) -> None:
    found = data(client, ide.DEFAULT_QUERY)
    assert len(found["executions"]) == 5 and found["_meta"]["block"]["hash"]
    schema = data(client, get_introspection_query(descriptions=True))["__schema"]
    assert schema["queryType"]["name"] == "Query"


def test_missing_files_give_a_page_that_names_them_and_make_install(tmp_path: Path) -> None:
    (tmp_path / "react" / "umd").mkdir(parents=True)
    (tmp_path / "react" / "umd" / "react.production.min.js").write_text("")
    (tmp_path / "react" / "package.json").write_text('{"version": "18.3.1"}')
    response = ide.Page.find(tmp_path).response()
    assert response.status_code == 503
    body = bytes(response.body).decode()
    assert "make install" in body and "<script" not in body
    assert "graphiql/graphiql.min.js" in body and "react-dom/package.json" in body
    assert "react/umd/react.production.min.js" not in body


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed")
def test_chromium_renders_graphiql_offline(client: httpx.Client, tmp_path: Path) -> None:
    # Every host but ours resolves to nothing, so the page renders only from what we serve.
    url = str(client.base_url.join("/graphql"))
    dom = subprocess.run(
        ["chromium", "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run",
         f"--user-data-dir={tmp_path}", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
         "--virtual-time-budget=8000", "--dump-dom", url],
        capture_output=True, text=True, timeout=90, check=True,
    ).stdout  # fmt: skip
    assert "graphiql-container" in dom, dom[:2_000]
    assert "executions" in dom  # the default query, in the editor
