"""Bad requests get a 4xx naming the problem, and nothing is stored, held or charged."""

from __future__ import annotations

import hashlib
import io
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import httpx
import numpy as np
import orjson
import pytest

from artisan.chain.actions import BatchItem, record_batch
from artisan.chain.signer import Signer
from artisan.domain.eip712 import sign_request
from artisan.domain.types import Access, Meter
from artisan.executor.assets import address
from artisan.executor.client import SignedRequest
from artisan.executor.tensors import to_json
from artisan.executor.wire import REQUEST_HEADER, SIGNATURE_HEADER, request_to_json
from artisan.testing import onnx_models as models
from tests.chain.helpers import User
from tests.executor.api_helpers import Api, rows


@dataclass
class Ctx:
    api: Api
    user: User
    mlp: int
    operator: Signer

    def sign(self, tensors: dict[str, Any] | None = None, **kw: Any) -> SignedRequest:
        return self.api.sign(self.user, kw.pop("model", self.mlp), tensors or rows(1), **kw)

    def post(self, signed: SignedRequest, **changes: Any) -> httpx.Response:
        """Post a signed request as JSON, with some of the body's parts replaced."""
        body: dict[str, Any] = {
            "request": request_to_json(signed.request),
            "signature": "0x" + signed.signature.hex(),
            "inputs": {n: to_json(t) for n, t in signed.tensors.items()},
        }
        body.update(changes)
        return self.raw(orjson.dumps(body))

    def raw(self, content: bytes, content_type: str = "application/json") -> httpx.Response:
        return self.api.client.http.post(
            "/v1/executions", content=content, headers={"content-type": content_type}
        )


def _with_tensors(ctx: Ctx, tensors: dict[str, Any]) -> httpx.Response:
    return ctx.post(ctx.sign(tensors))


def _signed_by_another_key(ctx: Ctx) -> httpx.Response:
    signed = ctx.sign()
    d = ctx.api.protocol.deployment
    forged = sign_request(signed.request, secrets.token_bytes(32), d.chain_id, d.ledger)
    return ctx.post(signed, signature="0x" + forged.hex())


def _signed_for_another_domain(
    chain_offset: int, ledger: str | None
) -> Callable[[Ctx], httpx.Response]:
    """The user's own signature, over the EIP-712 domain of another chain or another ledger."""

    def post(ctx: Ctx) -> httpx.Response:
        signed = ctx.sign()
        d = ctx.api.protocol.deployment
        elsewhere = sign_request(signed.request, ctx.user.key, d.chain_id + chain_offset,
                                 ledger or d.ledger)  # fmt: skip
        return ctx.post(signed, signature="0x" + elsewhere.hex())

    return post


def _digest_of_other_inputs(ctx: Ctx) -> httpx.Response:
    signed = ctx.sign(rows(1, seed=1))
    return ctx.post(signed, inputs={"x": to_json(rows(1, seed=2)["x"])})


def _used_on_chain(ctx: Ctx) -> httpx.Response:
    used = ctx.sign()
    item = BatchItem(used.request, used.signature, Meter(8, 1, 1, 1, 0), bytes(32))
    record_batch(ctx.operator, ctx.api.protocol, [item])
    escrow = ctx.api.escrow(ctx.user)
    response = ctx.post(ctx.sign(rows(1, seed=3), nonce=used.request.nonce))
    assert ctx.api.escrow(ctx.user) == escrow
    return response


def _admitted_twice(ctx: Ctx) -> httpx.Response:
    first = ctx.sign()
    assert ctx.post(first).status_code == 200
    return ctx.post(ctx.sign(rows(1, seed=4), nonce=first.request.nonce))


def _allowlisted(ctx: Ctx) -> httpx.Response:
    private = ctx.api.register(models.mlp(8, [16], 4, seed=12), access=Access.ALLOWLIST)
    return ctx.post(ctx.sign(model=private))


def _not_canonical_npy(ctx: Ctx) -> httpx.Response:
    buffer = io.BytesIO()
    np.save(buffer, np.asfortranarray(np.ones((2, 8), np.float32)))
    body = buffer.getvalue()
    # Signed over these very bytes: the digest check passes, the decoding refuses them.
    request = replace(ctx.sign(rows(2)).request, input_digest=hashlib.sha256(body).digest())
    d = ctx.api.protocol.deployment
    signature = sign_request(request, ctx.user.key, d.chain_id, d.ledger)
    return ctx.api.client.http.post(
        "/v1/executions",
        content=body,
        headers={
            "content-type": "application/octet-stream",
            REQUEST_HEADER: orjson.dumps(request_to_json(request)).decode(),
            SIGNATURE_HEADER: "0x" + signature.hex(),
        },
    )


def _inputs(name: str, shape: tuple[int, ...], dtype: Any) -> Callable[[Ctx], httpx.Response]:
    return lambda c: _with_tensors(c, {name: np.ones(shape, dtype)})


def _with_request(**fields: Any) -> Callable[[Ctx], httpx.Response]:
    return lambda c: c.post(c.sign(), request={**request_to_json(c.sign().request), **fields})


def _signed(**kw: Any) -> Callable[[Ctx], httpx.Response]:
    return lambda c: c.post(c.sign(**kw))


def _lacking_signature(c: Ctx) -> httpx.Response:
    return c.raw(orjson.dumps({"request": request_to_json(c.sign().request), "inputs": {}}))


SHORT = {"x": {"dtype": "float32", "shape": [1, 8], "data": [1.0]}}
CASES: dict[str, tuple[Callable[[Ctx], httpx.Response], int, str]] = {
    "unknown model": (_signed(model=10_000), 404, "unknown_model"),
    "no access": (_allowlisted, 403, "no_access"),
    "wrong shape": (_inputs("x", (2, 7), np.float32), 422, "wrong_shape"),
    "wrong dtype": (_inputs("x", (2, 8), np.float64), 422, "wrong_dtype"),
    "unknown input": (_inputs("z", (2, 8), np.float32), 422, "unknown_input"),
    "bad signature": (_signed_by_another_key, 401, "bad_signature"),
    "signed for another chain": (_signed_for_another_domain(1, None), 401, "bad_signature"),
    "signed for another ledger": (
        _signed_for_another_domain(0, "0x" + "5f" * 20),
        401,
        "bad_signature",
    ),
    "expired deadline": (lambda c: c.post(c.sign(deadline=int(time.time()) - 5)), 422, "expired"),
    "deadline too close": (lambda c: c.post(c.sign(deadline=int(time.time()) + 3)), 422, "expired"),
    "maxCost too low": (_signed(max_cost=10**15), 422, "cost_above_max"),
    "bad priority": (_signed(priority=4), 422, "bad_priority"),
    "input digest mismatch": (_digest_of_other_inputs, 422, "input_digest_mismatch"),
    "nonce used on chain": (_used_on_chain, 409, "nonce_used"),
    "nonce already admitted": (_admitted_twice, 409, "nonce_used"),
    "body not JSON": (lambda c: c.raw(b"{not json"), 400, "malformed_request"),
    "body lacks signature": (_lacking_signature, 400, "malformed_request"),
    "bad hex digest": (_with_request(inputDigest="0xzz"), 400, "malformed_request"),
    "tensor data short": (lambda c: c.post(c.sign(), inputs=SHORT), 422, "invalid_input"),
    "wrong content type": (lambda c: c.raw(b"x", "text/plain"), 400, "malformed_request"),
    "non-canonical npy": (_not_canonical_npy, 422, "non_canonical"),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_request_is_refused_with_its_reason(
    api: Api, mlp_model: int, operator: Signer, case: str
) -> None:
    """Each bad input gets its 4xx and error code; escrow, holds, outbox and store are as before."""
    make, status, code = CASES[case]
    user = api.user()
    ctx = Ctx(api, user, mlp_model, operator)
    escrow, assets = api.escrow(user), set(api.store.root.rglob("bafk*"))
    already = len(api.service.admission.reservations)
    response = make(ctx)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"]
    admitted_first = case == "nonce already admitted"
    assert len(api.outbox_rows(user)) == (1 if admitted_first else 0)
    assert len(api.service.admission.reservations) == already + (1 if admitted_first else 0)
    if case != "nonce used on chain":  # that case charges its first use itself, then compares
        assert api.escrow(user) == escrow
    new_assets = set(api.store.root.rglob("bafk*")) - assets
    # Only the registered model's file (and, for the admitted one, its two assets) are new.
    assert len(new_assets) <= (3 if admitted_first else 1)


def test_refusal_without_escrow_names_insufficient_escrow(api: Api, mlp_model: int) -> None:
    """A user whose escrow cannot cover the quote gets 402 insufficient_escrow, nothing held."""
    user = api.user(escrow=10**14)
    signed = api.sign(user, mlp_model, rows(1))
    response = api.client.http.post(
        "/v1/executions",
        content=orjson.dumps(
            {
                "request": request_to_json(signed.request),
                "signature": "0x" + signed.signature.hex(),
                "inputs": {"x": to_json(signed.tensors["x"])},
            }
        ),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 402
    assert response.json()["error"]["code"] == "insufficient_escrow"
    assert "10000000000000" in response.json()["error"]["message"]
    assert api.outbox_rows(user) == []
    assert (
        api.service.admission.reservations.pending(user.address.lower(), mlp_model).total_quote == 0
    )
    assert not api.store.has(address(signed.input_asset).cid)
