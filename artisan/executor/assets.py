"""A content-addressed store for models and assets, kept as files under one root directory.

An asset's address is a CIDv1 with the raw codec and a sha2-256 multihash; its 32-byte
digest is the ``bytes32`` the contracts record (model ``cid``, ``inputDigest``,
``outputDigest``). Reads re-hash the bytes, so a file changed on disk is never served.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import ctypes
import hashlib
import os
import platform
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from multiformats import CID

from artisan.executor.errors import AssetNotFound, CorruptAsset, InvalidCid, StoreError

DIGEST_BYTES = 32
T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class StoredAsset:
    """Where an asset lives: its CID string, its sha2-256 digest (bytes32) and its size."""

    cid: str
    digest: bytes
    size: int


# The binary prefix of every CID here: version 1, codec raw (0x55), sha2-256 (0x12), 32 bytes.
# multiformats validates types on every call (~1.7 ms per CID, ~0.8 ms per parse, several
# times per request); these strings are fixed-layout, so they are built and parsed by hand.
# Tests check both directions against multiformats.
_CID_PREFIX = bytes([0x01, 0x55, 0x12, 0x20])


def cid_of(digest: bytes) -> str:
    """The base32 CIDv1 (raw, sha2-256) string of a 32-byte sha2-256 digest."""
    if len(digest) != DIGEST_BYTES:
        raise InvalidCid(f"a sha2-256 digest has 32 bytes, got {len(digest)}")
    return "b" + base64.b32encode(_CID_PREFIX + digest).decode().lower().rstrip("=")


def digest_of(cid: str) -> bytes:
    """The 32-byte sha2-256 digest inside a CIDv1 string; anything else is ``InvalidCid``."""
    if len(cid) == 59 and cid[0] == "b" and cid[1:] == cid[1:].lower():
        with contextlib.suppress(binascii.Error, ValueError):
            raw = base64.b32decode(cid[1:].upper() + "======")
            # Only the canonical spelling takes the fast path (no stray trailing bits).
            if raw[:4] == _CID_PREFIX and len(raw) == 4 + DIGEST_BYTES and cid_of(raw[4:]) == cid:
                return raw[4:]
    try:
        parsed = CID.decode(cid)
    except Exception as exc:  # multiformats raises several unrelated types for bad text
        raise InvalidCid(f"not a CID: {cid!r} ({exc})") from exc
    if parsed.version != 1 or parsed.codec.name != "raw" or parsed.hashfun.name != "sha2-256":
        raise InvalidCid(
            f"{cid!r} is CIDv{parsed.version} {parsed.codec.name}/{parsed.hashfun.name};"
            " expected CIDv1 raw/sha2-256"
        )
    digest = bytes(parsed.raw_digest)
    if len(digest) != DIGEST_BYTES:
        raise InvalidCid(f"{cid!r} carries a {len(digest)}-byte digest, expected 32")
    return digest


def address(data: bytes) -> StoredAsset:
    """The address ``data`` would be stored under, without storing it."""
    digest = hashlib.sha256(data).digest()
    return StoredAsset(cid=cid_of(digest), digest=digest, size=len(data))


class AssetStore:
    """Files named by CID under ``root/<first digest byte in hex>/``, written atomically."""

    def __init__(self, root: Path, *, syncfs: bool = False) -> None:
        self.root = root
        # How a group of writes is made durable (``_write_group``): by default an fsync per
        # file and per directory; ``syncfs=True`` (``ARTISAN_ASSET_SYNC=syncfs``) one syncfs(2)
        # per step, which also flushes every other writer on that filesystem (a Postgres beside
        # it, say): only for a store on a filesystem of its own. Tests take both ways.
        self._syncfs = _syncfs() if syncfs else None
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the asset store at {root}: {exc}") from exc

    def path_of(self, cid: str) -> Path:
        """The file an asset is (or would be) kept in; validates the CID."""
        digest = digest_of(cid)
        return self.root / digest[:1].hex() / cid

    def put(self, data: bytes) -> StoredAsset:
        """Store ``data`` (idempotent) and return its address."""
        asset = address(data)
        self.put_many([(asset, data)])
        return asset

    def put_many(self, assets: Sequence[tuple[StoredAsset, bytes]]) -> None:
        """Store several assets, each given with its address (``address(data)``, which the
        caller has already computed), durably and in one group: every file is written and
        fsynced under a temporary name, then renamed, then each directory that received one
        is fsynced once. When it returns, all of them survive a crash; a crash before leaves
        each either absent or whole under its name, never torn. Idempotent, like ``put``."""
        pending: dict[str, tuple[Path, bytes]] = {}
        for asset, data in assets:
            if asset.cid in pending:
                continue
            path = self.root / asset.digest[:1].hex() / asset.cid
            # An existing copy is kept only if it still hashes right: a put heals a corrupt file.
            if not self._holds(path, asset.digest):
                pending[asset.cid] = (path, data)
        if pending:
            self._write_group(list(pending.values()))

    def get(self, cid: str) -> bytes:
        """The asset's bytes, re-hashed against its CID; ``CorruptAsset`` if they differ."""
        digest = digest_of(cid)
        path = self.root / digest[:1].hex() / cid
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise AssetNotFound(f"no asset {cid} in the store at {self.root}") from None
        except OSError as exc:
            raise StoreError(f"cannot read asset {cid} at {path}: {exc}") from exc
        actual = hashlib.sha256(data).digest()
        if actual != digest:
            raise CorruptAsset(
                f"asset {cid} at {path} is corrupt: its bytes hash to {cid_of(actual)}"
            )
        return data

    def has(self, cid: str) -> bool:
        """Whether a file for this CID exists (not re-hashed: ``get`` does that)."""
        return self.path_of(cid).is_file()

    def size(self, cid: str) -> int:
        """The stored asset's size in bytes."""
        try:
            return self.path_of(cid).stat().st_size
        except FileNotFoundError:
            raise AssetNotFound(f"no asset {cid} in the store at {self.root}") from None

    @staticmethod
    def _holds(path: Path, digest: bytes) -> bool:
        try:
            return hashlib.sha256(path.read_bytes()).digest() == digest
        except FileNotFoundError:
            return False

    def _write_group(self, files: list[tuple[Path, bytes]]) -> None:
        # Every file is written under a temporary name in its final directory, made durable,
        # then renamed, and the renames made durable: a crash leaves each asset absent or whole
        # under its name, never torn. Durable is one syncfs(2) of the store's filesystem per
        # step where the kernel offers it (two calls per group, however many files), else an
        # fsync per file and one per directory that took a file (and the root, for a new shard),
        # issued side by side (``_side_by_side``).
        fsync = self._syncfs is None
        written: list[tuple[str, Path]] = []
        directories: set[Path] = set()
        try:
            for path, _ in files:
                shard = path.parent
                if not shard.is_dir():
                    shard.mkdir(exist_ok=True)
                    directories.add(self.root)
                directories.add(shard)
            outcomes = _side_by_side(lambda file: _write_file(*file, fsync=fsync), files)
            written = [(name, path) for (path, _), name in zip(files, outcomes, strict=True)
                       if isinstance(name, str)]  # fmt: skip
            _raise_first(outcomes)
            if not fsync:
                self._sync_filesystem()
            for tmp_name, path in written:
                os.replace(tmp_name, path)
            if not fsync:
                self._sync_filesystem()
            else:
                _raise_first(_side_by_side(_fsync_directory, sorted(directories)))
        except BaseException as exc:
            for tmp_name, _ in written:
                Path(tmp_name).unlink(missing_ok=True)
            if not isinstance(exc, OSError):
                raise
            names = ", ".join(path.name for path, _ in files[:3])
            more = f" and {len(files) - 3} more" if len(files) > 3 else ""
            raise StoreError(f"cannot write assets {names}{more}: {exc}") from exc

    def _sync_filesystem(self) -> None:
        assert self._syncfs is not None
        fd = os.open(self.root, os.O_RDONLY)
        try:
            if self._syncfs(fd) != 0:
                error = ctypes.get_errno()
                raise OSError(error, os.strerror(error))
        finally:
            os.close(fd)


def _syncfs() -> Callable[[int], int] | None:
    """libc's ``syncfs(2)``: one call makes everything written to a filesystem durable (an
    fsync per file and per directory costs ~0.1 ms of CPU each, and a group writes dozens).
    Only on Linux 5.8 or later: before it, syncfs did not report writeback errors."""
    if sys.platform != "linux":
        return None
    try:
        major, minor = (int(part) for part in platform.release().split(".")[:2])
        if (major, minor) < (5, 8):
            return None
        function: Callable[[int], int] = ctypes.CDLL(None, use_errno=True).syncfs
    except (ValueError, OSError, AttributeError):
        return None
    return function


def _write_all(fd: int, data: bytes) -> None:
    # os.write may write less than asked (over 2 GiB on Linux, or interrupted): go on.
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


# Each fsync waits for the disk (a journal commit on ext4: about 1 ms here), and a group's
# files and directories are dozens: waited for one after another they took ~105-125 ms for a
# group of 56 files, side by side ~80-95 ms (the filesystem commits concurrent ones together).
# The threads mostly wait, without the GIL; at most this many files are open at once.
_SYNC_THREADS = 16
_sync_pool: ThreadPoolExecutor | None = None
_sync_pool_lock = threading.Lock()


def _side_by_side(call: Callable[[T], R], items: Sequence[T]) -> list[R | Exception]:
    """``call`` on every item on the store's I/O threads, waiting for all of them: each one's
    result, or the exception it raised."""
    if len(items) <= 1:
        return [_outcome(call, item) for item in items]
    pool = _pool()
    futures = [pool.submit(_outcome, call, item) for item in items]
    return [future.result() for future in futures]


def _pool() -> ThreadPoolExecutor:
    global _sync_pool
    with _sync_pool_lock:
        if _sync_pool is None:
            _sync_pool = ThreadPoolExecutor(_SYNC_THREADS, thread_name_prefix="asset-sync")
        return _sync_pool


def _forget_pool() -> None:
    """In a forked child: the parent's pool has no threads here; the next group makes one."""
    global _sync_pool, _sync_pool_lock
    _sync_pool, _sync_pool_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _outcome(call: Callable[[T], R], item: T) -> R | Exception:
    try:
        return call(item)
    except Exception as exc:
        return exc


def _raise_first(outcomes: Sequence[object]) -> None:
    for outcome in outcomes:
        if isinstance(outcome, Exception):
            raise outcome


def _write_file(path: Path, data: bytes, *, fsync: bool) -> str:
    """``data`` in a new temporary file beside ``path``, made durable when ``fsync``; its name.
    On an error nothing is left behind."""
    fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        try:
            _write_all(fd, data)
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return tmp_name


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
