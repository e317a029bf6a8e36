"""Hugging Face detection datasets: the Hub's `image` + `objects` convention.

`objects` holds `bbox` and `category` (and often `id`, `area`), either as one record of lists
(`datasets`' `Sequence`/`List` of a dict, stored as a struct of lists) or as a list of
records; both are read. Class names come from the `category` `ClassLabel` feature: for a
Hub id from the dataset's features, for local Parquet from the `huggingface` schema metadata
`datasets` writes (`{"info": {"features": …}}`). Categories that are text are class names
themselves; integers without a ClassLabel become `class_0`… (said in the report), unless
`ReaderOptions.classes` names them.

Sources, as for `docvqa` (and through its helpers): a Hub id, streamed with
`datasets.load_dataset(..., streaming=True)` and image decoding off; or local Parquet or
JSON Lines (a file, or a folder of `{split}-NNNNN-of-NNNNN` shards), read with pyarrow or a
line at a time, without `datasets` and without the network. Local image paths resolve inside
the source folder. Image bytes pass through untouched; the size comes from the image header.

`--bbox-format`: `coco` [x, y, w, h] (the Hub's usual one, the default), `xyxy` or
`pascal_voc` [x1, y1, x2, y2] in pixels (albumentations' name; no VOC 1-based shift), `yolo`
[cx, cy, w, h] as fractions of the image. A box that falls (partly) outside its image is
clipped or dropped as always, and the report says how many did under the format chosen:
many of them mean the format is wrong.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pyarrow.parquet as pq

from dsconv.converters import tables
from dsconv.converters.base import (
    DetectionObject,
    DetectionSample,
    Ledger,
    ReaderOptions,
    Vocabulary,
    canonical_split,
    coerce_options,
)
from dsconv.converters.boxes import OUTSIDE_REASONS, check_box
from dsconv.converters.hf_objects import (
    MAX_NUMBERED_CLASSES,
    HfOptions,
    class_label_names,
    class_of,
    features_of,
    object_cells,
    to_coco,
)
from dsconv.converters.paths import check_inside, resolve_inside
from dsconv.converters.shapes import head, listing
from dsconv.converters.tables import records
from dsconv.errors import DsconvError, InputError, NoAnnotationsError
from dsconv.storage.files import UnsafeFileError, excerpt, open_regular, read_bytes
from dsconv.storage.images import image_size
from dsconv.storage.layout import split_sort_key

BBOX_FORMATS: tuple[str, ...] = ("coco", "xyxy", "yolo", "pascal_voc")
TABLE_SUFFIXES = (".parquet", ".jsonl", ".json")
ID_COLUMNS = ("image_id", "id")


@dataclass
class _Part:
    """One file or one Hub split: its rows and how to read them."""

    label: str  # what drops and errors name: the file or the Hub id
    rows: Any  # () -> iterator of row dicts
    count: int | None
    names: list[str] | None  # ClassLabel names of `category`
    table: tables.LocalTable | None  # None: a Hub split
    id_col: str | None


class HfReader:
    name: ClassVar[str] = "hf"
    description: ClassVar[str] = (
        "Hugging Face detection dataset (image + objects with bbox and category): a Hub id, "
        "or local Parquet / JSON Lines"
    )
    options_class: ClassVar[type[ReaderOptions]] = HfOptions

    @staticmethod
    def detect(src: Path) -> tuple[float, str] | None:
        """`--from auto`: how sure `src` is this format, and why (the module's `detect`)."""
        return detect(src)

    def __init__(self, src: Path | str, ledger: Ledger,
                 options: ReaderOptions | None = None) -> None:
        self.src = str(src)
        self.ledger = ledger
        self.options = coerce_options(HfOptions, options)
        if self.options.bbox_format not in BBOX_FORMATS:
            raise DsconvError(f"--bbox-format {self.options.bbox_format!r}: choose from "
                              f"{', '.join(BBOX_FORMATS)}")
        self._parts: dict[str, list[_Part]] = {}
        for source in self._sources():
            for split, part in self._open(source):
                ledger.split(split)
                self._parts.setdefault(split, []).append(part)
        self._vocabulary = self._build_vocabulary()
        self._index = {name: i for i, name in enumerate(self._vocabulary.classes)}

    def _sources(self) -> Sequence[tables.LocalTable | tables.LoadSpec]:
        path = Path(self.src)
        if path.is_dir():
            found = [p for p in sorted(path.rglob("*")) if p.suffix.lower() in TABLE_SUFFIXES
                     and not any(part.startswith(".") for part in p.relative_to(path).parts)]
            if not found:
                raise NoAnnotationsError(path, "hf", "*.parquet or *.jsonl files with "
                                         f"{self.options.image_col!r} and "
                                         f"{self.options.objects_col!r} columns")
        try:
            return tables.resolve_source(self.src, self.options.allow_outside_root)
        except InputError as exc:
            if path.is_dir():
                raise NoAnnotationsError(path, "hf", exc.reason) from None
            raise

    def _open(self, source: tables.LocalTable | tables.LoadSpec) -> list[tuple[str, _Part]]:
        if isinstance(source, tables.LoadSpec):
            return [(canonical_split(name), self._hub_part(source, name, dataset))
                    for name, dataset in tables.open_spec(source).items()]
        if source.suffix == ".csv":
            raise InputError(source.file, "CSV cannot hold the objects column; use Parquet or "
                             "JSON Lines")
        return [(canonical_split(source.split), self._local_part(source))]

    def _hub_part(self, spec: tables.LoadSpec, split: str, dataset: Any) -> _Part:
        from datasets import Image

        features = dataset.features
        columns = list(features) if features is not None else None
        id_col = self._check_columns(spec.label, split, columns)
        names = (class_label_names(features.to_dict(), self.options)
                 if features is not None else None)
        if features is not None:
            dataset = dataset.select_columns(self._needed(id_col))
            if isinstance(features.get(self.options.image_col), Image):
                dataset = dataset.cast_column(self.options.image_col, Image(decode=False))
        info = dataset.info.splits
        count = info[split].num_examples if info and split in info else None
        return _Part(spec.label, dataset.__iter__, count or None, names, None, id_col)

    def _local_part(self, table: tables.LocalTable) -> _Part:
        label = str(table.file)
        names: list[str] | None = None
        count: int | None = None
        if table.suffix == ".parquet":
            try:
                with tables.open_table(table.file) as handle:
                    parquet = pq.ParquetFile(handle)
                    columns: list[str] | None = parquet.schema_arrow.names
                    count = parquet.metadata.num_rows
                    metadata = parquet.schema_arrow.metadata or {}
            except DsconvError:
                raise
            except Exception as exc:  # pyarrow raises many types on a bad file
                raise InputError(label, f"not a readable Parquet file ({exc})") from exc
            names = class_label_names(features_of(metadata.get(b"huggingface")), self.options)
        else:
            rows = tables.table_rows(table)
            try:
                first = next(rows, None)
            finally:
                rows.close()
            columns = list(first) if first is not None else None
        id_col = self._check_columns(label, table.split, columns)
        needed = self._needed(id_col) if columns is not None else None
        return _Part(label, lambda: tables.table_rows(table, needed), count, names, table,
                     id_col)

    def _needed(self, id_col: str | None) -> list[str]:
        return [self.options.image_col, self.options.objects_col, *([id_col] if id_col else [])]

    def _check_columns(self, label: str, split: str, columns: list[str] | None) -> str | None:
        if columns is None:
            return None
        missing = [c for c in (self.options.image_col, self.options.objects_col)
                   if c not in columns]
        if missing:
            has = ", ".join(excerpt(c, 40) for c in columns[:30])
            raise InputError(label, f"missing column{'s' * (len(missing) > 1)} "
                             f"{', '.join(missing)} (split {split!r} has {has}); map columns "
                             "with --image-col and --objects-col")
        return next((c for c in ID_COLUMNS if c in columns), None)

    def _build_vocabulary(self) -> Vocabulary:
        """`ReaderOptions.classes`, else the ClassLabel names (the same in every split), else
        the text categories found in a pass over the objects column."""
        noun = self.options.noun or "object"
        if self.options.classes:
            return Vocabulary(list(dict.fromkeys(self.options.classes)), noun)
        found = [p.names for parts in self._parts.values() for p in parts if p.names]
        if found:
            if any(names != found[0] for names in found):
                self.ledger.warn(f"{self.src}: splits name their classes differently; using "
                                 "the first split's ClassLabel names")
            self._names = found[0]
            return Vocabulary(list(dict.fromkeys(found[0])), noun)
        texts: set[str] = set()
        largest = -1
        for parts in self._parts.values():
            for part in parts:
                for _, row in records(part.rows(), part.label, _problem):
                    try:
                        categories = object_cells(row.get(self.options.objects_col),
                                              self.options)[1]
                    except ValueError:  # the row is dropped when it is read
                        continue
                    for category in categories:
                        if isinstance(category, str) and category.strip():
                            texts.add(category.strip())
                        elif isinstance(category, int) and not isinstance(category, bool):
                            largest = max(largest, category)
        if largest >= MAX_NUMBERED_CLASSES:
            raise InputError(self.src, f"categories are numbers up to {largest} with no "
                             "ClassLabel names; name the classes with --classes")
        if largest >= 0:
            self.ledger.warn(f"{self.src}: categories are numbers with no ClassLabel names; "
                             f"using class_0…class_{largest} (name them with --classes)")
        return Vocabulary([*sorted(texts), *(f"class_{i}" for i in range(largest + 1))], noun)

    def vocabulary(self) -> Vocabulary:
        return self._vocabulary

    def splits(self) -> list[str]:
        return sorted(self._parts, key=split_sort_key)

    def count(self, split: str) -> int | None:
        counts = [p.count for p in self._parts[split]]
        return None if any(c is None for c in counts) else sum(c for c in counts if c)

    def samples(self, split: str) -> Iterator[DetectionSample]:
        ids: set[str] = set()
        outside: Counter[str] = Counter()
        for part in self._parts[split]:
            names = part.names or getattr(self, "_names", None)
            for index, row in records(part.rows(), part.label, _problem):
                sample = self._sample(split, part, index, row, names, ids, outside)
                if sample is not None:
                    yield sample
        if outside:
            self.ledger.warn(
                f"{split}: {sum(outside.values())} boxes fall outside or partly outside their "
                f"image as --bbox-format {self.options.bbox_format}; if that is most of them, "
                "the boxes are in another format (coco, xyxy, yolo, pascal_voc)")

    def _sample(self, split: str, part: _Part, index: int, row: dict[str, Any],
                names: list[str] | None, ids: set[str], outside: Counter[str]
                ) -> DetectionSample | None:
        options = self.options
        try:
            boxes, categories, object_ids = object_cells(row.get(options.objects_col), options)
            problem = None
        except ValueError as exc:
            boxes, categories, object_ids, problem = [], [], [], str(exc)
        where = f"row {index}"
        n = max(len(boxes), len(categories))
        self.ledger.seen_objects(split, n if problem is None else 1)
        if problem is not None:
            self.ledger.drop_image(split, part.label, "bad_annotation", f"{where}: {problem}")
            self.ledger.drop_object(split, part.label, "bad_annotation", where)
            return None
        data, path, reason, detail = self._image(part, row.get(options.image_col))
        width = height = 0
        if data is not None:
            try:
                width, height = image_size(data)
            except ValueError as exc:
                data, reason, detail = None, "unreadable_image", str(exc)
        annotation = [f"{where} object {_shown(object_ids[k]) if k < len(object_ids) else k}"
                      for k in range(n)]
        if data is None:
            self.ledger.drop_image(split, path or part.label, reason, f"{where}: {detail}")
            for name in annotation:
                self.ledger.drop_object(split, part.label, reason, name)
            return None
        image_id = self._image_id(row, part, path, index, ids)
        objects = []
        for k in range(n):
            category = categories[k] if k < len(categories) else None
            label, why = class_of(category, names, self._index)
            if label is None:
                self.ledger.drop_object(split, part.label, "unknown_class", annotation[k], why)
                continue
            try:
                box = to_coco(boxes[k] if k < len(boxes) else None, options.bbox_format,
                              width, height)
            except ValueError as exc:
                self.ledger.drop_object(split, part.label, "invalid_box", annotation[k],
                                        str(exc))
                continue
            kept, note = check_box(box, width, height, options.box_policy)
            if note in OUTSIDE_REASONS or note == "clipped":
                outside[note] += 1
            if kept is None:
                self.ledger.drop_object(split, part.label, note or "invalid_box", annotation[k])
                continue
            if note == "clipped":
                self.ledger.clipped(split)
            objects.append(DetectionObject(label, kept))
        return DetectionSample(split, image_id, path or image_id, data, width, height, objects)

    def _image(self, part: _Part, cell: Any) -> tuple[bytes | None, str | None, str, str]:
        """The row's image bytes and name, or None with the drop reason and detail."""
        try:
            data, path = tables.image_cell(cell)
        except (ValueError, TypeError) as exc:
            return None, None, "missing_image", str(exc)
        path = path if isinstance(path, str) and path else None
        shown = excerpt(path) if path else ""
        if data is not None:
            if len(data) > self.options.max_image_bytes:
                return None, path, "unreadable_image", "image over the " \
                    f"{self.options.max_image_bytes:,}-byte limit"
            return data, path, "", ""
        assert path is not None
        if part.table is None:
            return None, path, "missing_image", f"{shown}: a Hub row naming a file, not bytes"
        table, base = part.table, part.table.file.parent
        try:
            if table.allow_outside or base == table.root:
                file = resolve_inside(base, path, allow_outside=table.allow_outside)
            else:  # a file in a subfolder names images relative to itself, inside the root
                file = os.fspath(check_inside(table.root, base / path))
        except ValueError:
            return None, path, "unsafe_path", f"{shown} leaves the source folder (absolute, " \
                ".. or a symlink out; use --allow-outside-root)"
        try:
            return read_bytes(file, self.options.max_image_bytes), path, "", ""
        except FileNotFoundError:
            return None, path, "missing_image", f"{shown} does not exist"
        except (OSError, UnsafeFileError) as exc:
            return None, path, "unreadable_image", f"{shown}: {exc}"

    def _image_id(self, row: dict[str, Any], part: _Part, path: str | None, index: int,
                  ids: set[str]) -> str:
        """The image file's stem, else the id column, else the row number; a repeat gets -2,
        -3… as `unique_ids` gives."""
        if path:
            base = os.path.splitext(path.replace("\\", "/").rsplit("/", 1)[-1])[0]
        elif part.id_col and row.get(part.id_col) is not None:
            base = _shown(row[part.id_col])
        else:
            base = f"row{index}"
        base = base.replace("/", "_") or f"row{index}"
        image_id, k = base, 1
        while image_id in ids:
            k += 1
            image_id = f"{base}-{k}"
        ids.add(image_id)
        return image_id


def _shown(value: Any) -> str:
    """An id as drops name it: a short number or text as it is, anything else quoted."""
    text = str(value)
    if isinstance(value, int | str) and len(text) <= 60 and text.isprintable():
        return text
    return excerpt(text, 40)


def _problem(exc: Exception) -> str:
    """What broke a Hub or Parquet stream, for the error naming the row."""
    return f"{exc.__class__.__name__}: {excerpt(str(exc), 120)}"


def detect(src: Path) -> tuple[float, str] | None:
    """Parquet written by `datasets` whose features have `objects` with `bbox`; a Parquet or
    JSON Lines file with both `image` and `objects` in its first KB is a weaker sign."""
    src = Path(src)
    candidates = [src] if src.is_file() else [
        Path(e.path) for folder in (src, src / "data") for e in listing(folder)
        if e.name.lower().endswith((".parquet", ".jsonl")) and e.is_file(follow_symlinks=False)]
    for file in candidates[:10]:
        if file.is_symlink():
            continue
        if file.suffix.lower() == ".parquet":
            try:
                with open_regular(file, 1 << 40) as handle:
                    schema = pq.ParquetFile(handle).schema_arrow
            except Exception:  # pyarrow raises many types on a file that is not Parquet
                continue
            names = class_label_names(features_of((schema.metadata or {}).get(b"huggingface")),
                                 HfOptions())
            if "objects" in schema.names and "image" in schema.names:
                evidence = "ClassLabel categories" if names else "image and objects columns"
                return (0.9 if names else 0.7), f"{file}: Hugging Face detection Parquet " \
                    f"({evidence})"
        else:
            start = head(file)
            if b'"objects"' in start and b'"bbox"' in start and b'"image' in start:
                return 0.6, f"{file}: JSON Lines rows with image and objects.bbox"
    return None
