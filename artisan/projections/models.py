"""Projection ``models``: every model's terms and allowlist, versioned by block range.

The registry emits one event per change (``ModelRegistered`` then ``PricingSet``,
``AccessSet``, ``LicenseSet`` and ``DaoSet`` in the registering transaction, later any of
them, ``KindSet`` and ``ModelTransferred``), so the terms of a model at any block are the
fold of its events up to that block. The fold is pure and shared by the SQL path and the
in-memory twin; ``history`` stores its versions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import psycopg

from artisan.domain.events import (
    AccessGranted,
    AccessRevoked,
    AccessSet,
    DaoSet,
    KindSet,
    LicenseSet,
    ModelRegistered,
    ModelTransferred,
    PricingSet,
)
from artisan.projections import history
from artisan.projections.events import Event, args_as, load_batch
from artisan.projections.tables import Row, TableSpec
from artisan.projections.versions import Key, Overlay, Values, VersionLog

ZERO = "0x" + "00" * 20


class ModelRow(NamedTuple):
    """The value columns of ``proj_models``: one model's terms."""

    cid: str
    owner: str
    parent_id: int
    depth: int
    size_class: int
    kind: int
    access: int
    pricing_kind: int
    fixed_price: int
    thresholds: list[int]
    prices: list[int]
    remix_allowed: bool
    remix_share_bps: int
    dao_treasury: str
    dao_share_bps: int
    registered_block: int
    registered_log: int
    registered_tx: str


MODELS = history.Versioned("proj_models", ("model_id",), ("bigint",), ModelRow._fields)
ACCESS = history.Versioned(
    "proj_model_access", ("model_id", "account"), ("bigint", "text"), ("granted",)
)
TERM_EVENTS = (
    "ModelRegistered",
    "PricingSet",
    "AccessSet",
    "LicenseSet",
    "DaoSet",
    "KindSet",
    "ModelTransferred",
)
ACCESS_EVENTS = ("AccessGranted", "AccessRevoked")


# Column positions in ModelRow: the fold edits a list copy of the current row, as
# ``NamedTuple._replace`` cost as much as all the rest of the fold.
_COL = {name: i for i, name in enumerate(ModelRow._fields)}


def fold(event: Event, models: Overlay, access: Overlay) -> None:
    """Apply one registry event to the current states in ``models`` and ``access``."""
    block, name = event.block_number, event.name
    key: Key = (int(event.args["modelId"]),)  # every registry event names its model
    if name in ACCESS_EVENTS:
        grant = args_as(event, AccessGranted if name == "AccessGranted" else AccessRevoked)
        access.put((key[0], grant["account"]), block, (name == "AccessGranted",))
        return
    if name == "ModelRegistered":
        r = args_as(event, ModelRegistered)
        registered: Values = (
            r["cid"], r["owner"], int(r["parentId"]), int(r["depth"]), int(r["sizeClass"]),
            0, 0, 0, 0, [], [], False, 0, ZERO, 0, block, event.log_index, event.tx_hash,
        )  # fmt: skip
        models.put(key, block, registered)
        return
    current = models.get(key)
    if current is None:
        return  # the registry emits nothing for a model it does not hold; ignore a stray log
    row = list(current)
    if name == "PricingSet":
        p = args_as(event, PricingSet)
        row[_COL["pricing_kind"]] = int(p["pricingKind"])
        row[_COL["fixed_price"]] = int(p["fixedPrice"])
        row[_COL["thresholds"]] = [int(t) for t in p["thresholds"]]
        row[_COL["prices"]] = [int(v) for v in p["prices"]]
    elif name == "AccessSet":
        row[_COL["access"]] = int(args_as(event, AccessSet)["access"])
    elif name == "LicenseSet":
        lic = args_as(event, LicenseSet)
        row[_COL["remix_allowed"]] = bool(lic["remixAllowed"])
        row[_COL["remix_share_bps"]] = int(lic["remixShareBps"])
    elif name == "DaoSet":
        dao = args_as(event, DaoSet)
        row[_COL["dao_treasury"]] = dao["daoTreasury"]
        row[_COL["dao_share_bps"]] = int(dao["daoShareBps"])
    elif name == "KindSet":
        row[_COL["kind"]] = int(args_as(event, KindSet)["kind"])
    elif name == "ModelTransferred":
        row[_COL["owner"]] = args_as(event, ModelTransferred)["to"]
    models.put(key, block, tuple(row))


class ModelsProjection:
    """Model terms and allowlists as of any block."""

    name = "models"
    events = TERM_EVENTS + ACCESS_EVENTS
    tables = (
        TableSpec("proj_models", ("model_id", *ModelRow._fields), (0,), versioned=True),
        TableSpec("proj_model_access", ("model_id", "account", "granted"), (0, 1), versioned=True),
    )
    # Writes go through the open-version indexes and the exclusion constraints.
    reader_indexes = (
        "proj_models_lower", "proj_models_upper", "proj_models_versions",
        "proj_model_access_lower", "proj_model_access_upper",
    )  # fmt: skip

    def apply(self, conn: psycopg.Connection[Any], chain_id: int, after: int, upto: int) -> None:
        batch = load_batch(conn, chain_id, self.events, after, upto)
        if not batch:
            return
        model_keys = {(int(e.args["modelId"]),) for e in batch if e.name in TERM_EVENTS}
        access_keys = {
            (int(e.args["modelId"]), e.args["account"]) for e in batch if e.name in ACCESS_EVENTS
        }
        models = Overlay(history.load_open(conn, MODELS, model_keys).get)
        access = Overlay(history.load_open(conn, ACCESS, access_keys).get)
        for event in batch:
            fold(event, models, access)
        history.write(conn, MODELS, models.versions)
        history.write(conn, ACCESS, access.versions)

    def revert(self, conn: psycopg.Connection[Any], ancestor: int) -> None:
        history.revert_versions(conn, MODELS.table, ancestor)
        history.revert_versions(conn, ACCESS.table, ancestor)

    def memory(self) -> MemoryModels:
        return MemoryModels()


class MemoryModels:
    """The in-memory twin; also what ``verify`` prices executions with."""

    def __init__(self) -> None:
        self.models = VersionLog()
        self.access = VersionLog()

    def apply(self, event: Event) -> None:
        models, access = Overlay(self.models.current), Overlay(self.access.current)
        fold(event, models, access)
        self.models.put(models.versions)
        self.access.put(access.versions)

    def rows(self, table: str) -> Iterable[Row]:
        return self.models.rows() if table == "proj_models" else self.access.rows()

    def current(self, model_id: int) -> ModelRow | None:
        values = self.models.current((model_id,))
        return None if values is None else ModelRow(*values)

    def at(self, model_id: int, block: int) -> ModelRow | None:
        values = self.models.at((model_id,), block)
        return None if values is None else ModelRow(*values)

    def ids(self) -> Sequence[int]:
        return sorted(int(r[0]) for r in self.models.rows() if r[-1] is None)
