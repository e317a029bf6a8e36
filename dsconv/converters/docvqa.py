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
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from dsconv.converters.base import (
    DetectionSample,
    DocumentSample,
    Key,
    Ledger,
    Vocabulary,
    canonical_split,
)
from dsconv.converters.docvqa_sources import Columns, Part, shown_cell, source_splits
from dsconv.converters.tables import (
    image_cell,
    reason,
    records,
    resolve_source,
)
from dsconv.errors import DsconvError, InputError
from dsconv.schemas.report import Drop, SplitReport
from dsconv.storage.files import (
    MAX_IMAGE_BYTES,
    UnsafeFileError,
    read_bytes,
)
from dsconv.storage.images import check_image, image_size
from dsconv.storage.layout import split_sort_key
from dsconv.storage.leaks import image_digest

if TYPE_CHECKING:
    pass


@dataclass(frozen=True)
class DocReaderOptions:
    columns: Columns = field(default_factory=Columns)
    splits: tuple[str, ...] = ()  # canonical split names to read; empty reads all
    limit: int | None = None  # questions read per split at most (a quick look at a Hub set)
    allow_outside_root: bool = False  # data files and image paths may leave the source folder
    max_image_bytes: int = MAX_IMAGE_BYTES  # an image file larger than this is dropped


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
            self.drop_question(sample.split, shown_cell(sample.file_name or sample.image_id),
                               reason, f"question {sample.question_id}", detail)

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
        self._parts: dict[str, list[Part]] = {}
        wanted = {canonical_split(s) for s in options.splits}
        found: set[str] = set()
        for source in resolve_source(src, options.allow_outside_root):
            for source_split, prepare in source_splits(source, options.columns):
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
        self, split: str, part: Part, index: int, record: dict[str, Any],
        used: set[tuple[str, int]], per_image: Counter[str],
    ) -> DocumentSample | None:
        columns = self.options.columns
        source_id = record.get(part.id_col) if part.id_col else None
        where = f"row {index}" + (f" ({part.id_col} {shown_cell(source_id)})"
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
            drop("duplicate_id",
                 f"row id {split}/{shown_cell(image_id)}/docvqa/{k} is already taken")
            return None
        used.add((image_id, k))
        return DocumentSample(
            split=split, image_id=image_id, question_id=str(k), file_name=path,
            image_bytes=data, width=width, height=height, question=question, answers=answers,
        )

    def _read_image(self, part: Part, name: str) -> tuple[bytes | None, str, str]:
        """An image a cell names by path: its bytes, or None with the drop reason and detail.
        Only a file inside the source folder is read (unless allowed), and only a regular
        file within the size bound: a FIFO or a device is unreadable, never a hang."""
        shown = shown_cell(name)
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
