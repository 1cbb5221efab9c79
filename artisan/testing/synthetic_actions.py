"""What the synthetic history's users do, one protocol action per transaction.

Each action updates the tracked protocol state and emits the events the contracts would emit,
in their order, with the values they would compute (costs by the metering rule, credits by
the splits). Integers are passed as ints and stored as decimal strings by the emitter.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from artisan.domain.metering import quote
from artisan.domain.splits import settle
from artisan.domain.types import Meter, ModelTerms, PricingKind, Rates

ZERO = "0x" + "00" * 20
SYNTHETIC_EPOCHS = 1_000_000
Emit = Callable[..., None]


def random_hex(rng: random.Random, size: int) -> str:
    return "0x" + rng.getrandbits(8 * size).to_bytes(size, "big").hex()


@dataclass
class World:
    """The protocol state the generator tracks (deep-copied when a branch forks)."""

    models: dict[int, ModelTerms] = field(default_factory=dict)
    remixable: dict[int, bool] = field(default_factory=dict)
    depth: dict[int, int] = field(default_factory=dict)
    access: dict[int, int] = field(default_factory=dict)
    allowlisted: dict[int, set[str]] = field(default_factory=dict)
    prior: dict[tuple[int, str], int] = field(default_factory=dict)
    unrated: list[tuple[str, int, str]] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    signals: dict[int, tuple[str, int]] = field(default_factory=dict)  # active: curator, amount
    published: list[tuple[int, list[tuple[str, int]]]] = field(default_factory=list)
    next_signal: int = 1
    escrow: dict[str, int] = field(default_factory=dict)
    owed: dict[str, int] = field(default_factory=dict)
    requests: dict[str, tuple[int, int]] = field(default_factory=dict)  # amount, unlockAt


@dataclass
class Actions:
    """The actors (accounts) and their actions over a ``World``."""

    rng: random.Random
    rates: Rates
    users: list[str]
    creators: list[str]
    operators: list[str]
    treasury: str
    daos: list[str]
    world: World = field(default_factory=World)
    now: int = 0  # the block's timestamp
    withdrawal_delay: int = 60  # seconds: five synthetic blocks

    def _model(self) -> int | None:
        return self.rng.randint(1, len(self.world.models)) if self.world.models else None

    def _dao(self) -> tuple[str, int]:
        return (self.rng.choice(self.daos), self.rng.randint(1, 3000))

    def register(self, emit: Emit, remix: bool = False) -> None:
        w, rng = self.world, self.rng
        parents = [m for m, ok in w.remixable.items() if ok and w.depth[m] < 8]
        parent = rng.choice(parents) if remix and parents else 0
        model_id, owner = len(w.models) + 1, rng.choice(self.creators)
        size_class, access = rng.randrange(4), int(rng.random() < 0.15)
        thresholds: tuple[int, ...] = ()
        prices: tuple[int, ...] = ()
        pricing, fixed = PricingKind.FIXED, rng.randrange(10**15)
        if rng.random() < 0.3:
            pricing, fixed = PricingKind.TIERED, 0
            thresholds = (0, rng.randint(1, 3), rng.randint(4, 10))
            prices = tuple(sorted((rng.randrange(10**15) for _ in range(3)), reverse=True))
        dao, dao_bps = self._dao() if rng.random() < 0.3 else (ZERO, 0)
        allowed, share = rng.random() < 0.9, rng.randrange(5001)
        w.models[model_id] = ModelTerms(
            owner, size_class, pricing, fixed, thresholds, prices, dao, dao_bps, parent, share
        )
        w.remixable[model_id], w.allowlisted[model_id] = allowed, set()
        w.depth[model_id] = 0 if parent == 0 else w.depth[parent] + 1
        w.access[model_id] = access
        cid = random_hex(rng, 32)
        emit("ModelRegistered", modelId=model_id, cid=cid, owner=owner, parentId=parent,
             sizeClass=size_class, depth=w.depth[model_id])  # fmt: skip
        self._pricing(emit, model_id)
        emit("AccessSet", modelId=model_id, access=access)
        emit("LicenseSet", modelId=model_id, remixAllowed=allowed, remixShareBps=share)
        emit("DaoSet", modelId=model_id, daoTreasury=dao, daoShareBps=dao_bps)

    def _pricing(self, emit: Emit, model_id: int) -> None:
        t = self.world.models[model_id]
        emit("PricingSet", modelId=model_id, pricingKind=int(t.pricing_kind),
             fixedPrice=t.fixed_price, thresholds=list(t.thresholds),
             prices=list(t.prices))  # fmt: skip

    def remix(self, emit: Emit) -> None:
        self.register(emit, remix=True)

    def terms(self, emit: Emit) -> None:
        model_id = self._model()
        if model_id is None:
            return
        w, rng = self.world, self.rng
        t, choice = w.models[model_id], rng.randrange(4)
        if choice == 0 and t.pricing_kind is PricingKind.FIXED:
            w.models[model_id] = dataclasses.replace(t, fixed_price=rng.randrange(10**15))
            self._pricing(emit, model_id)
        elif choice in (0, 1):
            w.remixable[model_id], share = rng.random() < 0.8, rng.randrange(5001)
            w.models[model_id] = dataclasses.replace(t, remix_share_bps=share)
            emit("LicenseSet", modelId=model_id, remixAllowed=w.remixable[model_id],
                 remixShareBps=share)  # fmt: skip
        elif choice == 2:
            dao, bps = self._dao() if rng.random() < 0.5 else (ZERO, 0)
            w.models[model_id] = dataclasses.replace(t, dao_treasury=dao, dao_share_bps=bps)
            emit("DaoSet", modelId=model_id, daoTreasury=dao, daoShareBps=bps)
        else:
            emit("KindSet", modelId=model_id, kind=rng.randrange(2))

    def transfer(self, emit: Emit) -> None:
        model_id = self._model()
        if model_id is None:
            return
        t, to = self.world.models[model_id], self.rng.choice(self.creators)
        self.world.models[model_id] = dataclasses.replace(t, owner=to)
        emit("ModelTransferred", modelId=model_id, **{"from": t.owner, "to": to})

    def access(self, emit: Emit) -> None:
        w, rng = self.world, self.rng
        grants = sorted((m, u) for m, users in w.allowlisted.items() for u in users)
        if grants and rng.random() < 0.4:
            model_id, user = rng.choice(grants)
            w.allowlisted[model_id].discard(user)
            emit("AccessRevoked", modelId=model_id, account=user)
            return
        found = self._model()
        if found is not None:
            w.allowlisted[found].add(user := rng.choice(self.users))
            emit("AccessGranted", modelId=found, account=user)

    def execute(self, emit: Emit, count: int = 0) -> None:
        operator = self.rng.choice(self.operators)
        for _ in range(count or self.rng.randint(1, 6)):
            self._execute_one(emit, operator)

    def _execute_one(self, emit: Emit, operator: str) -> None:
        w, rng = self.world, self.rng
        model_id = self._model()
        if model_id is None:
            return
        t, user = w.models[model_id], rng.choice(self.users)
        if w.access[model_id] == 1 and user not in w.allowlisted[model_id]:
            user = t.owner
        priority = rng.randrange(4)
        meter = Meter(rng.randrange(5000), rng.randrange(10**5), rng.randrange(10**5),
                      rng.randrange(10**6), rng.randrange(64))  # fmt: skip
        prior = w.prior.get((model_id, user), 0)
        w.prior[(model_id, user)] = prior + 1
        cost = quote(t, prior, self.rates, meter, priority)
        credits = settle(cost, self.rates, model_id, w.models, operator=operator,
                         treasury=self.treasury)  # fmt: skip
        escrow = w.escrow.get(user, 0)
        if escrow < cost:  # the user tops up first (in this transaction, for brevity)
            top_up = cost - escrow + rng.randrange(10**18)
            emit("Deposited", user=user, amount=top_up)
            escrow += top_up
        w.escrow[user] = escrow - cost
        for c in credits:
            w.owed[c.recipient] = w.owed.get(c.recipient, 0) + c.amount
        execution_id, source = random_hex(rng, 32), rng.random()
        input_digest = rng.choice(w.outputs) if w.outputs and source < 0.2 else random_hex(rng, 32)
        output = rng.choice(w.outputs) if w.outputs and source > 0.97 else random_hex(rng, 32)
        w.outputs.append(output)
        w.unrated.append((execution_id, model_id, user))
        for kept in (w.outputs, w.unrated):
            if len(kept) > 512:
                del kept[:256]
        emit("InferenceExecuted", executionId=execution_id, modelId=model_id, user=user,
             operator=operator, inputDigest=input_digest, outputDigest=output,
             paramsHash=random_hex(rng, 32), priority=priority,
             meter={"inputUnits": meter.input_units, "gpuMicros": meter.gpu_micros,
                    "latencyMicros": meter.latency_micros, "storageBytes": meter.storage_bytes,
                    "concurrentLoad": meter.concurrent_load},
             cost=cost, ratesVersion=1)  # fmt: skip
        for c in credits:
            emit("Settlement", executionId=execution_id, recipient=c.recipient,
                 role=int(c.role), amount=c.amount)  # fmt: skip

    def rate(self, emit: Emit) -> None:
        w, rng = self.world, self.rng
        if not w.unrated:
            return
        execution_id, model_id, user = w.unrated.pop(rng.randrange(len(w.unrated)))
        if rng.random() < 0.1:
            execution_id = random_hex(rng, 32)  # made-up request fields: matches no execution
        emit("Rated", executionId=execution_id, user=user, modelId=model_id,
             rating=rng.randint(1, 5))  # fmt: skip

    def signal(self, emit: Emit) -> None:
        w, rng = self.world, self.rng
        curator, model_id = rng.choice(self.users), self._model()
        if model_id is not None and rng.random() < 0.6:
            target_kind, target = 0, "0x" + model_id.to_bytes(32, "big").hex()
        else:
            pool = w.outputs if w.outputs and rng.random() < 0.7 else None
            target_kind, target = 1, rng.choice(pool) if pool else random_hex(rng, 32)
        amount = rng.choice((1, rng.randrange(10**6), rng.randrange(10**21), 2**128 - 1))
        signal_id, w.next_signal = w.next_signal, w.next_signal + 1
        w.signals[signal_id] = (curator, amount)
        emit("Signaled", signalId=signal_id, curator=curator, targetKind=target_kind,
             target=target, kind=rng.randrange(4), amount=amount)  # fmt: skip

    def unsignal(self, emit: Emit) -> None:
        if not self.world.signals:
            return
        signal_id = self.rng.choice(sorted(self.world.signals))
        curator, amount = self.world.signals.pop(signal_id)
        emit("Unsignaled", signalId=signal_id, curator=curator, amount=amount)

    def epoch(self, emit: Emit, block: int = 0) -> None:
        w, rng = self.world, self.rng
        claimable = [(e, leaves) for e, leaves in w.published if leaves]
        if claimable and rng.random() < 0.6:
            epoch, leaves = rng.choice(claimable)
            account, amount = leaves.pop(rng.randrange(len(leaves)))
            emit("Claimed", epoch=epoch, account=account, amount=amount)
            return
        epoch = SYNTHETIC_EPOCHS + len(w.published)  # far from the epoch job's own numbers
        leaves = [(a, rng.randrange(1, 10**18)) for a in rng.sample(self.creators, 2)]
        w.published.append((epoch, leaves))
        emit("EpochPublished", epoch=epoch, fromBlock=max(0, block - 100), toBlock=block,
             total=sum(a for _, a in leaves), root=random_hex(rng, 32))  # fmt: skip

    def withdraw(self, emit: Emit) -> None:
        """An account with credits pulls them all (``withdraw``)."""
        owed = sorted(a for a, amount in self.world.owed.items() if amount)
        if owed:
            account = self.rng.choice(owed)
            emit("Withdrawn", account=account, amount=self.world.owed.pop(account))

    def exit(self, emit: Emit) -> None:
        """A user asks for escrow back, or takes it once the request has unlocked: the
        request's amount, or the whole escrow if that has shrunk below it."""
        w, rng = self.world, self.rng
        due = sorted(u for u, (_, unlock) in w.requests.items() if unlock <= self.now)
        if due and rng.random() < 0.7:
            user = rng.choice(due)
            requested, _ = w.requests.pop(user)
            amount = min(requested, w.escrow.get(user, 0))
            w.escrow[user] = w.escrow.get(user, 0) - amount
            emit("EscrowWithdrawn", user=user, amount=amount)
            return
        user = rng.choice(self.users)
        amount = rng.randrange(1, 2 * max(1, w.escrow.get(user, 0)) + 1)
        w.requests[user] = (amount, self.now + self.withdrawal_delay)
        emit(
            "WithdrawalRequested",
            user=user,
            amount=amount,
            unlockAt=self.now + self.withdrawal_delay,
        )
