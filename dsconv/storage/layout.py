"""The on-disk layout every dsconv dataset shares: features, schema and shard names.

The Arrow schema and the card's feature list are written out here rather than built with
`datasets.Features` at run time: importing `datasets` costs half a second, a third of a whole
conversion of 2,000 images. `tests/storage/test_layout.py` checks both against `datasets`.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

DATA_DIR = "data"
CARD_FILE = "README.md"
REPORT_FILE = "conversion_report.json"
ANNOTATIONS_FILE = "annotations.jsonl"  # one split's lines in a JSON Lines export
SPLIT_ORDER = ("train", "validation", "test")


def _value(dtype: str) -> dict[str, str]:
    return {"dtype": dtype, "_type": "Value"}


def _list(feature: dict[str, Any], length: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"feature": feature}
    if length is not None:
        out["length"] = length
    return {**out, "_type": "List"}


FEATURES: dict[str, Any] = {
    "id": _value("string"),
    "image": {"_type": "Image"},
    "image_id": _value("string"),
    "width": _value("int32"),
    "height": _value("int32"),
    "objects": {
        "bbox": _list(_list(_value("float32"), length=4)),
        "category": _list(_value("string")),
    },
    "task": _value("string"),
    "question": _value("string"),
    "answer": _value("string"),
    "answers": _list(_value("string")),
}
"""`datasets.Features.to_dict()` of the row contract (docs/row-contract.md)."""

FEATURES_YAML: list[dict[str, Any]] = [
    {"name": "id", "dtype": "string"},
    {"name": "image", "dtype": "image"},
    {"name": "image_id", "dtype": "string"},
    {"name": "width", "dtype": "int32"},
    {"name": "height", "dtype": "int32"},
    {"name": "objects", "struct": [
        {"name": "bbox", "list": {"list": "float32", "length": 4}},
        {"name": "category", "list": "string"},
    ]},
    {"name": "task", "dtype": "string"},
    {"name": "question", "dtype": "string"},
    {"name": "answer", "dtype": "string"},
    {"name": "answers", "list": "string"},
]
"""The same features as the dataset card's `dataset_info.features` states them."""

ARROW_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
        ("image_id", pa.string()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("objects", pa.struct([
            ("bbox", pa.list_(pa.list_(pa.float32(), 4))),
            ("category", pa.list_(pa.string())),
        ])),
        ("task", pa.string()),
        ("question", pa.string()),
        ("answer", pa.string()),
        ("answers", pa.list_(pa.string())),
    ],
    metadata={"huggingface": json.dumps({"info": {"features": FEATURES}})},
)
"""The Parquet schema, with the `huggingface` metadata that makes `image` an Image feature."""


def arrow_schema() -> pa.Schema:
    return ARROW_SCHEMA


def shard_name(split: str, index: int, count: int) -> str:
    return f"{split}-{index:05d}-of-{count:05d}.parquet"


def split_sort_key(split: str) -> tuple[int, str]:
    return (SPLIT_ORDER.index(split) if split in SPLIT_ORDER else len(SPLIT_ORDER), split)
