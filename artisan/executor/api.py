"""The executor's HTTP API (Starlette).

- ``POST /v1/executions``: a signed request and its inputs, in one of two forms:
  ``application/json`` ``{"request": {...}, "signature": "0x...", "inputs": {name: {"dtype",
  "shape", "data"}}}``, or ``application/octet-stream`` whose body is the canonical input
  encoding (``tensors``: a bare .npy for a one-input model, else a bundle) with the request as
  compact JSON in the ``X-Artisan-Request`` header and the signature in ``X-Artisan-Signature``.
  Answers 200 with the recorded execution (id, output CID, quote, cost, meter) once it ran, or
  with ``?wait=false`` 202 with the id and quote as soon as it is queued.
- ``GET /v1/executions/{id}``: queued, ran, emitted, confirmed, rejected (with the ledger's
  reason) or failed (with why).
- ``GET /v1/assets/{cid}``: an asset's bytes, re-hashed against the CID on the way out.
- ``GET /v1/models``: registered models, with their terms and, where this executor holds the
  file, the inputs a request sends (``?first=N&after=ID`` pages through them).
- ``GET /healthz``: the execution provider in use and where executions are recorded.
- ``GET /metrics``: Prometheus metrics (``executor.metrics``), when the app is given a registry.

Every refusal answers 4xx with ``{"error": {"code", "message"}}``; nothing refused is stored,
recorded or charged. Blocking work (admission's chain reads, hashing, file writes) runs in
the threadpool; the event loop only awaits. Each accepted request is logged on the execution
trail (``artisan.logs.EXECUTIONS``, off by default) with its ``execution_id``.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from artisan.errors import ChainError, DomainError
from artisan.executor.engine import ExecutorService, Ticket
from artisan.executor.errors import (
    AssetNotFound,
    CorruptAsset,
    ExecutorError,
    InvalidCid,
    InvalidInput,
    ModelLoadError,
    RunFailed,
    RunOverBudget,
    SchedulingError,
)
from artisan.executor.recorder import RecordFailed
from artisan.executor.refusals import (
    BadSignature,
    InsufficientEscrow,
    MalformedRequest,
    ModelNotPinned,
    NoAccess,
    NonceUsed,
    Refused,
    UnknownModel,
)
from artisan.executor.sessions import Tensor
from artisan.executor.tensors import LIMITS, decode_tensors, from_json
from artisan.executor.wire import (
    REQUEST_HEADER,
    SIGNATURE_HEADER,
    hex_bytes,
    model_to_json,
    receipt_to_json,
    request_from_json,
    status_to_json,
)
from artisan.logs import EXECUTIONS
from artisan.metrics import metrics_route

log = logging.getLogger(__name__)
trail = logging.getLogger(EXECUTIONS)

MAX_BODY_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ApiLimits:
    """What one HTTP request may be: checked while it is read, before anything is parsed."""

    max_body_bytes: int = MAX_BODY_BYTES
    body_timeout_s: float = 30.0  # the whole body must arrive within this (slow senders)
    max_header_bytes: int = 16 * 1024  # X-Artisan-Request / X-Artisan-Signature, each


# The status of each refusal; any other ``Refused`` (malformed, expired, bad priority, digest
# mismatch, cost above maxCost) is a 422 or, when the body cannot even be read, a 400.
_REFUSAL_STATUS: dict[type[Refused], int] = {
    MalformedRequest: 400,
    BadSignature: 401,
    InsufficientEscrow: 402,
    NoAccess: 403,
    UnknownModel: 404,
    ModelNotPinned: 404,
    NonceUsed: 409,
}


class JsonResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


def error_response(exc: Exception) -> JsonResponse:
    """The HTTP answer to an exception of ours."""
    if isinstance(exc, Refused):
        status, code = _REFUSAL_STATUS.get(type(exc), 422), exc.code
    elif isinstance(exc, InvalidInput):
        status, code = 422, _snake(type(exc).__name__)
    elif isinstance(exc, DomainError):
        status, code = 422, "invalid_request"
    elif isinstance(exc, ChainError):
        status, code = 503, "chain_unavailable"
    elif isinstance(exc, RecordFailed | SchedulingError):
        status, code = 503, _snake(type(exc).__name__)
    elif isinstance(exc, ModelLoadError):
        status, code = 422, "model_unusable"
    elif isinstance(exc, RunOverBudget):
        status, code = 422, "run_over_budget"
    elif isinstance(exc, RunFailed):
        status, code = 500, "run_failed"
    elif isinstance(exc, MemoryError):
        status, code = 503, "insufficient_memory"
    else:
        status, code = 500, "internal_error"
    return JsonResponse({"error": {"code": code, "message": str(exc)}}, status_code=status)


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status_code=status)


class BodyError(Exception):
    """The body could not be read within the limits: an HTTP answer, not a refusal."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


def answers_in_json(
    route: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """Whatever escapes a route becomes the API's JSON error (logged, never a plain-text 500
    that makes the server drop the connection); memory exhaustion is a 503."""

    @functools.wraps(route)
    async def guarded(request: Request) -> Response:
        try:
            return await route(request)
        except MemoryError:
            log.error("out of memory answering %s %s", request.method, request.url.path)
            return _error(503, "insufficient_memory", "the executor is out of memory; retry")
        except Exception as exc:
            log.exception("unexpected failure answering %s %s", request.method, request.url.path)
            return _error(500, "internal_error", f"unexpected {type(exc).__name__}")

    return guarded


def _malformed(message: str) -> JsonResponse:
    return error_response(MalformedRequest(message))


class ExecutorApi:
    """The routes, bound to one running executor."""

    def __init__(self, service: ExecutorService, *, limits: ApiLimits | None = None):
        self.service = service
        self.limits = limits or ApiLimits()

    async def _body(self, request: Request) -> bytes:
        """The body, read as it streams in: refused at once if its declared length is over the
        limit, as soon as what arrived is, and if it has not all arrived in time."""
        limit = self.limits.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None:
            if not (declared.isascii() and declared.isdigit()) or len(declared) > 20:
                raise BodyError(400, "malformed_request", "Content-Length is not a number")
            if int(declared) > limit:
                raise BodyError(413, "body_too_large", f"body of {declared} bytes, over {limit}")
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.limits.body_timeout_s):
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limit:
                        raise BodyError(413, "body_too_large", f"body over {limit} bytes")
                    chunks.append(chunk)
        except TimeoutError:
            raise BodyError(
                408, "body_timeout",
                f"the body did not arrive within {self.limits.body_timeout_s} s",
            ) from None  # fmt: skip
        return b"".join(chunks)

    async def post_execution(self, request: Request) -> Response:
        try:
            body = await self._body(request)
        except BodyError as exc:
            return _error(exc.status, exc.code, str(exc))
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        wait = request.query_params.get("wait", "true").lower() not in ("false", "0", "no")
        try:
            if kind == "application/json":
                ticket = await run_in_threadpool(self._submit_json, body)
            elif kind == "application/octet-stream":
                ticket = await run_in_threadpool(self._submit_npy, body, dict(request.headers))
            else:
                return _malformed(
                    f"content-type {kind or 'none'!r}: send application/json or"
                    " application/octet-stream"
                )
            if not wait:
                return JsonResponse(
                    {"executionId": "0x" + ticket.execution_id.hex(), "status": "queued",
                     "quote": str(ticket.quote)},
                    status_code=202,
                )  # fmt: skip
            receipt = await asyncio.wrap_future(ticket.receipt)
        except (ExecutorError, ChainError, DomainError, MemoryError) as exc:
            return error_response(exc)
        return JsonResponse(receipt_to_json(receipt))

    def _accepted(self, ticket: Ticket) -> Ticket:
        if trail.isEnabledFor(logging.INFO):
            execution_id = "0x" + ticket.execution_id.hex()
            trail.info("execution %s accepted over HTTP, quoted %d", execution_id, ticket.quote,
                       extra={"execution_id": execution_id, "stage": "accepted",
                              "quote": str(ticket.quote)})  # fmt: skip
        return ticket

    def _submit_json(self, body: bytes) -> Ticket:
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise MalformedRequest(f"body is not JSON: {exc}") from exc
        if not isinstance(doc, dict):
            raise MalformedRequest("body must be a JSON object")
        missing = [k for k in ("request", "signature", "inputs") if k not in doc]
        if missing:
            raise MalformedRequest(f"body lacks {', '.join(missing)}")
        request = request_from_json(doc["request"])
        signature = hex_bytes(doc["signature"], "signature")
        # The signature first: a body only a signer could send is worth parsing tensors for.
        prechecked = self.service.precheck(request, signature)
        inputs = doc["inputs"]
        if not isinstance(inputs, dict) or not inputs:
            raise MalformedRequest("inputs must be a non-empty object of named tensors")
        if len(inputs) > LIMITS.max_tensors:
            raise MalformedRequest(f"{len(inputs)} inputs: at most {LIMITS.max_tensors}")
        tensors: dict[str, Tensor] = {n: from_json(n, v) for n, v in inputs.items()}
        return self._accepted(self.service.submit(request, signature, tensors, verified=prechecked))

    def _submit_npy(self, body: bytes, headers: dict[str, str]) -> Ticket:
        raw_request, raw_signature = headers.get(REQUEST_HEADER), headers.get(SIGNATURE_HEADER)
        if raw_request is None or raw_signature is None:
            raise MalformedRequest(
                f"an octet-stream body needs the {REQUEST_HEADER} and {SIGNATURE_HEADER} headers"
            )
        for name, value in ((REQUEST_HEADER, raw_request), (SIGNATURE_HEADER, raw_signature)):
            if len(value) > self.limits.max_header_bytes:
                raise MalformedRequest(f"{name} is over {self.limits.max_header_bytes} bytes")
        try:
            request = request_from_json(orjson.loads(raw_request))
        except orjson.JSONDecodeError as exc:
            raise MalformedRequest(f"{REQUEST_HEADER} is not JSON: {exc}") from exc
        signature = hex_bytes(raw_signature, SIGNATURE_HEADER)
        # Cheapest first: the body's digest and the signature, before any tensor is parsed
        # and before the model is looked up (anyone can send bytes).
        prechecked = self.service.precheck(request, signature, hashlib.sha256(body).digest())
        tensors = decode_tensors(body, self.service.input_name(request.model_id))
        return self._accepted(
            self.service.submit(request, signature, tensors, input_asset=body, verified=prechecked)
        )

    async def get_execution(self, request: Request) -> Response:
        try:
            execution_id = hex_bytes(request.path_params["execution_id"], "execution id", 32)
        except MalformedRequest as exc:
            return error_response(exc)
        view = await run_in_threadpool(self.service.status, execution_id)
        if view is None:
            return JsonResponse(
                {"error": {"code": "unknown_execution",
                           "message": f"no execution 0x{execution_id.hex()} here"}},
                status_code=404,
            )  # fmt: skip
        return JsonResponse(status_to_json(view))

    async def get_asset(self, request: Request) -> Response:
        cid = request.path_params["cid"]
        try:
            data = await run_in_threadpool(self.service.admission.store.get, cid)
        except InvalidCid as exc:
            return JsonResponse({"error": {"code": "invalid_cid", "message": str(exc)}}, 400)
        except AssetNotFound as exc:
            return JsonResponse({"error": {"code": "asset_not_found", "message": str(exc)}}, 404)
        except CorruptAsset as exc:
            return JsonResponse({"error": {"code": "corrupt_asset", "message": str(exc)}}, 500)
        return Response(data, media_type="application/octet-stream", headers={"etag": f'"{cid}"'})

    async def get_models(self, request: Request) -> Response:
        """``GET /v1/models?first=N&after=ID``: registered models, ``first`` at a time."""
        params = request.query_params
        try:
            first = int(params.get("first", "100"))
            after = int(params.get("after", "0"))
        except ValueError:
            return _malformed("first and after must be integers")
        if not 1 <= first <= 1000 or after < 0:
            return _malformed("first must be 1..1000 and after >= 0")
        try:
            views, more = await run_in_threadpool(self.service.models, after, first)
        except ChainError as exc:
            return error_response(exc)
        return JsonResponse({
            "models": [model_to_json(v) for v in views],
            "next": None if more is None else str(more),
        })  # fmt: skip

    async def healthz(self, request: Request) -> Response:
        admission = self.service.admission
        return JsonResponse(
            {
                "status": "ok",
                "provider": self.service.provider,
                "chainId": admission.verifier.chain_id,
                "ledger": admission.verifier.ledger_address,
                "sink": type(self.service.recorder.sink).__name__,
            }
        )


def create_app(
    service: ExecutorService,
    *,
    max_body_bytes: int = MAX_BODY_BYTES,
    limits: ApiLimits | None = None,
    registry: CollectorRegistry | None = None,
) -> Starlette:
    """The Starlette app serving one executor (which the caller opens and closes); with a
    ``registry``, its metrics on ``/metrics``."""
    api = ExecutorApi(service, limits=limits or ApiLimits(max_body_bytes=max_body_bytes))
    metrics = [] if registry is None else [metrics_route(registry)]
    return Starlette(
        routes=[
            *metrics,
            Route("/v1/executions", answers_in_json(api.post_execution), methods=["POST"]),
            Route(
                "/v1/executions/{execution_id}", answers_in_json(api.get_execution), methods=["GET"]
            ),
            Route("/v1/assets/{cid}", answers_in_json(api.get_asset), methods=["GET"]),
            Route("/v1/models", answers_in_json(api.get_models), methods=["GET"]),
            Route("/healthz", answers_in_json(api.healthz), methods=["GET"]),
        ],
        exception_handlers={HTTPException: _http_error},
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals (no such path, wrong method) in the API's one error shape."""
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    message = {
        404: f"no {request.url.path} here: the API serves /v1/executions, /v1/models,"
        " /v1/assets/{cid} and /healthz",
        405: f"{request.method} is not served at {request.url.path}",
    }.get(exc.status_code, str(exc.detail))
    return _error(exc.status_code, code, message)
