"""A soak of hostile requests against a served executor: memory and descriptors after the load.

Run: ``make bench-hostile`` (``python -m benchmarks.hostile [--rounds N]``). The executor runs
in this process behind uvicorn, on a real anvil and Postgres, as in the API tests. Each round
sends, over HTTP, the refusals of issue [S]: unsigned .npy headers declaring terabytes, signed
ones (too large), malformed numbers, bundles of 300,000 tiny tensors, expanding models whose
runs are stopped or whose outputs are refused, and a few honest requests in between. After each
round it records the process's resident memory and open descriptors.

Baseline, measured in the same run: the same figures after a warm-up round. The final line is
JSON: ``rss_mb`` and ``fds`` after warm-up and after each round, ``rss_growth_ratio`` (last
round over warm-up) and ``fd_growth`` (last round minus warm-up), and the requests and their
answers by status. A flat soak has a ratio near 1.0 and a growth near 0.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import secrets
import struct
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
from eth_account import Account

from artisan.chain.actions import ModelSpec, fund_escrow, register_model
from artisan.chain.anvil import start_anvil
from artisan.chain.protocol import WAD, deploy
from artisan.chain.signer import Signer, connect
from artisan.config import ANVIL_OPERATOR_KEY, load_settings
from artisan.domain.eip712 import sign_request
from artisan.executor.api import create_app
from artisan.executor.assembly import ExecutorConfig, open_executor
from artisan.executor.assets import AssetStore
from artisan.executor.batcher import BatchPolicy
from artisan.executor.client import ExecutorClient, SignedRequest
from artisan.executor.serving import serve_in_thread
from artisan.executor.sessions import SessionConfig
from artisan.executor.tensors import BUNDLE_MAGIC, encode_npy
from artisan.executor.wire import REQUEST_HEADER, SIGNATURE_HEADER, request_to_json
from artisan.testing import onnx_models as models
from artisan.testing.process_samples import Sample, read_sample
from benchmarks.executor import bench_database


def now() -> Sample:
    """This process's resident memory and open descriptors (the soak's reading of /proc)."""
    sample = read_sample("bench-hostile", os.getpid(), 0.0)
    assert sample is not None  # this very process is alive
    return sample


def npy_header(descr: str, shape: tuple[int, ...]) -> bytes:
    text = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape!r}, }}"
    pad = 64 - (10 + len(text) + 1) % 64
    header = (text + " " * pad + "\n").encode()
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header


def many_tiny() -> bytes:
    one = encode_npy(np.zeros(1, np.uint8))
    parts = [BUNDLE_MAGIC, struct.pack(">I", 300_000)]
    for i in range(300_000):
        name = f"t{i}".encode()
        parts += [struct.pack(">H", len(name)), name, struct.pack(">Q", len(one)), one]
    return b"".join(parts)


class Soak:
    def __init__(self, client: ExecutorClient, chain_id: int, ledger: str, key: bytes,
                 user: str, mlp: int, expander: int, stopper: int) -> None:  # fmt: skip
        self.client, self.chain_id, self.ledger = client, chain_id, ledger
        self.key, self.user, self.mlp = key, user, mlp
        self.expander, self.stopper = expander, stopper
        self.statuses: Counter[int] = Counter()
        self.tiny = many_tiny()

    def _octet(self, body: bytes, model: int, *, signed: bool) -> None:
        template = self._sign(model, {"x": np.zeros((1, 8), np.float32)}).request
        request = dataclasses.replace(template, input_digest=hashlib.sha256(body).digest())
        signature = sign_request(request, self.key, self.chain_id, self.ledger) if signed else b""
        self._post(body, {
            "content-type": "application/octet-stream",
            REQUEST_HEADER: orjson.dumps(request_to_json(request)).decode(),
            SIGNATURE_HEADER: "0x" + (signature.hex() or "00"),
        })  # fmt: skip

    def _sign(self, model: int, tensors: dict[str, Any]) -> SignedRequest:
        return self.client.sign(self.key, self.user, model, tensors, max_cost=WAD)

    def _post(self, body: bytes, headers: dict[str, str]) -> None:
        response = self.client.http.post("/v1/executions", content=body, headers=headers)
        self.statuses[response.status_code] += 1

    def _shape(self, model: int, dims: tuple[int, int]) -> None:
        tensors = {"shape": np.array([dims], dtype=np.int64)}
        signed = self._sign(model, tensors)
        self._post(orjson.dumps({
            "request": request_to_json(signed.request), "signature": "0x" + signed.signature.hex(),
            "inputs": {"shape": {"dtype": "int64", "shape": [1, 2], "data": [list(dims)]}},
        }), {"content-type": "application/json"})  # fmt: skip

    def round(self, repeats: int) -> None:
        huge = npy_header("<f4", (10**12,))
        void = npy_header("|V1000000000", (10,))
        for _ in range(repeats):
            self._octet(huge, self.mlp, signed=False)
            self._octet(huge, self.mlp, signed=True)
            self._octet(void, self.mlp, signed=True)
            self._post(b'{"request": {"nonce": "' + b"9" * 5000 + b'"}}',
                       {"content-type": "application/json"})  # fmt: skip
            self._shape(self.expander, (4000, 4000))  # a 64 MB output, refused
            self._shape(self.stopper, (4000, 4000))  # a long run, stopped
            self._shape(self.expander, (2, 2))  # honest
            x = np.random.default_rng().standard_normal((1, 8), dtype=np.float32)
            receipt = self.client.submit(self._sign(self.mlp, {"x": x}))
            self.statuses[200 if receipt else 0] += 1
        self._octet(self.tiny, self.mlp, signed=True)  # 300,000 tensors, once a round


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=20, help="each probe, per round")
    args = parser.parse_args()
    settings = load_settings(dev=True)
    figures: dict[str, Any] = {"rounds": []}
    with (
        start_anvil(settings.anvil_bin, chain_id=settings.chain_id) as node,
        bench_database(settings) as db,
        tempfile.TemporaryDirectory(prefix="artisan-hostile-") as tmp,
    ):
        w3 = connect(node.rpc_url)
        deployer = Signer.from_key(w3, settings.key("deployer"))
        operator = Signer.from_key(w3, ANVIL_OPERATOR_KEY)
        protocol = deploy(deployer, settings.artifacts_dir, operators=(operator.address,))
        key = secrets.token_bytes(32)
        account = Account.from_key(key)
        w3.provider.make_request("anvil_setBalance", [account.address, hex(10**20)])  # type: ignore[arg-type]
        fund_escrow(deployer, Signer(w3=w3, account=account), protocol, 10**6 * WAD)
        store = AssetStore(Path(tmp) / "assets")

        def register(model: bytes) -> int:
            spec = ModelSpec(cid_digest=store.put(model).digest, fixed_price=10**12)
            return register_model(deployer, protocol, spec)

        mlp = register(models.mlp(8, [16], 4, seed=1))
        expander, stopper = register(models.expander(0)), register(models.expander(60))
        config = ExecutorConfig(batch=BatchPolicy(max_batch_size=8, max_queue_delay_s=0.001),
                                sessions=SessionConfig(prefer_cuda=False))  # fmt: skip
        with (
            open_executor(
                protocol, node.rpc_url, store, operator=operator.address, db=db, config=config
            ) as service,  # fmt: skip
            serve_in_thread(create_app(service)) as url,
        ):
            d = protocol.deployment
            client = ExecutorClient.connect(url, chain_id=d.chain_id, ledger=d.ledger)
            client.http.timeout = httpx.Timeout(60.0)
            soak = Soak(client, d.chain_id, d.ledger, key, account.address, mlp, expander,
                        stopper)  # fmt: skip
            soak.round(2)  # warm-up: sessions loaded, probes run, arenas grown once
            warm = now()
            base_rss, base_fds = warm.rss_mib, warm.fds
            figures["warm_rss_mb"], figures["warm_fds"] = round(base_rss, 1), base_fds
            started = time.monotonic()
            for _ in range(args.rounds):
                soak.round(args.repeats)
                sample = now()
                figures["rounds"].append({"rss_mb": round(sample.rss_mib, 1), "fds": sample.fds})
            figures["soak_s"] = round(time.monotonic() - started, 1)
            client.http.close()
        last = figures["rounds"][-1]
        figures["rss_growth_ratio"] = round(last["rss_mb"] / base_rss, 3)
        figures["fd_growth"] = last["fds"] - base_fds
        figures["answers"] = dict(sorted(soak.statuses.items()))
    print(json.dumps(figures))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
