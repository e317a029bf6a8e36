"""Check a dataset against the row contract: every row, every image, every count.

The same checks run on what dsconv writes and on any dataset a user hands us.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pyarrow.parquet as pq
from PIL import Image
from pydantic import ValidationError

from dsconv.converters.base import Vocabulary
from dsconv.io.dataset import REPORT_FILE, read_report, shard_paths
from dsconv.io.images import oriented_size, truncation
from dsconv.io.layout import CARD_FILE, arrow_schema
from dsconv.schemas.report import ConversionReport
from dsconv.schemas.row import Row
from dsconv.splits import LeakFinder, image_digest
from dsconv.tasks.base import find_task

T = TypeVar("T")


@dataclass(frozen=True)
class Problem:
    split: str
    shard: str
    row: int | None  # index within the shard
    id: str | None
    reason: str

    def __str__(self) -> str:
        where = self.shard if self.row is None else f"{self.shard} row {self.row}"
        name = f" ({self.id})" if self.id else ""
        return f"{self.split}: {where}{name}: {self.reason}"


@dataclass
class ValidationResult:
    rows: dict[str, int] = field(default_factory=dict)
    tasks: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def validate_dataset(
    dataset_dir: Path,
    *,
    deep: bool = False,
    strict: bool = False,
    progress: Callable[[Iterable[T], int | None, str], Iterable[T]] = lambda it, n, s: it,
) -> ValidationResult:
    """Every problem found; `strict` turns leakage (an image in two splits) from a warning
    into a problem."""
    result = ValidationResult()
    report = _load_report(dataset_dir, result)
    vocabulary = Vocabulary(report.classes) if report and report.classes else None
    if not (dataset_dir / CARD_FILE).is_file():
        result.warnings.append(f"no {CARD_FILE} dataset card")
    expected_columns = set(arrow_schema().names)
    seen_ids: set[str] = set()
    images = _Images()
    for split, paths in shard_paths(dataset_dir).items():
        result.rows[split] = 0
        for path in paths:
            parquet = pq.ParquetFile(path)
            missing = expected_columns - set(parquet.schema_arrow.names)
            if missing:
                result.problems.append(Problem(split, path.name, None, None,
                                               f"missing columns {sorted(missing)}"))
                continue
            rows = _iter_shard(parquet)
            for index, row in enumerate(progress(rows, parquet.metadata.num_rows, split)):
                result.rows[split] += 1
                result.tasks[row.get("task")] = result.tasks.get(row.get("task"), 0) + 1
                reason = _check_row(row, vocabulary, seen_ids, deep)
                if reason:
                    result.problems.append(Problem(split, path.name, index, row.get("id"), reason))
                images.add(split, row)
        if report and split in report.splits and report.splits[split].rows != result.rows[split]:
            result.problems.append(Problem(
                split, REPORT_FILE, None, None,
                f"report says {report.splits[split].rows} rows, shards hold {result.rows[split]}",
            ))
    images.report(result, strict)
    return result


class _Images:
    """Hashes each image once per split to find the same bytes in two splits."""

    def __init__(self) -> None:
        self.seen: set[tuple[str, str]] = set()
        self.leaks = LeakFinder()

    def add(self, split: str, row: dict[str, Any]) -> None:
        image = row.get("image") or {}
        key = (split, str(row.get("image_id")))
        if key in self.seen or not image.get("bytes"):
            return
        self.seen.add(key)
        name = image.get("path") or key[1]
        self.leaks.add(split, name, image_digest(image["bytes"]))

    def report(self, result: ValidationResult, strict: bool) -> None:
        for leak in self.leaks.leaks():
            reason = (f"image {leak.hash[:12]} is in {' and '.join(leak.splits)} "
                      f"({', '.join(leak.files)}): leakage")
            if strict:
                result.problems.append(Problem(leak.splits[-1], "leakage", None, None, reason))
            else:
                result.warnings.append(f"{reason} (an error with --strict)")


def _load_report(dataset_dir: Path, result: ValidationResult) -> ConversionReport | None:
    if not (dataset_dir / REPORT_FILE).is_file():
        result.warnings.append(f"no {REPORT_FILE}: class vocabulary and row counts not checked")
        return None
    try:
        return ConversionReport.model_validate(read_report(dataset_dir))
    except (ValidationError, ValueError) as exc:
        result.problems.append(Problem("-", REPORT_FILE, None, None, _one_line(exc)))
        return None


def _iter_shard(parquet: pq.ParquetFile) -> Iterable[dict[str, Any]]:
    """One row group in memory at a time (iter_batches reads ahead, doubling peak memory)."""
    for group in range(parquet.num_row_groups):
        yield from parquet.read_row_group(group).to_pylist()


def _check_row(
    row: dict[str, Any], vocabulary: Vocabulary | None, seen_ids: set[str], deep: bool
) -> str | None:
    try:
        Row.model_validate(row)
    except ValidationError as exc:
        return _one_line(exc)
    if row["id"] in seen_ids:
        return "duplicate id"
    seen_ids.add(row["id"])
    task = find_task(row["task"])
    if task is not None and task.check is not None:
        reason = task.check(row, vocabulary)
        if reason:
            return reason
    return check_image(row["image"]["bytes"], row["width"], row["height"], deep)


def check_image(data: bytes, width: int, height: int, deep: bool = False) -> str | None:
    """Integrity and size from the header; `deep` decodes every pixel."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            if deep:
                image.load()
            else:
                image.verify()  # must come first: it cannot follow any other read
        with Image.open(io.BytesIO(data)) as image:
            size = oriented_size(image)
            if size != (width, height):
                return f"image is {size[0]}x{size[1]} upright, row says {width}x{height}"
            return truncation(data, image.format)
    except Exception as exc:  # Pillow raises many types for broken files
        return f"image does not decode ({exc.__class__.__name__}: {exc})"
    return None


def _one_line(exc: ValidationError | ValueError) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        return f"{where}: {first['msg']}{more}" if where else f"{first['msg']}{more}"
    return str(exc).splitlines()[0]
