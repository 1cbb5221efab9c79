"""ABI parameters to JSON-ready values: a fast path for static words, eth-abi for the rest.

Values come out JSON-ready and lossless: integers as decimal strings, addresses and byte
strings as lowercase 0x-hex, tuples as objects keyed by component name, arrays as lists.

Static types (``uintN``, ``intN``, ``address``, ``bool``, ``bytesN`` and fixed-size arrays and
tuples of them) are read straight from the hex words of a log: eth-abi spends about 50 us on a
typical event, most of it stream and validation machinery, where slicing costs a few. The fast
path validates what eth-abi's strict decoder validates (padding and ranges) and raises
``BadWord`` where eth-abi would raise; a property test holds the two paths equal.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from artisan.chain.errors import AbiError

Json = Any
# Reads a value from a hex string (no 0x) at a character offset.
WordReader = Callable[[str, int], Json]
Converter = Callable[[Any], Json]
Param = Mapping[str, Any]

_ZEROS = "0" * 64


class BadWord(ValueError):
    """A word does not hold a valid value of its type (bad padding, out of range)."""


def canonical_type(param: Param) -> str:
    """The canonical type string of an ABI parameter, tuples spelled out: ``(uint64,bool)[]``."""
    typ = str(param["type"])
    if typ.startswith("tuple"):
        inner = ",".join(canonical_type(c) for c in param.get("components", ()))
        return f"({inner}){typ[len('tuple') :]}"
    return typ


def param_names(params: list[Param]) -> list[str]:
    """Parameter names, with ``arg<i>`` for unnamed ones."""
    return [str(p.get("name") or f"arg{i}") for i, p in enumerate(params)]


def _split_array(typ: str) -> tuple[str, str | None]:
    """``uint8[3][]`` -> (``uint8[3]``, ``""``); a scalar -> (typ, None)."""
    if not typ.endswith("]"):
        return typ, None
    start = typ.rindex("[")
    return typ[:start], typ[start + 1 : -1]


def _basic_reader(typ: str) -> WordReader | None:
    if typ == "address":

        def read_address(h: str, o: int) -> Json:
            if h[o : o + 24] != _ZEROS[:24]:
                raise BadWord("address with non-zero padding")
            return "0x" + h[o + 24 : o + 64].lower()

        return read_address
    if typ == "bool":

        def read_bool(h: str, o: int) -> Json:
            word = h[o : o + 64]
            if word[:63] != _ZEROS[:63] or word[63] not in "01":
                raise BadWord("bool not 0 or 1")
            return word[63] == "1"

        return read_bool
    if typ.startswith("uint"):
        limit = 1 << int(typ[4:] or 256)

        def read_uint(h: str, o: int) -> Json:
            value = int(h[o : o + 64], 16)
            if value >= limit:
                raise BadWord("unsigned integer out of range")
            return str(value)

        return read_uint
    if typ.startswith("int"):
        bits = int(typ[3:] or 256)
        low, high = -(1 << (bits - 1)), 1 << (bits - 1)

        def read_int(h: str, o: int) -> Json:
            value = int(h[o : o + 64], 16)
            if value >= 1 << 255:
                value -= 1 << 256
            if not low <= value < high:
                raise BadWord("signed integer out of range")
            return str(value)

        return read_int
    if typ.startswith("bytes") and typ != "bytes":
        width = 2 * int(typ[5:])

        def read_bytes_n(h: str, o: int) -> Json:
            if h[o + width : o + 64] != _ZEROS[width:]:
                raise BadWord("fixed bytes with non-zero padding")
            return "0x" + h[o : o + width].lower()

        return read_bytes_n
    return None


def static_reader(param: Param) -> tuple[int, WordReader] | None:
    """(words, reader) for a static parameter; None for a dynamic one or an unusual type."""
    typ = str(param["type"])
    element, size = _split_array(typ)
    if size is not None:
        if not size:
            return None
        inner = static_reader({**param, "type": element})
        if inner is None:
            return None
        words, read = inner
        offsets = [i * 64 * words for i in range(int(size))]

        def read_array(h: str, o: int) -> Json:
            return [read(h, o + d) for d in offsets]

        return words * int(size), read_array
    if typ == "tuple":
        parts: list[tuple[str, int, WordReader]] = []
        total = 0
        components = list(param.get("components", ()))
        for name, component in zip(param_names(components), components, strict=True):
            sub = static_reader(component)
            if sub is None:
                return None
            parts.append((name, total * 64, sub[1]))
            total += sub[0]

        def read_tuple(h: str, o: int) -> Json:
            return {name: read(h, o + d) for name, d, read in parts}

        return total, read_tuple
    reader = _basic_reader(typ)
    return None if reader is None else (1, reader)


def converter(param: Param) -> Converter:
    """Turns the value eth-abi decoded for ``param`` into the same JSON the fast path gives."""
    typ = str(param["type"])
    element, size = _split_array(typ)
    if size is not None:
        convert = converter({**param, "type": element})
        return lambda values: [convert(v) for v in values]
    if typ == "tuple":
        components = list(param.get("components", ()))
        pairs = list(zip(param_names(components), map(converter, components), strict=True))
        return lambda values: {name: conv(v) for (name, conv), v in zip(pairs, values, strict=True)}
    if typ.startswith(("uint", "int")):
        return str
    if typ == "address":
        return lambda value: str(value).lower()
    if typ == "bool":
        return lambda value: value
    if typ == "string":
        # jsonb cannot hold U+0000; the raw data column keeps the exact bytes.
        return lambda value: value.replace("\x00", "\ufffd") if "\x00" in value else value
    if typ.startswith("bytes"):
        return lambda value: "0x" + bytes(value).hex()
    if typ.startswith(("fixed", "ufixed")):
        return lambda value: str(Decimal(value))
    raise AbiError(f"unsupported ABI type {typ!r}")
