"""Local tables (Parquet, JSON Lines, CSV, a JSON array) streamed as row dicts, and Hub ids.

Both table readers (`docvqa`, documents; `hf`, detection rows with an `objects` column) find
their sources and stream their rows here. Local files are read directly (pyarrow batches, one
line at a time), never through `datasets.load_dataset`: that call looks the builder up on the
Hub, so a local conversion would reach the network, and its JSON and CSV errors name neither
line nor file. Every file is opened through `dsconv.storage.files` (regular files only,
bounded) after its path is checked to stay inside the source folder; bad input is an
`InputError` naming the file and line.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow.parquet as pq

from dsconv.converters.base import SPLIT_ALIASES, canonical_split
from dsconv.converters.paths import check_inside
from dsconv.errors import DsconvError, InputError
from dsconv.storage.files import (
    MAX_ANNOTATION_BYTES,
    MAX_LABEL_BYTES,
    UnsafeFileError,
    open_regular,
    read_bytes,
)

if TYPE_CHECKING:
    from datasets import IterableDataset

BUILDERS = {".parquet": "parquet", ".jsonl": "json", ".csv": "csv", ".json": "json"}
# A data file is streamed, never read whole, so its bound only refuses nonsense; what is held
# in memory is bounded per line (JSON Lines, CSV) or per batch of rows (Parquet).
MAX_TABLE_BYTES = 1 << 40
MAX_LINE_BYTES = MAX_LABEL_BYTES  # one JSON Lines line or CSV record: one question
BATCH_ROWS = 64  # Parquet rows decoded at a time: a few pages' image bytes
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_SHARD = re.compile(r"^(?P<split>[A-Za-z0-9_]+)-\d{5}-of-\d{5}$")


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


def resolve_source(src: str, allow_outside: bool = False) -> Sequence[LoadSpec | LocalTable]:
    """Local file or folder if it exists, else a Hub dataset id."""
    path = Path(src)
    if path.is_dir():
        return folder_tables(path, allow_outside)
    if os.path.lexists(path):  # a file, or a FIFO or device the checks below refuse
        return [local_table(path, path.parent, allow_outside)]
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
        raise InputError(spec.label, f"cannot open ({first_line(exc)})") from exc
    return dict(loaded)


def local_table(file: Path, root: Path, allow_outside: bool) -> LocalTable:
    """A data file of a known format inside `root` (a symlink leading out is refused)."""
    if file.suffix.lower() not in BUILDERS:
        raise InputError(file, f"not a table file (use {', '.join(BUILDERS)})")
    try:
        checked = check_inside(root, file, allow_outside)
    except ValueError:
        raise InputError(file, f"resolves outside {root} (a symlink out of the source folder; "
                         "use --allow-outside-root)") from None
    return LocalTable(file=checked, split=split_of(file, root), root=root,
                      allow_outside=allow_outside)


def folder_tables(folder: Path, allow_outside: bool) -> list[LocalTable]:
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
    return [local_table(file, folder, allow_outside) for file in files]


def split_of(file: Path, root: Path) -> str:
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


def table_rows(table: LocalTable,
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
    with open_table(file) as handle:
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
        raise InputError(file, reason(exc, file)) from None
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
        with open_table(self.file) as raw, io.BufferedReader(raw) as handle:
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


@contextmanager

def open_table(file: Path) -> Iterator[io.FileIO]:
    """A data file opened as a regular file (a FIFO named `train.jsonl` is an error, not a
    hang); errors name the file in one line."""
    try:
        handle = open_regular(file, MAX_TABLE_BYTES)
    except (OSError, UnsafeFileError) as exc:
        raise InputError(file, reason(exc, file)) from None
    with handle:
        yield handle


def _starts_with(file: Path, prefix: bytes) -> bool:
    """Whether the file's first non-blank byte is `prefix` (a JSON array, not JSON Lines)."""
    with open_table(file) as handle:
        head = handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(prefix)


def image_cell(value: Any) -> tuple[bytes | None, str | None]:
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


def reason(exc: BaseException, file: str | Path) -> str:
    """An OS or file-check error's message without the path the caller already names."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = first_line(exc) if not isinstance(exc, UnsafeFileError) else str(exc)
    prefix = f"{file} "
    return text[len(prefix):] if text.startswith(prefix) else text


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{exc.__class__.__name__}: {text[0]}" if text else exc.__class__.__name__


def records(rows: Iterable[Any], label: str,
            describe: Callable[[Exception], str] | None = None
            ) -> Iterator[tuple[int, dict[str, Any]]]:
    """Rows with their index; a source that breaks mid-stream (a corrupt shard, a dropped
    connection) is an error naming the row, and so is a row that is not an object. Local
    readers name the line themselves (`InputError`s pass through)."""
    describe = describe or first_line
    rows = iter(rows)
    index = 0
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except DsconvError:
            raise
        except Exception as exc:  # a corrupt shard or a dropped connection
            raise InputError(label, f"cannot read ({describe(exc)})", f"row {index}") from exc
        if not isinstance(row, dict):
            raise InputError(label, "not a row object", f"row {index}")
        yield index, row
        index += 1
