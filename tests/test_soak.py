"""The soak (`make soak`) for a few seconds, so that it does not rot between soaks: its final
line is one JSON object with every figure, and nothing it accepted is lost."""

from __future__ import annotations

import json

import pytest

from artisan.storage.database import Database
from artisan.testing.process_samples import Sample, growth
from artisan.testing.simulation import CHECKS, LOSSES
from artisan.testing.soak import main


@pytest.mark.anvil
@pytest.mark.slow
def test_a_short_soak_reports_every_figure_and_loses_nothing(
    pg_server: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--seconds", "12", "--restart-every", "5", "--reorg-every", "4",
                 "--url", pg_server.url])  # fmt: skip
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and report["ok"], report
    assert report["failure"] is None
    assert report["checks"] == dict.fromkeys(CHECKS, True)
    assert report["loss"] == dict.fromkeys([*LOSSES, "not_projected"], 0)
    executions = report["executions"]
    assert executions["accepted"] > 10 and executions["p99_ms"] >= executions["p50_ms"] > 0
    assert report["chain"]["executed_on_chain"] == executions["accepted"]
    assert report["graphql_reads"]["count"] > 0 and report["subscriptions"]["messages"] > 0
    assert report["reorgs"] >= 1 and sum(report["restarts"].values()) >= 1
    services = {"indexer", "projections", "executor-a", "executor-b", "api", "anvil"}
    assert set(report["processes"]) == services
    for figures in report["processes"].values():
        assert figures["rss_mib"]["max"] >= figures["rss_mib"]["first"] > 0
        assert figures["fds"]["max"] > 0 and "mib_per_h" in figures
    assert report["memory_judged"] is False  # 20 s is too short to tell a leak
    assert report["pg_connections"]["max"] > 0


def test_memory_growth_is_fitted_per_lifetime_past_warm_up() -> None:
    """A restart's drop is not read as shrinking, nor warm-up as growth: two lifetimes that
    each grow 1 MiB a minute after a 50 MiB warm-up jump fit 60 MiB an hour."""
    samples = []
    for pid, start in ((1, 0.0), (2, 300.0)):
        for k in range(30):
            t = start + 10 * k
            warm = 100.0 if k < 3 else 150.0
            samples.append(Sample("p", pid, t, warm + (t - start) / 60, 10))
    g = growth(samples, warmup_s=30.0)
    assert g.mib_per_h == pytest.approx(60.0, abs=0.1)
    assert g.lifetimes == 2 and g.fitted_s == 2 * 260.0
    assert g.fitted_growth_mib == pytest.approx(60.0 * 520 / 3600, abs=0.1)
    flat = growth([Sample("q", 3, 10.0 * k, 200.0, 10) for k in range(30)], warmup_s=30.0)
    assert flat.mib_per_h == 0.0 and flat.max_mib == 200.0
