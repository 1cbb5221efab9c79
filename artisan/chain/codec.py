"""Domain values to and from the contracts' ABI tuples (field order as in the Solidity structs)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from web3 import Web3

from artisan.domain.types import InferenceRequest, Meter, ModelTerms, Rates


def request_tuple(r: InferenceRequest) -> tuple[Any, ...]:
    return (
        _checksum(r.user),
        r.model_id,
        r.input_digest,
        r.params_hash,
        r.priority,
        r.max_cost,
        r.nonce,
        r.deadline,
    )


def meter_tuple(m: Meter) -> tuple[int, int, int, int, int]:
    return (m.input_units, m.gpu_micros, m.latency_micros, m.storage_bytes, m.concurrent_load)


def item_tuple(
    request: InferenceRequest, signature: bytes, meter: Meter, output_digest: bytes
) -> tuple[Any, ...]:
    return (request_tuple(request), signature, meter_tuple(meter), output_digest)


def rates_tuple(r: Rates) -> tuple[Any, ...]:
    return (
        list(r.unit_rate),
        r.gpu_rate,
        r.latency_rate,
        r.storage_rate,
        list(r.priority_bps),
        r.load_bps_per_unit,
        r.load_capacity,
        r.max_load_bps,
        r.operator_bps,
        r.treasury_bps,
    )


def rates_from_tuple(t: Sequence[Any]) -> Rates:
    return Rates(
        unit_rate=tuple(t[0]),
        gpu_rate=t[1],
        latency_rate=t[2],
        storage_rate=t[3],
        priority_bps=tuple(t[4]),
        load_bps_per_unit=t[5],
        load_capacity=t[6],
        max_load_bps=t[7],
        operator_bps=t[8],
        treasury_bps=t[9],
    )


def terms_from_chain(model: Sequence[Any], tiers: Sequence[Sequence[int]]) -> ModelTerms:
    """ModelTerms from ``registry.getModel(id)`` and ``registry.tiers(id)``."""
    (_cid, owner, _kind, size_class, _access, pricing_kind, _depth, _remix_allowed,
     remix_share_bps, dao_share_bps, dao_treasury, parent_id, fixed_price) = model  # fmt: skip
    return ModelTerms(
        owner=owner,
        size_class=size_class,
        pricing_kind=pricing_kind,
        fixed_price=fixed_price,
        thresholds=tuple(tiers[0]),
        prices=tuple(tiers[1]),
        dao_treasury=dao_treasury,
        dao_share_bps=dao_share_bps,
        parent_id=parent_id,
        remix_share_bps=remix_share_bps,
    )


def _checksum(address: str) -> str:
    return str(Web3.to_checksum_address(address))


def meter_from_abi(value: Any) -> Meter:
    """A Meter from web3's decoding of the struct (a mapping by field name, or a tuple)."""
    if isinstance(value, Mapping):
        return Meter(
            input_units=int(value["inputUnits"]),
            gpu_micros=int(value["gpuMicros"]),
            latency_micros=int(value["latencyMicros"]),
            storage_bytes=int(value["storageBytes"]),
            concurrent_load=int(value["concurrentLoad"]),
        )
    return Meter(*(int(v) for v in value))
