"""Block-range history: versions as the fold writes them, in memory and in Postgres alike."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from artisan.projections import history
from artisan.projections.tables import TableSpec, as_of, canon
from artisan.projections.versions import Version, VersionLog
from artisan.storage.database import Database

from .support import reset_store

SPEC = history.Versioned(
    "proj_model_access", ("model_id", "account"), ("bigint", "text"), ("granted",)
)
TABLE = TableSpec("proj_model_access", ("model_id", "account", "granted"), (0, 1), versioned=True)
ACCOUNTS = ["0x" + f"{i:040x}" for i in range(3)]


def test_versions_close_collapse_and_read_as_of() -> None:
    """A later block closes the open version; the same block replaces it; reads as of a block
    see the version valid then."""
    log = VersionLog()
    key = (1, ACCOUNTS[0])
    log.put([Version(key, 5, (True,)), Version(key, 5, (False,)), Version(key, 5, (True,))])
    log.put([Version(key, 9, (False,))])
    assert sorted(log.rows()) == [(1, ACCOUNTS[0], False, 9, None), (1, ACCOUNTS[0], True, 5, 9)]
    assert [log.at(key, b) for b in (4, 5, 8, 9, 100)] == [
        None,
        (True,),
        (True,),
        (False,),
        (False,),
    ]
    assert log.current(key) == (False,)
    assert as_of(TABLE, log.rows(), 7) == [(1, ACCOUNTS[0], True, 5, None)]
    assert as_of(TABLE, log.rows(), 9) == [
        (1, ACCOUNTS[0], True, 5, 9),
        (1, ACCOUNTS[0], False, 9, None),
    ]


# Batches of changes: each (model, account index, block step, granted).
CHANGES = st.lists(
    st.lists(
        st.tuples(st.integers(1, 3), st.integers(0, 2), st.integers(0, 2), st.booleans()),
        min_size=1,
        max_size=6,
    ),
    min_size=1,
    max_size=6,
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batches=CHANGES, ancestor=st.integers(0, 14))
def test_postgres_history_equals_memory_and_reverts_exactly(
    store: Database, batches: list[list[tuple[int, int, int, bool]]], ancestor: int
) -> None:
    """Writing batches of versions (a block may span two batches) gives the rows the memory
    log holds, the exclusion constraint holds throughout, and a revert to any block equals
    the history of the changes up to that block."""
    reset_store(store)
    block, memory, upto = 1, VersionLog(), VersionLog()
    with store.connect() as conn:
        for batch in batches:
            versions = []
            for model, account, step, granted in batch:
                block += step
                versions.append(Version((model, ACCOUNTS[account]), block, (granted,)))
            with conn.transaction():
                history.write(conn, SPEC, versions)
            memory.put(versions)
            upto.put(v for v in versions if v.block <= ancestor)
        rows = conn.execute(
            "SELECT model_id, account, granted, lower(block_range), upper(block_range)"
            " FROM proj_model_access"
        ).fetchall()
        assert as_of(TABLE, rows, 10**9) == as_of(TABLE, memory.rows(), 10**9)
        with conn.transaction():
            history.revert_versions(conn, SPEC.table, ancestor)
        rows = conn.execute(
            "SELECT model_id, account, granted, lower(block_range), upper(block_range)"
            " FROM proj_model_access"
        ).fetchall()
    assert as_of(TABLE, rows, 10**9) == as_of(TABLE, upto.rows(), 10**9)


MODELS = history.Versioned(
    "proj_models",
    ("model_id",),
    ("bigint",),
    ("cid", "owner", "parent_id", "depth", "size_class", "kind", "access", "pricing_kind",
     "fixed_price", "thresholds", "prices", "remix_allowed", "remix_share_bps", "dao_treasury",
     "dao_share_bps", "registered_block", "registered_log", "registered_tx"),
)  # fmt: skip


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    # Decoded ABI strings are valid UTF-8 without NUL (the decoder replaces it): Postgres text.
    cid=st.text(st.characters(codec="utf-8", exclude_characters="\x00")),
    prices=st.lists(st.integers(0, 2**256)),
)
def test_any_text_and_numbers_travel_unchanged(
    store: Database, cid: str, prices: list[int]
) -> None:
    """Versions travel to Postgres by COPY: separators, escapes and backslashes in text,
    uint256 figures and empty or long arrays come back exactly as they went."""
    reset_store(store)
    owner = ACCOUNTS[1]
    values = (
        cid,
        owner,
        0,
        0,
        1,
        0,
        0,
        1,
        2**256 - 1,
        prices,
        prices,
        True,
        0,
        owner,
        0,
        3,
        0,
        owner,
    )
    with store.connect() as conn:
        with conn.transaction():
            history.write(conn, MODELS, [Version((7,), 3, values)])
        row = conn.execute(
            "SELECT cid, owner, parent_id, depth, size_class, kind, access, pricing_kind,"
            " fixed_price, thresholds, prices, remix_allowed, remix_share_bps, dao_treasury,"
            " dao_share_bps, registered_block, registered_log, registered_tx FROM proj_models"
        ).fetchone()
    assert row is not None and tuple(canon(v) for v in row) == values
