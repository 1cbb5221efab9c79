"""The process's scheduler: a job slower than its interval runs on, one instance at a time,
and the runs it makes the scheduler skip are not logged (they were half a soak's indexer log)."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from artisan.scheduling import build_scheduler


def test_a_job_slower_than_its_interval_runs_one_at_a_time_and_skips_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    running, most, runs = 0, 0, 0
    lock = threading.Lock()

    def slow() -> None:
        nonlocal running, most, runs
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.25)
        with lock:
            running -= 1
            runs += 1

    scheduler = build_scheduler(4)
    scheduler.add_job(slow, "interval", seconds=0.05)
    with caplog.at_level(logging.DEBUG, logger="apscheduler"):
        scheduler.start()
        time.sleep(1.2)
        scheduler.shutdown(wait=True)
    assert most == 1 and runs >= 3
    assert not [r for r in caplog.records if "maximum number of running instances" in r.message]
    # The filter hides only that line: another warning of the scheduler still shows.
    with caplog.at_level(logging.WARNING, logger="apscheduler.scheduler"):
        logging.getLogger("apscheduler.scheduler").warning("Run time of job was missed")
    assert any("was missed" in r.message for r in caplog.records)
    build_scheduler()  # a second scheduler in the process adds no second filter
    assert len(logging.getLogger("apscheduler.scheduler").filters) == 1
