"""The executor API end to end: signed request in, recorded execution and outbox row out."""

from __future__ import annotations

import hashlib
import secrets
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

from artisan.chain.actions import ModelSpec, register_model
from artisan.chain.anvil import Anvil
from artisan.chain.protocol import WAD
from artisan.chain.signer import Signer
from artisan.domain.eip712 import execution_id
from artisan.domain.metering import quote
from artisan.executor.assembly import ExecutorConfig, open_executor
from artisan.executor.assets import AssetStore, address, digest_of
from artisan.executor.client import ExecutorApiError
from artisan.executor.sessions import SessionConfig
from artisan.executor.tensors import encode_tensors
from artisan.executor.wire import meter_from_json
from artisan.testing import onnx_models as models
from tests.executor.api_helpers import Api, rows


def _reference(model: bytes, tensors: dict[str, Any]) -> Any:
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    return session.run(None, tensors)[0]


def test_signed_json_request_runs_and_reaches_the_outbox(api: Api, mlp_model: int) -> None:
    """A signed JSON request is admitted, run, and recorded: its id is the EIP-712 digest, its
    output asset holds the model's output, its cost is within its quote, and its outbox row
    carries the charged meter and output digest; escrow is untouched until emission."""
    user = api.user()
    before = api.escrow(user)
    tensors = rows(3, seed=1)
    signed = api.sign(user, mlp_model, tensors)
    receipt = api.client.submit(signed)

    d = api.protocol.deployment
    assert receipt["executionId"] == "0x" + execution_id(signed.request, d.chain_id, d.ledger).hex()
    assert receipt["status"] == "ran"
    assert receipt["inputCid"] == address(signed.input_asset).cid
    assert digest_of(receipt["inputCid"]) == signed.request.input_digest
    outputs = api.client.outputs(receipt)
    want = _reference(models.mlp(8, [16], 4, seed=11), tensors)
    np.testing.assert_array_equal(outputs["y"], want)
    assert receipt["outputCid"] == address(encode_tensors({"y": want})).cid

    meter, measured = meter_from_json(receipt["meter"]), meter_from_json(receipt["measured"])
    output_size = len(api.client.asset(receipt["outputCid"]))
    assert measured.storage_bytes == len(signed.input_asset) + output_size
    assert measured.input_units == 3 * 8 and measured.gpu_micros > 0
    # Charged = measured, clamped to the admission bound (only timings can exceed it).
    assert meter.storage_bytes == measured.storage_bytes
    assert meter.input_units == measured.input_units
    assert meter.gpu_micros <= measured.gpu_micros
    cost, quoted = int(receipt["cost"]), int(receipt["quote"])
    model = api.service.admission.catalog.model(mlp_model)
    assert model is not None
    _, rates = api.service.admission.catalog.rates()
    assert cost == quote(model.terms, 0, rates, meter, signed.request.priority)
    assert 10**15 < cost <= quoted <= signed.request.max_cost

    [row] = api.outbox_rows(user)
    ex_id, output_digest, output_cid, *row_meter, status, metering = row
    assert "0x" + bytes(ex_id).hex() == receipt["executionId"]
    assert (
        bytes(output_digest) == digest_of(receipt["outputCid"])
        and output_cid == receipt["outputCid"]
    )
    assert [int(v) for v in row_meter] == list(receipt["meter"].values())
    assert status == "pending" and metering["quote"] == receipt["quote"]
    assert api.client.status(receipt["executionId"])["status"] == "ran"
    assert api.escrow(user) == before


def test_npy_upload_equals_json_and_two_inputs_use_the_bundle(api: Api, mlp_model: int) -> None:
    """The raw .npy upload of the same tensors yields the same input and output CIDs as the JSON
    form; a two-input model signs the digest of the canonical tensor bundle."""
    user = api.user()
    tensors = rows(2, seed=5)
    by_json = api.client.submit(api.sign(user, mlp_model, tensors))
    by_npy = api.client.submit(api.sign(user, mlp_model, tensors), npy=True)
    assert by_npy["inputCid"] == by_json["inputCid"]
    assert by_npy["outputCid"] == by_json["outputCid"]
    assert by_npy["executionId"] != by_json["executionId"]  # another nonce, another execution

    affine = api.register(models.affine_with_offset(3, 2, seed=3))
    pair = {"x": np.ones((2, 3), np.float32), "offset": np.array([[1], [2]], np.int64)}
    signed = api.sign(user, affine, pair)
    assert signed.input_asset.startswith(b"ARTNSR01")
    assert signed.request.input_digest == hashlib.sha256(signed.input_asset).digest()
    for npy in (False, True):
        receipt = api.client.submit(api.sign(user, affine, pair), npy=npy)
        assert receipt["inputCid"] == address(signed.input_asset).cid
    assert len(api.outbox_rows(user)) == 4


def test_queued_answer_then_status_and_escrow_holds(api: Api, mlp_model: int) -> None:
    """With wait=false the answer is 202 with the id and quote; the execution is then found by
    its status. Admitted executions hold their quotes against escrow until settled, so the
    first request that the rest of the escrow cannot cover is refused."""
    escrow = WAD // 100  # room for a few quotes of ~0.002 ART
    user = api.user(escrow=escrow)
    first = api.client.submit(api.sign(user, mlp_model, rows(1)), wait=False)
    assert first["status"] == "queued" and int(first["quote"]) > 0
    view = api.client.wait_for(first["executionId"], ("ran",), timeout=10)
    assert view["status"] == "ran" and view["outputCid"]
    holds = api.service.admission.reservations
    quotes = [int(first["quote"])]
    with pytest.raises(ExecutorApiError) as refused:
        for _ in range(100):
            quotes.append(int(api.client.submit(api.sign(user, mlp_model, rows(1)))["quote"]))
    assert refused.value.status == 402 and refused.value.code == "insufficient_escrow"
    assert f"less {sum(quotes)} held" in refused.value.message
    pending = holds.pending(user.address.lower(), mlp_model)
    assert pending.count_for_model == len(quotes) >= 2 and pending.total_quote == sum(quotes)
    assert sum(quotes) <= escrow and api.escrow(user) == escrow


def test_restarted_executor_takes_back_unsettled_holds(
    api: Api, mlp_model: int, anvil: Anvil, operator: Signer, tmp_path: Path
) -> None:
    """Executions recorded in the outbox and not yet settled are held again by an executor
    started later on the same database: escrow promised once is not promised twice."""
    user = api.user(escrow=WAD // 100)
    receipts = [api.client.submit(api.sign(user, mlp_model, rows(1, seed=s))) for s in (1, 2)]
    held = sum(int(r["quote"]) for r in receipts)
    with open_executor(
        api.protocol, anvil.rpc_url, AssetStore(tmp_path / "other"), operator=operator.address,
        db=api.db, config=ExecutorConfig(sessions=SessionConfig(prefer_cuda=False)),
    ) as restarted:  # fmt: skip
        pending = restarted.admission.reservations.pending(user.address.lower(), mlp_model)
        assert pending.count_for_model == 2 and pending.total_quote == held
        for receipt in receipts:
            execution_id = bytes.fromhex(receipt["executionId"][2:])
            assert restarted.status(execution_id) is not None


def test_models_are_listed_with_what_a_request_sends(api: Api) -> None:
    """GET /v1/models: every registered model with its terms; a pinned one with its inputs, an
    unloadable one with the reason, one whose file this executor lacks said so; paged."""
    served = api.register(models.mlp(8, [16], 4, seed=40))
    broken = api.register(models.corrupt(models.mlp(8, [16], 4, seed=41)))
    elsewhere = ModelSpec(cid_digest=secrets.token_bytes(32), fixed_price=1)  # file not here
    absent = register_model(api.deployer, api.protocol, elsewhere)
    answer = api.client.http.get("/v1/models", params={"first": 1000}).json()
    by_id = {int(m["modelId"]): m for m in answer["models"]}
    assert answer["next"] is None and {served, broken, absent} <= set(by_id)
    mine = by_id[served]
    assert mine["served"] and mine["problem"] is None and mine["access"] == "public"
    assert mine["inputs"] == [{"name": "x", "dtype": "float32", "shape": [None, 8]}]
    assert mine["pricing"] == {"kind": "fixed", "fixedPrice": str(10**15), "thresholds": [],
                               "prices": []}  # fmt: skip
    assert not by_id[broken]["served"] and "cannot" in by_id[broken]["problem"]
    lacking = by_id[absent]
    assert not lacking["served"] and "not in this executor's store" in lacking["problem"]
    page = api.client.http.get("/v1/models", params={"first": 1}).json()
    assert len(page["models"]) == 1 and page["next"] == page["models"][0]["modelId"]
    bad = api.client.http.get("/v1/models", params={"first": 0})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "malformed_request"
