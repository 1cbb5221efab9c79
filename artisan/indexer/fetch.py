"""Fetching one block range: headers and logs that provably belong to one branch of the chain.

Below the finality boundary a range is read with one ``eth_getLogs`` and only the headers it
needs (its ends and the blocks holding logs). Above it every header is read, first, and then
the logs of exactly those blocks by hash (EIP-234): logs read by range could come from another
branch than the headers, and a block of that branch without logs would go unnoticed.

Any disagreement between the answers (a log whose block hash is not the header's, a broken
parent link inside the range, a block the node no longer knows) raises ``ChainMoved``: the
chain moved between two calls, and the range is fetched again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from artisan.chain.errors import ChainMoved, NodeUnavailable
from artisan.chain.types import LOG_HEX_FIELDS
from artisan.indexer.source import ChainSource, RawLog
from artisan.storage.chain_records import BlockHeader


@dataclass(frozen=True, slots=True)
class FetchedRange:
    """Blocks ``first..last``: the headers to store (all of the unfinalized part) and logs."""

    first: int
    last: int
    headers: dict[int, BlockHeader]
    logs: list[RawLog]
    # The ledger's transactions holding outcome logs: hash -> calldata (``requests.py``).
    calldata: dict[str, str] = field(default_factory=dict)

    @property
    def timestamps(self) -> dict[int, int]:
        return {n: h.timestamp for n, h in self.headers.items()}


def fetch_range(
    source: ChainSource,
    addresses: Sequence[str],
    first: int,
    last: int,
    unfinalized_from: int,
) -> FetchedRange:
    """Read blocks ``first..last``; heights from ``unfinalized_from`` up are read block by block."""
    final_end = min(last, unfinalized_from - 1)  # first..final_end: finalized, read by range
    recent_start = max(first, unfinalized_from)  # recent_start..last: read block by block
    wanted: set[int] = {first, last}
    final_logs: list[RawLog] = []
    if final_end >= first:
        final_logs = source.logs(first, final_end, addresses)
        wanted.add(final_end)
        wanted.update(_block_number(log) for log in final_logs)
    wanted.update(range(recent_start, last + 1))
    numbers = sorted(wanted)
    got = source.headers(numbers)
    headers: dict[int, BlockHeader] = {}
    for n, header in zip(numbers, got, strict=True):
        if header is None or header.number != n:
            raise ChainMoved(f"block {n} is no longer available")
        headers[n] = header
    recent_logs: list[RawLog] = []
    if recent_start <= last:
        recent = [headers[n].hash for n in range(recent_start, last + 1)]
        for block_logs in source.block_logs(recent, addresses):
            recent_logs.extend(block_logs)
    # The recent part must link up, and to the last finalized block read with it.
    linked_from = max(first, recent_start - 1) if recent_start <= last else last
    verify(headers, final_logs + recent_logs, linked_from, last)
    return FetchedRange(first, last, headers, final_logs + recent_logs)


def verify(
    headers: dict[int, BlockHeader], logs: Sequence[RawLog], linked_from: int, last: int
) -> None:
    """Check that headers ``linked_from..last`` form one chain and that they hold every log."""
    for n in range(linked_from + 1, last + 1):
        if headers[n].parent_hash != headers[n - 1].hash:
            raise ChainMoved(f"block {n} does not extend block {n - 1} (the chain moved)")
    for log in logs:
        header = headers.get(_block_number(log))
        if header is None or header.hash != log["blockHash"].lower() or log.get("removed"):
            raise ChainMoved(f"a log of block {log['blockNumber']} belongs to another branch")


def _block_number(log: RawLog) -> int:
    """The block number of a log whose fields are of the right types and whose numbers are
    hex; anything else is a garbled answer: transient (``NodeUnavailable``), so the range is
    fetched again and the indexer does not crash on it."""
    if _well_formed(log):
        try:  # the decoder reads these three as numbers: parsed here, before anything is kept
            int(log["transactionIndex"], 16), int(log["logIndex"], 16)
            return int(log["blockNumber"], 16)
        except ValueError:
            pass
    raise NodeUnavailable(f"a malformed log in the node's answer: {log!r:.300}")


def _well_formed(log: object) -> bool:
    """A log object with its fields of the right types."""
    if not isinstance(log, dict) or not isinstance(log.get("topics"), list):
        return False
    return all(type(log.get(k)) is str for k in LOG_HEX_FIELDS) and all(
        type(t) is str for t in log["topics"]
    )


def split_range(fetched: FetchedRange, max_logs: int) -> list[FetchedRange]:
    """Cut a verified range into consecutive parts of about ``max_logs`` logs, at block ends.

    So that a large range is decoded and written in parts, the writer working on one while
    the next is decoded. Every part but the last ends at a block holding logs (its header was
    read), every part but the first starts right after the previous one; each part keeps the
    headers in its blocks.
    """
    parts: list[FetchedRange] = []
    logs = fetched.logs
    start, first = 0, fetched.first
    while len(logs) - start > max_logs:
        cut = start + max_logs  # extend the part to the end of its last block
        block = logs[cut - 1]["blockNumber"]
        while cut < len(logs) and logs[cut]["blockNumber"] == block:
            cut += 1
        if cut == len(logs):
            break
        last = int(block, 16)
        parts.append(_part(fetched, first, last, logs[start:cut]))
        start, first = cut, last + 1
    parts.append(_part(fetched, first, fetched.last, logs[start:]))
    return parts


def _part(fetched: FetchedRange, first: int, last: int, logs: list[RawLog]) -> FetchedRange:
    headers = {n: h for n, h in fetched.headers.items() if first <= n <= last}
    return FetchedRange(first, last, headers, logs, fetched.calldata)
