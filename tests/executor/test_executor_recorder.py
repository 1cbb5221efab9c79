"""The group recorder: a group's assets are durable before its executions are recorded, and a
failure on either records nothing of the group and fails each of its callers."""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from pathlib import Path

import pytest

from artisan.domain.types import InferenceRequest, Meter
from artisan.executor.assets import AssetStore, StoredAsset, address
from artisan.executor.measure import BatchShare
from artisan.executor.recorder import GroupRecorder, RecordFailed
from artisan.executor.records import Completed, MemorySink


def completed(store_input: StoredAsset, store_output: StoredAsset) -> Completed:
    request = InferenceRequest(
        "0x" + "ab" * 20, 1, store_input.digest, bytes(32), 0, 10**18, secrets.randbits(64), 2**40
    )
    meter = Meter(8, 10, 20, store_input.size + store_output.size, 0)
    return Completed(
        execution_id=secrets.token_bytes(32), request=request, signature=bytes(65),
        model_cid=store_input.cid, input_cid=store_input.cid, output_cid=store_output.cid,
        output_digest=store_output.digest, meter=meter, measured=meter, bound=meter, quote=1,
        cost=1, rates_version=1, batch=BatchShare(1, 1, 1_000_000, 10), provider="cpu",
    )  # fmt: skip


def execution(seed: int) -> tuple[Completed, list[tuple[StoredAsset, bytes]]]:
    data_in, data_out = b"in" * 100 + bytes([seed]), b"out" * 100 + bytes([seed])
    assets = [(address(data_in), data_in), (address(data_out), data_out)]
    return completed(assets[0][0], assets[1][0]), assets


class CheckingSink(MemorySink):
    """Records only executions whose assets the store already holds, whole."""

    def __init__(self, store: AssetStore) -> None:
        super().__init__()
        self.store = store
        self.groups: list[int] = []

    def record(self, executions: Sequence[Completed]) -> None:
        for ex in executions:
            self.store.get(ex.input_cid)
            self.store.get(ex.output_cid)
        self.groups.append(len(executions))
        super().record(executions)


def test_assets_are_on_disk_before_their_executions_are_recorded(tmp_path: Path) -> None:
    """Executions submitted together are written as groups; by the time the sink records an
    execution its input and output assets are in the store; every caller's future resolves."""
    store = AssetStore(tmp_path / "assets")
    sink = CheckingSink(store)
    recorder = GroupRecorder(sink, store)
    try:
        submitted = [execution(i) for i in range(50)]
        futures = [recorder.submit(ex, assets) for ex, assets in submitted]
        for future in futures:
            assert future.result(10) is None
    finally:
        recorder.close()
    assert sum(sink.groups) == 50
    assert all(sink.get(ex.execution_id) == ex for ex, _ in submitted)


def test_a_failed_asset_write_records_nothing_of_its_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the group's assets cannot be written, none of its executions is recorded and each
    caller gets RecordFailed; the recorder goes on with the next group."""
    store = AssetStore(tmp_path / "assets")
    sink = MemorySink()
    recorder = GroupRecorder(sink, store)
    real_replace = os.replace

    def full_disk(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    try:
        monkeypatch.setattr(os, "replace", full_disk)
        failed = [execution(i) for i in range(3)]
        futures = [recorder.submit(ex, assets) for ex, assets in failed]
        for future in futures:
            with pytest.raises(RecordFailed, match="No space left"):
                future.result(10)
        assert all(sink.get(ex.execution_id) is None for ex, _ in failed)
        monkeypatch.setattr(os, "replace", real_replace)
        ex, assets = execution(9)
        assert recorder.submit(ex, assets).result(10) is None
        assert sink.get(ex.execution_id) == ex and store.get(ex.output_cid) == assets[1][1]
    finally:
        recorder.close()
