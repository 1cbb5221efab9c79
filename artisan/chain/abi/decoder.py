"""Raw logs to event rows: a table keyed by (contract, topic0), built once from the ABIs.

Pure and fast: no web3 formatters on this path (web3.py's ``process_log`` managed about 4,500
logs/s here, FACTS.md). A log no ABI matches, or whose words do not decode, is still stored,
raw, with no name and no arguments: the store holds every log of the protocol's contracts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_utils.crypto import keccak

from artisan.chain.abi.gc_pause import gc_paused
from artisan.chain.abi.static_codegen import DecodeFn, compile_static_event
from artisan.chain.abi.values import (
    BadWord,
    Json,
    Param,
    WordReader,
    canonical_type,
    converter,
    param_names,
    static_reader,
)
from artisan.chain.errors import AbiError
from artisan.chain.types import RawLog
from artisan.storage.chain_records import EventRow

Abi = Sequence[Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class ContractAbi:
    """A contract the indexer follows: its address and its ABI (the JSON list)."""

    address: str
    abi: Abi


def event_signature(event: Mapping[str, Any]) -> str:
    """``Name(type1,type2)`` with tuples spelled out, as hashed into topic0."""
    inputs = event.get("inputs", ())
    return f"{event['name']}({','.join(canonical_type(p) for p in inputs)})"


def _keeps_topic(param: Param) -> bool:
    """Whether an indexed argument is stored as its topic: the hash of a dynamic value, an
    array or a tuple (static scalars are decoded from theirs)."""
    typ = str(param["type"])
    return "[" in typ or typ == "tuple" or static_reader(param) is None


def _topic_reader(param: Param) -> WordReader:
    if _keeps_topic(param):
        return lambda topic, _offset: topic.lower()
    reader = static_reader(param)
    assert reader is not None
    return reader[1]


def _compile_event(event: Mapping[str, Any]) -> DecodeFn:
    inputs: list[Param] = list(event.get("inputs", ()))
    names = param_names(inputs)
    if all(static_reader(p) is not None for p in inputs if not p.get("indexed")):
        keeps = [bool(p.get("indexed")) and _keeps_topic(p) for p in inputs]
        return compile_static_event(inputs, names, keeps)
    return _dynamic_decoder(inputs, names)


def _dynamic_decoder(inputs: list[Param], names: list[str]) -> DecodeFn:
    """Events with dynamic data (strings, bytes, arrays): eth-abi decodes the data."""
    topic_count = 1 + sum(1 for p in inputs if p.get("indexed"))
    topic_fields = [(names[i], _topic_reader(p)) for i, p in enumerate(inputs) if p.get("indexed")]
    data_params = [(names[i], p) for i, p in enumerate(inputs) if not p.get("indexed")]
    data_names = [name for name, _ in data_params]
    types = [canonical_type(p) for _, p in data_params]
    converters = [converter(p) for _, p in data_params]

    def decode(topics: list[str], data: str) -> dict[str, Json]:
        if len(topics) != topic_count:
            raise BadWord("topic count does not match the event")
        args = {
            name: read(topic, 2)
            for (name, read), topic in zip(topic_fields, topics[1:], strict=True)
        }
        values = abi_decode(types, bytes.fromhex(data[2:]))
        args.update(
            (name, conv(v)) for name, conv, v in zip(data_names, converters, values, strict=True)
        )
        return {name: args[name] for name in names}

    return decode


class EventDecoder:
    """Decodes the logs of a fixed set of contracts."""

    def __init__(self, contracts: Iterable[ContractAbi]) -> None:
        self._events: dict[tuple[str, str], tuple[str, DecodeFn]] = {}
        addresses: list[str] = []
        for contract in contracts:
            address = contract.address.lower()
            addresses.append(address)
            for entry in contract.abi:
                if entry.get("type") != "event" or entry.get("anonymous"):
                    continue
                try:
                    if not str(entry["name"]).isidentifier():
                        raise ValueError("event name is not an identifier")
                    signature = event_signature(entry)
                    decode = _compile_event(entry)
                except (KeyError, TypeError, ValueError) as exc:
                    raise AbiError(f"bad event in the ABI of {address}: {entry!r}") from exc
                topic0 = "0x" + keccak(text=signature).hex()
                self._events[(address, topic0)] = (str(entry["name"]), decode)
        self.addresses: tuple[str, ...] = tuple(dict.fromkeys(addresses))

    def decode(self, log: RawLog) -> tuple[str, dict[str, Json]] | None:
        """(event name, arguments) of a log; None when no ABI matches or it does not decode."""
        topics = log["topics"]
        if not topics:
            return None
        address, topic0 = log["address"], topics[0]
        # Nodes answer lowercase hex: look that up as it is, lowercase only on a miss.
        found = self._events.get((address, topic0)) or self._events.get(
            (address.lower(), topic0.lower())
        )
        if found is None:
            return None
        name, decode = found
        try:
            return name, decode(topics, log["data"])
        except (BadWord, DecodingError, ValueError, IndexError):  # malformed: kept raw
            return None

    def rows(
        self, chain_id: int, logs: Iterable[RawLog], timestamps: Mapping[int, int]
    ) -> list[EventRow]:
        """Event rows for verified logs; ``timestamps`` maps block numbers to block times.

        Hex fields are taken as they are: sources hand logs over lowercase (see ``source``).
        """
        out: list[EventRow] = []
        append, dumps, decode = out.append, orjson.dumps, self.decode
        # ``tuple.__new__`` builds the NamedTuple in C; ``EventRow(...)`` would run its
        # Python-level ``__new__``, a tenth of the cost of a row.
        new_row = tuple.__new__
        with gc_paused():  # allocation-heavy and cycle-free: see gc_pause
            for log in logs:
                number = int(log["blockNumber"], 16)
                decoded = decode(log)
                append(
                    new_row(
                        EventRow,
                        (
                            chain_id,
                            number,
                            log["blockHash"],
                            timestamps[number],
                            log["transactionHash"],
                            int(log["transactionIndex"], 16),
                            int(log["logIndex"], 16),
                            log["address"],
                            None if decoded is None else decoded[0],
                            None if decoded is None else dumps(decoded[1]).decode(),
                            log["topics"],
                            log["data"],
                        ),
                    )
                )
        return out
