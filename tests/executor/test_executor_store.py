"""The content-addressed store: CIDv1 raw sha2-256 addresses, atomic writes, verified reads."""

from __future__ import annotations

import hashlib
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from multiformats import CID, multihash

from artisan.executor.assets import AssetStore, address, cid_of, digest_of
from artisan.executor.errors import AssetNotFound, CorruptAsset, InvalidCid, StoreError


def test_put_get_round_trip(store: AssetStore) -> None:
    """A stored asset comes back byte for byte under its CIDv1 raw sha2-256 address."""
    data = b"an input asset" * 100
    asset = store.put(data)
    assert asset.digest == hashlib.sha256(data).digest()
    assert asset.cid == str(CID("base32", 1, "raw", multihash.wrap(asset.digest, "sha2-256")))
    assert asset.cid.startswith("bafkrei") and asset.size == len(data)
    assert store.has(asset.cid) and store.size(asset.cid) == len(data)
    assert store.get(asset.cid) == data
    assert store.put(data) == asset == address(data)


def test_cid_and_digest_are_inverse() -> None:
    """digest_of and cid_of convert between the CID string and the on-chain bytes32."""
    digest = hashlib.sha256(b"x").digest()
    assert digest_of(cid_of(digest)) == digest


def test_writes_leave_no_temp_files(store: AssetStore) -> None:
    """After puts, the store holds exactly one file per asset and no temp file."""
    cids = {store.put(bytes([i]) * 10).cid for i in range(5)}
    files = {p.name for p in store.root.rglob("*") if p.is_file()}
    assert files == cids


def test_corrupted_file_is_detected_and_healed(store: AssetStore) -> None:
    """A file changed on disk raises CorruptAsset on read; putting the bytes again heals it."""
    data = b"model bytes"
    asset = store.put(data)
    store.path_of(asset.cid).write_bytes(b"model bytez")
    with pytest.raises(CorruptAsset, match=asset.cid):
        store.get(asset.cid)
    store.put(data)
    assert store.get(asset.cid) == data


def test_missing_and_invalid_cids(store: AssetStore) -> None:
    """An absent asset is AssetNotFound; a malformed or non-raw/sha2-256 CID is InvalidCid."""
    absent = address(b"never stored").cid
    assert not store.has(absent)
    with pytest.raises(AssetNotFound):
        store.get(absent)
    with pytest.raises(AssetNotFound):
        store.size(absent)
    dag_pb = str(CID("base32", 1, "dag-pb", multihash.digest(b"x", "sha2-256")))
    blake = str(CID("base32", 1, "raw", multihash.digest(b"x", "blake2b-256")))
    for bad in ["not-a-cid", dag_pb, blake]:
        with pytest.raises(InvalidCid):
            store.get(bad)
    with pytest.raises(InvalidCid):
        cid_of(b"short")


@pytest.mark.parametrize("syncfs", [True, False], ids=["syncfs", "fsync"])
def test_a_group_of_puts_stores_each_asset_once(tmp_path: Path, syncfs: bool) -> None:
    """put_many stores every asset of a group (a repeated one once) under its CID, readable
    back, with no temp file left, whichever way the group is made durable; a second put of the
    same group changes nothing."""
    store = AssetStore(tmp_path / "assets", syncfs=syncfs)
    data = [bytes([i]) * (100 + i) for i in range(40)]
    group = [(address(d), d) for d in data + data[:5]]
    store.put_many(group)
    files = {p.name for p in store.root.rglob("*") if p.is_file()}
    assert files == {address(d).cid for d in data}
    assert all(store.get(address(d).cid) == d for d in data)
    store.put_many(group)
    assert {p.name for p in store.root.rglob("*") if p.is_file()} == files


@pytest.mark.parametrize("syncfs", [True, False], ids=["syncfs", "fsync"])
def test_a_failed_group_leaves_no_temp_file(
    tmp_path: Path, syncfs: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rename that fails midway raises StoreError naming the assets; no temp file is left,
    and what a retry writes is whole."""
    store = AssetStore(tmp_path / "assets", syncfs=syncfs)
    data = [bytes([i]) * 50 for i in range(6)]
    group = [(address(d), d) for d in data]
    real_replace, calls = os.replace, []

    def failing_replace(src: str, dst: str) -> None:
        calls.append(dst)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(StoreError, match="No space left"):
        store.put_many(group)
    monkeypatch.setattr(os, "replace", real_replace)
    names = {p.name for p in store.root.rglob("*") if p.is_file()}
    assert not any(name.startswith(".tmp-") for name in names) and len(names) == 2
    store.put_many(group)
    assert all(store.get(address(d).cid) == d for d in data)


@pytest.mark.parametrize(
    ("syncfs", "failing"),
    [(False, "write"), (False, "fsync"), (True, "write")],  # syncfs fsyncs no file alone
    ids=["fsync-write", "fsync-fsync", "syncfs-write"],
)
def test_a_file_that_fails_among_a_group_written_side_by_side_stores_none_of_it(
    tmp_path: Path, syncfs: bool, failing: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The files of a group are written and made durable side by side; one that cannot be
    (a full disk, an I/O error) fails the whole group with StoreError before any is renamed:
    nothing of the group is stored, no temp file is left, and a retry stores it whole."""
    store = AssetStore(tmp_path / "assets", syncfs=syncfs)
    data = [bytes([i]) * 300 for i in range(24)]
    group = [(address(d), d) for d in data]
    real = getattr(os, failing)
    calls: list[int] = []
    lock = threading.Lock()

    def fails_once(fd: int, *rest: object) -> object:
        with lock:
            calls.append(fd)
            nth = len(calls)
        if nth == 7:
            raise OSError(5, "Input/output error")
        return real(fd, *rest)

    monkeypatch.setattr(os, failing, fails_once)
    with pytest.raises(StoreError, match="Input/output error"):
        store.put_many(group)
    monkeypatch.setattr(os, failing, real)
    assert len(calls) >= 7
    assert [p for p in store.root.rglob("*") if p.is_file()] == []
    store.put_many(group)
    assert all(store.get(address(d).cid) == d for d in data)
    assert not any(p.name.startswith(".tmp-") for p in store.root.rglob("*"))


def test_a_forked_child_writes_groups_with_threads_of_its_own(tmp_path: Path) -> None:
    """The store's I/O threads do not survive a fork: a child that writes a group after its
    parent already had (found in review: the child waited forever on the parent's pool) makes
    its own and stores the group."""
    store = AssetStore(tmp_path / "assets")
    store.put_many([(address(d), d) for d in (b"parent-1", b"parent-2", b"parent-3")])
    child_data = (b"child-1", b"child-2", b"child-3")
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only if the group is stored
        code = 1
        try:
            signal.alarm(20)  # a hung child ends, and fails the test, instead of hanging it
            store.put_many([(address(d), d) for d in child_data])
            code = 0 if all(store.get(address(d).cid) == d for d in child_data) else 2
        finally:
            os._exit(code)
    deadline = time.monotonic() + 30
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail("the forked child never finished writing its group")
        time.sleep(0.02)
    assert os.waitstatus_to_exitcode(status) == 0
    assert all(store.get(address(d).cid) == d for d in child_data)
