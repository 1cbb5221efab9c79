"""The dashboard in a real browser (Debian's Chromium, driven by playwright with the system
browser), against `artisan demo` as a user runs it: its stages, then its services as separate
processes, with a trickle of executions. Each page is checked against what the public GraphQL
API answers, and a screenshot of each is kept under ``build/test-artifacts/dashboard``.

The demo runs on its own embedded Postgres (no server configured), as on a fresh machine; the
module's teardown stops it with SIGINT, as Ctrl-C does, and checks that every process it
started has ended and that it exited 0.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from artisan.config import REPO_ROOT

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not installed (`make browser` installs Debian's package; CI runs it)",
)
ARTIFACTS = REPO_ROOT / "build" / "test-artifacts" / "dashboard"
READY_TIMEOUT_S = 240.0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data = tmp_path_factory.mktemp("demo")
    ready = data / "ready.json"
    env = {**os.environ, "ARTISAN_DEV": "1", "ARTISAN_DATA_DIR": str(data),
           "ARTISAN_DATABASE_URL": "", "ARTISAN_RPC_URL": "",
           "ARTISAN_DEPLOYMENT_FILE": str(data / "deployment.json")}  # fmt: skip
    log = (data / "demo.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "artisan.cli", "demo", "--ready-file", str(ready),
         "--api-port", "0", "--executor-port", "0", "--trickle", "1"],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO_ROOT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not ready.exists() or not ready.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the demo did not get ready (exit {process.poll()}):\n"
                            + (data / "demo.log").read_text(errors="replace")[-4000:])  # fmt: skip
            time.sleep(0.5)
        info: dict[str, Any] = json.loads(ready.read_text())
        yield info
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # Ctrl-C
        code: int | None
        try:
            code = process.wait(90)
        except subprocess.TimeoutExpired:
            process.kill()
            code = None
        log.close()
    text = (data / "demo.log").read_text(errors="replace")
    assert code == 0, f"the demo exited {code} on Ctrl-C:\n{text[-4000:]}"
    assert (
        "stopped: executor (exit 0), api (exit 0), projections (exit 0), indexer (exit 0)" in text
    )
    left = [name for name, pid in info["pids"].items() if _alive(pid)]
    assert not left, f"still running after the demo stopped: {left}"


@pytest.fixture(scope="module")
def api(demo: dict[str, Any]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=demo["dashboard"], timeout=60) as client:
        yield client


def gql(api: httpx.Client, query: str, **variables: Any) -> Any:
    body = api.post("graphql", json={"query": query, "variables": variables}).json()
    assert "errors" not in body, body
    return body["data"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        yield instance
        instance.close()


class Page:
    """A browser tab on the dashboard that records every console error and failed request."""

    def __init__(self, browser: Any, base: str) -> None:
        self.base = base
        self.page = browser.new_page(viewport={"width": 1366, "height": 900})
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("requestfailed", lambda r: self.errors.append(f"failed {r.url}"))

    def open(self, route: str) -> Any:
        self.page.goto(f"{self.base}#/{route}")
        self.settled()
        return self.page

    def settled(self, timeout: float = 30_000) -> None:
        """Until no panel is loading any more."""
        self.page.wait_for_function(
            "document.querySelector('#page') && document.querySelector('#page').children.length"
            " && !document.querySelector('[data-state=loading]')", timeout=timeout,
        )  # fmt: skip

    def shot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 10_000  # something was drawn
        return path

    def points(self, chart: str) -> int:
        return int(self.page.get_attribute(f"canvas[data-chart='{chart}']", "data-points"))

    def drawn(self, graph: str) -> int:
        self.page.wait_for_selector(f"[data-graph='{graph}'][data-drawn]")
        return int(self.page.get_attribute(f"[data-graph='{graph}']", "data-drawn"))

    def rows(self, table: str) -> int:
        return int(self.page.locator(f"table[data-table='{table}'] tbody tr").count())

    def close(self) -> None:
        self.page.close()


@pytest.fixture
def tab(browser: Any, demo: dict[str, Any]) -> Iterator[Page]:
    page = Page(browser, demo["dashboard"])
    yield page
    errors = list(page.errors)
    page.close()
    assert errors == [], f"the page logged errors: {errors}"


def test_overview_shows_health_series_rankings_and_moves_live(tab: Page, api: httpx.Client) -> None:
    # The demo's trickle goes on meanwhile: what moves is compared with the API's answers
    # just before and just after the page read it.
    hours = "{ executionStats(interval: hour, first: 48) { timestamp } }"
    before = len(gql(api, hours)["executionStats"])
    page = tab.open("")
    assert tab.points("executions-over-time") in {before, len(gql(api, hours)["executionStats"])}
    for by in ("CURATION", "USAGE", "FEES"):
        query = f"{{ topModels(by: {by}, first: 5) {{ modelId }} }}"
        top = gql(api, query)["topModels"]
        assert tab.rows(f"top-{by.lower()}") == len(top) >= 1
        first = page.locator(f"table[data-table='top-{by.lower()}'] tbody tr td a").first
        leaders = {f"#{top[0]['modelId']}", f"#{gql(api, query)['topModels'][0]['modelId']}"}
        assert first.inner_text() in leaders
    page.wait_for_selector("[data-panel=health] .body[data-state=ready]")
    indexed = int(page.inner_text("[data-figure=indexedBlock] .value").replace(",", ""))
    assert (
        indexed >= int(gql(api, "{ _meta { block { number } } }")["_meta"]["block"]["number"]) - 5
    )
    assert tab.rows("latest") == 10
    # The trickle's executions arrive by subscription, without a reload.
    page.wait_for_selector("[data-panel=latest] .body[data-live]", timeout=30_000)
    days = "{ executionStats(interval: day, first: 48) { timestamp } }"
    before = len(gql(api, days)["executionStats"])
    page.click("button[data-interval=day]")
    page.wait_for_selector("canvas[data-chart='executions-over-time'][data-interval=day]")
    assert tab.points("executions-over-time") in {before, len(gql(api, days)["executionStats"])}
    tab.shot("overview")


def test_model_page_draws_pricing_and_remix_tree_and_navigates(
    tab: Page, api: httpx.Client
) -> None:
    remixes = gql(api, "{ models(where: {parentId_gt: 0}, first: 1) { id parentId thresholds"
                       " children { id } } }")["models"]  # fmt: skip
    model = remixes[0]
    page = tab.open(f"model/{model['id']}")
    assert tab.points("pricing-curve") == len(model["thresholds"]) >= 2
    assert tab.drawn("remix-tree") == 2 + len(model["children"])  # parent, itself, children
    executions = gql(api, "query($id: ID!) { model(id: $id) { executions(first: 20) { id } } }",
                     id=model["id"])["model"]["executions"]  # fmt: skip
    assert tab.rows("model-executions") == len(executions)
    tab.shot("model")
    # Clicking the parent in the remix tree opens the parent's page.
    # void: emit returns the element, and Playwright would copy its whole graph back (~17 s).
    page.evaluate(f"void window.__artisan.graphs['remix-tree']"
                  f".getElementById('{model['parentId']}').emit('tap')")  # fmt: skip
    page.wait_for_function(f"document.querySelector('#page').dataset.route === "
                           f"'model/{model['parentId']}'")  # fmt: skip
    tab.settled()
    assert page.inner_text("h1") == f"Model #{model['parentId']}"


def test_account_page_shows_balances_spend_and_claims(tab: Page, api: httpx.Client) -> None:
    claim = gql(api, "{ claims(first: 1) { account amount epoch } }")["claims"][0]
    query = "query($id: ID!) { account(id: $id) { earned } }"
    low = int(gql(api, query, id=claim["account"])["account"]["earned"])
    page = tab.open(f"account/{claim['account']}")
    assert tab.rows("claims") >= 1
    text = page.inner_text("[data-panel=balances]")
    high = int(gql(api, query, id=claim["account"])["account"]["earned"])  # the trickle pays
    shown = re.search(r"earned\s+([\d,]+)\.(\d{6}) ART", text)
    assert shown is not None, text
    micro = int(shown.group(1).replace(",", "")) * 10**6 + int(shown.group(2))
    assert low // 10**12 <= micro <= high // 10**12  # ART to six places, truncated
    tab.shot("account")
    spender = gql(api, "{ accounts(first: 1, orderBy: spent, orderDirection: desc) { id } }")
    user = spender["accounts"][0]["id"]
    series = ("query($u: Bytes!) { executionStats(interval: hour, where: {user: $u}) {"
              " timestamp } }")  # fmt: skip
    before = len(gql(api, series, u=user)["executionStats"])
    page = tab.open(f"account/{user}")
    after = len(gql(api, series, u=user)["executionStats"])
    assert tab.points("account-over-time") in {before, after} and after >= 1
    assert tab.rows("account-executions") == 20


def test_epoch_report_matches_the_api_and_its_csv(tab: Page, api: httpx.Client) -> None:
    page = tab.open("epochs")
    epochs = gql(api, "{ rewardEpochs { id } }")["rewardEpochs"]
    assert tab.rows("epochs") == len(epochs) >= 1
    page.click(f"table[data-table=epochs] a[href='#/epoch/{epochs[0]['id']}']")
    tab.settled()
    query = (
        "query($n: Int!) { rewardReport(epoch: $n) { models { modelId } creators { account } } }"
    )
    report = gql(api, query, n=int(epochs[0]["id"]))["rewardReport"]
    assert tab.rows("report-models") == len(report["models"]) >= 1
    assert tab.rows("report-creators") == len(report["creators"])
    assert page.get_attribute("[data-root-matches]", "data-root-matches") == "true"
    href = page.get_attribute("a[data-csv=models]", "href")
    rows = list(csv.DictReader(io.StringIO(api.get(href).text)))
    assert len(rows) == len(report["models"])
    tab.shot("epoch")


def test_lineage_graph_shows_the_walk_and_clicks_through(tab: Page, api: httpx.Client) -> None:
    # An execution of the load stage (the trickle extends only its own, newer chains).
    fed = gql(api, "{ executions(first: 1, orderBy: blockNumber, orderDirection: asc,"
                   " where: {modelId: 5}) { id } }")["executions"][0]["id"]  # fmt: skip
    walk = gql(api, "query($id: String!) { lineage(id: $id, direction: BOTH, depth: 3) {"
                    " nodes { kind id } edges { relation } } }", id=fed)["lineage"]  # fmt: skip
    assert any(e["relation"] == "feeds" for e in walk["edges"])
    page = tab.open(f"lineage/{fed}")
    assert tab.drawn("lineage") == len(walk["nodes"])
    tab.shot("lineage")
    other = next(n for n in walk["nodes"] if n["kind"] == "asset")
    # void: emit returns the element, which Playwright would copy back with its whole graph.
    select = f"void window.__artisan.graphs['lineage'].getElementById('{other['id']}').emit('tap')"
    page.evaluate(select)
    page.wait_for_selector(f"[data-detail='{other['id']}']")
    page.evaluate(select)  # a second tap traces from it
    page.wait_for_function(f"document.querySelector('#page').dataset.route === "
                           f"'lineage/{other['id']}'")  # fmt: skip
    tab.settled()
    again = gql(api, "query($id: String!) { lineage(id: $id, direction: BOTH, depth: 3) {"
                     " nodes { id } } }", id=other["id"])["lineage"]  # fmt: skip
    assert tab.drawn("lineage") == len(again["nodes"])


def test_execution_page_shows_the_audit_verdict_and_evidence(tab: Page, api: httpx.Client) -> None:
    execution = gql(api, "{ executions(first: 1, orderBy: blockNumber, orderDirection: desc)"
                         " { id settlements { amount } } }")["executions"][0]  # fmt: skip
    page = tab.open(f"execution/{execution['id']}")
    assert page.get_attribute("[data-verdict]", "data-verdict") == "PASS"
    checks = gql(api, "query($id: String!) { audit(executionId: $id) { checks { name } } }",
                 id=execution["id"])["audit"]["checks"]  # fmt: skip
    assert tab.rows("checks") == len(checks) >= 10
    assert tab.rows("settlements") == len(execution["settlements"])
    page.click("details summary")
    assert '"signer"' in page.inner_text("details pre")
    tab.shot("execution")


def test_search_empty_and_error_states(tab: Page) -> None:
    page = tab.open("")
    page.fill("input[name=q]", "1")
    page.press("input[name=q]", "Enter")
    page.wait_for_function("document.querySelector('#page').dataset.route === 'model/1'")
    tab.settled()
    page = tab.open("model/999999")
    assert page.get_attribute("[data-panel=terms] .body", "data-state") == "empty"
    page = tab.open("epoch/999999")
    assert page.get_attribute("[data-panel=report] .body", "data-state") == "error"
    assert "999999" in page.inner_text("[data-panel=report] .error")
    page = tab.open("no/such/page")
    assert page.inner_text("h1") == "Not found"
    tab.shot("states")


def _shape(value: Any) -> Any:
    """Keys and list-ness, not values: what a README answer promises of a live one."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__ if value is not None else "null"


def test_the_readme_tour_answers_as_shown(api: httpx.Client) -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    tour = readme[readme.index("### A tour") :]
    queries = re.findall(r"```graphql\n(.*?)\n```\n```json\n(.*?)\n```", tour, re.S)
    assert len(queries) == 3
    for query, shown in queries:
        got = gql(api, query)
        want = json.loads(shown)
        assert set(got) == set(want)
        for key in want:  # null where the demo had nothing (no heartbeat yet) may be filled now
            if isinstance(want[key], list):
                assert got[key] and _shape(got[key][0]).keys() == _shape(want[key][0]).keys()
            else:
                assert _shape(got[key]).keys() == _shape(want[key]).keys()
