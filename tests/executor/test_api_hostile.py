"""The executor under hostile input: every client input gets a 4xx in the API's JSON error
shape (never a 5xx, never a dropped connection), cheap checks come first, a run is bounded by
what it was quoted for, and nothing refused is stored, held or charged."""

from __future__ import annotations

import hashlib
import os
import socket
import struct
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from artisan.domain.eip712 import sign_request
from artisan.executor.api import ApiLimits, create_app
from artisan.executor.client import SignedRequest
from artisan.executor.model_limits import ModelLimits, save_limits
from artisan.executor.serving import serve_in_thread
from artisan.executor.tensors import BUNDLE_MAGIC, encode_npy, to_json
from artisan.executor.wire import REQUEST_HEADER, SIGNATURE_HEADER, request_to_json
from artisan.testing import onnx_models as models
from tests.chain.helpers import User
from tests.executor.api_helpers import Api, rows


def npy_header(descr: str, shape: tuple[int, ...]) -> bytes:
    """A .npy 1.0 header alone, declaring whatever it is told to."""
    text = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape!r}, }}"
    pad = 64 - (10 + len(text) + 1) % 64
    header = (text + " " * pad + "\n").encode()
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header


def signed_over(api: Api, user: User, model: int, body: bytes) -> tuple[dict[str, str], Any]:
    """Headers of an octet-stream request whose signed inputDigest is ``body``'s digest."""
    signed = api.sign(user, model, rows(1))
    request = replace(signed.request, input_digest=hashlib.sha256(body).digest())
    d = api.protocol.deployment
    signature = sign_request(request, user.key, d.chain_id, d.ledger)
    return {
        "content-type": "application/octet-stream",
        REQUEST_HEADER: orjson.dumps(request_to_json(request)).decode(),
        SIGNATURE_HEADER: "0x" + signature.hex(),
    }, request


def post_npy(api: Api, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return api.client.http.post("/v1/executions", content=body, headers=headers)


def post_json(api: Api, doc: Any) -> httpx.Response:
    return api.client.http.post(
        "/v1/executions", content=orjson.dumps(doc), headers={"content-type": "application/json"}
    )


def json_body(signed: SignedRequest, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "request": request_to_json(signed.request),
        "signature": "0x" + signed.signature.hex(),
        "inputs": {name: to_json(t) for name, t in signed.tensors.items()},
    }
    body.update(changes)
    return body


def assert_refused(api: Api, response: httpx.Response, status: int, code: str) -> None:
    """The answer is the API's JSON error with this status and code, and the same client can
    go on using the server."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code and error["message"]
    assert api.client.http.get("/healthz").status_code == 200


def test_numbers_that_are_not_plain_decimal_uints(api: Api, mlp_model: int) -> None:
    """A Unicode digit and a 5,000-digit nonce are 400 malformed_request, not a 500."""
    user = api.user()
    signed = api.sign(user, mlp_model, rows(1))
    for nonce in ("²", "9" * 5_000, "-1", "1e3", " 1"):
        body = json_body(signed, request={**request_to_json(signed.request), "nonce": nonce})
        assert_refused(api, post_json(api, body), 400, "malformed_request")
    too_big = {**request_to_json(signed.request), "maxCost": str(2**256)}
    assert_refused(api, post_json(api, json_body(signed, request=too_big)), 400,
                   "malformed_request")  # fmt: skip
    # A JSON number past 64 bits, written out as digits in the body.
    raw = orjson.dumps(json_body(signed)).replace(
        f'"maxCost":"{signed.request.max_cost}"'.encode(), b'"maxCost":' + b"9" * 90
    )
    assert b"9" * 90 in raw
    response = api.client.http.post(
        "/v1/executions", content=raw, headers={"content-type": "application/json"}
    )
    assert_refused(api, response, 400, "malformed_request")


def test_huge_declared_tensors_cost_nothing(api: Api, mlp_model: int) -> None:
    """Headers that declare terabytes: unsigned, the signature refuses them before any parse;
    signed, the declared size is refused from the header alone. JSON shapes whose product
    overflows int64 are refused, not wrapped."""
    user = api.user()
    body = npy_header("<f4", (10**12,))
    unsigned = {**signed_over(api, user, mlp_model, body)[0], SIGNATURE_HEADER: "0x00"}
    assert_refused(api, post_npy(api, body, unsigned), 401, "bad_signature")
    assert_refused(api, post_npy(api, body, signed_over(api, user, mlp_model, body)[0]), 422,
                   "too_large")  # fmt: skip
    void = npy_header("|V1000000000", (10,))
    assert_refused(api, post_npy(api, void, signed_over(api, user, mlp_model, void)[0]), 422,
                   "invalid_input")  # fmt: skip
    signed = api.sign(user, mlp_model, rows(1))
    for shape in ([4294967296, 4294967296], [9223372036854775808], [1] * 40):
        inputs = {"x": {"dtype": "float32", "shape": shape, "data": []}}
        assert_refused(api, post_json(api, json_body(signed, inputs=inputs)), 422, "too_large")


def test_a_bundle_of_countless_tiny_tensors_is_refused_from_its_count(
    api: Api, mlp_model: int
) -> None:
    """300,000 tiny tensors in a signed bundle: refused by their count, at once."""
    user = api.user()
    one = encode_npy(np.zeros(1, np.uint8))
    parts = [BUNDLE_MAGIC, struct.pack(">I", 300_000)]
    for i in range(300_000):
        name = f"t{i}".encode()
        parts += [struct.pack(">H", len(name)), name, struct.pack(">Q", len(one)), one]
    body = b"".join(parts)
    started = time.monotonic()
    response = post_npy(api, body, signed_over(api, user, mlp_model, body)[0])
    assert_refused(api, response, 422, "too_large")
    assert time.monotonic() - started < 5.0


@pytest.fixture
def strict(api: Api) -> Iterator[str]:
    """The same executor behind a second server with small body limits (1 MiB, 1 s)."""
    limits = ApiLimits(max_body_bytes=2**20, body_timeout_s=1.0)
    with serve_in_thread(create_app(api.service, limits=limits)) as url:
        yield url


def _raw_exchange(url: str, head: bytes, body: bytes = b"", wait: float = 5.0) -> bytes:
    """Send raw bytes and read one whole response (headers, then Content-Length bytes)."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname or "", parts.port or 80), timeout=wait) as s:
        s.sendall(head + body)
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += s.recv(65536)
        top, _, rest = answer.partition(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in top.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))  # fmt: skip
        while len(rest) < length:
            rest += s.recv(65536)
        return top + b"\r\n\r\n" + rest


def test_bodies_over_the_limit_or_too_slow_are_refused_while_reading(strict: str) -> None:
    """A declared length over the limit is refused before a byte of body is read; a body that
    trickles in is refused when its time is up; a streamed body over the limit is cut off."""
    head = (b"POST /v1/executions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            b"content-length: 1000000000000\r\n\r\n")  # fmt: skip
    started = time.monotonic()
    answer = _raw_exchange(strict, head)
    assert answer.startswith(b"HTTP/1.1 413") and b"body_too_large" in answer
    assert time.monotonic() - started < 2.0
    slow = (b"POST /v1/executions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            b"content-length: 100\r\n\r\n")  # fmt: skip
    answer = _raw_exchange(strict, slow, b"{", wait=10.0)
    assert answer.startswith(b"HTTP/1.1 408") and b"body_timeout" in answer

    def chunks() -> Iterator[bytes]:
        for _ in range(40):
            yield b"x" * 65536

    with httpx.Client(base_url=strict, timeout=10) as http:
        streamed = http.post("/v1/executions", content=chunks(),
                             headers={"content-type": "application/json"})  # fmt: skip
    assert streamed.status_code == 413 and streamed.json()["error"]["code"] == "body_too_large"


def test_a_model_that_cannot_load_is_refused_once_and_remembered(api: Api) -> None:
    """A corrupt file registered on chain by its CID (as any registry key can): a documented
    4xx, and the executor remembers it instead of loading it for every request."""
    user = api.user()
    broken = api.register(models.corrupt(models.mlp(8, [16], 4, seed=31)))
    for _ in range(2):
        response = post_json(api, json_body(api.sign(user, broken, rows(1))))
        assert_refused(api, response, 422, "model_unusable")
    assert len(api.service.admission._failed) == 1  # loaded once, then remembered


def test_an_empty_key_cannot_make_the_executor_probe_a_model(api: Api) -> None:
    """A model's first request runs a probe; a key with no escrow is refused before it."""
    user = api.user(escrow=0)
    model = api.register(models.mlp(8, [32], 4, seed=32))
    response = post_json(api, json_body(api.sign(user, model, rows(1))))
    assert_refused(api, response, 402, "insufficient_escrow")
    cid = api.service.admission._model(model)[1]
    assert not api.service.admission.estimator.has_history(cid)


def shape_request(api: Api, user: User, model: int, dims: tuple[int, int]) -> httpx.Response:
    tensors = {"shape": np.array([dims], dtype=np.int64)}
    signed = api.sign(user, model, tensors)
    return post_json(api, {
        "request": request_to_json(signed.request), "signature": "0x" + signed.signature.hex(),
        "inputs": {"shape": {"dtype": "int64", "shape": [1, 2], "data": [list(dims)]}},
    })  # fmt: skip


@pytest.mark.parametrize(
    ("steps", "dims", "why"),
    [
        (600, (4000, 4000), "budget of"),  # a long run: stopped by the watchdog (long enough
        # that it cannot finish inside its budget even where the probe was measured slowly)
        (0, (4000, 4000), "bytes this request"),  # a 64 MB output: refused, not stored
        (0, (50000, 50000), "more memory"),  # 10 GB: over the arena's limit, never allocated
    ],
)
def test_a_run_past_its_quote_is_stopped_and_nothing_is_charged(
    api: Api, steps: int, dims: tuple[int, int], why: str
) -> None:
    """The probe on zeros quotes almost nothing; a request whose values expand it far past its
    quote is stopped (a long run) or refused (a large output, more memory than runs may hold):
    422 run_over_budget, nothing stored, held or charged, and an honest request on the same
    model still runs."""
    user = api.user()
    model = api.register(models.expander(steps))
    assert shape_request(api, user, model, (2, 2)).status_code == 200  # probes, then runs
    escrow, assets = api.escrow(user), set(api.store.root.rglob("bafk*"))
    rows_before = len(api.outbox_rows(user))
    held_before = api.service.admission.reservations.pending(user.address.lower(), model)
    response = shape_request(api, user, model, dims)
    assert_refused(api, response, 422, "run_over_budget")
    assert why in response.json()["error"]["message"]
    assert api.escrow(user) == escrow and len(api.outbox_rows(user)) == rows_before
    # Only the (refused) input asset may be new: its output was never stored.
    assert len(set(api.store.root.rglob("bafk*")) - assets) <= 1
    held = api.service.admission.reservations.pending(user.address.lower(), model)
    assert held == held_before  # the refused request's hold is released
    assert shape_request(api, user, model, (3, 3)).status_code == 200


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_hostile_bursts_leave_no_open_files_behind(api: Api, mlp_model: int) -> None:
    """Four bursts of refused requests (bad signatures, huge headers, malformed bodies): the
    process's open descriptors come back to where they were after each."""
    user = api.user()
    body = npy_header("<f4", (10**12,))
    headers = {**signed_over(api, user, mlp_model, body)[0], SIGNATURE_HEADER: "0x00"}
    post_npy(api, body, headers)  # warm: the server's own connections
    baseline = open_fds()
    for _ in range(4):
        for i in range(50):
            if i % 2:
                post_npy(api, body, headers)
            else:
                post_json(api, {"request": {}, "signature": "0x", "inputs": {}})
        assert open_fds() <= baseline + 2


HEADER_TEXT = st.text(max_size=200)
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)  # what orjson can write
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=12,
)  # fmt: skip


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    kind=st.sampled_from(["application/json", "application/octet-stream", "text/plain", ""]),
    body=st.one_of(st.binary(max_size=512), JSON.map(orjson.dumps)),
    request_header=st.one_of(
        st.none(), st.text(max_size=200), JSON.map(lambda v: orjson.dumps(v).decode())
    ),
    signature=st.one_of(st.none(), st.text(max_size=140)),
)
def test_no_body_or_header_gets_a_server_error(
    api: Api, kind: str, body: bytes, request_header: str | None, signature: str | None
) -> None:
    """Whatever the body and headers, the answer is below 500 and in the JSON error shape."""
    headers = {"content-type": kind}
    if request_header is not None:
        headers[REQUEST_HEADER] = request_header
    if signature is not None:
        headers[SIGNATURE_HEADER] = signature
    encoded = {k.encode(): v.encode("utf-8") for k, v in headers.items()}  # sent as they are
    try:
        response = api.client.http.post("/v1/executions", content=body, headers=encoded)
    except httpx.LocalProtocolError:
        return  # a header value HTTP cannot carry (a line break): nothing reached us
    assert response.status_code < 500, response.text
    assert "error" in response.json()


def test_a_models_own_caps_hold_whatever_the_quote(api: Api) -> None:
    """A model registered with a cap on its output (here 256 KiB) has a larger output
    refused even where its quote would allow it; the same model without the cap runs."""
    user = api.user()
    wide = models.mlp(8, [8], 16384, seed=33)  # 64 KiB of output per row, declared by shape
    capped, free = api.register(wide), api.register(models.mlp(8, [8], 16384, seed=34))
    cid = api.service.admission._model(capped)[1]
    save_limits(api.store.root, cid, ModelLimits(max_output_bytes=256 * 1024))
    response = post_json(api, json_body(api.sign(user, capped, rows(16))))
    assert_refused(api, response, 422, "run_over_budget")
    assert post_json(api, json_body(api.sign(user, free, rows(16)))).status_code == 200


def test_outputs_sized_by_the_graphs_declared_shapes(api: Api) -> None:
    """Where every output dim is a number or an input's symbol, the output's size is known
    from the request; where a dim depends on input values, it is not."""
    mlp = api.service.admission.sessions.get(api.store.put(models.mlp(8, [16], 4)).cid)
    assert mlp.declared_output_bytes({"x": np.zeros((3, 8), np.float32)}) == 3 * 4 * 4
    grow = api.service.admission.sessions.get(api.store.put(models.expander(0)).cid)
    assert grow.declared_output_bytes({"shape": np.zeros((1, 2), np.int64)}) is None


def test_unknown_paths_and_methods_answer_in_the_apis_error_shape(api: Api) -> None:
    """404 and 405 come in the same JSON error shape as every refusal, in words."""
    missing = api.client.http.get("/v1/nothing")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert "/v1/executions" in missing.json()["error"]["message"]
    wrong = api.client.http.get("/v1/executions")
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"
