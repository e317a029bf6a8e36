"""Read a dataset written by dsconv: its shards, splits and rows, without loading it whole.

Dataset folders are untrusted input like any source: a shard may be a FIFO (opening it would
block forever), truncated, not Parquet at all, or Parquet without dsconv's columns (a raw
source, someone else's dataset). Each of these is a one-line `ShardError` naming the shard,
raised before or while it is read, never a hang or a traceback. JSON files dsconv wrote
(reports, ledgers) are read with a size bound and refused when nested too deeply to parse.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from dsconv.errors import DsconvError
from dsconv.storage.files import (
    MAX_TEXT_FILE_BYTES,
    UnsafeFileError,
    excerpt,
    open_regular,
    read_text,
)
from dsconv.storage.layout import DATA_DIR, REPORT_FILE, arrow_schema, split_sort_key

SHARD_RE = re.compile(r"^(?P<split>[A-Za-z0-9_]+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.parquet$")
ROW_COLUMNS = tuple(arrow_schema().names)  # the row contract's columns
SHARD_READ_ERRORS = (pa.ArrowException, OSError, ValueError, EOFError)


class ShardError(DsconvError):
    """A shard that cannot be read as dsconv rows: `validate` reports it as a problem, every
    other command stops with it."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path, self.reason = path, reason
        super().__init__(f"{path}: {reason}")


def shard_paths(dataset_dir: str | Path, split: str | None = None) -> dict[str, list[Path]]:
    """Shards per split, in shard order; the split names come from the file names."""
    data = Path(dataset_dir) / DATA_DIR
    if not data.is_dir():
        raise DsconvError(f"{dataset_dir}: not a dsconv dataset (no {DATA_DIR}/ folder)")
    shards: dict[str, list[Path]] = {}
    for path in sorted(data.glob("*.parquet")):
        match = SHARD_RE.match(path.name)
        if match is None:
            raise DsconvError(f"{data}/{excerpt(path.name, 80)}: shard name is not "
                              "{split}-NNNNN-of-NNNNN.parquet")
        shards.setdefault(match["split"], []).append(path)
    shards = dict(sorted(shards.items(), key=lambda item: split_sort_key(item[0])))
    if split is not None:
        if split not in shards:
            raise DsconvError(f"{dataset_dir}: no split {split!r} (has {', '.join(shards)})")
        return {split: shards[split]}
    return shards


def open_shard(path: Path, columns: Sequence[str] = ()) -> pq.ParquetFile:
    """A shard's Parquet reader once the shard is known to be a regular Parquet file holding
    `columns`; a `ShardError` naming it otherwise."""
    try:
        open_regular(path, limit=1 << 62).close()  # a FIFO or device would block pyarrow
        parquet = pq.ParquetFile(path)
    except UnsafeFileError as exc:
        raise ShardError(path, str(exc).removeprefix(f"{path} ")) from None
    except SHARD_READ_ERRORS as exc:
        raise ShardError(path, f"not a readable Parquet file ({one_line_error(exc)})") from None
    names = set(parquet.schema_arrow.names)
    missing = [c for c in columns if c not in names]
    if missing:
        raise ShardError(path, f"no column {missing[0]!r}"
                         + (f" (nor {', '.join(map(repr, missing[1:]))})" if missing[1:] else "")
                         + ": not a dsconv dataset?")
    return parquet


def iter_batches(path: Path, columns: Sequence[str] | None = None, batch_size: int = 256
                 ) -> Iterator[pa.RecordBatch]:
    """A shard's record batches; a damaged shard is a `ShardError` naming it, where pyarrow
    finds the damage (opening, or a row group in the middle)."""
    parquet = open_shard(path, columns or ROW_COLUMNS)
    batches = parquet.iter_batches(batch_size=batch_size,
                                   columns=list(columns) if columns else None)
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except SHARD_READ_ERRORS as exc:
            raise ShardError(path, f"damaged Parquet ({one_line_error(exc)})") from None
        yield batch


def iter_rows(
    dataset_dir: str | Path,
    split: str | None = None,
    columns: list[str] | None = None,
    batch_size: int = 256,
) -> Iterator[dict]:
    """Yield rows as plain dicts, one record batch in memory at a time. The shards must hold
    `columns` (every column of the row contract when None)."""
    for paths in shard_paths(dataset_dir, split).values():
        for path in paths:
            for batch in iter_batches(path, columns, batch_size):
                yield from batch.to_pylist()


def count_rows(paths: Sequence[Path]) -> int:
    """Rows in the shards, from their footers."""
    return sum(open_shard(path).metadata.num_rows for path in paths)


def read_json(path: Path, limit: int = MAX_TEXT_FILE_BYTES) -> Any:
    """A JSON file dsconv wrote, read as untrusted input: a regular file within `limit`, and a
    one-line error (not a RecursionError) for one nested too deeply to parse."""
    try:
        text = read_text(path, limit)
    except FileNotFoundError:
        raise DsconvError(f"{path}: missing") from None
    except (OSError, UnsafeFileError) as exc:
        raise DsconvError(f"{path}: cannot be read ({one_line_error(exc)})") from None
    except UnicodeDecodeError:
        raise DsconvError(f"{path}: not UTF-8 text") from None
    try:
        return json.loads(text)
    except RecursionError:
        raise DsconvError(f"{path}: JSON nested too deeply to read") from None
    except ValueError as exc:
        raise DsconvError(f"{path}: not JSON ({one_line_error(exc)})") from None


def read_report(dataset_dir: str | Path) -> dict:
    path = Path(dataset_dir) / REPORT_FILE
    if not path.exists():
        raise DsconvError(f"{dataset_dir}: no {REPORT_FILE}")
    report = read_json(path)
    if not isinstance(report, dict):
        raise DsconvError(f"{path}: not a conversion report (a JSON object)")
    return report


def one_line_error(exc: BaseException, limit: int = 200) -> str:
    """An error's text on one line, cut short: pyarrow's run over several lines."""
    text = " ".join(str(exc).split()) or exc.__class__.__name__
    return text if len(text) <= limit else text[:limit] + "…"


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
