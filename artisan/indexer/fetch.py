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

import itertools
import operator
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
        wanted.update(_block_numbers(final_logs))
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
        _block_numbers(recent_logs)  # checked as the finalized logs were
    # The recent part must link up, and to the last finalized block read with it.
    linked_from = max(first, recent_start - 1) if recent_start <= last else last
    verify(headers, final_logs + recent_logs, linked_from, last)
    return FetchedRange(first, last, headers, final_logs + recent_logs)


def verify(
    headers: dict[int, BlockHeader], logs: Sequence[RawLog], linked_from: int, last: int
) -> None:
    """Check that headers ``linked_from..last`` form one chain and that they hold every log
    (the logs well formed: see ``_block_numbers``)."""
    for n in range(linked_from + 1, last + 1):
        if headers[n].parent_hash != headers[n - 1].hash:
            raise ChainMoved(f"block {n} does not extend block {n - 1} (the chain moved)")
    # Each distinct (block number, block hash) once: a block's logs all name the same pair.
    for number, block_hash in set(zip(map(_NUMBER, logs), map(_HASH, logs), strict=True)):
        header = headers.get(int(number, 16))
        if header is None or header.hash != block_hash.lower():
            raise ChainMoved(f"a log of block {number} belongs to another branch")
    if any(map(_REMOVED, logs)):
        raise ChainMoved("a log marked removed: it belongs to another branch")


_NUMBER = operator.itemgetter("blockNumber")
_HASH = operator.itemgetter("blockHash")
_HEX = operator.itemgetter(*LOG_HEX_FIELDS)
_TOPICS = operator.itemgetter("topics")
_INDEXES = operator.itemgetter("transactionIndex", "logIndex")
_REMOVED = operator.methodcaller("get", "removed")


def _block_numbers(logs: Sequence[RawLog]) -> set[int]:
    """The block numbers of well-formed logs: each a JSON object whose hex fields and topics
    are strings and whose numbers are hex. Anything else is a garbled answer: transient
    (``NodeUnavailable``), so the range is fetched again and the indexer does not crash on it.

    Checked in bulk, in C loops over all logs at once (a check per log in Python cost a third
    of decoding them); only when that fails does a pass log by log name the culprit.
    """
    try:
        if set(map(type, logs)) <= {dict} and set(map(type, map(_TOPICS, logs))) <= {list}:
            # ``join`` raises TypeError on any field that is not a string.
            "".join(itertools.chain.from_iterable(map(_HEX, logs)))
            "".join(itertools.chain.from_iterable(map(_TOPICS, logs)))
            # The decoder reads these as numbers: each distinct value parsed once, here.
            for value in set(itertools.chain.from_iterable(map(_INDEXES, logs))):
                int(value, 16)
            return {int(n, 16) for n in set(map(_NUMBER, logs))}
    except (KeyError, TypeError, ValueError):
        pass
    return {_block_number(log) for log in logs}


def _block_number(log: RawLog) -> int:
    """The block number of one log, checked as ``_block_numbers`` checks them all."""
    if _well_formed(log):
        try:
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
