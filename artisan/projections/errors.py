"""The projections' errors: a small tree under the one Artisan base."""

from __future__ import annotations

from artisan.errors import ArtisanError


class ProjectionError(ArtisanError):
    """Base of the projections' own failures."""


class UnknownProjection(ProjectionError):
    """A projection name that no module declares."""


class TrackingConflict(ProjectionError):
    """The tracking row is not where this writer expected it: another runner moved it, or the
    position is replayed or out of order. The whole batch is rolled back."""


class EpochError(ProjectionError):
    """An epoch cannot be closed or published as asked."""


class PublicationError(EpochError):
    """An epoch's root cannot be published now (a step would revert, another publisher runs,
    the node is another chain); the publish job logs it and tries again at its next run."""
