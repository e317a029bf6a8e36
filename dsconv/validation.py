"""Check a dataset against the row contract: every row, every image, every count.

The same checks run on what dsconv writes and on any dataset a user hands us.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from itertools import repeat
from pathlib import Path
from typing import Any, TypeVar

import pyarrow.parquet as pq
from pydantic import ValidationError

from dsconv.errors import DsconvError
from dsconv.progress import Progress, no_progress
from dsconv.schemas.report import ConversionReport
from dsconv.schemas.row import Row
from dsconv.schemas.samples import Vocabulary
from dsconv.storage.dataset import (
    REPORT_FILE,
    SHARD_READ_ERRORS,
    ShardError,
    one_line_error,
    open_shard,
    read_report,
    shard_paths,
)
from dsconv.storage.images import ImageJob, check_images, reuse_image_memory
from dsconv.storage.layout import CARD_FILE, arrow_schema
from dsconv.storage.leaks import LeakFinder, image_digest
from dsconv.storage.parallel import Workers
from dsconv.tasks.base import find_task

T = TypeVar("T")
ROWS_PER_JOB = 16  # image checks one worker job runs


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
    workers: int = 1,
    progress: Progress = no_progress,
) -> ValidationResult:
    """Every problem found; `strict` turns leakage (an image in two splits) from a warning
    into a problem. With `deep`, `workers` processes decode the images; problems are listed
    in row order whatever their number."""
    result = ValidationResult()
    _check_is_dataset(dataset_dir)
    report = _load_report(dataset_dir, result)
    if not (dataset_dir / CARD_FILE).is_file():
        result.warnings.append(f"no {CARD_FILE} dataset card")
    images = _Images()
    with Workers(workers if deep else 1, reuse_image_memory) as pool:
        checks = _checks(dataset_dir, report, result, images, progress)
        for problems, found in pool.in_order(_batched(checks, pool, deep)):
            for problem, image_problem in zip(problems, found or repeat(None), strict=False):
                if image_problem:
                    result.problems.append(replace(problem, reason=image_problem))
                elif problem.reason:
                    result.problems.append(problem)
    images.report(result, strict)
    return result


def _checks(
    dataset_dir: Path, report: ConversionReport | None, result: ValidationResult,
    images: _Images, progress: Callable[[Iterable[Any], int | None, str], Iterable[Any]],
) -> Iterator[tuple[Problem, ImageJob | None]]:
    """Each row's problem, or the image check still to run (with a problem without a reason
    yet), and the shard and split problems, in reading order."""
    vocabulary = Vocabulary(report.classes) if report and report.classes else None
    expected_columns = set(arrow_schema().names)
    seen_ids: set[str] = set()
    objects = 0
    for split, paths in shard_paths(dataset_dir).items():
        result.rows[split] = 0
        for path in paths:
            try:
                parquet = open_shard(path)
            except ShardError as exc:
                yield Problem(split, path.name, None, None, exc.reason), None
                continue
            missing = expected_columns - set(parquet.schema_arrow.names)
            if missing:
                yield Problem(split, path.name, None, None,
                              f"missing columns {sorted(missing)}"), None
                continue
            rows = _iter_shard(parquet)
            for index, row in enumerate(progress(rows, parquet.metadata.num_rows, split)):
                if isinstance(row, str):  # a damaged row group
                    yield Problem(split, path.name, index, None, row), None
                    break
                result.rows[split] += 1
                result.tasks[row.get("task")] = result.tasks.get(row.get("task"), 0) + 1
                reason = _check_fields(row, vocabulary, seen_ids)
                problem = Problem(split, path.name, index, row.get("id"), reason or "")
                images.add(split, row)
                objects += len((row.get("objects") or {}).get("category") or ())
                image = None if reason else (row["image"]["bytes"], row["width"], row["height"])
                yield problem, image
        if report and split in report.splits and report.splits[split].rows != result.rows[split]:
            yield Problem(
                split, REPORT_FILE, None, None,
                f"report says {report.splits[split].rows} rows, shards hold {result.rows[split]}",
            ), None
    if report is not None and _detection(report) and any(result.rows.values()):
        if not report.classes:
            yield Problem("-", REPORT_FILE, None, None,
                          "no classes: a detection dataset's questions need its classes"), None
        if not objects:
            yield Problem("-", "rows", None, None,
                          "no row has an object: every count answer is empty"), None


def _detection(report: ConversionReport) -> bool:
    """A detection dataset's report (a document one counts questions per split)."""
    return all(split.questions is None for split in report.splits.values())


KEY_COLUMNS = ("id", "task", "question", "answer")


def _check_is_dataset(dataset_dir: Path) -> None:
    """A one-line error for a folder of Parquet that is no VQA dataset at all (a raw source,
    someone else's table): no readable shard holds the row contract's key columns. A damaged
    shard is left to be reported as a problem."""
    first_missing: tuple[Path, str] | None = None
    for paths in shard_paths(dataset_dir).values():
        for path in paths:
            try:
                names = set(open_shard(path).schema_arrow.names)
            except ShardError:
                continue
            missing = [c for c in KEY_COLUMNS if c not in names]
            if not missing:
                return
            first_missing = first_missing or (path, missing[0])
    if first_missing is not None:
        path, column = first_missing
        raise DsconvError(f"{dataset_dir}: not a dsconv dataset (no shard has the row "
                          f"contract's columns; {path.name} has no {column!r})")


def _batched(
    checks: Iterable[tuple[Problem, ImageJob | None]], pool: Workers, deep: bool
) -> Iterator[tuple[list[Problem], Future[list[str | None]] | None]]:
    """Checks grouped so that one job decodes several images: handing a job to a worker
    process costs about as much as decoding one small JPEG."""
    problems: list[Problem] = []
    jobs: list[ImageJob | None] = []
    for problem, job in checks:
        problems.append(problem)
        jobs.append(job)
        if len(jobs) == ROWS_PER_JOB:
            yield problems, pool.submit(check_images, jobs, deep) if any(jobs) else None
            problems, jobs = [], []
    if problems:
        yield problems, pool.submit(check_images, jobs, deep) if any(jobs) else None


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
    if not (dataset_dir / REPORT_FILE).exists():
        result.warnings.append(f"no {REPORT_FILE}: class vocabulary and row counts not checked")
        return None
    try:
        return ConversionReport.model_validate(read_report(dataset_dir))
    except (ValidationError, ValueError) as exc:
        result.problems.append(Problem("-", REPORT_FILE, None, None, _one_line(exc)))
    except DsconvError as exc:  # unreadable, not JSON, nested too deeply
        reason = str(exc).removeprefix(f"{dataset_dir / REPORT_FILE}: ")
        result.problems.append(Problem("-", REPORT_FILE, None, None, reason))
    return None


def _iter_shard(parquet: pq.ParquetFile) -> Iterable[dict[str, Any] | str]:
    """One row group in memory at a time (iter_batches reads ahead, doubling peak memory);
    a damaged group ends the shard with the reason, a string."""
    for group in range(parquet.num_row_groups):
        try:
            rows = parquet.read_row_group(group).to_pylist()
        except SHARD_READ_ERRORS as exc:
            yield f"row group {group} cannot be read ({one_line_error(exc)})"
            return
        yield from rows


def _check_fields(
    row: dict[str, Any], vocabulary: Vocabulary | None, seen_ids: set[str]
) -> str | None:
    """Everything but the image: the row contract, a unique id, the task's own check."""
    try:
        Row.model_validate(row)
    except ValidationError as exc:
        return _one_line(exc)
    if row["id"] in seen_ids:
        return "duplicate id"
    seen_ids.add(row["id"])
    task = find_task(row["task"])
    if task is not None and task.check is not None:
        return task.check(row, vocabulary)
    return None


def _one_line(exc: ValidationError | ValueError) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        return f"{where}: {first['msg']}{more}" if where else f"{first['msg']}{more}"
    return str(exc).splitlines()[0]


def validate(
    path: str | Path, *, deep: bool = False, strict: bool = False, workers: int = 1,
    progress: Progress | None = None,
) -> ValidationResult:
    """Check every row of a dsconv dataset: its schema, its answer against its objects (each
    task's own check), and its image; `deep` decodes every image (on `workers` processes),
    `strict` makes leakage between splits a problem. Nothing is raised for bad rows: they are
    `result.problems`, and `result.ok` is False.

    Example:
        >>> import dsconv
        >>> result = dsconv.validate("out/coins-vqa")
        >>> result.ok, sum(result.rows.values())
        (True, 48)
    """
    return validate_dataset(Path(path), deep=deep, strict=strict, workers=workers,
                            progress=progress or no_progress)
