"""The one APScheduler of a process, shared by every service's periodic jobs.

``build_scheduler`` makes it (not started); the indexer service, the projection service and
any later one add their jobs to it; the owner starts it, and shuts it down last.
"""

from __future__ import annotations

from datetime import UTC

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler


def build_scheduler(max_workers: int = 4) -> BackgroundScheduler:
    """The process's scheduler (not started): UTC, a small thread pool, and job defaults of one
    instance at a time with missed runs coalesced."""
    return BackgroundScheduler(
        executors={"default": ThreadPoolExecutor(max_workers)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        timezone=UTC,
    )
