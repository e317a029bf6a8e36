"""COCO JSON reader: Roboflow exports (split folders), MMDetection and plain annotation files.

Each annotation file is parsed once into a compact per-image index; samples are then
yielded one image at a time, with the image bytes read only when the sample is yielded.

Annotation files are untrusted: each must resolve inside the dataset folder (unless
`allow_outside_root`) and be a regular file of at most `MAX_ANNOTATION_BYTES`, opened through
`dsconv.storage.files`. A split file that is there but cannot be read (a FIFO, a device, a folder,
a dangling symlink, no permission, nested too deeply) is an error naming it, never a split
silently left out; a folder with no COCO file at all is `NoAnnotationsError`.
"""

from __future__ import annotations

import io
import json
import math
import os
import struct
from array import array
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import accumulate, pairwise
from pathlib import Path
from typing import Any, ClassVar

from dsconv.converters.base import (
    DetectionObject,
    DetectionSample,
    IndexedReader,
    Ledger,
    ReaderOptions,
    Vocabulary,
    canonical_split,
    collector_paused,
)
from dsconv.converters.boxes import check_box
from dsconv.converters.paths import check_inside, resolve_inside
from dsconv.errors import InputError, NoAnnotationsError
from dsconv.storage.files import MAX_ANNOTATION_BYTES, UnsafeFileError, open_regular
from dsconv.storage.images import image_problem, read_image

ROBOFLOW_FILE = "_annotations.coco.json"
PLAIN_FILES = ("annotations.json", ROBOFLOW_FILE, "instances.json")


class _Row(int):
    """What the JSON parser leaves in an annotation's place: its row in `_Annotations`.

    A distinct type, so that a literal number in the `annotations` list is still malformed;
    never a box coordinate, so that an annotation nested in a `bbox` still makes it invalid.
    """

    __slots__ = ()

    def __float__(self) -> float:
        raise TypeError("an annotation is not a number")


class _Ints:
    """A column of JSON values that are nearly always integers (ids, sizes).

    An int64 array, 8 bytes a row instead of a pointer and an int object (36 bytes);
    None has a reserved value, any other value (text, a float, a huge int) is kept by row.
    """

    __slots__ = ("_has_none", "_others", "_values")

    def __init__(self) -> None:
        self._values = array("q")
        self._others: dict[int, Any] = {}
        self._has_none = False

    def __len__(self) -> int:
        return len(self._values)

    def append(self, value: Any) -> None:
        if value.__class__ is int and _OTHER < value <= _INT64_MAX:
            self._values.append(value)
        elif value is None:
            self._values.append(_NONE)
            self._has_none = True
        else:
            self._others[len(self._values)] = value
            self._values.append(_OTHER)

    def __getitem__(self, row: int) -> Any:
        value = self._values[row]
        if value > _OTHER:
            return value
        return None if value == _NONE else self._others[row]

    def __setitem__(self, row: int, value: Any) -> None:
        self._others[row] = value
        self._values[row] = _OTHER

    def compact(self) -> _Ints | array:
        """The plain array when every value is an int (the usual case), so that reading a
        value costs no Python call; else the column itself."""
        return self if self._others or self._has_none else self._values


_NONE, _OTHER, _INT64_MAX = -(2**63), -(2**63) + 1, 2**63 - 1
_BOX = struct.Struct("4d")  # one row of `_Annotations.boxes`


class _Annotations:
    """The annotations of one COCO file, in columns, one row per annotation.

    Memory: COCO-2017 train has 860k annotations. As Python objects (a record, a tuple of four
    floats, an id string, ints) they took ~300 bytes each and most of a conversion's memory;
    here a row is ~50 bytes (box 32, id 8, category 4, crowd 1, its place in `order` 4).

    Rows are made by `add`, the JSON parser's object hook, in the order annotation objects
    are parsed; `group` then keeps the rows the `annotations` list holds, image by image.
    """

    def __init__(self) -> None:
        self.boxes = array("d")  # x, y, w, h of row r at 4r … 4r+3 (zeros when bad)
        self.bad_boxes: dict[int, tuple[str, str | None]] = {}  # row → why it has no box
        self.ids: _Ints | array = _Ints()  # as in the file; None becomes "#{position}"
        self.categories = array("I")  # row → index in category_values
        self.category_values: list[Any] = []  # distinct category_id values, as parsed
        self.crowd = bytearray()
        self.image_ids = _Ints()  # emptied by `group`
        self.order = array("I")  # rows grouped by image, in file order within an image
        self.starts = array("I")  # image k's rows: order[starts[k]:starts[k + 1]]
        self._codes: dict[Any, int] = {}

    def add(self, obj: dict[str, Any]) -> dict[str, Any] | _Row:
        """Called by the JSON parser for every object: an annotation becomes a row at once,
        so the polygons, areas and extra keys of 860k annotations never pile up."""
        if "image_id" not in obj or "category_id" not in obj:
            return obj
        row = len(self.crowd)
        self.image_ids.append(obj["image_id"])
        self.ids.append(obj.get("id"))
        self.categories.append(self._code(obj["category_id"]))
        self.crowd.append(1 if obj.get("iscrowd", 0) else 0)
        box = obj.get("bbox")
        if box.__class__ is list and len(box) == 4:
            # true/false are ints to Python (and to `fromlist`): never coordinates
            if (box[0].__class__ is bool or box[1].__class__ is bool
                    or box[2].__class__ is bool or box[3].__class__ is bool):
                return self._bad_box(row, "invalid_box", "bbox holds true/false, not numbers")
            try:
                self.boxes.fromlist(box)  # all or nothing
                return _Row(row)
            except (TypeError, ValueError, OverflowError):
                try:  # text such as "12.5" is a number to float()
                    self.boxes.fromlist([float(v) for v in box])
                    return _Row(row)
                except (TypeError, ValueError, OverflowError):
                    pass
        if box is None:
            return self._bad_box(row, "no_bbox", None)
        return self._bad_box(row, "invalid_box", "bbox is not a list of four numbers")

    def _bad_box(self, row: int, reason: str, detail: str | None) -> _Row:
        self.bad_boxes[row] = (reason, detail)
        self.boxes.fromlist([0.0, 0.0, 0.0, 0.0])
        return _Row(row)

    def _code(self, category_id: Any) -> int:
        """Equal category ids share a code (they key the same category); a list or object,
        which keys nothing, gets one of its own."""
        try:
            return self._codes[category_id]
        except KeyError:
            code = self._codes[category_id] = len(self.category_values)
        except TypeError:
            code = len(self.category_values)
        self.category_values.append(category_id)
        return code

    def box(self, row: int) -> tuple[float, float, float, float]:
        return _BOX.unpack_from(self.boxes, 32 * row)

    def same(self, row: int, other: int) -> bool:
        """Same category and box (the image is compared by the caller)."""
        if self.categories[row] != self.categories[other]:
            return False
        reason = self.bad_boxes.get(row)
        if reason is not None or other in self.bad_boxes:
            return reason == self.bad_boxes.get(other)
        return self.box(row) == self.box(other)

    def annotation_id(self, row: int) -> str:
        """The id drops are reported with."""
        return str(self.ids[row])

    def group(self, rows: array, images: array, n_images: int) -> None:
        """Keep `rows` (in file order), `images[i]` being the image of `rows[i]`, grouped by
        image; drop what only parsing needed."""
        counts = [0] * n_images
        for k in images:
            counts[k] += 1
        self.starts = array("I", accumulate(counts, initial=0))
        if all(a <= b for a, b in pairwise(images)):  # the usual order: no sort
            self.order = rows
        else:
            self.order = array("I", bytes(4 * len(rows)))
            place = self.starts[:-1]
            for row, k in zip(rows, images, strict=True):
                self.order[place[k]] = row
                place[k] += 1
        self.image_ids, self._codes = _Ints(), {}
        if isinstance(self.ids, _Ints):
            self.ids = self.ids.compact()

    def rows_of(self, image: int) -> array:
        return self.order[self.starts[image]:self.starts[image + 1]]


class _Texts:
    """Strings kept as one: `texts[k]` is a slice. A list of 100k file names costs ~90 bytes
    a name, and names made by the JSON parser also pin the parser's arenas around them (the
    image objects they were parsed with): ~400 bytes an image of resident memory."""

    __slots__ = ("_ends", "_joined")

    def __init__(self, texts: list[str]) -> None:
        self._joined = "".join(texts)
        self._ends = array("q", accumulate(map(len, texts), initial=0))

    def __len__(self) -> int:
        return len(self._ends) - 1

    def __getitem__(self, k: int) -> str:
        return self._joined[self._ends[k]:self._ends[k + 1]]


@dataclass
class _Images:
    """The usable images of one file, in columns; an image is its position. Ids and sizes are
    as in the file: str() of an id is the sample's image_id, a missing width is None."""

    ids: _Ints | array
    file_names: _Texts
    widths: _Ints | array
    heights: _Ints | array

    def __len__(self) -> int:
        return len(self.file_names)


@dataclass
class _SplitIndex:
    file: Path
    images_root: Path
    categories: dict[Any, dict[str, Any]]
    images: _Images
    annotations: _Annotations


@dataclass(frozen=True)
class CocoOptions(ReaderOptions):
    images_dir: Path | None = field(default=None, metadata={
        "help": "Image folder for one annotation file (default: the file's folder)."})
    keep_crowd: bool = field(default=False, metadata={
        "help": "Count iscrowd=1 regions as objects (left out: they are not countable)."})


class CocoReader(IndexedReader):
    name: ClassVar[str] = "coco"
    description: ClassVar[str] = (
        "COCO JSON: a Roboflow export (split folders with _annotations.coco.json), "
        "MMDetection (annotations/instances_{split}.json), or one annotation file"
    )
    options_class: ClassVar[type[ReaderOptions]] = CocoOptions
    options: CocoOptions

    def __init__(self, src: Path, ledger: Ledger, options: ReaderOptions | None = None) -> None:
        super().__init__(src, ledger, options)
        with collector_paused():
            self._files = {split: self._parse(split, file, root)
                           for split, (file, root) in self._locate().items()}
        self._index = {split: range(len(index.images)) for split, index in self._files.items()}
        self._vocabulary, self._class_of = self._build_vocabulary()
        # split → class name (None: not a class) by category code, for the loop in `_sample`
        self._names = {
            split: [self._class_of.get((split, value)) if _is_key(value) else None
                    for value in index.annotations.category_values]
            for split, index in self._files.items()}

    def _locate(self) -> dict[str, tuple[Path, Path]]:
        """Annotation file and image root per split, for the layouts we recognise. A file is
        taken by its name, whatever it is: one that is not a regular file is then an error
        naming it (`_load_json`), not a split that silently goes missing."""
        src = self.src
        if not os.path.lexists(src):
            raise InputError(src, "no such file or folder")
        if not src.is_dir():
            return {"train": (src, self.options.images_dir or src.parent)}
        found: dict[str, tuple[Path, Path]] = {}
        for child in sorted(p for p in src.iterdir() if p.is_dir()):
            if os.path.lexists(child / ROBOFLOW_FILE):
                found[canonical_split(child.name)] = (self._inside(child / ROBOFLOW_FILE),
                                                      child)
        if found:
            return found
        for other in sorted((src / "annotations").glob("*.json")):
            if not other.name.startswith("instances_"):
                self.ledger.warn(f"{other}: ignored (not an instances_* detection file)")
        for file in sorted((src / "annotations").glob("instances_*.json")):
            split = file.stem.removeprefix("instances_")
            root = next((r for r in (src / split, src / "images" / split) if r.is_dir()), src)
            found[canonical_split(split.rstrip("0123456789") or split)] = (
                self._inside(file), self._inside(root))
        if found:
            return found
        for name in PLAIN_FILES:
            if os.path.lexists(src / name):
                return {"train": (self._inside(src / name), self.options.images_dir or src)}
        raise NoAnnotationsError(
            src, "COCO", f"*/{ROBOFLOW_FILE}, annotations/instances_*.json, "
            f"{', '.join(PLAIN_FILES)}")

    def _inside(self, path: Path) -> Path:
        """A file or folder found in the dataset folder, refused if it resolves outside it."""
        try:
            return check_inside(self.src, path, self.options.allow_outside_root)
        except ValueError:
            raise InputError(path, f"resolves outside {self.src} "
                                   "(use --allow-outside-root)") from None

    def _parse(self, split: str, file: Path, root: Path) -> _SplitIndex:
        table = _Annotations()
        try:
            data = _load_json(file, table.add)
            for key in ("images", "annotations", "categories"):
                if not isinstance(data.get(key), list):
                    raise InputError(file, f"missing or invalid {key!r} list")
            self.ledger.split(split)
            categories = self._categories(file, data["categories"])
            images, position, rejected = self._images(split, file, data["images"])
            rows, image_of = self._check_annotations(
                split, file, data["annotations"], table, position, rejected)
        except RecursionError:  # parsing, or repr() of a deeply nested value for a report
            raise InputError(file, "JSON nested too deeply to read") from None
        table.group(rows, image_of, len(images))
        return _SplitIndex(file, root, categories, images, table)

    def _check_annotations(
        self, split: str, file: Path, items: list[Any], table: _Annotations,
        position: dict[Any, int], rejected: set[Any],
    ) -> tuple[array, array]:
        """The rows to keep, in file order, and their images' positions. Annotations whose
        image or category cannot be used, and repeats of one (same id, image, category and
        box), are dropped; an id used by different annotations is reported."""
        kept, kept_images = array("I"), array("I")
        usable_category = [_is_key(value) for value in table.category_values]
        # Annotation id → position in `kept` of the latest annotation with it. Ids nearly
        # always increase through a file, and then none can repeat: the dict (860k entries
        # for COCO-2017) is only built once an id does not increase.
        seen: dict[Any, int] | None = None
        last: float = -math.inf
        for i, row in enumerate(items):
            if row.__class__ is not _Row:
                raise InputError(
                    file, "annotation needs 'image_id' and 'category_id'", f"annotations[{i}]"
                )
            ann_id = table.ids[row]
            if ann_id is None:
                table.ids[row] = ann_id = f"#{i}"
            image_id, code = table.image_ids[row], table.categories[row]
            try:
                k = position.get(image_id)
            except TypeError:  # a list or object
                k = None
            if k is None or not usable_category[code]:
                reason, detail = _reference_problem(
                    image_id, table.category_values[code], position, rejected)
                self.ledger.drop_object(split, file.name, reason, str(ann_id), detail)
                continue
            key = ann_id if ann_id.__class__ is int else _id_key(ann_id)
            if seen is None and key.__class__ is int and key > last:
                last = key
            else:
                if seen is None:
                    seen = {_id_key(table.ids[r]): j for j, r in enumerate(kept)}
                j = seen.get(key)
                if j is not None and kept_images[j] == k and table.same(kept[j], row):
                    self.ledger.drop_object(
                        split, file.name, "duplicate_annotation", str(ann_id),
                        "same id, image, category and box as an earlier one")
                    continue
                if j is not None:
                    self.ledger.warn(f"{file}: annotation id {ann_id} is used more than once")
                seen[key] = len(kept)
            kept.append(row)
            kept_images.append(k)
        if items:
            self.ledger.seen_objects(split, len(items))
        return kept, kept_images

    def _categories(self, file: Path, items: list[Any]) -> dict[Any, dict[str, Any]]:
        categories: dict[Any, dict[str, Any]] = {}
        names: dict[str, Any] = {}
        for i, category in enumerate(items):
            if not isinstance(category, dict) or "id" not in category or "name" not in category:
                raise InputError(file, "category needs 'id' and 'name'", f"categories[{i}]")
            if not (_is_key(category["id"]) and _is_key(category["name"])):
                raise InputError(file, "category 'id' and 'name' must be numbers or text",
                                 f"categories[{i}]")
            if category["id"] in categories:
                raise InputError(file, f"category id {category['id']!r} is defined twice",
                                 f"categories[{i}]")
            name = str(category["name"])
            if name in names:
                self.ledger.warn(f"{file}: categories {names[name]!r} and {category['id']!r} "
                                 f"are both named {name!r}; counted as one class")
            names.setdefault(name, category["id"])
            parent = category.get("supercategory")
            categories[category["id"]] = {
                "name": name, "supercategory": str(parent) if _is_key(parent) else None}
        return categories

    def _images(
        self, split: str, file: Path, items: list[Any]
    ) -> tuple[_Images, dict[Any, int], set[Any]]:
        """The usable images, their positions by id, and the ids refused as unusable; a
        repeated id or file name is reported, never silently merged."""
        ids, names, widths, heights = _Ints(), [], _Ints(), _Ints()
        position: dict[Any, int] = {}
        rejected: set[Any] = set()
        files: set[str] = set()
        for i, image in enumerate(items):
            if not isinstance(image, dict) or "id" not in image or "file_name" not in image:
                raise InputError(file, "image needs 'id' and 'file_name'", f"images[{i}]")
            name = str(image["file_name"])
            problem = _image_id_problem(image["id"])
            if problem:
                self.ledger.drop_image(split, name, "invalid_image_id",
                                       f"{file.name} images[{i}]: {problem}")
                if _is_key(image["id"]):
                    rejected.add(image["id"])
                continue
            if image["id"] in position or name in files:
                reason = "duplicate_image_id" if image["id"] in position else "duplicate_file_name"
                self.ledger.drop_image(split, name, reason, f"{file.name} images[{i}]")
                continue
            files.add(name)
            position[image["id"]] = len(names)
            ids.append(image["id"])
            names.append(name)
            widths.append(image.get("width"))
            heights.append(image.get("height"))
        images = _Images(ids.compact(), _Texts(names), widths.compact(), heights.compact())
        return images, position, rejected

    def _build_vocabulary(self) -> tuple[Vocabulary, dict[tuple[str, Any], str]]:
        """Classes by category id, never by position; a bare supercategory is not a class."""
        used: Counter[str] = Counter()
        for index in self._files.values():
            table = index.annotations
            for code, n in Counter(map(table.categories.__getitem__, table.order)).items():
                category = index.categories.get(table.category_values[code])
                if category is not None:
                    used[category["name"]] += n
        ordered: dict[str, Any] = {}
        supers: Counter[str] = Counter()
        class_of: dict[tuple[str, Any], str] = {}
        for split, index in self._files.items():
            parents = {c.get("supercategory") for c in index.categories.values()}
            for cat_id in sorted(index.categories, key=_sort_key):
                category = index.categories[cat_id]
                name = str(category["name"])
                if name in parents and not used[name]:
                    continue
                class_of[(split, cat_id)] = name
                ordered.setdefault(name, cat_id)
                if category.get("supercategory") not in (None, "", "none"):
                    supers[str(category["supercategory"])] += 1
        classes = sorted(ordered, key=lambda n: _sort_key(ordered[n]))
        noun = self.options.noun or (supers.most_common(1)[0][0] if supers else "object")
        return Vocabulary(classes, noun), class_of

    def _sample(self, split: str, image: int) -> DetectionSample | None:
        index = self._files[split]
        images = index.images
        file_name = images.file_names[image]
        try:
            path = resolve_inside(index.images_root, file_name,
                                  self.options.allow_outside_root)
        except ValueError as exc:
            return self._drop_image(split, image, "unsafe_path", str(exc))
        try:
            data, width, height = read_image(path, self.options.max_image_bytes)
        except FileNotFoundError:
            return self._drop_image(split, image, "missing_image", f"{path} does not exist")
        except (OSError, ValueError) as exc:  # incl. not a regular file, over a size bound
            return self._drop_image(split, image, image_problem(exc), str(exc))
        image_id = str(images.ids[image])
        stated = (images.widths[image], images.heights[image])
        if stated not in ((width, height), (None, None)):
            self.ledger.warn(
                f"{index.file.name}: image {image_id} is {width}x{height} in its file but "
                f"{stated[0]}x{stated[1]} in the annotations; using the file's size"
            )
        table, names = index.annotations, self._names[split]
        categories, boxes, bad_boxes = table.categories, table.boxes, table.bad_boxes
        crowd, drop_crowd = table.crowd, not self.options.keep_crowd
        unpack_box, policy = _BOX.unpack_from, self.options.box_policy
        objects = []
        for row in table.order[table.starts[image]:table.starts[image + 1]]:
            name, detail = names[categories[row]], None
            if name is None:
                reason = "unknown_category"
            elif row in bad_boxes:
                reason, detail = bad_boxes[row]
            elif crowd[row] and drop_crowd:
                reason = "crowd"
            else:
                box, reason = check_box(unpack_box(boxes, 32 * row), width, height, policy)
                if box is not None:
                    if reason == "clipped":
                        self.ledger.clipped(split)
                    objects.append(DetectionObject(name, box))
                    continue
            self.ledger.drop_object(split, file_name, reason or "invalid_box",
                                    table.annotation_id(row), detail)
        return DetectionSample(split, image_id, file_name, data, width, height, objects)

    def _drop_image(self, split: str, image: int, reason: str, detail: str) -> None:
        index = self._files[split]
        file_name = index.images.file_names[image]
        self.ledger.drop_image(split, file_name, reason, detail)
        for row in index.annotations.rows_of(image):
            self.ledger.drop_object(split, file_name, reason, index.annotations.annotation_id(row))

    # `--from auto`: how sure we are that a source is COCO, and why (dsconv.converters.detect)
    from dsconv.converters.detect import detect_coco
    detect = staticmethod(detect_coco)


def _load_json(file: Path, hook: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    """Parse an annotation file, dropping what we never read as it is parsed.

    Polygons are most of a COCO file's objects: compacting annotations in the object hook
    (`_Annotations.add`) and reading text rather than bytes (with the collector paused by the
    caller) takes COCO-2017-train from 3.5 GB peak and 20 s to about 1 GB and 6 s. The file
    is opened as `open_regular` allows (a regular file within `MAX_ANNOTATION_BYTES`).
    """
    try:
        with open_regular(file, MAX_ANNOTATION_BYTES) as raw, io.TextIOWrapper(
                io.BufferedReader(raw), encoding="utf-8-sig") as handle:  # type: ignore[arg-type]
            data = json.load(handle, object_hook=hook)
    except json.JSONDecodeError as exc:
        raise InputError(file, f"invalid JSON: {exc.msg}", f"{exc.lineno}:{exc.colno}") from None
    except UnicodeDecodeError as exc:
        raise InputError(file, f"not UTF-8 text ({exc.reason})") from None
    except UnsafeFileError as exc:  # its message starts with the path, which InputError adds
        raise InputError(file, str(exc).removeprefix(f"{file} ")) from None
    except OSError as exc:
        raise InputError(file, f"cannot read: {exc.strerror or exc}") from None
    if not isinstance(data, dict):
        raise InputError(file, "top level is not a JSON object")
    return data


def _is_key(value: Any) -> bool:
    """Ids and names must be JSON scalars: a list or object cannot key anything."""
    return value is not None and not isinstance(value, list | dict)


def _image_id_problem(value: Any) -> str | None:
    """Why an image id cannot name rows (`{split}/{image_id}/{task}/{k}`), if it cannot."""
    if not _is_key(value):
        return f"id {value!r} is not a number or text"
    if not str(value) or "/" in str(value):
        return f"id {value!r} is empty or contains '/', which row ids cannot hold"
    return None


def _reference_problem(
    image_id: Any, category_id: Any, images: dict[Any, int], rejected: set[Any]
) -> tuple[str, str]:
    """(reason, detail) for an annotation whose image or category cannot be used."""
    if _is_key(image_id) and image_id in rejected:
        return "invalid_image_id", f"image {image_id!r} was refused"
    if not _is_key(image_id) or image_id not in images:
        return "unknown_image", f"image_id {image_id!r} is not in 'images'"
    return "unknown_category", f"category_id {category_id!r} is not a number or text"


def _id_key(value: Any) -> Any:
    """What makes two annotation ids the same: their text, as drops report them (1 and "1"
    are, 1 and 1.0 are not); an int when the text is one, so that int ids need no string."""
    if value.__class__ is int:
        return value
    text = str(value)
    try:
        number = int(text)
    except ValueError:
        return text
    return number if str(number) == text else text


def _sort_key(value: Any) -> tuple[int, Any]:
    return (0, value) if isinstance(value, int) else (1, str(value))
