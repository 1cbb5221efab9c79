"""A request's way through the executor, from signed request to recorded execution.

``submit`` runs in the caller's thread up to the queue: it checks the inputs against the
signed digest, admits the request (``admission``) and queues the tensors in the scheduler.
When the batch has run, its completer thread (``batcher``) finishes each request in turn:
encodes the output asset, settles the meter (storage = input asset + output asset bytes;
charged = measured clamped to the admission bound) and hands the execution, with its input and
output assets, to the group recorder, which writes the assets and the execution for a whole
group at once (``recorder``); the caller's future resolves once both are durable. Nothing is
stored or recorded, so nothing can be charged, for a request that is refused or fails to run,
and its hold is released.

A sweeper thread releases the holds of executions that the chain has settled (as the sink
reports) or whose deadline has passed.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, replace

from artisan.chain.ledger_reads import RegisteredModel
from artisan.domain.metering import meter_cost, model_price
from artisan.domain.types import InferenceRequest, Meter
from artisan.executor.admission import Admission, Admitted, Verified
from artisan.executor.assets import StoredAsset, address, cid_of
from artisan.executor.batcher import CompletedRun
from artisan.executor.errors import ExecutorError, RunFailed, RunOverBudget
from artisan.executor.estimate import clamp
from artisan.executor.measure import BatchShare
from artisan.executor.model_limits import ModelLimits, load_limits
from artisan.executor.recorder import GroupRecorder
from artisan.executor.records import Completed, ExecutionBook, Status, StatusView
from artisan.executor.refusals import InputDigestMismatch, Refused
from artisan.executor.sessions import InputSpec, Tensors
from artisan.executor.tensors import encode_tensors

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Ticket:
    """An admitted request: its id and quote now, its receipt once recorded."""

    execution_id: bytes
    quote: int
    receipt: Future[Receipt]


@dataclass(frozen=True, slots=True)
class Prechecked:
    """What ``precheck`` established: the signature (``checked``), and the digest of the
    input bytes it was given, if any."""

    checked: Verified
    input_digest: bytes | None


@dataclass(frozen=True, slots=True)
class ModelView:
    """A registered model as ``GET /v1/models`` shows it."""

    model: RegisteredModel
    cid: str
    pinned: bool  # this executor's store holds the file: it can serve the model
    inputs: tuple[InputSpec, ...]  # what a request sends (empty when not pinned)
    problem: str | None  # why a pinned model cannot be served, if it cannot


@dataclass(frozen=True, slots=True)
class Receipt:
    """What the caller learns of a recorded execution."""

    execution_id: bytes
    status: Status
    model_id: int
    model_cid: str
    input_cid: str
    output_cid: str
    quote: int
    cost: int
    meter: Meter
    measured: Meter
    batch: BatchShare
    provider: str


class ExecutorService:
    """Admission, scheduler, stores and recorder behind one ``submit``."""

    def __init__(
        self,
        admission: Admission,
        recorder: GroupRecorder,
        *,
        provider: str,
        sweep_interval_s: float = 0.5,
    ) -> None:
        self.admission = admission
        self.recorder = recorder
        self.provider = provider  # the execution provider sessions get
        self.book = ExecutionBook()
        self._limits: dict[str, ModelLimits] = {}
        self._sweep_interval = sweep_interval_s
        self._stop = threading.Event()
        self._sweeper = threading.Thread(target=self._sweep, name="hold-sweeper", daemon=True)
        self._sweeper.start()

    def submit(
        self,
        request: InferenceRequest,
        signature: bytes,
        tensors: Tensors,
        input_asset: bytes | None = None,
        verified: Prechecked | None = None,
    ) -> Ticket:
        """Admit and queue one request; refusals and bad input raise here. ``input_asset`` is
        the canonical encoding of ``tensors`` when the caller already has it (a .npy upload);
        ``verified`` is what ``precheck`` answered for this request and signature (and, with
        ``input_asset``, for those very bytes), so nothing it checked is computed again."""
        data = encode_tensors(tensors) if input_asset is None else input_asset
        if verified is not None and verified.input_digest is not None and input_asset is not None:
            digest = verified.input_digest  # precheck hashed these bytes
        else:
            digest = hashlib.sha256(data).digest()
        if digest != request.input_digest:
            raise InputDigestMismatch(
                f"the inputs hash to 0x{digest.hex()} (sha2-256 of their canonical encoding),"
                f" but the request signs inputDigest 0x{request.input_digest.hex()}"
            )
        admission = self.admission
        admitted = admission.admit(
            request, signature, tensors, len(data), None if verified is None else verified.checked
        )
        execution_id = admitted.execution_id
        limits = self.limits(admitted.model_cid)
        budget = min(admission.estimator.policy.run_budget(admitted.bound), limits.max_run_micros)
        # The input asset is written with its output, once the request ran (``recorder``).
        stored_input = StoredAsset(cid_of(digest), digest, len(data))
        try:
            self.book.put(StatusView(execution_id, Status.QUEUED, quote=admitted.quote))
            queued = admission.scheduler.submit(
                admitted.model_cid, tensors, request.priority, input_bytes=len(data),
                budget_micros=budget,
            )  # fmt: skip
        except BaseException:
            self._abandon(execution_id)
            raise
        finally:
            admission.queued()
        receipt: Future[Receipt] = Future()
        # Finished in the thread that completes the batch: a few microseconds of Python that
        # would cost more as a task handed to another thread.
        queued.add_done_callback(
            lambda ran: self._finish(admitted, (stored_input, data), ran, receipt)
        )
        return Ticket(execution_id, admitted.quote, receipt)

    def limits(self, model_cid: str) -> ModelLimits:
        """The model's caps (``model_limits``), read once per process."""
        found = self._limits.get(model_cid)
        if found is None:
            found = load_limits(self.admission.store.root, model_cid)
            self._limits[model_cid] = found
        return found

    def precheck(
        self, request: InferenceRequest, signature: bytes, input_digest: bytes | None = None
    ) -> Prechecked:
        """The checks that need no model and no tensor, made before a body is parsed: the
        signature over the request, and (given the raw input's digest) that the input is what
        it signs. Anyone can send bytes; only a signer's are worth parsing. The answer goes
        to ``submit`` with the parsed tensors."""
        if input_digest is not None and input_digest != request.input_digest:
            raise InputDigestMismatch(
                f"the body hashes to 0x{input_digest.hex()} (sha2-256), but the request signs"
                f" inputDigest 0x{request.input_digest.hex()}"
            )
        return Prechecked(self.admission.verify(request, signature), input_digest)

    def execute(
        self, request: InferenceRequest, signature: bytes, tensors: Tensors, timeout: float = 60
    ) -> Receipt:
        """``submit`` and wait for the recorded execution."""
        return self.submit(request, signature, tensors).receipt.result(timeout)

    def input_name(self, model_id: int) -> str | None:
        """The only input a model declares (None if it declares several): what a bare .npy
        upload is fed to. Unknown or unpinned models are refused here."""
        session = self.admission.session_of(model_id)
        return session.inputs[0].name if len(session.inputs) == 1 else None

    def models(self, after: int = 0, first: int = 100) -> tuple[list[ModelView], int | None]:
        """Registered models with ids above ``after`` (at most ``first``), as this executor
        sees them: terms, whether its store holds the file, and the inputs a request sends;
        and the id to continue after (None at the end)."""
        admission = self.admission
        count = admission.catalog.model_count()
        last = min(count, after + first)
        views = []
        for model_id in range(after + 1, last + 1):
            model = admission.catalog.model(model_id)
            if model is None:
                continue
            cid = cid_of(model.cid_digest)
            inputs: tuple[InputSpec, ...] = ()
            problem = None
            pinned = admission.store.has(cid)
            if pinned:
                try:
                    inputs = admission.session_of(model_id).inputs
                except Refused as exc:
                    problem = str(exc)
            views.append(ModelView(model, cid, pinned, inputs, problem))
        return views, (last if last < count else None)

    def status(self, execution_id: bytes) -> StatusView | None:
        """Where an execution stands: this process's book first, then the sink."""
        view = self.book.get(execution_id)
        if view is not None:
            return view
        return self.recorder.sink.status(execution_id)

    def close(self) -> None:
        """Stop sweeping and record what ran (the scheduler is the caller's to close first:
        its batches finish, and their requests are handed to the recorder, as it closes)."""
        self._stop.set()
        self._sweeper.join()
        self.recorder.close()

    def _finish(
        self,
        admitted: Admitted,
        input_asset: tuple[StoredAsset, bytes],
        ran: Future[CompletedRun],
        receipt: Future[Receipt],
    ) -> None:
        execution_id = admitted.execution_id
        try:
            execution = ran.result()
            completed, output_asset = self._complete(admitted, input_asset[0], execution)
        except Exception as exc:
            error = exc if isinstance(exc, ExecutorError) else RunFailed(f"{exc!r}")
            if not isinstance(exc, ExecutorError):
                log.exception("finishing execution 0x%s failed", execution_id.hex())
            self._fail(execution_id, error, receipt)
            return
        recorded = self.recorder.submit(completed, (input_asset, output_asset))
        recorded.add_done_callback(lambda done: self._recorded(completed, done, receipt))

    def _complete(
        self, admitted: Admitted, input_asset: StoredAsset, execution: CompletedRun
    ) -> tuple[Completed, tuple[StoredAsset, bytes]]:
        input_size = input_asset.size
        output = encode_tensors(execution.outputs)
        # The meter's storage is exactly the two assets' sizes, whatever the scheduler assumed.
        measured = replace(execution.meter, storage_bytes=input_size + len(output))
        data_bytes = sum(int(t.nbytes) for t in execution.outputs.values())
        # Learned even from a refused run: the next quote for such a request covers it.
        self.admission.estimator.observe(admitted.model_cid, measured, len(output), data_bytes)
        allowance = min(
            self.admission.estimator.policy.storage_allowance(admitted.bound),
            input_size + self.limits(admitted.model_cid).max_output_bytes,
        )
        if measured.storage_bytes > allowance:
            raise RunOverBudget(
                f"the output is {len(output)} bytes; with the {input_size}-byte input that is"
                f" over the {allowance} bytes this request was quoted for: nothing is stored"
                " or charged"
            )
        asset = address(output)
        charged = clamp(measured, admitted.bound)
        terms, request = admitted.terms, admitted.request
        base = model_price(terms, admitted.prior_count)
        cost = meter_cost(admitted.rates, terms.size_class, base, charged, request.priority)
        completed = Completed(
            execution_id=admitted.execution_id,
            request=request,
            signature=admitted.signature,
            model_cid=admitted.model_cid,
            input_cid=input_asset.cid,
            output_cid=asset.cid,
            output_digest=asset.digest,
            meter=charged,
            measured=measured,
            bound=admitted.bound,
            quote=admitted.quote,
            cost=cost,
            rates_version=admitted.rates_version,
            batch=execution.batch,
            provider=execution.provider,
        )
        return completed, (asset, output)

    def _recorded(self, ex: Completed, done: Future[None], receipt: Future[Receipt]) -> None:
        error = done.exception()
        if error is not None:
            self._fail(ex.execution_id, error, receipt)
            return
        self.book.drop(ex.execution_id)
        receipt.set_result(
            Receipt(
                ex.execution_id,
                Status.RAN,
                ex.request.model_id,
                ex.model_cid,
                ex.input_cid,
                ex.output_cid,
                ex.quote,
                ex.cost,
                ex.meter,
                ex.measured,
                ex.batch,
                ex.provider,
            )
        )

    def _fail(self, execution_id: bytes, error: BaseException, receipt: Future[Receipt]) -> None:
        self._abandon(execution_id, f"{type(error).__name__}: {error}")
        receipt.set_exception(error)

    def _abandon(self, execution_id: bytes, reason: str | None = None) -> None:
        self.admission.reservations.release([execution_id])
        if reason is None:
            self.book.drop(execution_id)
        else:
            self.book.put(StatusView(execution_id, Status.FAILED, reason=reason))

    def _sweep(self) -> None:
        reservations, sink = self.admission.reservations, self.recorder.sink
        while not self._stop.wait(self._sweep_interval):
            try:
                live = reservations.live()
                for start in range(0, len(live), 1000):
                    reservations.release(sink.settled(live[start : start + 1000]))
                reservations.release(reservations.expired(int(time.time())))
            except Exception:  # a database hiccup delays releases; the next sweep retries
                log.exception("releasing settled holds failed")
