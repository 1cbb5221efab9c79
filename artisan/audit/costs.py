"""Recomputing every execution's cost and credits from the chain's own events.

Replays the registry (model terms through the ``models`` fold), the ledger's rates versions
(``RatesSet``) and each user's prior executions per model, in chain order, and applies the
domain's metering rule (``quote``) and splits (``settle``) to each ``InferenceExecuted``:
the recomputed cost must equal the event's, and the recomputed credits its ``Settlement``
events, in order. The treasury is the last ``TreasurySet``, else the recipient the ledger
named (the constructor sets it without an event).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from artisan.domain.events import InferenceExecuted, RatesSet, Settlement, TreasurySet
from artisan.domain.metering import quote
from artisan.domain.splits import settle
from artisan.domain.types import Meter, ModelTerms, Rates, SettlementRole
from artisan.errors import DomainError
from artisan.projections.events import Event, args_as
from artisan.projections.models import ACCESS_EVENTS, TERM_EVENTS, MemoryModels, ModelRow


@dataclass(frozen=True, slots=True)
class Mismatch:
    """One disagreement between a recomputation and what the store or chain holds."""

    kind: str  # digest, cost, settlement, reward_root, reward_total, reward_publication, balance
    subject: str
    expected: str
    actual: str

    def __str__(self) -> str:
        return f"{self.kind} {self.subject}: expected {self.expected}, found {self.actual}"


def rates_of(args: RatesSet) -> Rates:
    r = args["rates"]
    return Rates(
        unit_rate=tuple(int(x) for x in r["unitRate"]),  # type: ignore[arg-type]
        gpu_rate=int(r["gpuRate"]),
        latency_rate=int(r["latencyRate"]),
        storage_rate=int(r["storageRate"]),
        priority_bps=tuple(int(x) for x in r["priorityBps"]),  # type: ignore[arg-type]
        load_bps_per_unit=int(r["loadBpsPerUnit"]),
        load_capacity=int(r["loadCapacity"]),
        max_load_bps=int(r["maxLoadBps"]),
        operator_bps=int(r["operatorBps"]),
        treasury_bps=int(r["treasuryBps"]),
    )


def terms_of(row: ModelRow) -> ModelTerms:
    return ModelTerms(
        owner=row.owner,
        size_class=row.size_class,
        pricing_kind=row.pricing_kind,  # type: ignore[arg-type]
        fixed_price=row.fixed_price,
        thresholds=tuple(row.thresholds),
        prices=tuple(row.prices),
        dao_treasury=row.dao_treasury,
        dao_share_bps=row.dao_share_bps,
        parent_id=row.parent_id,
        remix_share_bps=row.remix_share_bps,
    )


def meter_of(args: InferenceExecuted) -> Meter:
    m = args["meter"]
    return Meter(
        int(m["inputUnits"]),
        int(m["gpuMicros"]),
        int(m["latencyMicros"]),
        int(m["storageBytes"]),
        int(m["concurrentLoad"]),
    )


def audit_costs(events: Iterable[Event]) -> list[Mismatch]:
    """Every execution whose cost or credits disagree with the metering rule and splits."""
    ordered = sorted(events, key=lambda e: (e.block_number, e.log_index))
    credits: dict[str, list[tuple[str, int, int]]] = {}
    for e in ordered:
        if e.name == "Settlement":
            s = args_as(e, Settlement)
            credits.setdefault(s["executionId"], []).append(
                (s["recipient"], int(s["role"]), int(s["amount"]))
            )
    models = MemoryModels()
    rates: dict[int, Rates] = {}
    prior: dict[tuple[int, str], int] = {}
    treasury: str | None = None
    out: list[Mismatch] = []
    for e in ordered:
        if e.name in TERM_EVENTS or e.name in ACCESS_EVENTS:
            models.apply(e)
        elif e.name == "RatesSet":
            r = args_as(e, RatesSet)
            rates[int(r["version"])] = rates_of(r)
        elif e.name == "TreasurySet":
            treasury = args_as(e, TreasurySet)["treasury"]
        elif e.name == "InferenceExecuted":
            x = args_as(e, InferenceExecuted)
            out.extend(_check(e, x, models, rates, prior, treasury,
                              credits.get(x["executionId"], [])))  # fmt: skip
    return out


def _check(
    e: Event,
    a: InferenceExecuted,
    models: MemoryModels,
    rates: Mapping[int, Rates],
    prior: dict[tuple[int, str], int],
    treasury: str | None,
    actual: list[tuple[str, int, int]],
) -> list[Mismatch]:
    subject = f"execution {a['executionId']} (block {e.block_number}, log {e.log_index})"
    model_id, user = int(a["modelId"]), a["user"]
    count = prior.get((model_id, user), 0)
    prior[(model_id, user)] = count + 1
    try:
        # The treasury's credit names where the ledger paid it (``SettlementRole.TREASURY``).
        named = next((r for r, role, _ in actual if role == SettlementRole.TREASURY), None)
        pay_to = treasury or named or a["operator"]
        cost, expected = charge(models, rates[int(a["ratesVersion"])], count, a, pay_to)
    except (KeyError, DomainError) as exc:
        return [Mismatch("cost", subject, "a computable cost", f"error: {exc!r}")]
    out = []
    if cost != int(a["cost"]):
        out.append(Mismatch("cost", subject, str(cost), a["cost"]))
    if expected != actual:
        out.append(Mismatch("settlement", subject, repr(expected), repr(actual)))
    return out


def charge(
    models: MemoryModels, rates: Rates, prior_count: int, a: InferenceExecuted, treasury: str
) -> tuple[int, list[tuple[str, int, int]]]:
    """The cost the metering rule gives the execution ``a`` and its credits by the split rule
    (recipient, role, amount, in emission order), from the terms ``models`` holds and the
    user's ``prior_count`` executions of the model. KeyError or DomainError where the model,
    an ancestor or the rule refuses."""
    model_id = int(a["modelId"])
    chain = ancestry(models, model_id)
    cost = quote(chain[model_id], prior_count, rates, meter_of(a), int(a["priority"]))
    credits = settle(cost, rates, model_id, chain, operator=a["operator"], treasury=treasury)
    return cost, [(c.recipient, int(c.role), c.amount) for c in credits]


def ancestry(models: MemoryModels, model_id: int) -> dict[int, ModelTerms]:
    """Terms of the model and of every ancestor, as they stand now."""
    chain: dict[int, ModelTerms] = {}
    current: int = model_id
    while current != 0 and current not in chain:
        row = models.current(current)
        if row is None:
            raise KeyError(f"model {current} is not registered")
        chain[current] = terms_of(row)
        current = row.parent_id
    return chain
