"""The executor's errors: one small tree under ``ArtisanError``."""

from __future__ import annotations

from artisan.errors import ArtisanError


class ExecutorError(ArtisanError):
    """Base of every error the executor raises on purpose."""


class InvalidArgument(ExecutorError, ValueError):
    """A parameter outside its allowed range (a policy, a cache size, a model builder's size)."""


class StoreError(ExecutorError):
    """The content-addressed store could not serve or keep an asset."""


class InvalidCid(StoreError):
    """A string is not a CIDv1 with the raw codec and a sha2-256 multihash."""


class AssetNotFound(StoreError):
    """No asset with this CID is in the store."""


class CorruptAsset(StoreError):
    """The bytes on disk no longer hash to the CID they are stored under."""


class ModelLoadError(ExecutorError):
    """ONNX Runtime refused a model, or the model declares inputs we cannot serve."""


class InvalidInput(ExecutorError):
    """A request's tensors do not match the model's declared inputs; the message says how."""


class UnknownInput(InvalidInput):
    """The request names an input the model does not declare."""


class MissingInput(InvalidInput):
    """The request lacks an input the model declares."""


class WrongDtype(InvalidInput):
    """An input tensor's element type differs from the declared one."""


class WrongShape(InvalidInput):
    """An input tensor's rank or a fixed dimension differs from the declared shape."""


class RunFailed(ExecutorError):
    """ONNX Runtime failed while running a batch; every request of the batch gets this."""


class RunOverBudget(RunFailed):
    """A run went past the time its requests were quoted for (``EstimatePolicy``'s budget) and
    was stopped, or made more output than quoted: refused, nothing stored or charged."""


class SchedulingError(ExecutorError):
    """The scheduler refused or abandoned a request."""


class UnknownTier(SchedulingError):
    """A priority outside the tiers 0..3."""


class QueueTimeout(SchedulingError):
    """A request waited in its tier's queue longer than the tier's timeout."""


class SchedulerClosed(SchedulingError):
    """The scheduler was closed before the request could run."""
