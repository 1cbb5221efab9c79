"""Scalars as graph-node serializes them: BigInt, BigDecimal and Bytes travel as strings
(``0x`` lowercase hex for Bytes), exact up to 2**256 - 1 and beyond."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, NewType

import strawberry

BigInt = NewType("BigInt", int)
BigDecimal = NewType("BigDecimal", Decimal)
Bytes = NewType("Bytes", str)


def _big_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"BigInt takes a decimal string, not {value!r:.40}")
    text = str(value)
    if not (text.lstrip("-").isascii() and text.lstrip("-").isdigit()) or len(text) > 200:
        raise ValueError(f"BigInt takes a decimal string, not {text!r:.40}")
    return int(text)


def _bytes(value: Any) -> str:
    text = str(value)
    if not text.startswith("0x") or any(c not in "0123456789abcdefABCDEF" for c in text[2:]):
        raise ValueError(f"Bytes takes 0x-prefixed hex, not {text!r:.40}")
    if len(text) % 2:
        raise ValueError(
            f"Bytes takes whole bytes (an even number of hex digits), not {text!r:.40}"
        )
    return text.lower()


SCALARS: dict[object, Any] = {
    BigInt: strawberry.scalar(name="BigInt", serialize=str, parse_value=_big_int,
                              description="An integer of any size, as a decimal string"),
    BigDecimal: strawberry.scalar(name="BigDecimal", serialize=str, parse_value=Decimal,
                                  description="A decimal number, as a string"),
    Bytes: strawberry.scalar(name="Bytes", serialize=str, parse_value=_bytes,
                             description="Bytes as 0x-prefixed lowercase hex"),
}  # fmt: skip
