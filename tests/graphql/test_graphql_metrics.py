"""The API's /metrics: latency per operation name and per root field, errors, subscriptions."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from artisan.executor.serving import serve_in_thread
from artisan.graphql.app import create_app
from artisan.graphql.metrics import MAX_OPERATION_NAMES, OTHER, ApiMetrics
from artisan.storage.database import Database
from tests.projections.support import CHAIN_ID

from .live_support import Subscriber
from .support import History, data, error


def sample(url: str, name: str, **labels: str) -> float | None:
    """One sample of the app's /metrics, as Prometheus would read it."""
    text = httpx.get(f"{url}/metrics", timeout=5).text
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return None


@pytest.fixture
def served(seeded: tuple[Database, History]) -> Iterator[str]:
    db, _ = seeded
    with serve_in_thread(create_app(db.url, chain_id=CHAIN_ID), lifespan=True) as url:
        yield url


def test_each_operation_is_timed_by_name_type_and_root_field(served: str) -> None:
    """A named query lands in the latency histogram under its name and type, and under each
    root field it asked for; an anonymous one under `anonymous`; a refused one counts as an
    error; the process's own figures are there too."""
    with httpx.Client(base_url=served) as http:
        for _ in range(3):
            data(http, "query Latest { executions(first: 2) { id } _meta { block { number } } }")
        data(http, "{ models(first: 1) { id } }")
        assert "first" in error(http, "query Broken { executions(first: -1) { id } }")
    histogram = "artisan_api_operation_seconds_count"
    assert sample(served, histogram, operation="Latest", type="query") == 3
    assert sample(served, histogram, operation="anonymous", type="query") == 1
    assert sample(served, "artisan_api_root_field_seconds_count", field="executions") == 3
    assert sample(served, "artisan_api_root_field_seconds_count", field="_meta") == 3
    assert sample(served, "artisan_api_root_field_seconds_count", field="models") == 1
    assert sample(served, "artisan_api_operation_errors_total", operation="Broken") == 1
    assert sample(served, "artisan_api_operation_errors_total", operation="Latest") is None
    assert (sample(served, "process_cpu_seconds_total") or 0) > 0


def test_open_subscriptions_are_counted_per_root_field(served: str) -> None:
    """A subscription counts while it is open, and stops counting once its connection closes;
    it is not timed as an operation."""

    def open_blocks() -> float:
        return sample(served, "artisan_api_subscriptions", field="blocks") or 0.0

    with Subscriber(served) as client:
        client.subscribe("subscription Heads { blocks { number } }")
        deadline = time.monotonic() + 10
        while open_blocks() != 1:
            assert time.monotonic() < deadline, "the subscription was never counted"
            time.sleep(0.05)
    deadline = time.monotonic() + 10
    while open_blocks() != 0:
        assert time.monotonic() < deadline, "the closed subscription is still counted"
        time.sleep(0.05)
    assert sample(served, "artisan_api_operation_seconds_count", operation="Heads") is None


def test_operation_names_beyond_the_limit_share_one_label() -> None:
    """A client inventing names cannot grow the registry without bound: past the limit, new
    names are counted as `other`."""
    metrics = ApiMetrics()
    labels = {metrics.label(f"Op{i}") for i in range(MAX_OPERATION_NAMES + 10)}
    assert len(labels) == MAX_OPERATION_NAMES + 1 and OTHER in labels
    assert metrics.label("Op1") == "Op1"
