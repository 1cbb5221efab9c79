"""Admission: everything checked before a request may run, and the quote it runs under.

Checks, cheapest first, each refusal a ``Refused`` subclass naming the problem:

1. priority 0..3, and the deadline at least ``deadline_margin_s`` away (the execution must be
   recorded before it, and batching plus confirmation take time);
2. the model is registered (cached terms, ``ModelCatalog``) and its file is in the store;
3. the tensors match the model's declared inputs (the runner's ``InvalidInput`` errors);
4. the signature recovers to the request's user. An EIP-1271 contract wallet's signature can
   only be checked on chain: with ``allow_contract_wallets`` a signature that recovers to
   someone else is let through when the user address holds code, and the ledger decides;
5. access: an ALLOWLIST model needs the user to be its owner or granted (cached);
6. under the user's lock: the nonce is neither used on the ledger nor held here; the quote is
   the metering rule (``artisan.domain.metering``) on the meter bound (``estimate``) with the
   highest price of the user's possible prior counts (chain count .. chain count + held count:
   a held execution may still be rejected); it must not exceed ``maxCost``, nor escrow less
   the user's holds. A request that passes is held (``reservations``) until settled.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from artisan.chain.ledger_reads import RegisteredModel
from artisan.domain.metering import meter_cost, model_price
from artisan.domain.types import PRIORITIES, Access, InferenceRequest, Meter, ModelTerms, Rates
from artisan.executor.assets import AssetStore, cid_of
from artisan.executor.catalog import Clock, ModelCatalog
from artisan.executor.errors import ModelLoadError, RunFailed
from artisan.executor.estimate import MeterEstimator
from artisan.executor.refusals import (
    BadPriority,
    BadSignature,
    CostAboveMax,
    Expired,
    InsufficientEscrow,
    ModelNotPinned,
    ModelUnusable,
    NoAccess,
    NonceUsed,
    UnknownModel,
)
from artisan.executor.reservations import Hold, Reservations
from artisan.executor.scheduler import Scheduler
from artisan.executor.sessions import ModelSession, SessionCache, Tensors
from artisan.executor.signatures import RequestVerifier

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AdmissionPolicy:
    """What admission tolerates."""

    deadline_margin_s: int = 30
    allow_contract_wallets: bool = False


@dataclass(frozen=True, slots=True)
class Verified:
    """A request whose signature was checked before its body was parsed (``precheck``), so
    that admission does not recover its signer a second time."""

    request: InferenceRequest
    signature: bytes
    execution_id: bytes


@dataclass(frozen=True, slots=True)
class Admitted:
    """A request that may run: its id, model, bound, quote and the prices behind it."""

    execution_id: bytes
    request: InferenceRequest
    signature: bytes
    model: RegisteredModel
    model_cid: str
    session: ModelSession
    bound: Meter
    quote: int
    prior_count: int  # the chain's count plus this user's held executions of the model
    rates_version: int
    rates: Rates

    @property
    def terms(self) -> ModelTerms:
        return self.model.terms


def highest_price(terms: ModelTerms, low: int, high: int) -> int:
    """The highest base price for a prior count anywhere in ``low..high``."""
    if terms.thresholds and high > low:
        # Only the tiers that start inside the range, and the one in force at ``low``, apply.
        starts = [low, *(t for t in terms.thresholds if low < t <= high)]
        return max(model_price(terms, n) for n in starts)
    return model_price(terms, low)


class Admission:
    """Decides whether a request runs, and at what quote."""

    def __init__(
        self,
        catalog: ModelCatalog,
        verifier: RequestVerifier,
        store: AssetStore,
        sessions: SessionCache,
        scheduler: Scheduler,
        estimator: MeterEstimator,
        reservations: Reservations,
        policy: AdmissionPolicy | None = None,
        *,
        clock: Clock = time.time,
    ) -> None:
        self.catalog, self.verifier, self.store = catalog, verifier, store
        self.sessions, self.scheduler, self.estimator = sessions, scheduler, estimator
        self.reservations = reservations
        self.policy = policy or AdmissionPolicy()
        self._clock = clock
        self._pinned: set[str] = set()
        self._failed: dict[str, str] = {}  # model CID -> why it cannot be served
        self._in_flight = 0  # admitted, not yet queued in the scheduler: future queue depth
        self._count_lock = threading.Lock()

    def admit(
        self,
        request: InferenceRequest,
        signature: bytes,
        tensors: Tensors,
        input_bytes: int,
        verified: Verified | None = None,
    ) -> Admitted:
        """Check a request and hold its quote; raises a ``Refused`` or ``InvalidInput``.
        ``verified``: this very request and signature, already checked (``verify``)."""
        if request.priority >= PRIORITIES:
            raise BadPriority(f"priority must be 0..{PRIORITIES - 1}, got {request.priority}")
        now = int(self._clock())
        if request.deadline < now + self.policy.deadline_margin_s:
            raise Expired(
                f"deadline {request.deadline} is less than {self.policy.deadline_margin_s} s"
                f" after now ({now}): the execution could not be recorded in time"
            )
        model, model_cid, session = self._model(request.model_id)
        rows = session.validate(tensors)
        if verified is not None and verified.request is request and verified.signature == signature:
            execution_id = verified.execution_id
        else:
            execution_id = self.verify(request, signature).execution_id
        user = request.user
        if (
            model.access is Access.ALLOWLIST
            and user != model.terms.owner
            and not self.catalog.has_access(request.model_id, user)
        ):
            raise NoAccess(f"model {request.model_id} is allowlisted and {user} is not granted")
        version, rates = self.catalog.rates()
        with self._count_lock:
            load = self.scheduler.queue_depth(model_cid) + self._in_flight
        if not self.estimator.has_history(model_cid):
            # A model's first request runs a probe: only for a user who could pay at least the
            # least this request can cost, so that an empty key cannot make us run models.
            self._afford_probe(request, model, rates, tensors, input_bytes)
        try:
            bound = self.estimator.estimate(session, tensors, rows, input_bytes, load)
        except RunFailed as exc:  # the model fails on zeros shaped like this request
            raise self._unusable(model_cid, f"it fails a probe run: {exc}") from exc
        with self.reservations.user_lock(user):
            quote, prior = self._quote_and_hold(request, execution_id, model, bound, rates)
        with self._count_lock:
            self._in_flight += 1
        return Admitted(
            execution_id, request, signature, model, model_cid, session, bound, quote, prior,
            version, rates,
        )  # fmt: skip

    def session_of(self, model_id: int) -> ModelSession:
        """The session of a registered, pinned model; ``UnknownModel`` or ``ModelNotPinned``."""
        return self._model(model_id)[2]

    def _model(self, model_id: int) -> tuple[RegisteredModel, str, ModelSession]:
        model = self.catalog.model(model_id)
        if model is None:
            raise UnknownModel(f"no model {model_id} is registered")
        model_cid = cid_of(model.cid_digest)
        failed = self._failed.get(model_cid)
        if failed is not None:
            raise ModelUnusable(f"model {model_id} ({model_cid}) cannot be served: {failed}")
        # A file found once stays: its session is loaded, so it is not looked up again.
        if model_cid not in self._pinned:
            if not self.store.has(model_cid):
                raise ModelNotPinned(
                    f"model {model_id} ({model_cid}) is registered, but its file is not in this"
                    " executor's store"
                )
            self._pinned.add(model_cid)
        try:
            session = self.sessions.get(model_cid)
        except ModelLoadError as exc:
            raise self._unusable(model_cid, str(exc)) from exc
        return model, model_cid, session

    def _unusable(self, model_cid: str, why: str) -> ModelUnusable:
        """Remember that a model cannot be served (its file never changes: a CID is its
        digest), so that it is not loaded or probed again for every request."""
        self._failed[model_cid] = why
        log.warning("model %s is unusable: %s", model_cid, why)
        return ModelUnusable(f"model {model_cid} cannot be served: {why}")

    def _afford_probe(
        self,
        request: InferenceRequest,
        model: RegisteredModel,
        rates: Rates,
        tensors: Tensors,
        input_bytes: int,
    ) -> None:
        units = sum(int(a.size) for a in tensors.values())
        least = meter_cost(rates, model.terms.size_class, 0,
                           Meter(units, 0, 0, input_bytes, 0), request.priority)  # fmt: skip
        account = self.catalog.chain.account(request.user, request.nonce, request.model_id)
        available = (
            account.escrow - self.reservations.pending(request.user, request.model_id).total_quote
        )
        if available <= 0 or least > available:
            raise InsufficientEscrow(
                f"escrow available to {request.user} ({max(available, 0)} wei) cannot cover even"
                f" the least this request can cost ({least} wei)"
            )

    def queued(self) -> None:
        """The admitted request reached the scheduler's queue (or was dropped): it no longer
        counts as load that admission must foresee."""
        with self._count_lock:
            self._in_flight -= 1

    def verify(self, request: InferenceRequest, signature: bytes) -> Verified:
        """The request's execution id, once its signature is checked (``check_signature``)."""
        execution_id = self.verifier.execution_id(request)
        self.check_signature(request, execution_id, signature)
        return Verified(request, signature, execution_id)

    def check_signature(
        self, request: InferenceRequest, execution_id: bytes, signature: bytes
    ) -> None:
        """``BadSignature`` unless the signature recovers to the request's user (or, with
        ``allow_contract_wallets``, the user is a contract that the ledger will ask)."""
        signer = self.verifier.signer(execution_id, signature)
        if signer == request.user:
            return
        if self.policy.allow_contract_wallets and self.catalog.chain.has_code(request.user):
            return  # EIP-1271: the ledger asks the wallet; a refusal there is our loss
        if signer is None:
            raise BadSignature(
                "the signature is malformed or recovers no key (65 bytes r||s||v, v 27 or 28,"
                " low s)"
            )
        raise BadSignature(
            f"the signature recovers to {signer}, not the request's user {request.user}"
            f" (EIP-712 domain: chain {self.verifier.chain_id},"
            f" ledger {self.verifier.ledger_address})"
        )

    def _quote_and_hold(
        self,
        request: InferenceRequest,
        execution_id: bytes,
        model: RegisteredModel,
        bound: Meter,
        rates: Rates,
    ) -> tuple[int, int]:
        user, nonce = request.user, request.nonce
        if self.reservations.nonce_held(user, nonce):
            raise NonceUsed(f"nonce {nonce} of {user} is already admitted here, not yet settled")
        account = self.catalog.chain.account(user, nonce, request.model_id)
        if account.nonce_used:
            raise NonceUsed(f"nonce {nonce} of {user} is used on the ledger")
        pending = self.reservations.pending(user, request.model_id)
        low = account.usage_count
        base = highest_price(model.terms, low, low + pending.count_for_model)
        quote = meter_cost(rates, model.terms.size_class, base, bound, request.priority)
        if quote > request.max_cost:
            raise CostAboveMax(
                f"quote {quote} wei exceeds the signed maxCost {request.max_cost} wei"
                f" (on a bound of {bound.input_units} input units, {bound.gpu_micros} GPU us,"
                f" {bound.latency_micros} us latency, {bound.storage_bytes} bytes stored)"
            )
        available = account.escrow - pending.total_quote
        if quote > available:
            raise InsufficientEscrow(
                f"quote {quote} wei exceeds the escrow available to {user}: {max(available, 0)}"
                f" wei ({account.escrow} on the ledger less {pending.total_quote} held for"
                " executions not yet settled)"
            )
        self.reservations.hold(
            Hold(execution_id, user, request.model_id, nonce, quote, request.deadline)
        )
        return quote, low + pending.count_for_model
