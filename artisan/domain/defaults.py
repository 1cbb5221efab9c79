"""Dev-chain defaults of the protocol: the rates the deploy step sets, and synthetic data uses."""

from __future__ import annotations

from artisan.domain.types import Rates

# The first metering rates of a dev deployment (docs/PROTOCOL.md), in $ART wei per unit.
DEV_RATES = Rates(
    unit_rate=(10**9, 2 * 10**9, 4 * 10**9, 8 * 10**9),
    gpu_rate=10**11,
    latency_rate=10**9,
    storage_rate=10**7,
    priority_bps=(10_000, 12_500, 15_000, 20_000),
    load_bps_per_unit=100,
    load_capacity=32,
    max_load_bps=30_000,
    operator_bps=1_500,
    treasury_bps=500,
)
