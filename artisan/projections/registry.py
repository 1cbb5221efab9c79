"""Every projection the runner keeps, by name, and the read models derived from them."""

from __future__ import annotations

from artisan.projections.abc import Projection, ReadModel
from artisan.projections.balances import BalancesProjection
from artisan.projections.curation import CurationProjection
from artisan.projections.distributor import RewardsProjection
from artisan.projections.errors import UnknownProjection
from artisan.projections.executions import ExecutionsProjection
from artisan.projections.lineage import LineageProjection
from artisan.projections.models import ModelsProjection
from artisan.projections.usage import UsageProjection

ALL: tuple[Projection, ...] = (
    ModelsProjection(),
    ExecutionsProjection(),
    CurationProjection(),
    RewardsProjection(),
    BalancesProjection(),
    LineageProjection(),
    UsageProjection(),
)
# What digests and verify cover: every projection.
READ_MODELS: tuple[ReadModel, ...] = ALL


def named(name: str | None) -> tuple[Projection, ...]:
    """The projection called ``name``, or all of them for None."""
    if name is None:
        return ALL
    for projection in ALL:
        if projection.name == name:
            return (projection,)
    known = ", ".join(p.name for p in ALL)
    raise UnknownProjection(f"no projection named {name!r} (known: {known})")
