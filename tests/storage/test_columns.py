from __future__ import annotations

import subprocess
import sys
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsconv.storage.columns import to_arrow
from dsconv.storage.layout import arrow_schema

BOX = pa.list_(pa.float32(), 4)


def values_of(kind: pa.DataType, nullable: bool = True) -> st.SearchStrategy[Any]:
    """Python values pa.array accepts for `kind`, None included where Arrow allows it."""
    if pa.types.is_struct(kind):
        inner = st.fixed_dictionaries({}, optional={f.name: values_of(f.type) for f in kind})
    elif pa.types.is_fixed_size_list(kind):
        inner = st.lists(values_of(kind.value_type), min_size=kind.list_size,
                         max_size=kind.list_size)
    elif pa.types.is_list(kind):
        inner = st.lists(values_of(kind.value_type), max_size=4)
    elif pa.types.is_string(kind):
        inner = st.text(max_size=8)
    elif pa.types.is_binary(kind):
        inner = st.binary(max_size=8)
    elif kind == pa.int32():
        inner = st.integers(-(2**31), 2**31 - 1)
    elif kind == pa.int64():
        inner = st.integers(-(2**63), 2**63 - 1)
    else:
        inner = st.floats(width=32 if kind == pa.float32() else 64, allow_nan=False)
    return st.one_of(st.none(), inner) if nullable else inner


SUPPORTED = [pa.string(), pa.binary(), pa.int32(), pa.int64(), pa.float32(), pa.float64(),
             pa.list_(pa.string()), pa.list_(BOX),
             pa.struct([("bytes", pa.binary()), ("path", pa.string())]),
             *[field.type for field in arrow_schema()]]


@pytest.mark.parametrize("kind", SUPPORTED, ids=str)
@settings(deadline=None)  # the first examples may pay for pyarrow's lazy set-up
@given(data=st.data())
def test_same_array_as_pyarrow(kind: pa.DataType, data: st.DataObject) -> None:
    values = data.draw(st.lists(values_of(kind), max_size=12))
    built = to_arrow(values, kind)
    built.validate(full=True)
    assert built.type == kind
    assert built.equals(pa.array(values, kind))


def test_row_contract_rows_round_trip() -> None:
    row = {"id": "train/0/count-json/0", "image": {"bytes": b"\xff\xd8", "path": None},
           "image_id": "0", "width": 640, "height": 480,
           "objects": {"bbox": [[1.0, 2.0, 3.5, 4.0]], "category": ["dime"]},
           "task": "count-json", "question": "How many?", "answer": "{}", "answers": ["{}"]}
    schema = arrow_schema()
    table = pa.Table.from_arrays([to_arrow([row[f.name]], f.type) for f in schema], schema=schema)
    assert table.to_pylist() == [row]


def test_wrong_box_length_is_refused() -> None:
    with pytest.raises(ValueError, match="lists of 4"):
        to_arrow([[1.0, 2.0, 3.0]], BOX)


def test_other_types_go_to_pyarrow() -> None:
    assert to_arrow([True, None], pa.bool_()).to_pylist() == [True, None]


def test_conversion_never_imports_pandas(coins_dir: Any, tmp_path: Any) -> None:
    """Importing pandas costs 0.2 s a run; `pa.array` would do it on the first row group."""
    code = ("import sys; from dsconv.cli import main; sys.argv = ['dsconv', 'coco-to-vqa', "
            f"{str(coins_dir)!r}, {str(tmp_path / 'out')!r}]\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "assert 'pandas' not in sys.modules, 'pandas was imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
