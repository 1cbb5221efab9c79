"""Per-model caps, set when a model is registered (`artisan models register --max-output-mb
--max-run-s`), with safe defaults for a model registered without them or elsewhere.

The quote bounds what a request may use (``EstimatePolicy.run_budget``, ``storage_allowance``);
these caps bound it whatever the quote says: a model whose output or run time depends on its
inputs' values is held to them from its first request, before any history exists. They live
beside the model's file in the asset store (``limits/<cid>.json``), written by the operator
who pinned it: the chain knows nothing of them, they are this executor's policy.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from artisan.executor.errors import InvalidArgument

DEFAULT_MAX_OUTPUT_BYTES = 256 * 2**20
DEFAULT_MAX_RUN_MICROS = 30_000_000


@dataclass(frozen=True, slots=True)
class ModelLimits:
    max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES  # one request's output asset
    max_run_micros: int = DEFAULT_MAX_RUN_MICROS  # one run (a batch)

    def __post_init__(self) -> None:
        if self.max_output_bytes < 1 or self.max_run_micros < 1:
            raise InvalidArgument("model limits must be positive")


def _path(root: Path, cid: str) -> Path:
    return root / "limits" / f"{cid}.json"


def save_limits(root: Path, cid: str, limits: ModelLimits) -> None:
    """Record ``limits`` for the model ``cid`` in the asset store at ``root``."""
    path = _path(root, cid)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(limits)))
    tmp.replace(path)


def load_limits(root: Path, cid: str) -> ModelLimits:
    """The recorded limits of ``cid``, or the defaults; a damaged record is an error, named."""
    path = _path(root, cid)
    if not path.exists():
        return ModelLimits()
    try:
        raw = json.loads(path.read_text())
        return ModelLimits(int(raw["max_output_bytes"]), int(raw["max_run_micros"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InvalidArgument(f"the limits of model {cid} at {path} are unreadable: {exc}") from exc
