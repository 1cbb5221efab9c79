"""Prometheus metrics of an executor: queue depth, batch sizes, apportioned GPU time, the GPU.

``ExecutorMetrics`` registers into the process's registry (``artisan.metrics``). The batcher
reports each completed batch once (``on_batch``, on its completer thread: a few histogram
observations per batch, nothing per HTTP request); queue depths are read from the scheduler
when Prometheus scrapes, so admitting a request costs nothing more. GPU utilisation and memory
come from ``nvidia-smi`` when sessions run on CUDA, refreshed with each heartbeat; on the CPU
those gauges are absent rather than zero. ``details`` is the same figures for the executor's
heartbeat (``artisan status``).
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from artisan.executor.scheduler import Scheduler
from artisan.executor.sessions import CUDA
from artisan.metrics import process_registry

log = logging.getLogger(__name__)

NS = "artisan_executor"
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
GPU_MICROS_BUCKETS = (50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 50_000, 250_000, 1_000_000)


@dataclass(frozen=True, slots=True)
class GpuReading:
    """One GPU as ``nvidia-smi`` sees it."""

    index: int
    utilization: float  # 0..1, over nvidia-smi's last sample period
    memory_used_bytes: int


def parse_nvidia_smi(text: str) -> list[GpuReading]:
    """``index, utilization.gpu, memory.used`` lines (csv, no header, no units: %, MiB)."""
    out = []
    for line in text.strip().splitlines():
        index, utilization, memory = (part.strip() for part in line.split(","))
        out.append(GpuReading(int(index), int(utilization) / 100, int(memory) * 2**20))
    return out


def read_gpus(timeout: float = 5.0) -> list[GpuReading] | None:
    """Every GPU's utilisation and memory in use, or None where ``nvidia-smi`` is absent or
    does not answer (a reading is a report: its failure is logged, never raised)."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    query = "--query-gpu=index,utilization.gpu,memory.used"
    try:
        command = [exe, query, "--format=csv,noheader,nounits"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=True)
        return parse_nvidia_smi(done.stdout)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        log.warning("cannot read the GPUs' utilisation from nvidia-smi: %s", exc)
        return None


class _QueueDepth(Collector):
    """Requests waiting per model and priority tier, read from the scheduler at each scrape."""

    def __init__(self) -> None:
        self.scheduler: Scheduler | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            f"{NS}_queue_depth", "Requests waiting to be batched", labels=["model", "priority"]
        )
        if self.scheduler is not None:
            for (model, tier), depth in self.scheduler.depths().items():
                family.add_metric([model, str(tier)], depth)
        yield family


class ExecutorMetrics:
    """The metrics of one executor, in the process's registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = r = registry or process_registry()
        self.batch_size = Histogram(
            "batch_size", "Requests per batched run", buckets=BATCH_BUCKETS, namespace=NS,
            registry=r,
        )  # fmt: skip
        self.batches = Counter("batches", "Batched runs completed", ["model"], namespace=NS,
                               registry=r)  # fmt: skip
        self.executions = Counter("executions", "Requests run (in completed batches)", ["model"],
                                  namespace=NS, registry=r)  # fmt: skip
        self.gpu_micros = Counter(
            "gpu_micros", "Measured run time apportioned to requests, in microseconds (the"
            " shares of a batch sum to its run time)", ["model"], namespace=NS, registry=r,
        )  # fmt: skip
        self.request_gpu_micros = Histogram(
            "request_gpu_micros", "Run time apportioned to one request, in microseconds",
            buckets=GPU_MICROS_BUCKETS, namespace=NS, registry=r,
        )  # fmt: skip
        self.gpu_utilization = Gauge(
            "gpu_utilization_ratio", "GPU busy fraction (nvidia-smi), when sessions run on CUDA",
            ["gpu"], namespace=NS, registry=r,
        )  # fmt: skip
        self.gpu_memory = Gauge(
            "gpu_memory_used_bytes", "GPU memory in use (nvidia-smi), when sessions run on CUDA",
            ["gpu"], namespace=NS, registry=r,
        )  # fmt: skip
        self._depth = _QueueDepth()
        r.register(self._depth)
        self.provider: str | None = None

    def watch(self, scheduler: Scheduler, provider: str) -> None:
        """Read queue depths from ``scheduler``; read the GPUs if ``provider`` is CUDA's."""
        self._depth.scheduler = scheduler
        self.provider = provider

    def on_batch(self, model: str, run_micros: int, shares: Sequence[int]) -> None:
        """One completed batch: its size, its run time and each request's share of it."""
        self.batch_size.observe(len(shares))
        self.batches.labels(model).inc()
        self.executions.labels(model).inc(len(shares))
        self.gpu_micros.labels(model).inc(run_micros)
        for micros in shares:
            self.request_gpu_micros.observe(micros)

    def refresh_gpus(self) -> list[GpuReading] | None:
        """Read the GPUs into the gauges (only on CUDA); the readings."""
        if self.provider != CUDA:
            return None
        readings = read_gpus()
        for gpu in readings or ():
            self.gpu_utilization.labels(str(gpu.index)).set(gpu.utilization)
            self.gpu_memory.labels(str(gpu.index)).set(gpu.memory_used_bytes)
        return readings

    def details(self) -> dict[str, object]:
        """The heartbeat's figures (the GPUs read afresh)."""
        scheduler = self._depth.scheduler
        depths = scheduler.depths() if scheduler is not None else {}
        value = self.registry.get_sample_value
        gpus = self.refresh_gpus()
        batch_count = value(f"{NS}_batch_size_count") or 0.0
        return {
            "provider": self.provider,
            "queue_depth": sum(depths.values()),
            "batches": _total(self.batches),
            "executions": _total(self.executions),
            "gpu_micros": _total(self.gpu_micros),
            "mean_batch_size": (
                round((value(f"{NS}_batch_size_sum") or 0.0) / batch_count, 3)
                if batch_count
                else None
            ),
            "gpus": None if gpus is None else [asdict(g) for g in gpus],
        }


def _total(counter: Counter) -> int:
    """A labelled counter summed over its labels."""
    return int(
        sum(
            sample.value
            for family in counter.collect()
            for sample in family.samples
            if sample.name.endswith("_total")
        )
    )
