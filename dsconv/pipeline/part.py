"""One part of a sharded conversion: what it keeps beside its rows so that parts can be merged.

A part is a dataset folder like any other (its share of the rows, a report that adds up, a
card; `dsconv validate` checks it), plus:

- `part: {index, count, fingerprint}` in `conversion_report.json`: which part it is, and a
  hash of everything that shapes the rows, so that parts of different conversions never mix;
- `part/samples.parquet`: one line per sample written, in order: its key (where a whole run
  reads it), its output split, its number of rows, its source image's name and SHA-256 (the
  leakage check across parts needs the source bytes' hash, which a resize changes), and the
  SHA-256 of what it wrote: the image bytes in its rows, and its rows' other cells
  (`RowsDigest`), which `dsconv merge` checks so an edited or corrupted part is refused;
- `part/ledger.json`: the keys of its drops and warnings, to interleave them with the other
  parts' in reading order, and the objects it read per split, to check the merged totals.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import ValidationError

from dsconv import __version__
from dsconv.converters.base import Key, Ledger
from dsconv.errors import DsconvError
from dsconv.schemas.report import ConversionReport, PartInfo
from dsconv.storage.dataset import REPORT_FILE, ShardError, iter_batches, open_shard, read_json
from dsconv.storage.files import MAX_TEXT_FILE_BYTES, UnsafeFileError, read_text
from dsconv.storage.layout import arrow_schema

if TYPE_CHECKING:
    from dsconv.pipeline.convert import ConvertOptions

SAMPLES_FILE = "part/samples.parquet"
LEDGER_FILE = "part/ledger.json"
SAMPLES_SCHEMA = pa.schema([
    ("split_position", pa.int32()), ("item", pa.int64()), ("split", pa.string()),
    ("rows", pa.int32()), ("file", pa.string()), ("digest", pa.string()),
    ("image_digest", pa.string()), ("rows_digest", pa.string()),
])
_BATCH = 10_000


def fingerprint(reader: Any, options: ConvertOptions) -> str:
    """SHA-256 of the conversion's identity: the source and what was read from it, the tasks
    and every option that changes rows. Workers and the output folder are not in it."""
    context = options.context
    identity = {
        "dsconv": __version__,
        "format": reader.name,
        "source": options.source,
        "entries": {split: len(reader.items(split)) for split in reader.splits()},
        "classes": list(context.vocabulary.classes),
        "noun": context.vocabulary.noun,
        "tasks": [task.name for task in options.tasks],
        "task_options": {"prompt": context.prompt, "include_zero": context.include_zero,
                         "seed": context.seed, "paraphrases": context.paraphrases,
                         "absent_rate": context.absent_rate, **context.options},
        "split_ratios": options.split_ratios,
        "max_image_size": options.max_image_size,
        "settings": options.settings,
        "parts": options.share.count if options.share else 1,
    }
    text = json.dumps(identity, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class PartRecorder:
    """Streams `part/samples.parquet` as samples are written; `finish` adds the ledger file."""

    def __init__(self, samples_path: Path) -> None:
        self.path = samples_path
        self._writer = pq.ParquetWriter(samples_path, SAMPLES_SCHEMA)
        self._columns: dict[str, list[Any]] = {name: [] for name in SAMPLES_SCHEMA.names}

    def add(self, key: Key, split: str, rows: int, file: str, digest: str, image_digest: str,
            rows_digest: str) -> None:
        values = (key[0], key[1], split, rows, file, digest, image_digest, rows_digest)
        for column, value in zip(self._columns.values(), values, strict=True):
            column.append(value)
        if len(self._columns["item"]) >= _BATCH:
            self._flush()

    def finish(self, ledger: Ledger) -> str:
        """Close the samples file; the ledger file's text."""
        self._flush()
        self._writer.close()
        return json.dumps({
            "drop_keys": sorted(ledger.drop_keys),
            "warning_keys": sorted(ledger.warning_keys),
            "objects_seen": ledger.objects_seen(),
        }, separators=(",", ":")) + "\n"

    def _flush(self) -> None:
        if self._columns["item"]:
            self._writer.write_table(pa.Table.from_pydict(self._columns, schema=SAMPLES_SCHEMA))
            for column in self._columns.values():
                column.clear()


class RowsDigest:
    """SHA-256 of rows' cells but the image bytes (those have their own digest), as they read
    back from Parquet: the same for the rows a conversion writes and for the rows `merge`
    reads, whatever changed in between changes it."""

    def __init__(self, schema: pa.Schema | None = None) -> None:
        self._fields = [(f.name, f.type) for f in (schema or arrow_schema())]
        self._hash = hashlib.sha256()

    def add(self, row: dict[str, Any]) -> None:
        cells = [_canonical(row.get(name), kind) for name, kind in self._fields]
        self._hash.update(json.dumps(cells, separators=(",", ":")).encode("ascii") + b"\n")

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def _canonical(value: Any, kind: pa.DataType) -> Any:
    """A cell as Parquet gives it back: float32 rounded, tuples as lists, bytes left out."""
    if value is None:
        return None
    if pa.types.is_float32(kind):
        return struct.unpack("<f", struct.pack("<f", value))[0]
    if pa.types.is_binary(kind):
        return None
    if pa.types.is_struct(kind):
        return [_canonical(value.get(f.name), f.type) for f in kind]
    if pa.types.is_list(kind) or pa.types.is_fixed_size_list(kind):
        return [_canonical(item, kind.value_type) for item in value]
    return value


@dataclass(frozen=True)
class Entry:
    """One sample a part wrote: where a whole run reads it, and what the merge needs of it."""

    key: Key
    split: str
    rows: int
    file: str
    digest: str
    image_digest: str  # of the image bytes in its rows (differs from `digest` when resized)
    rows_digest: str  # RowsDigest of its rows


@dataclass
class Part:
    folder: Path
    report: ConversionReport
    info: PartInfo
    drop_keys: list[Key]
    warning_keys: list[Key]
    objects_seen: dict[str, int]

    def entries(self) -> Iterator[Entry]:
        """The part's samples in its writing order, which is key order."""
        for batch in iter_batches(self.folder / SAMPLES_FILE, SAMPLES_SCHEMA.names, _BATCH):
            for row in batch.to_pylist():
                yield Entry((row["split_position"], row["item"]), row["split"], row["rows"],
                            row["file"], row["digest"], row["image_digest"],
                            row["rows_digest"])


def load_part(folder: Path) -> Part:
    """A part folder, checked; a one-line error naming the folder if it is not one."""
    try:
        report = ConversionReport.model_validate_json(
            read_text(folder / REPORT_FILE, MAX_TEXT_FILE_BYTES))
    except FileNotFoundError:
        raise DsconvError(f"{folder}: not a dsconv dataset (no {REPORT_FILE})") from None
    except (OSError, UnsafeFileError, UnicodeDecodeError) as exc:
        raise DsconvError(f"{folder / REPORT_FILE}: cannot be read ({exc})") from None
    except ValidationError as exc:
        raise DsconvError(f"{folder / REPORT_FILE}: not a conversion report "
                          f"({exc.errors()[0]['msg']})") from None
    if report.part is None:
        raise DsconvError(f"{folder}: a whole dataset, not a part (convert with --num-shards "
                          "and --shard-index to make parts)")
    ledger = read_json(folder / LEDGER_FILE)
    try:
        drop_keys = [(int(a), int(b)) for a, b in ledger["drop_keys"]]
        warning_keys = [(int(a), int(b)) for a, b in ledger["warning_keys"]]
        seen = {str(k): int(v) for k, v in ledger["objects_seen"].items()}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DsconvError(f"{folder / LEDGER_FILE}: not a part ledger "
                          f"({exc.__class__.__name__})") from None
    if len(drop_keys) != len(report.drops) or len(warning_keys) != len(report.warnings):
        raise DsconvError(f"{folder / LEDGER_FILE}: does not match {REPORT_FILE} "
                          "(drops or warnings differ in number)")
    if not (folder / SAMPLES_FILE).exists():
        raise DsconvError(f"{folder / SAMPLES_FILE}: missing")
    try:
        open_shard(folder / SAMPLES_FILE, SAMPLES_SCHEMA.names)
    except ShardError as exc:
        if "no column" in exc.reason:
            raise DsconvError(f"{folder / SAMPLES_FILE}: written by an older dsconv, without "
                              "the digests merge checks; convert this part again") from None
        raise
    return Part(folder, report, report.part, drop_keys, warning_keys, seen)


def part_note(info: PartInfo) -> str:
    """The card paragraph that says what a part is."""
    return (f"This folder is part {info.index} of {info.count} of a sharded conversion "
            f"(`--num-shards {info.count} --shard-index {info.index}`): join the parts with "
            "`dsconv merge PART… OUT`.")

