"""Projection ``curation``: every staked signal, versioned by block range.

A signal is active from its ``Signaled`` block until its ``Unsignaled`` block; each version
carries ``weight = kindWeight[kind] * isqrt(amount)``, computed exactly here in Python, so that
scoring as of any block is one aggregate in SQL (``curation_scores``). Targets are stored as
lineage nodes name them: a model by decimal id, an asset by its 0x digest.
"""

from __future__ import annotations

from collections.abc import Iterable
from math import isqrt
from typing import Any, NamedTuple

import psycopg

from artisan.domain.events import Signaled, Unsignaled
from artisan.domain.types import SignalKind
from artisan.projections import history
from artisan.projections.events import Event, args_as, load_batch
from artisan.projections.lineage import target_node
from artisan.projections.tables import Row, TableSpec
from artisan.projections.versions import Key, Overlay, VersionLog

# LIKE, STAR, FORK, CITE
KIND_WEIGHTS = {SignalKind.LIKE: 1, SignalKind.STAR: 2, SignalKind.FORK: 3, SignalKind.CITE: 4}


class SignalRow(NamedTuple):
    """The value columns of ``proj_signals``."""

    curator: str
    target_kind: int
    target: str
    kind: int
    amount: int
    weight: int
    signal_block: int
    signal_log: int
    signal_tx: str
    active: bool


SIGNALS = history.Versioned("proj_signals", ("signal_id",), ("bigint",), SignalRow._fields)


def signal_weight(kind: int, amount: int) -> int:
    """``kindWeight[kind] * isqrt(amount)``: the undecayed score of one signal."""
    return KIND_WEIGHTS[SignalKind(kind)] * isqrt(amount)


def fold(event: Event, signals: Overlay) -> None:
    """Apply one ``Signaled`` or ``Unsignaled`` event to the current signal states."""
    if event.name == "Signaled":
        a = args_as(event, Signaled)
        key: Key = (int(a["signalId"]),)
        target_kind, kind, amount = int(a["targetKind"]), int(a["kind"]), int(a["amount"])
        row = SignalRow(
            a["curator"],
            target_kind,
            target_node(target_kind, a["target"])[1],
            kind,
            amount,
            signal_weight(kind, amount),
            event.block_number,
            event.log_index,
            event.tx_hash,
            True,
        )
        signals.put(key, event.block_number, tuple(row))
        return
    key = (int(args_as(event, Unsignaled)["signalId"]),)
    current = signals.get(key)
    if current is not None:
        signals.put(key, event.block_number, tuple(SignalRow(*current)._replace(active=False)))


class CurationProjection:
    """Signals with their active block ranges."""

    name = "curation"
    events = ("Signaled", "Unsignaled")
    tables = (TableSpec("proj_signals", ("signal_id", *SignalRow._fields), (0,), versioned=True),)
    reader_indexes = ("proj_signals_target", "proj_signals_lower", "proj_signals_upper")

    def apply(self, conn: psycopg.Connection[Any], chain_id: int, after: int, upto: int) -> None:
        batch = load_batch(conn, chain_id, self.events, after, upto)
        if not batch:
            return
        keys = {(int(args_as(e, Unsignaled)["signalId"]),) for e in batch if e.name == "Unsignaled"}
        signals = Overlay(history.load_open(conn, SIGNALS, keys).get)
        for event in batch:
            fold(event, signals)
        history.write(conn, SIGNALS, signals.versions)

    def revert(self, conn: psycopg.Connection[Any], ancestor: int) -> None:
        history.revert_versions(conn, SIGNALS.table, ancestor)

    def memory(self) -> MemoryCuration:
        return MemoryCuration()


class MemoryCuration:
    """The in-memory twin."""

    def __init__(self) -> None:
        self.signals = VersionLog()

    def apply(self, event: Event) -> None:
        signals = Overlay(self.signals.current)
        fold(event, signals)
        self.signals.put(signals.versions)

    def rows(self, table: str) -> Iterable[Row]:
        return self.signals.rows()
