"""The on-disk layout every dsconv dataset shares: features, schema and shard names."""

from __future__ import annotations

from functools import cache

import pyarrow as pa

DATA_DIR = "data"
CARD_FILE = "README.md"
SPLIT_ORDER = ("train", "validation", "test")


@cache
def features():  # -> datasets.Features; imported lazily, `datasets` is slow to import
    from datasets import Features, Image, List, Value

    return Features({
        "id": Value("string"),
        "image": Image(),
        "image_id": Value("string"),
        "width": Value("int32"),
        "height": Value("int32"),
        "objects": {
            "bbox": List(List(Value("float32"), length=4)),
            "category": List(Value("string")),
        },
        "task": Value("string"),
        "question": Value("string"),
        "answer": Value("string"),
        "answers": List(Value("string")),
    })


@cache
def arrow_schema() -> pa.Schema:
    """The Parquet schema, with the `huggingface` metadata that makes `image` an Image feature."""
    return features().arrow_schema


def shard_name(split: str, index: int, count: int) -> str:
    return f"{split}-{index:05d}-of-{count:05d}.parquet"


def split_sort_key(split: str) -> tuple[int, str]:
    return (SPLIT_ORDER.index(split) if split in SPLIT_ORDER else len(SPLIT_ORDER), split)
