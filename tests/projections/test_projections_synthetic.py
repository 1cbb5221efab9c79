"""The synthetic histories the other tests use are what the indexer would store."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from eth_abi.abi import encode
from eth_utils.crypto import keccak

from artisan.chain.abi.decoder import ContractAbi, EventDecoder, event_signature
from artisan.chain.abi.values import canonical_type
from artisan.config import Settings
from artisan.indexer.source import RawLog
from artisan.storage.chain_records import EventRow
from artisan.testing.synthetic import ADDRESSES, CONTRACT_EVENTS, HistoryGenerator


def python_value(param: dict[str, Any], value: Any) -> Any:
    """A stored (JSON) value back to what eth-abi encodes."""
    typ = param["type"]
    if typ.endswith("]"):
        inner = {**param, "type": typ[: typ.rindex("[")]}
        return [python_value(inner, v) for v in value]
    if typ == "tuple":
        return tuple(python_value(c, value[c["name"]]) for c in param["components"])
    if typ.startswith(("uint", "int")):
        return int(value)
    if typ.startswith("bytes"):
        return bytes.fromhex(value[2:])
    return value


def raw_log(abi: dict[str, Any], address: str, row: EventRow) -> RawLog:
    args = orjson.loads(row.args_json or "{}")
    topics = ["0x" + keccak(text=event_signature(abi)).hex()]
    data_types, data_values = [], []
    for p in abi["inputs"]:
        value = python_value(p, args[p["name"]])
        if p.get("indexed"):
            topics.append("0x" + encode([canonical_type(p)], [value]).hex())
        else:
            data_types.append(canonical_type(p))
            data_values.append(value)
    return {
        "address": address,
        "topics": topics,
        "data": "0x" + encode(data_types, data_values).hex(),
        "blockNumber": hex(row.block_number),
        "blockHash": row.block_hash,
        "transactionHash": row.tx_hash,
        "transactionIndex": hex(row.tx_index),
        "logIndex": hex(row.log_index),
    }


def test_synthetic_rows_decode_from_real_abi_encoding(settings: Settings) -> None:
    """Each synthetic event, ABI-encoded with the compiled contracts' ABIs and decoded by the
    indexer's decoder, gives back exactly the stored name and arguments."""
    abis: dict[str, dict[str, Any]] = {}
    contracts = []
    for contract in CONTRACT_EVENTS:
        path = settings.artifacts_dir / f"{contract}.json"
        if not path.exists():
            pytest.skip(f"{path} not built: run `make contracts`")
        abi = json.loads(path.read_text())["abi"]
        contracts.append(ContractAbi(ADDRESSES[contract], abi))
        abis.update({e["name"]: e for e in abi if e.get("type") == "event"})
    decoder = EventDecoder(contracts)
    rows = [row for b in HistoryGenerator(4).blocks(300, txs=6) for row in b.rows]
    seen = set()
    for row in rows:
        assert row.event_name is not None
        log = raw_log(abis[row.event_name], row.address, row)
        decoded = decoder.rows(row.chain_id, [log], {row.block_number: row.block_timestamp})[0]
        assert decoded.event_name == row.event_name
        assert orjson.loads(decoded.args_json or "") == orjson.loads(row.args_json or "")
        seen.add(row.event_name)
    assert seen >= {n for names in CONTRACT_EVENTS.values() for n in names} - {"TreasurySet"}
