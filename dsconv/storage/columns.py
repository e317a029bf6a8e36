"""Python values → Arrow arrays, built straight from buffers.

`pa.array` first asks whether its input is a pandas object, and the first time it asks it
imports pandas: 0.2 s and ~35 MB on every conversion (`benchmarks/convert.py` shows the
limit with and without that import). For the few types the row contract is made of (strings, bytes,
integers, floats, lists, fixed-size lists, structs) the buffers are simple to build, and
building them is no slower; any other type goes to `pa.array`. `tests/storage/test_columns.py`
checks every supported type against `pa.array`.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from itertools import accumulate, chain
from typing import Any

import pyarrow as pa

_NUMBERS = {pa.int32(): "i", pa.int64(): "q", pa.float32(): "f", pa.float64(): "d"}
_INT32_MAX = 2**31 - 1


def to_arrow(values: Sequence[Any], kind: pa.DataType) -> pa.Array:
    """`pa.array(values, kind)`, without importing pandas for the row contract's types."""
    if kind in _NUMBERS:
        return _numbers(values, kind)
    if pa.types.is_binary(kind) or pa.types.is_string(kind):
        return _binary(values, kind)
    if pa.types.is_struct(kind):
        return _struct(values, kind)
    if pa.types.is_list(kind):
        return _list(values, kind)
    if pa.types.is_fixed_size_list(kind):
        return _fixed_size_list(values, kind)
    return pa.array(values, kind)


def _validity(values: Sequence[Any]) -> tuple[pa.Buffer | None, int]:
    """The validity bitmap (None when nothing is missing) and the number of nulls."""
    missing = [i for i, value in enumerate(values) if value is None]
    if not missing:
        return None, 0
    bits = bytearray(b"\xff" * ((len(values) + 7) // 8))
    for i in missing:
        bits[i >> 3] &= ~(1 << (i & 7)) & 0xFF
    return pa.py_buffer(bits), len(missing)


def _numbers(values: Sequence[Any], kind: pa.DataType) -> pa.Array:
    validity, nulls = _validity(values)
    data = array(_NUMBERS[kind], (0 if v is None else v for v in values) if nulls else values)
    return pa.Array.from_buffers(kind, len(values), [validity, pa.py_buffer(data)], nulls)


def _binary(values: Sequence[Any], kind: pa.DataType) -> pa.Array:
    validity, nulls = _validity(values)
    text = pa.types.is_string(kind)
    items = [b"" if v is None else v.encode() if text else bytes(v) for v in values]
    offsets = array("i", accumulate(map(len, items), initial=0))
    if offsets[-1] > _INT32_MAX:  # over 2 GB in one group: pa.array splits it in chunks
        return pa.array(values, kind)
    buffers = [validity, pa.py_buffer(offsets), _joined(items, offsets[-1])]
    return pa.Array.from_buffers(kind, len(values), buffers, nulls)


def _joined(items: list[bytes], size: int) -> pa.Buffer:
    """The items end to end in one Arrow buffer: copied once into pyarrow's memory pool,
    which reuses its pages from one row group to the next, where `b"".join` would get 6 MB of
    fresh pages from the C library for every group of images."""
    buffer = pa.allocate_buffer(size)
    view, start = memoryview(buffer).cast("B"), 0
    for item in items:
        end = start + len(item)
        view[start:end] = item
        start = end
    return buffer


def _struct(values: Sequence[Any], kind: pa.StructType) -> pa.Array:
    """A missing key is a null field, as in `pa.array`."""
    validity, nulls = _validity(values)
    children = [to_arrow([None if v is None else v.get(f.name) for v in values], f.type)
                for f in kind]
    return pa.Array.from_buffers(kind, len(values), [validity], nulls, children=children)


def _list(values: Sequence[Any], kind: pa.ListType) -> pa.Array:
    validity, nulls = _validity(values)
    items = [() if v is None else v for v in values]
    offsets = array("i", accumulate(map(len, items), initial=0))
    child = to_arrow(list(chain.from_iterable(items)), kind.value_type)
    return pa.Array.from_buffers(kind, len(values), [validity, pa.py_buffer(offsets)], nulls,
                                 children=[child])


def _fixed_size_list(values: Sequence[Any], kind: pa.FixedSizeListType) -> pa.Array:
    size = kind.list_size
    validity, nulls = _validity(values)
    items = [(None,) * size if v is None else v for v in values]
    if any(len(item) != size for item in items):
        raise ValueError(f"expected lists of {size} values for {kind}")
    child = to_arrow(list(chain.from_iterable(items)), kind.value_type)
    return pa.Array.from_buffers(kind, len(values), [validity], nulls, children=[child])
