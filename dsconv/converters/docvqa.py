"""DocVQA-style tables (image, question, reference answers) from the Hub or from local files.

A Hub id and a local Parquet / JSON Lines / CSV source go through the same call,
`datasets.load_dataset(..., streaming=True)`, so a 12k-image split never sits in memory;
image decoding is switched off so the encoded bytes pass through untouched.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pyarrow.parquet as pq
from datasets import Image, IterableDataset, load_dataset

from dsconv.converters.base import (
    SPLIT_ALIASES,
    DetectionSample,
    DocumentSample,
    Key,
    Ledger,
    Vocabulary,
    canonical_split,
)
from dsconv.errors import DsconvError, InputError
from dsconv.schemas.report import Drop, SplitReport
from dsconv.storage.images import check_image, image_size
from dsconv.storage.layout import split_sort_key
from dsconv.storage.leaks import image_digest

BUILDERS = {".parquet": "parquet", ".jsonl": "json", ".csv": "csv", ".json": "json"}
DEFAULT_ID_COL = "questionId"
DEFAULT_DOC_ID_COL = "docId"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_SHARD = re.compile(r"^(?P<split>[A-Za-z0-9_]+)-\d{5}-of-\d{5}$")


@dataclass(frozen=True)
class Columns:
    """Source column names; `id`/`doc_id` None means "the DocVQA name if the source has it"."""

    image: str = "image"
    question: str = "question"
    answers: str = "answers"
    id: str | None = None
    doc_id: str | None = None


@dataclass(frozen=True)
class DocReaderOptions:
    columns: Columns = field(default_factory=Columns)
    splits: tuple[str, ...] = ()  # canonical split names to read; empty reads all
    limit: int | None = None  # questions read per split at most (a quick look at a Hub set)


@dataclass(frozen=True)
class LoadSpec:
    """One `load_dataset` call: a Hub id alone, or a builder with its local data files."""

    path: str
    label: str  # what errors and drops name: the Hub id or the file
    data_files: dict[str, list[str]] | None = None
    base: Path | None = None  # where relative image paths are resolved; None on the Hub
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Part:
    """One source split of one load: the rows to stream and how to read them."""

    dataset: IterableDataset
    label: str
    base: Path | None
    id_col: str | None
    doc_id_col: str | None
    text_lists: bool  # CSV cells cannot hold lists: read `["a", "b"]` answers as JSON
    rows: int | None


class DocumentLedger(Ledger):
    """The ledger for documents: a source row is one question about one image, so it counts
    questions read and dropped, and distinct images kept."""

    def __init__(self) -> None:
        super().__init__()
        self._images: dict[str, set[str]] = defaultdict(set)

    def read_question(self, split: str) -> None:
        report = self.split(split)
        report.questions = (report.questions or 0) + 1
        report.questions_dropped = report.questions_dropped or {}

    def drop_question(
        self, split: str, file: str, reason: str, annotation: str | None = None,
        detail: str | None = None,
    ) -> None:
        dropped = self.split(split).questions_dropped
        assert dropped is not None, "read_question comes first"
        dropped[reason] = dropped.get(reason, 0) + 1
        self.record_drop(Drop(split=split, file=file, reason=reason,
                              annotation=annotation, detail=detail))

    def drop_sample(self, sample: DetectionSample | DocumentSample, reason: str, detail: str,
                    key: Key) -> None:
        """A question whose image fails to decode when resized is dropped like one whose
        image failed to read."""
        if not isinstance(sample, DocumentSample):
            return super().drop_sample(sample, reason, detail, key)
        cursor, self.cursor = self.cursor, key
        try:
            self.drop_question(sample.split, sample.file_name or sample.image_id, reason,
                               f"question {sample.question_id}", detail)
        finally:
            self.cursor = cursor

    def kept(self, sample: DetectionSample | DocumentSample, rows: int) -> None:
        report = self.split(sample.split)
        report.rows += rows
        if sample.image_id not in self._images[sample.split]:
            self._images[sample.split].add(sample.image_id)
            report.images += 1

    def split_reports(self, classes: list[str]) -> dict[str, SplitReport]:
        reports = super().split_reports(classes)
        for report in reports.values():
            if report.questions_dropped is not None:
                report.questions_dropped = dict(sorted(report.questions_dropped.items()))
        return reports


class DocVQAReader:
    name: ClassVar[str] = "docvqa"
    description: ClassVar[str] = (
        "DocVQA-style tables (image, question, answers): a Hub dataset id, or local Parquet, "
        "JSON Lines or CSV with image bytes or paths"
    )

    def __init__(self, src: str, ledger: DocumentLedger, options: DocReaderOptions) -> None:
        self.src = src
        self.ledger = ledger
        self.options = options
        self._parts: dict[str, list[_Part]] = {}
        wanted = {canonical_split(s) for s in options.splits}
        found: set[str] = set()
        for spec in resolve_source(src, options.columns):
            for source_split, dataset in open_spec(spec).items():
                split = canonical_split(source_split)
                found.add(split)
                if not wanted or split in wanted:
                    part = _prepare(spec, source_split, dataset, options.columns)
                    self._parts.setdefault(split, []).append(part)
        if wanted - found:
            raise DsconvError(f"{src}: no split {', '.join(sorted(wanted - found))} "
                              f"(has {', '.join(sorted(found, key=split_sort_key))})")
        if not self._parts:
            raise InputError(src, "no data files found")

    def vocabulary(self) -> Vocabulary:
        return Vocabulary([])

    def splits(self) -> list[str]:
        return sorted(self._parts, key=split_sort_key)

    def count(self, split: str) -> int | None:
        counts = [part.rows for part in self._parts[split]]
        if any(n is None for n in counts):
            return self.options.limit
        total = sum(n for n in counts if n is not None)
        return total if self.options.limit is None else min(total, self.options.limit)

    def samples(self, split: str) -> Iterator[DocumentSample]:
        """Samples in source order; rows that cannot become one go to the ledger."""
        used: set[tuple[str, int]] = set()
        per_image: Counter[str] = Counter()
        read = 0
        for part in self._parts[split]:
            for index, record in _records(part):
                if self.options.limit is not None and read >= self.options.limit:
                    return
                read += 1
                self.ledger.read_question(split)
                sample = self._sample(split, part, index, record, used, per_image)
                if sample is not None:
                    yield sample

    def _sample(
        self, split: str, part: _Part, index: int, record: dict[str, Any],
        used: set[tuple[str, int]], per_image: Counter[str],
    ) -> DocumentSample | None:
        columns = self.options.columns
        source_id = record.get(part.id_col) if part.id_col else None
        where = f"row {index}" + (f" ({part.id_col} {source_id})" if source_id is not None else "")

        def drop(reason: str, detail: str | None = None) -> None:
            self.ledger.drop_question(split, part.label, reason, where, detail)

        try:
            data, path = _image_cell(record.get(columns.image), part.base)
            width, height = image_size(data)
        except FileNotFoundError as exc:
            return drop("missing_image", str(exc))
        except ValueError as exc:
            return drop("unreadable_image", str(exc))
        problem = check_image(data, width, height)
        if problem:
            return drop("unreadable_image", problem)
        doc_id = _doc_id(record.get(part.doc_id_col)) if part.doc_id_col else None
        image_id = doc_id or image_digest(data)[:16]
        position = per_image[image_id]
        per_image[image_id] += 1
        question = record.get(columns.question)
        if not isinstance(question, str) or not question.strip():
            return drop("empty_question")
        answers = _answers(record.get(columns.answers), part.text_lists)
        if not answers:
            return drop("no_answers")
        k = _question_key(source_id)
        k = position if k is None else k
        if (image_id, k) in used:
            return drop("duplicate_id", f"row id {split}/{image_id}/docvqa/{k} is already taken")
        used.add((image_id, k))
        return DocumentSample(
            split=split, image_id=image_id, question_id=str(k), file_name=path,
            image_bytes=data, width=width, height=height, question=question, answers=answers,
        )


def resolve_source(src: str, columns: Columns) -> list[LoadSpec]:
    """Local file or folder if it exists, else a Hub dataset id."""
    path = Path(src)
    if path.is_file():
        return [_file_spec(path, _split_of(path, path.parent), columns)]
    if path.is_dir():
        return _folder_specs(path, columns)
    if _HUB_ID.match(src):
        return [hub_spec(src)]
    raise InputError(src, "no such file or folder, and not a Hub dataset id (owner/name)")


def hub_spec(repo_id: str) -> LoadSpec:
    """A Hub dataset in its default layout; `datasets` finds its files and splits."""
    return LoadSpec(path=repo_id, label=repo_id)


def open_spec(spec: LoadSpec) -> dict[str, IterableDataset]:
    """Stream a source's splits: the one reading path for the Hub and for local files."""
    try:
        loaded = load_dataset(spec.path, data_files=spec.data_files, streaming=True,
                              **spec.kwargs)
    except Exception as exc:  # datasets raises many types (not found, offline, bad file)
        raise InputError(spec.label, f"cannot open ({_first_line(exc)})") from exc
    return dict(loaded)


def _file_spec(file: Path, split: str, columns: Columns) -> LoadSpec:
    """One builder call per table file, so drops and errors name the file and the row."""
    suffix = file.suffix.lower()
    if suffix not in BUILDERS:
        raise InputError(file, f"not a table file (use {', '.join(BUILDERS)})")
    kwargs: dict[str, Any] = {}
    if suffix == ".csv":  # keep "NA", "None" and "007" as written: they are answers and ids
        named = [columns.image, columns.question, columns.answers,
                 columns.id or DEFAULT_ID_COL, columns.doc_id or DEFAULT_DOC_ID_COL]
        kwargs = {"na_filter": False, "converters": dict.fromkeys(named, str)}
    return LoadSpec(path=BUILDERS[suffix], label=str(file), data_files={split: [str(file)]},
                    base=file.parent, kwargs=kwargs)


def _folder_specs(folder: Path, columns: Columns) -> list[LoadSpec]:
    """Every table file below the folder, of one format; `.json` files beside Parquet, JSON
    Lines or CSV are manifests (dataset_infos.json and the like), not tables."""
    files = [p for p in sorted(folder.rglob("*"))
             if p.suffix.lower() in BUILDERS and p.is_file()
             and not any(part.startswith(".") for part in p.relative_to(folder).parts)]
    suffixes = {p.suffix.lower() for p in files}
    if len(suffixes) > 1 and ".json" in suffixes:
        files = [p for p in files if p.suffix.lower() != ".json"]  # manifests beside tables
        suffixes.discard(".json")
    if not files:
        raise InputError(folder, f"no {', '.join(BUILDERS)} files in the folder")
    if len(suffixes) > 1:
        raise InputError(folder, f"holds {', '.join(sorted(suffixes))} files; point SRC at one "
                         "file or a folder of one format")
    return [_file_spec(file, _split_of(file, folder), columns) for file in files]


def _split_of(file: Path, root: Path) -> str:
    """The split a data file holds, from the `{split}-NNNNN-of-NNNNN` shard name, a split word
    in its name, or a folder's name below `root`; `train` when nothing says."""
    shard = _SHARD.match(file.stem)
    if shard:
        return canonical_split(shard["split"])
    for name in [file.stem, *reversed(file.parent.relative_to(root).parts)]:
        for word in re.split(r"[-._ 0-9]+", name.lower()):
            if word in SPLIT_ALIASES:
                return canonical_split(word)
    return "train"


def _prepare(spec: LoadSpec, source_split: str, dataset: IterableDataset,
             columns: Columns) -> _Part:
    """Check the columns, switch image decoding off and keep only the columns we read."""
    names = dataset.column_names
    if names is None:  # CSV and some JSON: columns are known once a row is read
        first = next(iter(dataset), None)
        names = list(first) if first is not None else None
    id_col = _optional_column(columns.id, DEFAULT_ID_COL, names)
    doc_id_col = _optional_column(columns.doc_id, DEFAULT_DOC_ID_COL, names)
    needed = [columns.image, columns.question, columns.answers,
              *(c for c in (id_col, doc_id_col) if c)]
    if names is not None:
        missing = [c for c in dict.fromkeys(needed) if c not in names]
        if missing:
            raise InputError(
                spec.label, f"missing column{'s' if len(missing) > 1 else ''} "
                f"{', '.join(missing)} (split {source_split!r} has {', '.join(names)}); "
                "map columns with --image-col, --question-col, --answers-col, --id-col, "
                "--doc-id-col",
            )
    if dataset.features is not None:
        dataset = dataset.select_columns(list(dict.fromkeys(needed)))
        if isinstance(dataset.features.get(columns.image), Image):
            dataset = dataset.cast_column(columns.image, Image(decode=False))
    return _Part(dataset=dataset, label=spec.label, base=spec.base, id_col=id_col,
                 doc_id_col=doc_id_col, text_lists=spec.path == "csv",
                 rows=_known_rows(spec, source_split, dataset))


def _optional_column(given: str | None, default: str, names: list[str] | None) -> str | None:
    """A column the user named must exist; the DocVQA default is used only when present."""
    if given is not None:
        return given
    return default if names is not None and default in names else None


def _known_rows(spec: LoadSpec, source_split: str, dataset: IterableDataset) -> int | None:
    """Rows in a source split when the metadata says so (for progress bars), else None."""
    if spec.path == "parquet" and spec.data_files:
        return sum(pq.ParquetFile(f).metadata.num_rows for f in spec.data_files[source_split])
    splits = dataset.info.splits
    if splits and source_split in splits and splits[source_split].num_examples:
        return splits[source_split].num_examples
    return None


def _records(part: _Part) -> Iterator[tuple[int, dict[str, Any]]]:
    """Rows with their index; a source that breaks mid-stream is an error naming the row."""
    rows = iter(part.dataset)
    index = 0
    while True:
        try:
            record = next(rows)
        except StopIteration:
            return
        except Exception as exc:  # a corrupt shard or a dropped connection
            raise InputError(part.label, f"cannot read ({_first_line(exc)})", f"row {index}") \
                from exc
        yield index, record
        index += 1


def _image_cell(value: Any, base: Path | None) -> tuple[bytes, str | None]:
    """Encoded bytes and the source name from an `Image` struct, raw bytes or a path."""
    if isinstance(value, dict):
        data, path = value.get("bytes"), value.get("path")
        if data:
            return bytes(data), path
        value = path
    if isinstance(value, bytes | bytearray):
        return bytes(value), None
    if isinstance(value, str) and value:
        file = Path(value)
        if not file.is_absolute():
            if base is None:
                raise FileNotFoundError(f"{value}: relative path with no folder to resolve it in")
            file = base / file
        if not file.is_file():
            raise FileNotFoundError(f"{file} does not exist")
        return file.read_bytes(), value
    raise ValueError("no image in the row")


def _answers(value: Any, text_lists: bool) -> list[str]:
    """Reference answers as non-empty strings: a list, one string, or (CSV) a JSON list."""
    if value is None:
        return []
    if isinstance(value, str) and text_lists and value.startswith("[") and value.endswith("]"):
        with contextlib.suppress(json.JSONDecodeError):
            value = json.loads(value)
    values = value if isinstance(value, list | tuple) else [value]
    answers = [a if isinstance(a, str) else str(a) for a in values if a is not None]
    return [a for a in answers if a.strip()]


def _doc_id(value: Any) -> str | None:
    """A document id usable inside a row id (no slashes), or None when absent."""
    if value is None:
        return None
    text = str(value).strip().replace("/", "_")
    return text or None


def _question_key(value: Any) -> int | None:
    """The source's question id as the row id's k, when it is a non-negative integer."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{exc.__class__.__name__}: {text[0]}" if text else exc.__class__.__name__
