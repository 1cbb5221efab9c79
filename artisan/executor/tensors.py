"""The canonical byte encoding of a request's input tensors and of its outputs.

An execution's input asset (whose sha2-256 is the signed ``inputDigest``) and its output asset
(whose sha2-256 is the ``outputDigest``) are these bytes, so client and executor must produce
them identically; docs/EXECUTOR.md states the rule for implementers in other languages.

- One tensor: its ``.npy`` bytes, format 1.0, exactly as ``numpy.save`` writes a C-ordered
  little-endian array (header keys sorted, numpy's growth padding, padded to 64 bytes).
- Several tensors: a bundle: the magic ``ARTNSR01``, the count as a big-endian u32, then per
  tensor in ascending order of its name's UTF-8 bytes: the name's length (u16 BE), the name,
  the ``.npy`` length (u64 BE) and the ``.npy`` bytes.

Decoding accepts only canonical bytes (it re-encodes and compares), so two encodings of the
same tensors can never carry two digests.
"""

from __future__ import annotations

import io
import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from artisan.executor.errors import InvalidInput
from artisan.executor.sessions import Tensor

NPY_MAGIC = b"\x93NUMPY"
BUNDLE_MAGIC = b"ARTNSR01"
_COUNT = struct.Struct(">I")
_NAME_LEN = struct.Struct(">H")
_NPY_LEN = struct.Struct(">Q")

# Element types a tensor may have on the wire: fixed-size numbers and bools, no objects.
WIRE_DTYPES = frozenset(
    {"float16", "float32", "float64", "int8", "int16", "int32", "int64",
     "uint8", "uint16", "uint32", "uint64", "bool"}
)  # fmt: skip


_KIND_WORDS = {"b": "booleans", "i": "integers", "u": "integers", "f": "numbers with a fraction",
               "U": "text", "S": "text", "O": "a mix of kinds (or uneven rows)"}  # fmt: skip

# JSON values of which numpy kinds each target kind takes: no float into an int, no int into a bool.
_ACCEPTS = {"b": "b", "i": "iu", "u": "iu", "f": "iuf"}


class NonCanonical(InvalidInput):
    """Bytes that decode to tensors but are not their canonical encoding."""


class TooLarge(InvalidInput):
    """Tensors over a limit (elements, rank, count, name length): refused before allocating."""


@dataclass(frozen=True, slots=True)
class TensorLimits:
    """What one request's tensors may be, checked from headers and shapes before any tensor is
    allocated (sizes computed with Python integers: no int64 overflow)."""

    max_elements: int = 64 * 2**20  # per tensor: a 64 MiB uint8 tensor, 256 MiB of float32
    max_rank: int = 16
    max_tensors: int = 64
    max_name_bytes: int = 255

    def check_shape(self, name: str, shape: tuple[int, ...] | list[int]) -> int:
        """The element count of ``shape``, or ``TooLarge`` naming the limit."""
        if len(shape) > self.max_rank:
            raise TooLarge(f"input {name!r}: rank {len(shape)} is over {self.max_rank}")
        # Each dim on its own too: [0, 2**63] holds no element, but numpy cannot shape it.
        if any(d > self.max_elements for d in shape):
            raise TooLarge(
                f"input {name!r}: shape {list(shape)} has a dim over the limit of"
                f" {self.max_elements} elements"
            )
        count = math.prod(shape)
        if count > self.max_elements:
            raise TooLarge(
                f"input {name!r}: shape {list(shape)} holds {count} elements, over the limit of"
                f" {self.max_elements}"
            )
        return count


LIMITS = TensorLimits()


def _canonical_array(array: Tensor) -> Tensor:
    if array.dtype.name not in WIRE_DTYPES:
        raise InvalidInput(f"dtype {array.dtype} cannot be sent; use one of {sorted(WIRE_DTYPES)}")
    # Little-endian and C order: one spelling per tensor (numpy writes '<f4', never '>f4').
    # astype, not ascontiguousarray: the latter turns a 0-d tensor into a 1-d one.
    return array.astype(array.dtype.newbyteorder("<"), order="C", copy=False)


def encode_npy(array: Tensor) -> bytes:
    """The canonical ``.npy`` bytes of one tensor."""
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, _canonical_array(array), version=(1, 0), allow_pickle=False)
    return buffer.getvalue()


def npy_size(array: Tensor) -> int:
    """``len(encode_npy(array))`` without copying the data: header bytes plus data bytes."""
    header = io.BytesIO()
    info = {"descr": np.lib.format.dtype_to_descr(array.dtype.newbyteorder("<")),
            "fortran_order": False, "shape": array.shape}  # fmt: skip
    np.lib.format.write_array_header_1_0(header, info)
    return len(header.getvalue()) + int(array.nbytes)


def decode_npy(data: bytes, limits: TensorLimits = LIMITS, name: str = "input") -> Tensor:
    """One tensor from canonical ``.npy`` bytes; anything else is ``InvalidInput``.

    The header is read and checked first (dtype, shape, and that the data that follows is
    exactly the bytes the header declares), so a header that declares terabytes costs nothing.
    """
    if not data.startswith(NPY_MAGIC):
        raise InvalidInput("not .npy data: it does not start with the \\x93NUMPY magic")
    stream = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(stream)
        if version != (1, 0):
            raise InvalidInput(f".npy format {version[0]}.{version[1]}: only 1.0 is canonical")
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
    except (ValueError, OSError, EOFError) as exc:
        raise InvalidInput(f"unreadable .npy header: {exc}") from exc
    if dtype.name not in WIRE_DTYPES or dtype.hasobject:
        raise InvalidInput(f".npy dtype {dtype} is not accepted")
    count = limits.check_shape(name, shape)
    expected = stream.tell() + count * dtype.itemsize
    if fortran or expected != len(data):
        raise NonCanonical(
            f".npy data is not canonical: its header declares {expected} bytes in C order,"
            f" the body has {len(data)}"
        )
    try:
        array: Tensor = np.lib.format.read_array(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InvalidInput(f"unreadable .npy data: {exc}") from exc
    if encode_npy(array) != data:
        raise NonCanonical(
            ".npy data is not canonical (format 1.0, C order, little-endian, as numpy.save"
            " writes it, with nothing after the data)"
        )
    return array


def encode_tensors(tensors: Mapping[str, Tensor]) -> bytes:
    """The canonical encoding of a set of named tensors: bare ``.npy`` for one, else a bundle."""
    if not tensors:
        raise InvalidInput("no tensors to encode")
    if len(tensors) == 1:
        return encode_npy(next(iter(tensors.values())))
    parts = [BUNDLE_MAGIC, _COUNT.pack(len(tensors))]
    for name in sorted(tensors, key=lambda n: n.encode()):
        raw_name, npy = name.encode(), encode_npy(tensors[name])
        parts += [_NAME_LEN.pack(len(raw_name)), raw_name, _NPY_LEN.pack(len(npy)), npy]
    return b"".join(parts)


def encoded_size(tensors: Mapping[str, Tensor]) -> int:
    """``len(encode_tensors(tensors))``, computed from headers and sizes without encoding."""
    if len(tensors) == 1:
        return npy_size(next(iter(tensors.values())))
    framing = len(BUNDLE_MAGIC) + _COUNT.size
    return framing + sum(
        _NAME_LEN.size + len(name.encode()) + _NPY_LEN.size + npy_size(array)
        for name, array in tensors.items()
    )


def decode_tensors(
    data: bytes, single_name: str | None, limits: TensorLimits = LIMITS
) -> dict[str, Tensor]:
    """Named tensors from their canonical encoding. A bare ``.npy`` takes ``single_name``
    (the model's only input); a bundle carries its names."""
    if data.startswith(NPY_MAGIC):
        if single_name is None:
            raise InvalidInput(
                "a bare .npy names no input: this model takes several, send a bundle"
            )
        return {single_name: decode_npy(data, limits, single_name)}
    if not data.startswith(BUNDLE_MAGIC):
        raise InvalidInput("input bytes are neither .npy nor an ARTNSR01 tensor bundle")
    view, offset = memoryview(data), len(BUNDLE_MAGIC)
    try:
        (count,) = _COUNT.unpack_from(view, offset)
        offset += _COUNT.size
        if count > limits.max_tensors:
            raise TooLarge(f"a bundle of {count} tensors: at most {limits.max_tensors}")
        tensors: dict[str, Tensor] = {}
        for _ in range(count):
            (name_len,) = _NAME_LEN.unpack_from(view, offset)
            offset += _NAME_LEN.size
            if name_len > limits.max_name_bytes:
                raise TooLarge(
                    f"a tensor name of {name_len} bytes: at most {limits.max_name_bytes}"
                )
            name = bytes(view[offset : offset + name_len]).decode()
            offset += name_len
            (npy_len,) = _NPY_LEN.unpack_from(view, offset)
            offset += _NPY_LEN.size
            if offset + npy_len > len(data):
                raise InvalidInput(f"tensor bundle truncated inside {name!r}")
            tensors[name] = decode_npy(bytes(view[offset : offset + npy_len]), limits, name)
            offset += npy_len
    except (struct.error, UnicodeDecodeError) as exc:
        raise InvalidInput(f"malformed tensor bundle: {exc}") from exc
    if offset != len(data) or encode_tensors(tensors) != data:
        raise NonCanonical("tensor bundle is not canonical (order, duplicates or trailing bytes)")
    return tensors


def from_json(name: str, value: Any, limits: TensorLimits = LIMITS) -> Tensor:
    """A tensor from its JSON form ``{"dtype": "float32", "shape": [2, 3], "data": [...]}``;
    ``data`` is nested lists or flat (row-major), numbers or booleans."""
    if not isinstance(value, Mapping) or not {"dtype", "shape", "data"} <= value.keys():
        raise InvalidInput(f"input {name!r} must be an object with dtype, shape and data")
    dtype, shape, data = value["dtype"], value["shape"], value["data"]
    if not isinstance(dtype, str) or dtype not in WIRE_DTYPES:
        raise InvalidInput(f"input {name!r}: dtype {dtype!r} is not one of {sorted(WIRE_DTYPES)}")
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise InvalidInput(f"input {name!r}: shape must be a list of non-negative integers")
    count = limits.check_shape(name, shape)
    try:
        raw = np.asarray(data)
        target = np.dtype(dtype)
        if raw.size and raw.dtype.kind not in _ACCEPTS[target.kind]:
            given = _KIND_WORDS.get(raw.dtype.kind, "values of another kind")
            raise InvalidInput(f"input {name!r}: {given} given where {dtype} values are expected")
        # A number past float16/float32's range would become an infinity the user never sent.
        with np.errstate(over="raise"):
            flat = raw.astype(target).reshape(-1)
        # Integers must fit exactly: numpy's cast would wrap 300 into a uint8 silently.
        if target.kind in "iu" and raw.size and not np.array_equal(flat, raw.reshape(-1)):
            raise InvalidInput(f"input {name!r}: values out of range for {dtype}")
    except (ValueError, TypeError, ArithmeticError, RecursionError) as exc:  # overflows
        raise InvalidInput(f"input {name!r}: data does not fit dtype {dtype}: {exc}") from exc
    if flat.size != count:
        raise InvalidInput(
            f"input {name!r}: {flat.size} values do not fill shape {shape} ({count} values)"
        )
    return flat.reshape(shape)


def to_json(array: Tensor) -> dict[str, Any]:
    """The JSON form of a tensor (``from_json`` reads it back exactly for finite values)."""
    return {"dtype": array.dtype.name, "shape": list(array.shape), "data": array.tolist()}
