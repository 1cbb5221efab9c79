"""The executor API's JSON forms, shared by the server and the Python client.

A signed request travels as ``{"user", "modelId", "inputDigest", "paramsHash", "priority",
"maxCost", "nonce", "deadline"}`` (the EIP-712 field names): digests as 0x-hex, integers as
JSON numbers or decimal strings (a uint256 does not fit a JSON number in most languages; this
module writes strings). Amounts in answers are decimal strings of wei.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from artisan.domain.types import UINT256_MAX, InferenceRequest, Meter
from artisan.errors import DomainError
from artisan.executor.engine import ModelView, Receipt
from artisan.executor.measure import BatchShare
from artisan.executor.records import StatusView
from artisan.executor.refusals import MalformedRequest

REQUEST_HEADER = "x-artisan-request"  # the request's JSON, with an octet-stream body
SIGNATURE_HEADER = "x-artisan-signature"
REQUEST_FIELDS = (
    "user", "modelId", "inputDigest", "paramsHash", "priority", "maxCost", "nonce", "deadline",
)  # fmt: skip


def hex_bytes(value: object, field: str, size: int | None = None) -> bytes:
    """Bytes from 0x-hex text, naming ``field`` when it is not."""
    if not isinstance(value, str) or not value.startswith("0x"):
        raise MalformedRequest(f"{field} must be 0x-prefixed hex")
    try:
        raw = bytes.fromhex(value[2:])
    except ValueError:
        raise MalformedRequest(f"{field} is not valid hex") from None
    if size is not None and len(raw) != size:
        raise MalformedRequest(f"{field} must be {size} bytes, got {len(raw)}")
    return raw


# The most digits a uint256 has (2**256 - 1 is 78 digits): longer text is refused before
# int() parses it, which would cost quadratic time and trip Python's 4,300-digit guard.
_UINT256_DIGITS = 78


def _uint(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise MalformedRequest(f"{field} must be an integer or a decimal string")
    if isinstance(value, str):
        # ASCII digits only: str.isdigit() also accepts "²" and other Unicode digits.
        if not (value.isascii() and value.isdigit()):
            raise MalformedRequest(
                f"{field} must be a decimal string of digits 0-9, got {value!r:.40}"
            )
        if len(value) > _UINT256_DIGITS:
            raise MalformedRequest(f"{field} has {len(value)} digits: a uint256 has at most 78")
        value = int(value)
    if value < 0 or value > UINT256_MAX:
        raise MalformedRequest(f"{field} must be a uint256 (0 .. 2**256 - 1)")
    return value


def request_from_json(body: object) -> InferenceRequest:
    """An ``InferenceRequest`` from its JSON form; a missing or bad field is named."""
    if not isinstance(body, Mapping):
        raise MalformedRequest("request must be a JSON object")
    missing = [f for f in REQUEST_FIELDS if f not in body]
    if missing:
        raise MalformedRequest(f"request lacks {', '.join(missing)}")
    extra = sorted(set(body) - set(REQUEST_FIELDS))
    if extra:
        raise MalformedRequest(f"request has unknown fields {', '.join(extra)}")
    if not isinstance(body["user"], str):
        raise MalformedRequest("user must be a 0x-prefixed address")
    try:
        return InferenceRequest(
            user=body["user"],
            model_id=_uint(body["modelId"], "modelId"),
            input_digest=hex_bytes(body["inputDigest"], "inputDigest", 32),
            params_hash=hex_bytes(body["paramsHash"], "paramsHash", 32),
            priority=_uint(body["priority"], "priority"),
            max_cost=_uint(body["maxCost"], "maxCost"),
            nonce=_uint(body["nonce"], "nonce"),
            deadline=_uint(body["deadline"], "deadline"),
        )
    except DomainError as exc:
        raise MalformedRequest(f"request: {exc}") from exc


def request_to_json(r: InferenceRequest) -> dict[str, Any]:
    return {
        "user": r.user,
        "modelId": str(r.model_id),
        "inputDigest": "0x" + r.input_digest.hex(),
        "paramsHash": "0x" + r.params_hash.hex(),
        "priority": r.priority,
        "maxCost": str(r.max_cost),
        "nonce": str(r.nonce),
        "deadline": str(r.deadline),
    }


def meter_to_json(m: Meter) -> dict[str, int]:
    return {
        "inputUnits": m.input_units,
        "gpuMicros": m.gpu_micros,
        "latencyMicros": m.latency_micros,
        "storageBytes": m.storage_bytes,
        "concurrentLoad": m.concurrent_load,
    }


def meter_from_json(value: Mapping[str, Any]) -> Meter:
    return Meter(
        int(value["inputUnits"]),
        int(value["gpuMicros"]),
        int(value["latencyMicros"]),
        int(value["storageBytes"]),
        int(value["concurrentLoad"]),
    )


def _batch_to_json(b: BatchShare) -> dict[str, int]:
    return {
        "batchId": b.batch_id,
        "batchSize": b.batch_size,
        "sharePpm": b.share_ppm,
        "batchMicros": b.batch_micros,
    }


def receipt_to_json(r: Receipt) -> dict[str, Any]:
    return {
        "executionId": "0x" + r.execution_id.hex(),
        "status": r.status.value,
        "modelId": str(r.model_id),
        "modelCid": r.model_cid,
        "inputCid": r.input_cid,
        "outputCid": r.output_cid,
        "quote": str(r.quote),
        "cost": str(r.cost),
        "meter": meter_to_json(r.meter),
        "measured": meter_to_json(r.measured),
        "batch": _batch_to_json(r.batch),
        "provider": r.provider,
    }


def status_to_json(v: StatusView) -> dict[str, Any]:
    return {
        "executionId": "0x" + v.execution_id.hex(),
        "status": v.status.value,
        "reason": v.reason,
        "outputCid": v.output_cid,
        "quote": None if v.quote is None else str(v.quote),
        "cost": None if v.cost is None else str(v.cost),
        "txHash": v.tx_hash,
        "blockNumber": v.block_number,
    }


def model_to_json(v: ModelView) -> dict[str, Any]:
    t = v.model.terms
    return {
        "modelId": str(v.model.model_id),
        "cid": v.cid,
        "owner": t.owner,
        "access": v.model.access.name.lower(),
        "sizeClass": t.size_class,
        "parentId": str(t.parent_id),
        "pricing": {
            "kind": t.pricing_kind.name.lower(),
            "fixedPrice": str(t.fixed_price),
            "thresholds": [str(x) for x in t.thresholds],
            "prices": [str(x) for x in t.prices],
        },
        "served": v.pinned and v.problem is None,
        "problem": v.problem if v.pinned else "its file is not in this executor's store",
        "inputs": [
            {
                "name": i.name,
                "dtype": str(i.dtype),
                "shape": [d if d is not None else None for d in i.shape],
            }
            for i in v.inputs
        ],
    }
