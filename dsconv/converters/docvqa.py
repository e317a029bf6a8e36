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
import csv
import io
import json
import os
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow.parquet as pq

from dsconv.converters.base import (
    SPLIT_ALIASES,
    DetectionSample,
    DocumentSample,
    Key,
    Ledger,
    Vocabulary,
    canonical_split,
)
from dsconv.converters.paths import check_inside, resolve_inside
from dsconv.errors import DsconvError, InputError
from dsconv.schemas.report import Drop, SplitReport
from dsconv.storage.files import (
    MAX_ANNOTATION_BYTES,
    MAX_IMAGE_BYTES,
    MAX_LABEL_BYTES,
    UnsafeFileError,
    excerpt,
    open_regular,
    read_bytes,
)
from dsconv.storage.images import check_image, image_size
from dsconv.storage.layout import split_sort_key
from dsconv.storage.leaks import image_digest

if TYPE_CHECKING:
    from datasets import IterableDataset

BUILDERS = {".parquet": "parquet", ".jsonl": "json", ".csv": "csv", ".json": "json"}
DEFAULT_ID_COL = "questionId"
DEFAULT_DOC_ID_COL = "docId"
# A data file is streamed, never read whole, so its bound only refuses nonsense; what is held
# in memory is bounded per line (JSON Lines, CSV) or per batch of rows (Parquet).
MAX_TABLE_BYTES = 1 << 40
MAX_LINE_BYTES = MAX_LABEL_BYTES  # one JSON Lines line or CSV record: one question
BATCH_ROWS = 64  # Parquet rows decoded at a time: a few pages' image bytes
SHOWN_COLUMNS = 30  # column names an error lists at most
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
    allow_outside_root: bool = False  # data files and image paths may leave the source folder
    max_image_bytes: int = MAX_IMAGE_BYTES  # an image file larger than this is dropped


@dataclass(frozen=True)
class LoadSpec:
    """One `load_dataset` call for a Hub id."""

    path: str
    label: str  # what errors and drops name: the Hub id


@dataclass(frozen=True)
class LocalTable:
    """One local data file, checked to be inside `root`: the split it holds, and the folders
    its image paths are read relative to (`base`, the file's folder) and kept inside."""

    file: Path
    split: str
    root: Path
    allow_outside: bool = False

    @property
    def suffix(self) -> str:
        return self.file.suffix.lower()


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
        where = f"row {index}" + (f" ({part.id_col} {_shown(source_id)})"
                                  if source_id is not None else "")

        def drop(reason: str, detail: str | None = None) -> None:
            """The question is dropped (read returns None after it)."""
            self.ledger.drop_question(split, part.label, reason, where, detail)

        try:
            data, path = _image_cell(record.get(columns.image))
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
            return None, "unreadable_image", f"{shown}: {_reason(exc, file)}"


def resolve_source(src: str, allow_outside: bool = False) -> Sequence[LoadSpec | LocalTable]:
    """Local file or folder if it exists, else a Hub dataset id."""
    path = Path(src)
    if path.is_dir():
        return _folder_tables(path, allow_outside)
    if os.path.lexists(path):  # a file, or a FIFO or device the checks below refuse
        return [_local_table(path, path.parent, allow_outside)]
    if _HUB_ID.match(src):
        return [hub_spec(src)]
    raise InputError(src, "no such file or folder, and not a Hub dataset id (owner/name)")


def hub_spec(repo_id: str) -> LoadSpec:
    """A Hub dataset in its default layout; `datasets` finds its files and splits."""
    return LoadSpec(path=repo_id, label=repo_id)


def load_dataset(path: str, **kwargs: Any) -> Any:
    """`datasets.load_dataset`, imported only when a Hub id is read: local sources never
    need it (nor its half-second import)."""
    from datasets import load_dataset as load

    return load(path, **kwargs)


def open_spec(spec: LoadSpec) -> dict[str, IterableDataset]:
    """Stream a Hub dataset's splits."""
    try:
        loaded = load_dataset(spec.path, streaming=True)
    except Exception as exc:  # datasets raises many types (not found, offline, bad file)
        raise InputError(spec.label, f"cannot open ({_first_line(exc)})") from exc
    return dict(loaded)


def _source_splits(source: LoadSpec | LocalTable,
                   columns: Columns) -> list[tuple[str, Callable[[], _Part]]]:
    """A source's splits, each with how to prepare it (done only for the splits read)."""
    if isinstance(source, LocalTable):
        return [(source.split, lambda: _prepare_local(source, columns))]
    return [(name, partial(_prepare, source, name, dataset, columns))
            for name, dataset in open_spec(source).items()]


def _local_table(file: Path, root: Path, allow_outside: bool) -> LocalTable:
    """A data file of a known format inside `root` (a symlink leading out is refused)."""
    if file.suffix.lower() not in BUILDERS:
        raise InputError(file, f"not a table file (use {', '.join(BUILDERS)})")
    try:
        checked = check_inside(root, file, allow_outside)
    except ValueError:
        raise InputError(file, f"resolves outside {root} (a symlink out of the source folder; "
                         "use --allow-outside-root)") from None
    return LocalTable(file=checked, split=_split_of(file, root), root=root,
                      allow_outside=allow_outside)


def _folder_tables(folder: Path, allow_outside: bool) -> list[LocalTable]:
    """Every table file below the folder, of one format; `.json` files beside Parquet, JSON
    Lines or CSV are manifests (dataset_infos.json and the like), not tables."""
    files = [p for p in sorted(folder.rglob("*"))
             if p.suffix.lower() in BUILDERS and not p.is_dir()
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
    return [_local_table(file, folder, allow_outside) for file in files]


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
        with _open_table(table.file) as handle:
            try:
                metadata = pq.ParquetFile(handle)
                names: list[str] | None = metadata.schema_arrow.names
                rows = metadata.metadata.num_rows
            except Exception as exc:  # pyarrow: ArrowInvalid, OSError and more on bad files
                raise InputError(label, f"not a readable Parquet file ({_first_line(exc)})") \
                    from exc
    else:
        rows_of = _table_rows(table)
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
    return _Part(stream=lambda: _table_rows(table, needed if names is not None else None),
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


def _table_rows(table: LocalTable,
                columns: list[str] | None = None) -> Generator[dict[str, Any], None, None]:
    """A local file's rows as dicts, streamed; bad input is an InputError naming the line."""
    if table.suffix == ".parquet":
        return _parquet_rows(table.file, columns)
    if table.suffix == ".csv":
        return _csv_rows(table.file)
    if table.suffix == ".json" and _starts_with(table.file, b"["):
        return _json_array_rows(table.file)
    return _json_lines_rows(table.file)


def _parquet_rows(file: Path, columns: list[str] | None) -> Generator[dict[str, Any], None, None]:
    """Rows a batch at a time, only the columns read; struct cells (an `Image` feature's
    `{bytes, path}`) come out as dicts, exactly as `datasets` gives them undecoded."""
    with _open_table(file) as handle:
        for batch in pq.ParquetFile(handle).iter_batches(batch_size=BATCH_ROWS,
                                                         columns=columns):
            yield from batch.to_pylist()


def _csv_rows(file: Path) -> Generator[dict[str, Any], None, None]:
    """Every cell as written, as text ("NA", "None" and "007" are answers and ids); blank
    lines are skipped, as pandas does."""
    lines = _Lines(file)
    reader = csv.reader(lines)
    header: list[str] | None = None
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InputError(file, f"not valid CSV ({exc})", f"line {lines.number}") from None
        if not cells:
            continue
        if header is None:
            header = cells
            continue
        yield dict(zip(header, cells, strict=False))


def _json_lines_rows(file: Path) -> Generator[dict[str, Any], None, None]:
    """One object a line; blank lines are skipped, anything else is an error naming its line
    (an array, a string, JSON nested thousands deep)."""
    lines = _Lines(file)
    for line in lines:
        if line.strip():
            yield _json_object(file, line, f"line {lines.number}")


def _json_array_rows(file: Path) -> Generator[dict[str, Any], None, None]:
    """A `.json` file holding one array of row objects (read whole: JSON has no streaming
    form short of JSON Lines)."""
    try:
        text = read_bytes(file, MAX_ANNOTATION_BYTES).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(file, f"not UTF-8 text (byte {exc.start})") from None
    except (OSError, UnsafeFileError) as exc:
        raise InputError(file, _reason(exc, file)) from None
    items = _json_value(file, text, None)
    if not isinstance(items, list):
        raise InputError(file, "not an array of row objects")
    for number, item in enumerate(items):
        if not isinstance(item, dict):
            raise InputError(file, f"not a JSON object ({type(item).__name__})", f"item {number}")
        yield item


def _json_object(file: Path, text: str, where: str) -> dict[str, Any]:
    value = _json_value(file, text, where)
    if not isinstance(value, dict):
        raise InputError(file, f"not a JSON object ({_json_type(value)}); each line must hold "
                         "one row", where)
    return value


def _json_value(file: Path, text: str, where: str | None) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(file, f"not valid JSON ({exc.msg} at column {exc.colno})", where) \
            from None
    except RecursionError:
        raise InputError(file, "JSON nested too deeply", where) from None


def _json_type(value: Any) -> str:
    names = {list: "an array", str: "a string", bool: "true/false", type(None): "null"}
    return names.get(type(value), "a number")


class _Lines:
    """The text lines of a data file, decoded one by one so that an error names its line;
    a line over MAX_LINE_BYTES is refused rather than read into memory."""

    def __init__(self, file: Path) -> None:
        self.file = file
        self.number = 0

    def __iter__(self) -> Iterator[str]:
        with _open_table(self.file) as raw, io.BufferedReader(raw) as handle:
            while True:
                line = handle.readline(MAX_LINE_BYTES + 1)
                if not line:
                    return
                self.number += 1
                if len(line) > MAX_LINE_BYTES:
                    raise InputError(self.file, f"line longer than {MAX_LINE_BYTES:,} bytes",
                                     f"line {self.number}")
                try:
                    yield line.decode("utf-8-sig" if self.number == 1 else "utf-8")
                except UnicodeDecodeError as exc:
                    raise InputError(self.file, f"not UTF-8 text (byte {exc.start + 1} of "
                                     "the line)", f"line {self.number}") from None


@contextlib.contextmanager
def _open_table(file: Path) -> Iterator[io.FileIO]:
    """A data file opened as a regular file (a FIFO named `train.jsonl` is an error, not a
    hang); errors name the file in one line."""
    try:
        handle = open_regular(file, MAX_TABLE_BYTES)
    except (OSError, UnsafeFileError) as exc:
        raise InputError(file, _reason(exc, file)) from None
    with handle:
        yield handle


def _starts_with(file: Path, prefix: bytes) -> bool:
    """Whether the file's first non-blank byte is `prefix` (a JSON array, not JSON Lines)."""
    with _open_table(file) as handle:
        head = handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(prefix)


def _records(part: _Part) -> Iterator[tuple[int, dict[str, Any]]]:
    """Rows with their index; a source that breaks mid-stream is an error naming the row
    (local readers name the line themselves)."""
    rows = iter(part.stream())
    index = 0
    while True:
        try:
            record = next(rows)
        except StopIteration:
            return
        except DsconvError:
            raise
        except Exception as exc:  # a corrupt shard or a dropped connection
            raise InputError(part.label, f"cannot read ({_first_line(exc)})", f"row {index}") \
                from exc
        yield index, record
        index += 1


def _image_cell(value: Any) -> tuple[bytes | None, str | None]:
    """Encoded bytes (or None: read the file) and the source name, from an `Image` struct,
    raw bytes or a path; ValueError when the row has no image."""
    if isinstance(value, dict):
        data, path = value.get("bytes"), value.get("path")
        if data:
            if not isinstance(data, bytes | bytearray | memoryview):  # bytes(10**10): 10 GB
                raise ValueError(f"image bytes are a {type(data).__name__}, not bytes")
            return bytes(data), path
        value = path
    if isinstance(value, bytes | bytearray):
        return bytes(value), None
    if isinstance(value, str) and value:
        return None, value
    raise ValueError("no image in the row")


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


def _reason(exc: BaseException, file: str | Path) -> str:
    """An OS or file-check error's message without the path the caller already names."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = _first_line(exc) if not isinstance(exc, UnsafeFileError) else str(exc)
    prefix = f"{file} "
    return text[len(prefix):] if text.startswith(prefix) else text


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{exc.__class__.__name__}: {text[0]}" if text else exc.__class__.__name__
