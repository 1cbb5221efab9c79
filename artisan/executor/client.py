"""A Python client of the executor API: builds and signs requests, posts them, polls, fetches.

Signing is EIP-712 over the ledger's domain (``artisan.domain.eip712.sign_request``, eth-account
underneath); the input digest is the sha2-256 of the inputs' canonical encoding (``tensors``),
the same bytes the executor stores as the input asset. Works over any ``httpx.Client``,
including Starlette's ``TestClient`` for an in-process executor.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from artisan.domain.eip712 import sign_request
from artisan.domain.types import InferenceRequest
from artisan.errors import ArtisanError
from artisan.executor.assets import address
from artisan.executor.sessions import Tensor
from artisan.executor.tensors import decode_tensors, encode_tensors, to_json
from artisan.executor.wire import REQUEST_HEADER, SIGNATURE_HEADER, request_to_json

NO_PARAMS = bytes(32)  # paramsHash of a request without parameters


class ExecutorApiError(ArtisanError):
    """The executor answered with an error; ``code`` is its machine-readable name."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"HTTP {status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class SignedRequest:
    """A request, its signature and the inputs whose canonical encoding it signs."""

    request: InferenceRequest
    signature: bytes
    tensors: Mapping[str, Tensor]
    input_asset: bytes


class ExecutorClient:
    """Talks to one executor for one ledger (its chain id and address form the EIP-712 domain)."""

    def __init__(self, http: httpx.Client, *, chain_id: int, ledger: str) -> None:
        self.http, self.chain_id, self.ledger = http, chain_id, ledger

    @classmethod
    def connect(
        cls, base_url: str, *, chain_id: int, ledger: str, timeout: float = 120.0
    ) -> ExecutorClient:
        return cls(
            httpx.Client(base_url=base_url, timeout=timeout), chain_id=chain_id, ledger=ledger
        )

    def sign(
        self,
        key: bytes,
        user: str,
        model_id: int,
        tensors: Mapping[str, Tensor],
        *,
        max_cost: int,
        priority: int = 1,
        nonce: int | None = None,
        deadline: int | None = None,
        params_hash: bytes = NO_PARAMS,
    ) -> SignedRequest:
        """A request for ``tensors`` signed by ``key``; a random unused-looking nonce and a
        deadline ten minutes ahead unless given."""
        asset = encode_tensors(tensors)
        request = InferenceRequest(
            user=user,
            model_id=model_id,
            input_digest=hashlib.sha256(asset).digest(),
            params_hash=params_hash,
            priority=priority,
            max_cost=max_cost,
            nonce=secrets.randbits(128) if nonce is None else nonce,
            deadline=int(time.time()) + 600 if deadline is None else deadline,
        )
        signature = sign_request(request, key, self.chain_id, self.ledger)
        return SignedRequest(request, signature, dict(tensors), asset)

    def submit(self, signed: SignedRequest, *, npy: bool = False, wait: bool = True) -> Any:
        """Post a signed request: JSON tensors, or with ``npy`` the raw input asset as
        ``application/octet-stream``. Returns the executor's answer; raises
        ``ExecutorApiError`` on a 4xx or 5xx."""
        params = {} if wait else {"wait": "false"}
        if npy:
            response = self.http.post(
                "/v1/executions",
                content=signed.input_asset,
                params=params,
                headers={
                    "content-type": "application/octet-stream",
                    REQUEST_HEADER: orjson.dumps(request_to_json(signed.request)).decode(),
                    SIGNATURE_HEADER: "0x" + signed.signature.hex(),
                },
            )
        else:
            body = {
                "request": request_to_json(signed.request),
                "signature": "0x" + signed.signature.hex(),
                "inputs": {name: to_json(t) for name, t in signed.tensors.items()},
            }
            response = self.http.post(
                "/v1/executions",
                content=orjson.dumps(body),
                params=params,
                headers={"content-type": "application/json"},
            )
        return self._answer(response)

    def status(self, execution_id: str) -> Any:
        return self._answer(self.http.get(f"/v1/executions/{execution_id}"))

    def wait_for(
        self,
        execution_id: str,
        statuses: Collection[str] = ("confirmed", "rejected", "failed"),
        *,
        timeout: float = 60.0,
        interval: float = 0.2,
    ) -> Any:
        """Poll until the execution reaches one of ``statuses``; its last status."""
        deadline = time.monotonic() + timeout
        while True:
            view = self.status(execution_id)
            if view["status"] in statuses or time.monotonic() > deadline:
                return view
            time.sleep(interval)

    def asset(self, cid: str) -> bytes:
        """An asset's bytes, checked here against its CID as well."""
        response = self.http.get(f"/v1/assets/{cid}")
        if response.status_code != 200:
            self._answer(response)
        data = response.content
        if address(data).cid != cid:
            raise ExecutorApiError(200, "corrupt_asset", f"the bytes served for {cid} differ")
        return data

    def outputs(self, receipt: Mapping[str, Any], single_name: str = "y") -> dict[str, Tensor]:
        """The output tensors of an execution, fetched by its output CID (a one-output model's
        bare .npy is named ``single_name``)."""
        return decode_tensors(self.asset(str(receipt["outputCid"])), single_name)

    def health(self) -> Any:
        return self._answer(self.http.get("/healthz"))

    @staticmethod
    def _answer(response: httpx.Response) -> Any:
        try:
            doc = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            doc = None
        if response.status_code >= 400:
            error = doc.get("error", {}) if isinstance(doc, dict) else {}
            raise ExecutorApiError(
                response.status_code,
                str(error.get("code", "http_error")),
                str(error.get("message", response.text[:200])),
            )
        return doc
