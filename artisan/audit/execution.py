"""The audit of one execution, from the chain alone: a verdict, every reason, the evidence.

The chain is re-read over JSON-RPC (``execution_reads.py``), never taken from our tables:

1. the ``InferenceExecuted`` log of the id, found by its indexed id on the node's canonical
   chain, in a block whose hash is still the chain's at that height, at its index in a
   successful receipt;
2. the signed request: the ``recordBatch`` calldata decoded, the item whose EIP-712 digest is
   the execution id, its fields equal to the log's, its signer (ECDSA, or for a contract
   account the wallet's ``isValidSignature`` at that block) equal to the user, its deadline
   not passed at the block;
3. the metering: the rates version and model terms in force at that log (the events strictly
   before it replayed, so that two changes in one block do not blur), the cost recomputed by
   the metering rule equal to the log's, and at most the request's ``maxCost``;
4. the settlements: the credits recomputed by the split rule, summing exactly to the cost,
   equal to the receipt's ``Settlement`` events in order;
5. the lineage step: the input and output digests, and where an asset is in the local store,
   its bytes hashed again;
6. our store: its row for the execution compared field by field with the chain, so that a
   tampered row is named by its column.

Only the node is trusted, and each check says what it compared.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import astuple, dataclass, field
from typing import Any

from artisan.audit.costs import ancestry, charge, meter_of, rates_of
from artisan.audit.execution_reads import EIP1271_MAGIC, ExecutionChain, SignedItem, position
from artisan.domain.eip712 import execution_id as digest_of_request
from artisan.domain.eip712 import recover_signer
from artisan.domain.events import InferenceExecuted, RatesSet, Settlement, TreasurySet
from artisan.domain.types import SettlementRole
from artisan.errors import DomainError
from artisan.executor.assets import AssetStore, cid_of
from artisan.projections.events import Event, args_as
from artisan.projections.models import ACCESS_EVENTS, TERM_EVENTS, MemoryModels

PASS, FAIL = "PASS", "FAIL"

# The store's execution columns against the chain's log: (column, the log's value of it).
_LOG_FIELDS: tuple[tuple[str, Callable[[Event, InferenceExecuted], Any]], ...] = (
    ("model_id", lambda e, a: int(a["modelId"])),
    ("user_address", lambda e, a: a["user"]),
    ("operator", lambda e, a: a["operator"]),
    ("input_digest", lambda e, a: a["inputDigest"]),
    ("output_digest", lambda e, a: a["outputDigest"]),
    ("params_hash", lambda e, a: a["paramsHash"]),
    ("priority", lambda e, a: int(a["priority"])),
    ("input_units", lambda e, a: int(a["meter"]["inputUnits"])),
    ("gpu_micros", lambda e, a: int(a["meter"]["gpuMicros"])),
    ("latency_micros", lambda e, a: int(a["meter"]["latencyMicros"])),
    ("storage_bytes", lambda e, a: int(a["meter"]["storageBytes"])),
    ("concurrent_load", lambda e, a: int(a["meter"]["concurrentLoad"])),
    ("cost", lambda e, a: int(a["cost"])),
    ("rates_version", lambda e, a: int(a["ratesVersion"])),
    ("block_number", lambda e, a: e.block_number),
    ("block_hash", lambda e, a: e.block_hash),
    ("tx_hash", lambda e, a: e.tx_hash),
    ("log_index", lambda e, a: e.log_index),
)
STORE_COLUMNS = (*(c for c, _ in _LOG_FIELDS), "credit_recipients", "credit_roles",
                 "credit_amounts")  # fmt: skip


@dataclass(frozen=True, slots=True)
class Check:
    """One comparison: what was compared and whether it held."""

    name: str
    ok: bool
    detail: str


@dataclass
class Audit:
    """The verdict on one execution, every check made and the evidence they read."""

    execution_id: str
    checks: list[Check] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        return PASS if self.checks and all(c.ok for c in self.checks) else FAIL

    @property
    def reasons(self) -> list[str]:
        return [f"{c.name}: {c.detail}" for c in self.checks if not c.ok]

    def check(self, name: str, ok: bool, detail: str) -> bool:
        self.checks.append(Check(name, ok, detail))
        return ok

    def as_json(self) -> dict[str, Any]:
        return {
            "executionId": self.execution_id,
            "verdict": self.verdict,
            "reasons": self.reasons,
            "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in self.checks],
            "evidence": self.evidence,
        }


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def _norm(value: Any) -> Any:
    """Values compared as the chain gives them: integers, lowercase hex."""
    if isinstance(value, str):
        return value.lower()
    if isinstance(value, (list, tuple)):
        return [_norm(v) for v in value]
    if value is None or isinstance(value, bool):
        return value
    return int(value)


def normalize_id(execution_id: str) -> str:
    """A 32-byte id as lowercase 0x-hex; DomainError names anything else."""
    text = execution_id.strip().lower()
    body = text.removeprefix("0x")
    if len(body) != 64 or any(c not in "0123456789abcdef" for c in body):
        raise DomainError(
            f"an execution id is 32 bytes of hex (0x and 64 digits), got {execution_id!r}"
        )
    return "0x" + body


def audit_execution(
    chain: ExecutionChain,
    execution_id: str,
    stored: Mapping[str, Any] | None,
    *,
    store_head: int | None = None,
    asset_bytes: Callable[[bytes], bytes | None] | None = None,
    stored_request: Mapping[str, Any] | None = None,
) -> Audit:
    """Audit ``execution_id`` against the node behind ``chain``; ``stored`` is our store's row
    for it (``STORE_COLUMNS``; None: no row), ``store_head`` the highest block the store has
    projected, ``asset_bytes`` the local asset store (a digest's bytes, None when absent)."""
    audit = Audit(normalize_id(execution_id))
    found = chain.executed_logs(audit.execution_id)
    head = chain.head()
    audit.evidence["head"] = head
    if len(found) != 1:
        _absent(audit, chain, found, stored)
        return audit
    (log,) = chain.decode(found)
    a = args_as(log, InferenceExecuted)
    audit.evidence["log"] = {"txHash": log.tx_hash, "blockNumber": log.block_number,
                             "blockHash": log.block_hash, "logIndex": log.log_index,
                             "confirmations": head - log.block_number + 1,
                             "args": dict(a)}  # fmt: skip
    receipt = _receipt(audit, chain, log)
    # The receipt's Settlement events of the execution: (recipient, role, amount), in order.
    credits = None if receipt is None else _receipt_credits(chain, receipt, audit.execution_id)
    item = _request(audit, chain, log, a)
    cost = _metering(audit, chain, log, a, item)
    if credits is not None and cost is not None:
        _settlements(audit, credits, a, cost[1])
    _assets(audit, a, asset_bytes)
    _store(audit, log, a, stored, credits, store_head)
    if item is not None and stored is not None:
        _stored_request(audit, item, stored_request)
    return audit


def _stored_request(audit: Audit, item: SignedItem, stored: Mapping[str, Any] | None) -> None:
    """The request event our store holds against the calldata it was read from."""
    if stored is None:
        audit.check("store.request", False, "our store holds no RequestSigned event for it")
        return
    r = item.request
    signed = {"user": r.user, "modelId": r.model_id, "inputDigest": _hex(r.input_digest),
              "paramsHash": _hex(r.params_hash), "priority": r.priority, "maxCost": r.max_cost,
              "nonce": r.nonce, "deadline": r.deadline, "signature": _hex(item.signature),
              "outputDigest": _hex(item.output_digest)}  # fmt: skip
    for name, value in signed.items():
        if str(stored.get(name)).lower() != str(value).lower():
            audit.check(f"store.request.{name}", False,
                        f"our store says {stored.get(name)}, the calldata says"
                        f" {value}")  # fmt: skip


def _absent(
    audit: Audit, chain: ExecutionChain, found: Sequence[Any], stored: Mapping[str, Any] | None
) -> None:
    if found:
        audit.check("log", False, f"{len(found)} InferenceExecuted logs carry this id; the"
                    " ledger records an execution once")  # fmt: skip
        return
    detail = "no InferenceExecuted log of this id on the node's canonical chain"
    if stored is not None:
        number, ours = int(stored["block_number"]), str(stored["block_hash"]).lower()
        now = chain.block_hash(number)
        if now != ours:
            audit.check("block", False, f"our store has it in block {number} {ours}, which is"
                        f" no longer canonical (the chain has {now} at that height): a reorg"
                        " removed it")  # fmt: skip
    audit.check("log", False, detail)


def _receipt(audit: Audit, chain: ExecutionChain, log: Event) -> dict[str, Any] | None:
    canonical = chain.block_hash(log.block_number)
    audit.check("block", canonical == log.block_hash,
                f"block {log.block_number} is {log.block_hash}; the chain has {canonical} there"
                " now")  # fmt: skip
    receipt = chain.receipt(log.tx_hash)
    if receipt is None:
        audit.check("receipt", False, f"no receipt for {log.tx_hash}")
        return None
    ours = [x for x in receipt["logs"] if int(x["logIndex"], 16) == log.log_index]
    ok = (int(receipt["status"], 16) == 1
          and str(receipt["blockHash"]).lower() == log.block_hash
          and len(ours) == 1 and position(ours[0]) == (log.block_number, log.log_index)
          and ours[0]["topics"][1].lower() == audit.execution_id)  # fmt: skip
    audit.check("receipt", ok, f"transaction {log.tx_hash} succeeded in block"
                f" {log.block_hash} with this execution's log at index {log.log_index}"
                if ok else f"the receipt of {log.tx_hash} does not carry this log at index"
                f" {log.log_index} in block {log.block_hash}")  # fmt: skip
    return receipt


def _request(audit: Audit, chain: ExecutionChain, log: Event, a: InferenceExecuted
             ) -> SignedItem | None:  # fmt: skip
    d = chain.deployment
    tx = chain.transaction(log.tx_hash)
    if tx is None or str(tx.get("to") or "").lower() != d.ledger.lower():
        audit.check("request", False, f"{log.tx_hash} is not a call of the ledger {d.ledger}")
        return None
    try:
        items = chain.batch_items(tx["input"])
    except ValueError as exc:
        audit.check("request", False, f"the calldata of {log.tx_hash} is not recordBatch: {exc}")
        return None
    item = next((i for i in items
                 if _hex(digest_of_request(i.request, d.chain_id, d.ledger)) == audit.execution_id),
                None)  # fmt: skip
    if item is None:
        audit.check("request", False, f"none of the {len(items)} signed requests in"
                    f" {log.tx_hash} has this id as its EIP-712 digest")  # fmt: skip
        return None
    r = item.request
    audit.evidence["request"] = {
        "user": r.user, "modelId": str(r.model_id), "inputDigest": _hex(r.input_digest),
        "paramsHash": _hex(r.params_hash), "priority": r.priority, "maxCost": str(r.max_cost),
        "nonce": str(r.nonce), "deadline": str(r.deadline), "signature": _hex(item.signature),
        "meter": list(item.meter), "outputDigest": _hex(item.output_digest),
        "batchSize": len(items),
    }  # fmt: skip
    audit.check("digest", True, "the request's EIP-712 digest recomputed equals the id")
    signed = {"user": r.user, "modelId": r.model_id, "inputDigest": _hex(r.input_digest),
              "paramsHash": _hex(r.params_hash), "priority": r.priority,
              "outputDigest": _hex(item.output_digest)}  # fmt: skip
    logged = {"user": a["user"], "modelId": int(a["modelId"]), "inputDigest": a["inputDigest"],
              "paramsHash": a["paramsHash"], "priority": int(a["priority"]),
              "outputDigest": a["outputDigest"]}  # fmt: skip
    for name, value in signed.items():
        audit.check(f"request.{name}", _norm(value) == _norm(logged[name]),
                    f"signed {value}, logged {logged[name]}")  # fmt: skip
    logged_meter = list(astuple(meter_of(a)))
    audit.check("request.meter", list(item.meter) == logged_meter,
                f"submitted {list(item.meter)}, logged {logged_meter}")  # fmt: skip
    _signature(audit, chain, log, item)
    stamp = chain.block_timestamp(log.block_number)
    audit.check("deadline", r.deadline >= stamp,
                f"deadline {r.deadline}, block time {stamp}")  # fmt: skip
    return item


def _signature(audit: Audit, chain: ExecutionChain, log: Event, item: SignedItem) -> None:
    d, r = chain.deployment, item.request
    digest = digest_of_request(r, d.chain_id, d.ledger)
    if chain.code(r.user, log.block_number):
        answer = chain.wallet_accepts(r.user, digest, item.signature, log.block_number)
        audit.evidence["signer"] = {"kind": "EIP-1271", "wallet": r.user, "answer": _hex(answer)}
        audit.check("signature", answer == EIP1271_MAGIC,
                    f"the wallet {r.user} answered {_hex(answer)} at block {log.block_number}"
                    f" (0x1626ba7e accepts)")  # fmt: skip
        return
    try:
        signer = recover_signer(r, item.signature, d.chain_id, d.ledger)
    except DomainError as exc:
        audit.check("signature", False, f"the signature does not recover: {exc}")
        return
    audit.evidence["signer"] = {"kind": "ECDSA", "recovered": signer}
    audit.check("signature", signer == r.user.lower(),
                f"ECDSA recovers {signer}; the user is {r.user}")  # fmt: skip


def _metering(
    audit: Audit, chain: ExecutionChain, log: Event, a: InferenceExecuted,
    item: SignedItem | None,
) -> tuple[int, list[tuple[str, int, int]]] | None:  # fmt: skip
    at = (log.block_number, log.log_index)
    models = MemoryModels()
    rates: dict[int, Any] = {}
    in_force: int | None = None
    treasury: str | None = None
    prior = 0
    for e in chain.pricing_events(at, int(a["modelId"]), a["user"]):
        if e.name in TERM_EVENTS or e.name in ACCESS_EVENTS:
            models.apply(e)
        elif e.name == "RatesSet":
            r = args_as(e, RatesSet)
            in_force = int(r["version"])
            rates[in_force] = rates_of(r)
        elif e.name == "TreasurySet":
            treasury = args_as(e, TreasurySet)["treasury"]
        elif e.name == "InferenceExecuted":
            prior += 1
    version = int(a["ratesVersion"])
    audit.check("rates", in_force == version,
                f"the log names rates version {version}; version {in_force} was in force at"
                " the log")  # fmt: skip
    if version not in rates:
        return None
    treasury = treasury or chain.treasury_before(log.block_number)
    try:
        cost, credits = charge(models, rates[version], prior, a, treasury)
    except (KeyError, DomainError) as exc:
        audit.check("cost", False, f"the metering rule cannot price it: {exc}")
        return None
    audit.evidence["metering"] = {
        "ratesVersion": version, "rates": _plain(rates[version]),
        "priorExecutions": prior, "treasury": treasury, "recomputedCost": str(cost),
        "terms": {str(k): _plain(v) for k, v in _terms(models, int(a["modelId"])).items()},
    }  # fmt: skip
    audit.check("cost", cost == int(a["cost"]),
                f"the metering rule gives {cost}; the log records {a['cost']}")  # fmt: skip
    if item is not None:
        audit.check("maxCost", int(a["cost"]) <= item.request.max_cost,
                    f"cost {a['cost']}, signed maxCost {item.request.max_cost}")  # fmt: skip
    return cost, credits


def _terms(models: MemoryModels, model_id: int) -> dict[int, Any]:
    try:
        return dict(ancestry(models, model_id))
    except KeyError:
        return {}


def _plain(value: Any) -> Any:
    """A frozen dataclass as JSON-able values (integers as strings where they may be big)."""
    out: dict[str, Any] = {}
    for name in value.__dataclass_fields__:
        v = getattr(value, name)
        out[name] = [str(x) for x in v] if isinstance(v, tuple) else (
            str(v) if isinstance(v, int) else v)  # fmt: skip
    return out


def _receipt_credits(
    chain: ExecutionChain, receipt: Mapping[str, Any], execution_id: str
) -> list[tuple[str, int, int]]:
    out = []
    for e in chain.settlements(receipt, execution_id):
        s = args_as(e, Settlement)
        out.append((s["recipient"].lower(), int(s["role"]), int(s["amount"])))
    return out


def _settlements(
    audit: Audit, actual: list[tuple[str, int, int]], a: InferenceExecuted,
    expected: list[tuple[str, int, int]],
) -> None:  # fmt: skip
    expected = [(r.lower(), role, amount) for r, role, amount in expected]
    audit.evidence["settlements"] = [
        {"recipient": r, "role": SettlementRole(role).name, "amount": str(amount)}
        for r, role, amount in expected
    ]
    total = sum(amount for _, _, amount in expected)
    audit.check("settlements.sum", total == int(a["cost"]),
                f"the recomputed credits sum to {total}; the cost is {a['cost']}")  # fmt: skip
    audit.check("settlements", actual == expected,
                f"the split rule gives {_credits(expected)}; the receipt's Settlement events"
                f" are {_credits(actual)}")  # fmt: skip


def _credits(credits: Sequence[tuple[str, int, int]]) -> str:
    return "[" + ", ".join(f"{SettlementRole(role).name} {r} {amount}"
                           for r, role, amount in credits) + "]"  # fmt: skip


def local_assets(store: AssetStore) -> Callable[[bytes], bytes | None]:
    """``asset_bytes`` over a local asset store: a digest's file as it is (the audit hashes it
    itself, so a corrupt file fails its check), None where the store has none."""

    def read(digest: bytes) -> bytes | None:
        try:
            return store.path_of(cid_of(digest)).read_bytes()
        except FileNotFoundError:
            return None

    return read


def _assets(audit: Audit, a: InferenceExecuted,
            asset_bytes: Callable[[bytes], bytes | None] | None) -> None:  # fmt: skip
    out = {}
    for name in ("inputDigest", "outputDigest"):
        digest = bytes.fromhex(str(a[name])[2:])
        data = None if asset_bytes is None else asset_bytes(digest)
        entry: dict[str, Any] = {"digest": a[name], "cid": cid_of(digest),
                                 "stored": data is not None}  # fmt: skip
        if data is not None:
            again = hashlib.sha256(data).digest()
            entry["size"] = len(data)
            audit.check(f"asset.{name}", again == digest,
                        f"the stored bytes ({len(data)}) hash to {_hex(again)}")  # fmt: skip
        out[name] = entry
    audit.evidence["assets"] = out


def _store(
    audit: Audit, log: Event, a: InferenceExecuted, stored: Mapping[str, Any] | None,
    credits: list[tuple[str, int, int]] | None, store_head: int | None,
) -> None:  # fmt: skip
    if stored is None:
        behind = store_head is not None and store_head < log.block_number
        audit.check("store", behind, f"our store has not projected block {log.block_number} yet"
                    f" (it is at {store_head})" if behind else "our store holds no row for"
                    " this execution although it projected its block")  # fmt: skip
        return
    wrong = []
    for column, value in _LOG_FIELDS:
        if _norm(stored[column]) != _norm(value(log, a)):
            wrong.append(column)
            audit.check(f"store.{column}", False,
                        f"our store says {stored[column]}, the chain says"
                        f" {value(log, a)}")  # fmt: skip
    if credits is not None:
        for i, column in enumerate(("credit_recipients", "credit_roles", "credit_amounts")):
            theirs = [c[i] for c in credits]
            if _norm(list(stored[column])) != theirs:
                wrong.append(column)
                audit.check(f"store.{column}", False, f"our store says"
                            f" {[str(v) for v in stored[column]]}, the chain's Settlement events"
                            f" say {[str(v) for v in theirs]}")  # fmt: skip
    if not wrong:
        audit.check("store", True, "our store's row equals the chain in every field")


# The request event the indexer stored for it (``indexer/requests.py``): its arguments.
STORED_REQUEST = (
    "SELECT args FROM live_events WHERE event_name = 'RequestSigned'"
    " AND args->>'executionId' = %s ORDER BY position DESC LIMIT 1"
)

# Our store's row for an execution: what the audit compares with the chain.
STORED_ROW = "SELECT " + ", ".join(STORE_COLUMNS) + " FROM proj_executions WHERE execution_id = %s"
