"""A decoder per static event, generated as Python source: the hot loop of a backfill.

Every log of a backfill passes through its event's decoder. Reading each argument through a
reader function (``abi_values.static_reader``) costs a call per argument; one generated
function per event reads every argument in place, from slices of the topic and data hex
strings, into one dict literal: about half the time for the protocol's events.

It gives exactly what the reader functions give (a property test holds the two, and eth-abi,
equal): the common scalars (``address``, ``bool``, ``uintN``, ``bytesN``) are written inline,
with their padding and range checks as one condition, static tuples and fixed arrays as dict
and list literals of those; the rest (``intN``) calls its reader function. The source is made
only from integers, fixed templates and ``repr`` of the argument names, so nothing in an ABI
can inject code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from artisan.chain.abi.values import BadWord, Json, Param, param_names, static_reader

DecodeFn = Callable[[list[str], str], dict[str, Json]]


class _Source:
    """The pieces of the generated function: checks, argument expressions, bound readers."""

    def __init__(self) -> None:
        self.checks: list[str] = []
        self.exprs: list[tuple[str, str]] = []
        self.env: dict[str, Any] = {"BadWord": BadWord}

    def zeros(self, n: int) -> str:
        name = f"Z{n}"
        self.env[name] = "0" * n
        return name

    def add(self, name: str, param: Param, s: str, o: int) -> None:
        """Read ``param`` named ``name`` from the hex string ``s`` at character offset ``o``."""
        self.exprs.append((name, self.expr(param, s, o)))

    def expr(self, param: Param, s: str, o: int) -> str:
        """The expression reading ``param``; its checks are added to ``checks``."""
        typ = str(param["type"])
        element, _, size = typ.rpartition("[")
        if element and size[:-1].isdigit():  # a fixed array: a list literal
            words = _words({**param, "type": element})
            items = [
                self.expr({**param, "type": element}, s, o + 64 * words * i)
                for i in range(int(size[:-1]))
            ]
            return f"[{', '.join(items)}]"
        if typ == "tuple":  # a static tuple: a dict literal
            parts, at = [], o
            components = list(param.get("components", ()))
            for key, component in zip(param_names(components), components, strict=True):
                parts.append(f"{key!r}: {self.expr(component, s, at)}")
                at += 64 * _words(component)
            return f"{{{', '.join(parts)}}}"
        if typ == "address":
            self.checks.append(f"{s}[{o}:{o + 24}] != {self.zeros(24)}")
            return f'"0x" + {s}[{o + 24}:{o + 64}].lower()'
        if typ == "bool":
            padding = f"{s}[{o}:{o + 63}] != {self.zeros(63)}"
            self.checks.append(f'{padding} or {s}[{o + 63}] not in "01"')
            return f'{s}[{o + 63}] == "1"'
        if typ.startswith("uint") and int(typ[4:] or 256) % 8 == 0:
            pad = (256 - int(typ[4:] or 256)) // 4  # leading hex digits that must be zero
            if pad:
                self.checks.append(f"{s}[{o}:{o + pad}] != {self.zeros(pad)}")
            return f"str(int({s}[{o}:{o + 64}], 16))"
        if typ.startswith("bytes") and typ[5:].isdigit():
            width = 2 * int(typ[5:])
            if width < 64:
                self.checks.append(f"{s}[{o + width}:{o + 64}] != {self.zeros(64 - width)}")
            return f'"0x" + {s}[{o}:{o + width}].lower()'
        reader = static_reader(param)  # intN and the unusual: the reader function
        assert reader is not None
        fn = f"read{len(self.env)}"
        self.env[fn] = reader[1]
        return f"{fn}({s}, {o})"


def _words(param: Param) -> int:
    reader = static_reader(param)
    assert reader is not None, "only static types are compiled"
    return reader[0]


def compile_static_event(
    inputs: Sequence[Param], names: Sequence[str], keeps_topic: Sequence[bool]
) -> DecodeFn:
    """The decoder of an event whose data holds only static types.

    ``keeps_topic[i]``: the indexed argument ``i`` is stored as its topic (the hash of a
    dynamic value, array or tuple) rather than decoded from it.
    """
    src = _Source()
    topic, offset = 1, 2  # past "0x"
    for name, param, keep in zip(names, inputs, keeps_topic, strict=True):
        if param.get("indexed"):
            if keep:
                src.exprs.append((name, f"t{topic}.lower()"))
            else:
                src.add(name, param, f"t{topic}", 2)
            topic += 1
        else:
            src.add(name, param, "data", offset)
            offset += 64 * _words(param)
    lines = [
        "def decode(topics, data):",
        f"    if len(topics) != {topic}:",
        '        raise BadWord("topic count does not match the event")',
        f"    if len(data) < {offset}:",
        """        raise BadWord("data shorter than the event's words")""",
    ]
    if topic > 1:
        lines.append(f"    {', '.join(f't{i}' for i in range(1, topic))}, = topics[1:]")
    if src.checks:
        condition = " or ".join(f"({c})" for c in src.checks)
        lines += [f"    if {condition}:", '        raise BadWord("bad padding or out of range")']
    body = ", ".join(f"{name!r}: {expr}" for name, expr in src.exprs)
    lines.append(f"    return {{{body}}}")
    namespace = dict(src.env)
    exec(compile("\n".join(lines), "<artisan event decoder>", "exec"), namespace)
    decode: DecodeFn = namespace["decode"]
    return decode
