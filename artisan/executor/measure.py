"""Measurement of the meter vector, per request, from what one batch run measured.

This is measurement only; pricing a meter is the domain's metering rule. Each request gets a
domain ``Meter`` (which checks that every field fits its on-chain integer type):

- ``input_units``: the number of elements in its input tensors;
- ``gpu_micros``: the batch's measured run time, apportioned by the request's share of the
  batch's input elements (largest remainder, so the shares sum exactly to the batch time);
- ``latency_micros``: admission to completion;
- ``storage_bytes``: input asset bytes plus output asset bytes;
- ``concurrent_load``: the model's queue depth when the request was admitted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from numpy.typing import NDArray

from artisan.domain.types import Meter
from artisan.executor.errors import InvalidArgument

PPM = 1_000_000


@dataclass(frozen=True, slots=True)
class BatchShare:
    """Which run a request was part of, kept off-chain with the execution for audit."""

    batch_id: int
    batch_size: int  # requests in the batch
    share_ppm: int  # this request's share of the batch's input elements; a batch sums to 1e6
    batch_micros: int  # the whole batch's measured run time


class MeteredRequest(Protocol):
    """What metering needs to know of an admitted request."""

    @property
    def input_units(self) -> int: ...
    @property
    def input_bytes(self) -> int: ...
    @property
    def concurrent_load(self) -> int: ...
    @property
    def admitted_ns(self) -> int: ...


def input_units(tensors: Mapping[str, NDArray[Any]]) -> int:
    """The number of input elements of a request."""
    return sum(int(array.size) for array in tensors.values())


def tensor_bytes(tensors: Mapping[str, NDArray[Any]]) -> int:
    """The raw byte size of a set of tensors (the default size of an asset holding them)."""
    return sum(int(array.nbytes) for array in tensors.values())


def apportion(total: int, weights: Sequence[int]) -> list[int]:
    """Split the integer ``total`` in proportion to ``weights`` by the largest-remainder method.

    Each part is ``floor(total * w / sum(w))``; the units left over go one each to the parts
    with the largest remainders, the earlier part first on a tie. The parts sum to ``total``
    exactly. All-zero weights split evenly.
    """
    if total < 0 or any(w < 0 for w in weights):
        raise InvalidArgument("apportion needs a non-negative total and weights")
    if not weights:
        if total:
            raise InvalidArgument("cannot apportion a non-zero total over no parts")
        return []
    first = weights[0]
    if all(w == first for w in weights):
        # Equal weights (the common batch of same-shaped requests): every remainder ties, so
        # the earliest parts get the leftover units. Same result, without the sort.
        part, left = divmod(total, len(weights))
        return [part + 1] * left + [part] * (len(weights) - left)
    whole = sum(weights)
    numerators = [total * w for w in weights]
    parts = [n // whole for n in numerators]
    left = total - sum(parts)
    if left:
        by_remainder = sorted(range(len(parts)), key=lambda i: (-(numerators[i] % whole), i))
        for i in by_remainder[:left]:
            parts[i] += 1
    return parts


def _micros(ns: int) -> int:
    return max(0, (ns + 500) // 1000)


def meter_batch(
    batch_id: int,
    batch_micros: int,
    requests: Sequence[MeteredRequest],
    output_bytes: Sequence[int],
    completed_ns: int,
) -> list[tuple[Meter, BatchShare]]:
    """The meter and batch share of each request of one run, in the batch's order."""
    if len(output_bytes) != len(requests):
        raise InvalidArgument("one output size per request")
    units = [r.input_units for r in requests]
    gpu = apportion(batch_micros, units)
    shares = apportion(PPM, units)
    size = len(requests)
    return [
        (
            Meter(
                r.input_units,
                gpu[i],
                _micros(completed_ns - r.admitted_ns),
                r.input_bytes + output_bytes[i],
                r.concurrent_load,
            ),
            BatchShare(batch_id, size, shares[i], batch_micros),
        )
        for i, r in enumerate(requests)
    ]
