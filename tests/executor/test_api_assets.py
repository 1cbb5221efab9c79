"""The asset endpoint serves only bytes that hash to their CID; health names the provider."""

from __future__ import annotations

import secrets

from artisan.executor.assets import address
from artisan.executor.sessions import CPU
from tests.executor.api_helpers import Api, rows


def test_assets_are_served_verified(api: Api, mlp_model: int) -> None:
    """A stored asset comes back byte for byte; an unknown CID is 404, a malformed one 400, and
    a file changed on disk is refused with 500 rather than served."""
    data = secrets.token_bytes(1000)
    cid = api.store.put(data).cid
    assert api.client.asset(cid) == data
    response = api.client.http.get(f"/v1/assets/{cid}")
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["etag"] == f'"{cid}"'

    absent = address(b"never stored").cid
    response = api.client.http.get(f"/v1/assets/{absent}")
    assert response.status_code == 404 and response.json()["error"]["code"] == "asset_not_found"
    response = api.client.http.get("/v1/assets/not-a-cid")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_cid"

    api.store.path_of(cid).write_bytes(b"tampered" + data[8:])
    response = api.client.http.get(f"/v1/assets/{cid}")
    assert response.status_code == 500 and response.json()["error"]["code"] == "corrupt_asset"


def test_execution_assets_and_health(api: Api, mlp_model: int) -> None:
    """An execution's input and output assets are served; health reports the provider in use;
    an unknown execution id is 404."""
    user = api.user()
    signed = api.sign(user, mlp_model, rows(2))
    receipt = api.client.submit(signed)
    assert api.client.asset(receipt["inputCid"]) == signed.input_asset
    assert api.client.asset(receipt["outputCid"]).startswith(b"\x93NUMPY")
    health = api.client.health()
    assert health["status"] == "ok" and health["provider"] == CPU == receipt["provider"]
    assert health["sink"] == "OutboxSink"
    response = api.client.http.get("/v1/executions/0x" + "ab" * 32)
    assert response.status_code == 404 and response.json()["error"]["code"] == "unknown_execution"
