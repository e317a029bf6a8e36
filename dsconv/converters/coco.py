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
from array import array
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from dsconv.converters.base import (
    Candidate,
    DetectionSample,
    ImageProblem,
    IndexedReader,
    ReaderOptions,
    Vocabulary,
    canonical_split,
    collector_paused,
)
from dsconv.converters.coco_columns import BOX, Annotations, Images, Ints, Row, Texts
from dsconv.converters.paths import check_inside
from dsconv.errors import InputError, NoAnnotationsError
from dsconv.storage.files import MAX_ANNOTATION_BYTES, UnsafeFileError, open_regular

if TYPE_CHECKING:
    from dsconv.converters.probe import Detection

ROBOFLOW_FILE = "_annotations.coco.json"
PLAIN_FILES = ("annotations.json", ROBOFLOW_FILE, "instances.json")


@dataclass
class _SplitIndex:
    file: Path
    images_root: Path
    categories: dict[Any, dict[str, Any]]
    images: Images
    annotations: Annotations


@dataclass(frozen=True)
class CocoOptions(ReaderOptions):
    images_dir: Path | None = field(default=None, metadata={
        "help": "Image folder for one annotation file (default: the file's folder)."})
    keep_crowd: bool = field(default=False, metadata={
        "help": "Count iscrowd=1 regions as objects (left out: they are not countable)."})


class CocoReader(IndexedReader[CocoOptions]):
    name: ClassVar[str] = "coco"
    description: ClassVar[str] = (
        "COCO JSON: a Roboflow export (split folders with _annotations.coco.json), "
        "MMDetection (annotations/instances_{split}.json), or one annotation file"
    )

    def _index_source(self) -> None:
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
        table = Annotations()
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
        self, split: str, file: Path, items: list[Any], table: Annotations,
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
            if row.__class__ is not Row:
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
    ) -> tuple[Images, dict[Any, int], set[Any]]:
        """The usable images, their positions by id, and the ids refused as unusable; a
        repeated id or file name is reported, never silently merged."""
        names: list[str] = []
        ids, widths, heights = Ints(), Ints(), Ints()
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
        images = Images(ids.compact(), Texts(names), widths.compact(), heights.compact())
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
        loaded = self._load_image(index.images_root, file_name)
        if isinstance(loaded, ImageProblem):
            annotations = index.annotations
            return self._drop_with_objects(
                split, file_name, loaded.reason, loaded.detail,
                ((file_name, annotations.annotation_id(row)) for row in annotations.rows_of(image)))
        data, width, height = loaded
        image_id = str(images.ids[image])
        stated = (images.widths[image], images.heights[image])
        if stated not in ((width, height), (None, None)):
            self.ledger.warn(
                f"{index.file.name}: image {image_id} is {width}x{height} in its file but "
                f"{stated[0]}x{stated[1]} in the annotations; using the file's size"
            )
        table = index.annotations
        objects = self._checked_objects(split, file_name, width, height,
                                        self._candidates(split, table, image),
                                        table.annotation_id)
        return DetectionSample(split, image_id, file_name, data, width, height, objects)

    def _candidates(self, split: str, table: Annotations, image: int) -> Iterator[Candidate]:
        """The image's annotations in file order, the unusable ones with their reason."""
        names, categories, boxes, bad_boxes = (
            self._names[split], table.categories, table.boxes, table.bad_boxes)
        crowd, drop_crowd, unpack_box = table.crowd, not self.options.keep_crowd, BOX.unpack_from
        for row in table.order[table.starts[image]:table.starts[image + 1]]:
            name = names[categories[row]]
            if name is None:
                yield "", None, "unknown_category", None, row
            elif row in bad_boxes:
                yield name, None, *bad_boxes[row], row
            elif crowd[row] and drop_crowd:
                yield name, None, "crowd", None, row
            else:
                yield name, unpack_box(boxes, 32 * row), None, None, row

    @staticmethod
    def detect(src: Path) -> Detection | None:
        """`--from auto`: how sure we are that `src` is COCO, and why."""
        from dsconv.converters.sniffers import detect_coco

        return detect_coco(src)


def _load_json(file: Path, hook: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    """Parse an annotation file, dropping what we never read as it is parsed.

    Polygons are most of a COCO file's objects: compacting annotations in the object hook
    (`Annotations.add`) and reading text rather than bytes (with the collector paused by the
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
