"""DocVQA-style tables (image, question, reference answers) from the Hub or from local files.

A Hub id is streamed by `datasets.load_dataset(..., streaming=True)`, with image decoding
switched off so the encoded bytes pass through untouched. Local Parquet, JSON Lines and CSV
are streamed here directly (pyarrow batches, one line at a time), never through
`load_dataset`: that call looks the builder up on the Hub and reports a download, so a local
conversion would reach the network, and its JSON and CSV errors name neither line nor file.
Either way a 12k-image split never sits in memory.

A local source is untrusted like any dataset folder: its root is the folder given (or the
given file's folder); the data files and every image path they name resolve inside it unless
`allow_outside_root`, and every file is opened through `dsconv.storage.files` (regular files only,
bounded).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow.parquet as pq

from dsconv.converters.base import (
    DetectionSample,
    DocumentSample,
    Key,
    Ledger,
    Vocabulary,
    canonical_split,
)
from dsconv.converters.paths import check_inside, resolve_inside
from dsconv.converters.tables import (
    LoadSpec,
    LocalTable,
    first_line,
    image_cell,
    open_spec,
    open_table,
    reason,
    records,
    resolve_source,
    table_rows,
)
from dsconv.errors import DsconvError, InputError
from dsconv.schemas.report import Drop, SplitReport
from dsconv.storage.files import (
    MAX_IMAGE_BYTES,
    UnsafeFileError,
    excerpt,
    read_bytes,
)
from dsconv.storage.images import check_image, image_size
from dsconv.storage.layout import split_sort_key
from dsconv.storage.leaks import image_digest

if TYPE_CHECKING:
    from datasets import IterableDataset

DEFAULT_ID_COL = "questionId"
DEFAULT_DOC_ID_COL = "docId"
SHOWN_COLUMNS = 30  # column names an error lists at most


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
    allow_outside_root: bool = False  # data files and image paths may leave the source folder
    max_image_bytes: int = MAX_IMAGE_BYTES  # an image file larger than this is dropped


@dataclass
class _Part:
    """One source split of one file or Hub load: the rows to stream and how to read them."""

    stream: Callable[[], Iterator[dict[str, Any]]]
    label: str
    locate: Callable[[str], str] | None  # image path in a cell → file to read; None: Hub
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
        with self.found_at(key):
            self.drop_question(sample.split, _shown(sample.file_name or sample.image_id), reason,
                               f"question {sample.question_id}", detail)

    def kept(self, sample: DetectionSample | DocumentSample, rows: int) -> None:
        report = self.split(sample.split)
        report.rows += rows
        if sample.image_id not in self._images[sample.split]:
            self._images[sample.split].add(sample.image_id)
            report.images += 1

    def split_reports(self, classes: list[str], *, settled: bool = False
                      ) -> dict[str, SplitReport]:
        reports = super().split_reports(classes, settled=settled)
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
        for source in resolve_source(src, options.allow_outside_root):
            for source_split, prepare in _source_splits(source, options.columns):
                split = canonical_split(source_split)
                found.add(split)
                if not wanted or split in wanted:
                    self._parts.setdefault(split, []).append(prepare())
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
            for index, record in records(part.stream(), part.label):
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
        where = f"row {index}" + (f" ({part.id_col} {_shown(source_id)})"
                                  if source_id is not None else "")

        def drop(reason: str, detail: str | None = None) -> None:
            """The question is dropped (read returns None after it)."""
            self.ledger.drop_question(split, part.label, reason, where, detail)

        try:
            data, path = image_cell(record.get(columns.image))
        except ValueError as exc:
            drop("unreadable_image", str(exc))
            return None
        if data is None:
            assert path is not None
            data, reason, detail = self._read_image(part, path)
            if data is None:
                drop(reason, detail)
                return None
        try:
            width, height = image_size(data)
        except ValueError as exc:
            drop("unreadable_image", str(exc))
            return None
        problem = check_image(data, width, height)
        if problem:
            drop("unreadable_image", problem)
            return None
        doc_id = _doc_id(record.get(part.doc_id_col)) if part.doc_id_col else None
        image_id = doc_id or image_digest(data)[:16]
        position = per_image[image_id]
        per_image[image_id] += 1
        question = record.get(columns.question)
        if not isinstance(question, str) or not question.strip():
            drop("empty_question")
            return None
        answers = _answers(record.get(columns.answers), part.text_lists)
        if not answers:
            drop("no_answers")
            return None
        k = _question_key(source_id)
        k = position if k is None else k
        if (image_id, k) in used:
            drop("duplicate_id", f"row id {split}/{_shown(image_id)}/docvqa/{k} is already taken")
            return None
        used.add((image_id, k))
        return DocumentSample(
            split=split, image_id=image_id, question_id=str(k), file_name=path,
            image_bytes=data, width=width, height=height, question=question, answers=answers,
        )

    def _read_image(self, part: _Part, name: str) -> tuple[bytes | None, str, str]:
        """An image a cell names by path: its bytes, or None with the drop reason and detail.
        Only a file inside the source folder is read (unless allowed), and only a regular
        file within the size bound: a FIFO or a device is unreadable, never a hang."""
        shown = _shown(name)
        if part.locate is None:  # a Hub row naming a file on this machine
            if not os.path.isabs(name):
                return None, "missing_image", f"{shown}: relative path with no folder to " \
                    "resolve it in"
            if not self.options.allow_outside_root:
                return None, "unsafe_path", f"{shown}: a Hub dataset naming a local file " \
                    "(use --allow-outside-root)"
            file = name
        else:
            try:
                file = part.locate(name)
            except ValueError:
                return None, "unsafe_path", (
                    f"{shown} is empty or has control characters" if _bad_name(name) else
                    f"{shown} leaves the source folder (absolute, .. or a symlink out; use "
                    "--allow-outside-root)")
        try:
            return read_bytes(file, self.options.max_image_bytes), "", ""
        except FileNotFoundError:
            return None, "missing_image", f"{shown} does not exist"
        except (OSError, UnsafeFileError) as exc:
            return None, "unreadable_image", f"{shown}: {reason(exc, file)}"


def _source_splits(source: LoadSpec | LocalTable,
                   columns: Columns) -> list[tuple[str, Callable[[], _Part]]]:
    """A source's splits, each with how to prepare it (done only for the splits read)."""
    if isinstance(source, LocalTable):
        return [(source.split, lambda: _prepare_local(source, columns))]
    return [(name, partial(_prepare, source, name, dataset, columns))
            for name, dataset in open_spec(source).items()]


def _prepare(spec: LoadSpec, source_split: str, dataset: IterableDataset,
             columns: Columns) -> _Part:
    """A Hub split: check the columns, switch image decoding off and keep only the columns
    we read."""
    from datasets import Image

    names = dataset.column_names
    if names is None:  # some JSON: columns are known once a row is read
        first = next(iter(dataset), None)
        names = list(first) if first is not None else None
    id_col, doc_id_col, needed = _columns(spec.label, source_split, columns, names)
    if dataset.features is not None:
        dataset = dataset.select_columns(needed)
        if isinstance(dataset.features.get(columns.image), Image):
            dataset = dataset.cast_column(columns.image, Image(decode=False))
    splits = dataset.info.splits
    rows = (splits[source_split].num_examples
            if splits and source_split in splits and splits[source_split].num_examples
            else None)
    return _Part(stream=dataset.__iter__, label=spec.label, locate=None, id_col=id_col,
                 doc_id_col=doc_id_col, text_lists=False, rows=rows)


def _prepare_local(table: LocalTable, columns: Columns) -> _Part:
    """A local file: its column names and (Parquet) row count, read now so that a missing
    column is an error before anything is written; its rows are streamed later."""
    label = str(table.file)
    rows: int | None = None
    if table.suffix == ".parquet":
        with open_table(table.file) as handle:
            try:
                metadata = pq.ParquetFile(handle)
                names: list[str] | None = metadata.schema_arrow.names
                rows = metadata.metadata.num_rows
            except Exception as exc:  # pyarrow: ArrowInvalid, OSError and more on bad files
                raise InputError(label, f"not a readable Parquet file ({first_line(exc)})") \
                    from exc
    else:
        rows_of = table_rows(table)
        try:
            first = next(rows_of, None)
        finally:
            rows_of.close()
        names = list(first) if first is not None else None
    id_col, doc_id_col, needed = _columns(label, table.split, columns, names)
    base = table.file.parent
    if table.allow_outside:
        def locate(name: str) -> str:
            return resolve_inside(base, name, allow_outside=True)
    elif base == table.root:
        def locate(name: str) -> str:
            return resolve_inside(base, name)
    else:  # a file in a subfolder names images relative to itself, kept inside the root
        def locate(name: str) -> str:
            return os.fspath(check_inside(table.root, base / name))
    return _Part(stream=lambda: table_rows(table, needed if names is not None else None),
                 label=label, locate=locate, id_col=id_col, doc_id_col=doc_id_col,
                 text_lists=table.suffix == ".csv", rows=rows)


def _columns(label: str, source_split: str, columns: Columns,
             names: list[str] | None) -> tuple[str | None, str | None, list[str]]:
    """The id columns to use and every column read; a missing one is an error naming the
    columns the source has."""
    id_col = _optional_column(columns.id, DEFAULT_ID_COL, names)
    doc_id_col = _optional_column(columns.doc_id, DEFAULT_DOC_ID_COL, names)
    needed = list(dict.fromkeys([columns.image, columns.question, columns.answers,
                                 *(c for c in (id_col, doc_id_col) if c)]))
    if names is not None:
        missing = [c for c in needed if c not in names]
        if missing:
            has = ", ".join(_shown(n) for n in names[:SHOWN_COLUMNS])
            more = f" and {len(names) - SHOWN_COLUMNS} more" if len(names) > SHOWN_COLUMNS else ""
            raise InputError(
                label, f"missing column{'s' if len(missing) > 1 else ''} "
                f"{', '.join(missing)} (split {source_split!r} has {has}{more}); "
                "map columns with --image-col, --question-col, --answers-col, --id-col, "
                "--doc-id-col",
            )
    return id_col, doc_id_col, needed


def _optional_column(given: str | None, default: str, names: list[str] | None) -> str | None:
    """A column the user named must exist; the DocVQA default is used only when present."""
    if given is not None:
        return given
    return default if names is not None and default in names else None


def _bad_name(name: str) -> bool:
    return not name or any(ord(c) < 32 or ord(c) == 127 for c in name)


def _answers(value: Any, text_lists: bool) -> list[str]:
    """Reference answers as non-empty strings: a list, one string, or (CSV) a JSON list."""
    if value is None:
        return []
    if isinstance(value, str) and text_lists and value.startswith("[") and value.endswith("]"):
        with contextlib.suppress(json.JSONDecodeError, RecursionError):
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


def _shown(value: Any) -> str:
    """A source cell as a report or error shows it: a short printable one as it is, any
    other through `excerpt` (quoted, escaped, cut)."""
    text = str(value)
    return text if len(text) <= 100 and text.isprintable() else excerpt(text)


