"""One part of a sharded conversion: what it keeps beside its rows so that parts can be merged.

A part is a dataset folder like any other (its share of the rows, a report that adds up, a
card; `dsconv validate` checks it), plus:

- `part: {index, count, fingerprint}` in `conversion_report.json`: which part it is, and a
  hash of everything that shapes the rows, so that parts of different conversions never mix;
- `part/samples.parquet`: one line per sample written, in order: its key (where a whole run
  reads it), its output split, its number of rows, its source image's name and SHA-256 (the
  leakage check across parts needs the source bytes' hash, which a resize changes);
- `part/ledger.json`: the keys of its drops and warnings, to interleave them with the other
  parts' in reading order, and the objects it read per split, to check the merged totals.
"""

from __future__ import annotations

import hashlib
import json
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
from dsconv.storage.dataset import REPORT_FILE

if TYPE_CHECKING:
    from dsconv.pipeline.convert import ConvertOptions

SAMPLES_FILE = "part/samples.parquet"
LEDGER_FILE = "part/ledger.json"
SAMPLES_SCHEMA = pa.schema([
    ("split_position", pa.int32()), ("item", pa.int64()), ("split", pa.string()),
    ("rows", pa.int32()), ("file", pa.string()), ("digest", pa.string()),
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

    def add(self, key: Key, split: str, rows: int, file: str, digest: str) -> None:
        values = (key[0], key[1], split, rows, file, digest)
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


@dataclass(frozen=True)
class Entry:
    """One sample a part wrote: where a whole run reads it, and what the merge needs of it."""

    key: Key
    split: str
    rows: int
    file: str
    digest: str


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
        for batch in pq.ParquetFile(self.folder / SAMPLES_FILE).iter_batches(batch_size=_BATCH):
            for row in batch.to_pylist():
                yield Entry((row["split_position"], row["item"]), row["split"], row["rows"],
                            row["file"], row["digest"])


def load_part(folder: Path) -> Part:
    """A part folder, checked; a one-line error naming the folder if it is not one."""
    try:
        report = ConversionReport.model_validate_json(
            (folder / REPORT_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DsconvError(f"{folder}: not a dsconv dataset (no {REPORT_FILE})") from None
    except ValidationError as exc:
        raise DsconvError(f"{folder / REPORT_FILE}: not a conversion report "
                          f"({exc.errors()[0]['msg']})") from None
    if report.part is None:
        raise DsconvError(f"{folder}: a whole dataset, not a part (convert with --num-shards "
                          "and --shard-index to make parts)")
    try:
        ledger = json.loads((folder / LEDGER_FILE).read_text(encoding="utf-8"))
        drop_keys = [(int(a), int(b)) for a, b in ledger["drop_keys"]]
        warning_keys = [(int(a), int(b)) for a, b in ledger["warning_keys"]]
        seen = {str(k): int(v) for k, v in ledger["objects_seen"].items()}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DsconvError(f"{folder / LEDGER_FILE}: missing or unreadable "
                          f"({exc.__class__.__name__})") from None
    if len(drop_keys) != len(report.drops) or len(warning_keys) != len(report.warnings):
        raise DsconvError(f"{folder / LEDGER_FILE}: does not match {REPORT_FILE} "
                          "(drops or warnings differ in number)")
    if not (folder / SAMPLES_FILE).is_file():
        raise DsconvError(f"{folder / SAMPLES_FILE}: missing")
    return Part(folder, report, report.part, drop_keys, warning_keys, seen)


def part_note(info: PartInfo) -> str:
    """The card paragraph that says what a part is."""
    return (f"This folder is part {info.index} of {info.count} of a sharded conversion "
            f"(`--num-shards {info.count} --shard-index {info.index}`): join the parts with "
            "`dsconv merge PART… OUT`.")

