"""A document source's splits made ready to stream: the columns to read (a missing one is an
error naming those the source has, before anything is written), the Hub split with image
decoding off, a local table with the function that finds its image files inside its folder.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import pyarrow.parquet as pq

from dsconv.converters.paths import check_inside, resolve_inside
from dsconv.converters.tables import (
    LoadSpec,
    LocalTable,
    first_line,
    open_spec,
    open_table,
    table_rows,
)
from dsconv.errors import InputError
from dsconv.storage.files import (
    excerpt,
)

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


@dataclass
class Part:
    """One source split of one file or Hub load: the rows to stream and how to read them."""

    stream: Callable[[], Iterator[dict[str, Any]]]
    label: str
    locate: Callable[[str], str] | None  # image path in a cell → file to read; None: Hub
    id_col: str | None
    doc_id_col: str | None
    text_lists: bool  # CSV cells cannot hold lists: read `["a", "b"]` answers as JSON
    rows: int | None


def source_splits(source: LoadSpec | LocalTable,
                   columns: Columns) -> list[tuple[str, Callable[[], Part]]]:
    """A source's splits, each with how to prepare it (done only for the splits read)."""
    if isinstance(source, LocalTable):
        return [(source.split, lambda: prepare_local(source, columns))]
    return [(name, partial(prepare_hub, source, name, dataset, columns))
            for name, dataset in open_spec(source).items()]


def prepare_hub(spec: LoadSpec, source_split: str, dataset: IterableDataset,
             columns: Columns) -> Part:
    """A Hub split: check the columns, switch image decoding off and keep only the columns
    we read."""
    from datasets import Image

    names = dataset.column_names
    if names is None:  # some JSON: columns are known once a row is read
        first = next(iter(dataset), None)
        names = list(first) if first is not None else None
    id_col, doc_id_col, needed = columns_read(spec.label, source_split, columns, names)
    if dataset.features is not None:
        dataset = dataset.select_columns(needed)
        if isinstance(dataset.features.get(columns.image), Image):
            dataset = dataset.cast_column(columns.image, Image(decode=False))
    splits = dataset.info.splits
    rows = (splits[source_split].num_examples
            if splits and source_split in splits and splits[source_split].num_examples
            else None)
    return Part(stream=dataset.__iter__, label=spec.label, locate=None, id_col=id_col,
                 doc_id_col=doc_id_col, text_lists=False, rows=rows)


def prepare_local(table: LocalTable, columns: Columns) -> Part:
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
    id_col, doc_id_col, needed = columns_read(label, table.split, columns, names)
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
    return Part(stream=lambda: table_rows(table, needed if names is not None else None),
                 label=label, locate=locate, id_col=id_col, doc_id_col=doc_id_col,
                 text_lists=table.suffix == ".csv", rows=rows)


def columns_read(label: str, source_split: str, columns: Columns,
             names: list[str] | None) -> tuple[str | None, str | None, list[str]]:
    """The id columns to use and every column read; a missing one is an error naming the
    columns the source has."""
    id_col = optional_column(columns.id, DEFAULT_ID_COL, names)
    doc_id_col = optional_column(columns.doc_id, DEFAULT_DOC_ID_COL, names)
    needed = list(dict.fromkeys([columns.image, columns.question, columns.answers,
                                 *(c for c in (id_col, doc_id_col) if c)]))
    if names is not None:
        missing = [c for c in needed if c not in names]
        if missing:
            has = ", ".join(shown_cell(n) for n in names[:SHOWN_COLUMNS])
            more = f" and {len(names) - SHOWN_COLUMNS} more" if len(names) > SHOWN_COLUMNS else ""
            raise InputError(
                label, f"missing column{'s' if len(missing) > 1 else ''} "
                f"{', '.join(missing)} (split {source_split!r} has {has}{more}); "
                "map columns with --image-col, --question-col, --answers-col, --id-col, "
                "--doc-id-col",
            )
    return id_col, doc_id_col, needed


def optional_column(given: str | None, default: str, names: list[str] | None) -> str | None:
    """A column the user named must exist; the DocVQA default is used only when present."""
    if given is not None:
        return given
    return default if names is not None and default in names else None


def shown_cell(value: Any) -> str:
    """A source cell as a report or error shows it: a short printable one as it is, any
    other through `excerpt` (quoted, escaped, cut)."""
    text = str(value)
    return text if len(text) <= 100 and text.isprintable() else excerpt(text)
