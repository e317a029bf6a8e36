"""Read a dataset written by dsconv: its shards, splits and rows, without loading it whole."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from dsconv.errors import DsconvError
from dsconv.storage.layout import split_sort_key

SHARD_RE = re.compile(r"^(?P<split>[A-Za-z0-9_]+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.parquet$")
REPORT_FILE = "conversion_report.json"


def shard_paths(dataset_dir: str | Path, split: str | None = None) -> dict[str, list[Path]]:
    """Shards per split, in shard order; the split names come from the file names."""
    data = Path(dataset_dir) / "data"
    if not data.is_dir():
        raise DsconvError(f"{dataset_dir}: not a dsconv dataset (no data/ folder)")
    shards: dict[str, list[Path]] = {}
    for path in sorted(data.glob("*.parquet")):
        match = SHARD_RE.match(path.name)
        if match is None:
            raise DsconvError(f"{path}: shard name is not {{split}}-NNNNN-of-NNNNN.parquet")
        shards.setdefault(match["split"], []).append(path)
    shards = dict(sorted(shards.items(), key=lambda item: split_sort_key(item[0])))
    if split is not None:
        if split not in shards:
            raise DsconvError(f"{dataset_dir}: no split {split!r} (has {', '.join(shards)})")
        return {split: shards[split]}
    return shards


def iter_rows(
    dataset_dir: str | Path,
    split: str | None = None,
    columns: list[str] | None = None,
    batch_size: int = 256,
) -> Iterator[dict]:
    """Yield rows as plain dicts, one record batch in memory at a time."""
    for paths in shard_paths(dataset_dir, split).values():
        for path in paths:
            for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_size, columns=columns):
                yield from batch.to_pylist()


def read_report(dataset_dir: str | Path) -> dict:
    path = Path(dataset_dir) / REPORT_FILE
    if not path.is_file():
        raise DsconvError(f"{dataset_dir}: no {REPORT_FILE}")
    return json.loads(path.read_text())


def load(path: str | Path) -> Any:
    """The dataset as a `datasets.DatasetDict` (images decode to PIL on access), read from its
    shards on disk, without network.

    Example:
        >>> import dsconv
        >>> dataset = dsconv.load("out/coins-vqa")
        >>> dataset["train"][0]["answer"]
        '{\\n  "dime": 2,\\n  "penny": 1\\n}'
    """
    from datasets import DatasetDict, load_dataset

    shards = shard_paths(path)
    files = {split: [str(p) for p in paths] for split, paths in shards.items()}
    loaded = load_dataset("parquet", data_files=files)
    return DatasetDict({split: loaded[split] for split in files})
