"""Gas per execution of ExecutionLedger.recordBatch for batches of 1, 10 and 100 items.

Run: ``make bench-gas``. Users and models are warmed up first (one prior execution each), so
the figures are the steady state of an operator's batches; the cold first execution of a new
user is reported separately. The final line is JSON; ``ratio_batch100_vs_batch1`` compares the
per-execution gas of a batch of 100 with the baseline, a batch of 1, measured in the same run.
"""

from __future__ import annotations

import itertools
import json
import secrets
import sys

from eth_account import Account
from web3 import Web3

from artisan.chain.actions import BatchItem, ModelSpec, fund_escrow, record_batch, register_model
from artisan.chain.anvil import start_anvil
from artisan.chain.protocol import WAD, Protocol, deploy
from artisan.chain.signer import Signer, connect
from artisan.config import ANVIL_OPERATOR_KEY, load_settings
from artisan.domain.eip712 import sign_request
from artisan.domain.types import InferenceRequest, Meter

METER = Meter(
    input_units=3_072, gpu_micros=180, latency_micros=4_000, storage_bytes=16_384, concurrent_load=4
)


class Bench:
    def __init__(self, w3: Web3, protocol: Protocol, deployer: Signer, operator: Signer) -> None:
        self.w3, self.protocol, self.deployer, self.operator = w3, protocol, deployer, operator
        self.nonces = itertools.count(1)

    def user(self) -> tuple[Signer, bytes]:
        key = secrets.token_bytes(32)
        signer = Signer(w3=self.w3, account=Account.from_key(key))
        self.w3.provider.make_request("anvil_setBalance", [signer.address, hex(10**20)])  # type: ignore[arg-type]
        fund_escrow(self.deployer, signer, self.protocol, 10**6 * WAD)
        return signer, key

    def item(self, user: Signer, key: bytes, model_id: int) -> BatchItem:
        req = InferenceRequest(
            user=user.address,
            model_id=model_id,
            input_digest=secrets.token_bytes(32),
            params_hash=secrets.token_bytes(32),
            priority=1,
            max_cost=10**6 * WAD,
            nonce=next(self.nonces),
            deadline=2**40,
        )
        d = self.protocol.deployment
        return BatchItem(
            req, sign_request(req, key, d.chain_id, d.ledger), METER, secrets.token_bytes(32)
        )

    def gas(self, items: list[BatchItem]) -> int:
        receipt = record_batch(self.operator, self.protocol, items)
        return int(receipt["gasUsed"])


def main() -> None:
    settings = load_settings(dev=True)
    with start_anvil(settings.anvil_bin) as node:
        w3 = connect(node.rpc_url)
        deployer = Signer.from_key(w3, settings.key("deployer"))
        operator = Signer.from_key(w3, ANVIL_OPERATOR_KEY)
        protocol = deploy(deployer, settings.artifacts_dir, operators=(operator.address,))
        b = Bench(w3, protocol, deployer, operator)
        parent = register_model(
            deployer,
            protocol,
            ModelSpec(secrets.token_bytes(32), fixed_price=10**15, remix_share_bps=1_000),
        )
        remix = register_model(
            deployer,
            protocol,
            ModelSpec(
                secrets.token_bytes(32), size_class=1, parent_id=parent, fixed_price=2 * 10**15
            ),
        )
        users = [b.user() for _ in range(10)]
        # Warm-up: the first execution of each (user, model) pays for new storage slots.
        cold = b.gas([b.item(*users[0], parent)])
        for u in users:
            for m in (parent, remix):
                if (u, m) != (users[0], parent):
                    b.gas([b.item(*u, m)])
        figures: dict[str, float] = {"gas_first_execution_cold": cold}
        for n in (1, 10, 100):
            figures[f"gas_per_execution_batch{n}"] = (
                b.gas([b.item(*users[0], parent) for _ in range(n)]) / n
            )
        mixed = [b.item(*users[i % 10], parent if i % 3 else remix) for i in range(100)]
        figures["gas_per_execution_batch100_10users_2models"] = b.gas(mixed) / 100
        figures["ratio_batch100_vs_batch1"] = round(
            figures["gas_per_execution_batch100"] / figures["gas_per_execution_batch1"], 3
        )
    print(json.dumps({k: round(v, 1) if isinstance(v, float) else v for k, v in figures.items()}))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
