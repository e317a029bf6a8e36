"""COCO JSON reader: Roboflow exports (split folders), MMDetection and plain annotation files.

Each annotation file is parsed once into a compact per-image index; samples are then
yielded one image at a time, with the image bytes read only when the sample is yielded.
"""

from __future__ import annotations

import gc
import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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
)
from dsconv.converters.boxes import check_box
from dsconv.converters.paths import resolve_inside
from dsconv.errors import InputError
from dsconv.io.images import read_image

ROBOFLOW_FILE = "_annotations.coco.json"
PLAIN_FILES = ("annotations.json", ROBOFLOW_FILE, "instances.json")


@dataclass(slots=True)
class _Annotation:
    """The fields we use of one annotation, made while the JSON is parsed (see `_compact`)."""

    id: str | None
    image_id: Any
    category_id: Any
    bbox: tuple[float, float, float, float] | str  # a box, or why there is none
    iscrowd: bool


@dataclass(slots=True)
class _Image:
    id: str
    file_name: str
    width: int | None
    height: int | None
    annotations: list[_Annotation]


@dataclass
class _SplitIndex:
    file: Path
    images_root: Path
    categories: dict[Any, dict[str, Any]]
    images: list[_Image]


class CocoReader(IndexedReader):
    name: ClassVar[str] = "coco"
    description: ClassVar[str] = (
        "COCO JSON: a Roboflow export (split folders with _annotations.coco.json), "
        "MMDetection (annotations/instances_{split}.json), or one annotation file"
    )

    def __init__(self, src: Path, ledger: Ledger, options: ReaderOptions | None = None) -> None:
        super().__init__(src, ledger, options)
        with _collector_paused():
            self._files = {split: self._parse(split, file, root)
                           for split, (file, root) in self._locate().items()}
        self._index = {split: index.images for split, index in self._files.items()}
        self._vocabulary, self._class_of = self._build_vocabulary()

    def _locate(self) -> dict[str, tuple[Path, Path]]:
        """Annotation file and image root per split, for the layouts we recognise."""
        src = self.src
        if not src.exists():
            raise InputError(src, "no such file or folder")
        if src.is_file():
            return {"train": (src, self.options.images_dir or src.parent)}
        found: dict[str, tuple[Path, Path]] = {}
        for child in sorted(p for p in src.iterdir() if p.is_dir()):
            if (child / ROBOFLOW_FILE).is_file():
                found[canonical_split(child.name)] = (child / ROBOFLOW_FILE, child)
        if found:
            return found
        for other in sorted((src / "annotations").glob("*.json")):
            if not other.name.startswith("instances_"):
                self.ledger.warn(f"{other}: ignored (not an instances_* detection file)")
        for file in sorted((src / "annotations").glob("instances_*.json")):
            split = file.stem.removeprefix("instances_")
            root = next((r for r in (src / split, src / "images" / split) if r.is_dir()), src)
            found[canonical_split(split.rstrip("0123456789") or split)] = (file, root)
        if found:
            return found
        for name in PLAIN_FILES:
            if (src / name).is_file():
                return {"train": (src / name, self.options.images_dir or src)}
        raise InputError(
            src, f"no COCO annotations found (looked for */{ROBOFLOW_FILE}, "
            f"annotations/instances_*.json, {', '.join(PLAIN_FILES)})"
        )

    def _parse(self, split: str, file: Path, root: Path) -> _SplitIndex:
        data = _load_json(file)
        for key in ("images", "annotations", "categories"):
            if not isinstance(data.get(key), list):
                raise InputError(file, f"missing or invalid {key!r} list")
        self.ledger.split(split)
        categories = self._categories(file, data["categories"])
        images, rejected = self._images(split, file, data["images"])
        seen: dict[str, _Annotation] = {}
        for i, ann in enumerate(data["annotations"]):
            if not isinstance(ann, _Annotation):
                raise InputError(
                    file, "annotation needs 'image_id' and 'category_id'", f"annotations[{i}]"
                )
            self.ledger.seen_objects(split)
            if ann.id is None:
                ann.id = f"#{i}"
            problem = _reference_problem(ann, images, rejected)
            if problem:
                reason, detail = problem
                self.ledger.drop_object(split, file.name, reason, ann.id, detail)
                continue
            earlier = seen.get(ann.id)
            if earlier is not None and (earlier.image_id, earlier.category_id, earlier.bbox) == (
                    ann.image_id, ann.category_id, ann.bbox):
                self.ledger.drop_object(split, file.name, "duplicate_annotation", ann.id,
                                        "same id, image, category and box as an earlier one")
                continue
            if earlier is not None:
                self.ledger.warn(f"{file}: annotation id {ann.id} is used more than once")
            seen[ann.id] = ann
            images[ann.image_id].annotations.append(ann)
        return _SplitIndex(file, root, categories, list(images.values()))

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
    ) -> tuple[dict[Any, _Image], set[Any]]:
        """Images by id, and the ids refused as unusable; a repeated id or file name is
        reported, never silently merged."""
        images: dict[Any, _Image] = {}
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
            if image["id"] in images or name in files:
                reason = "duplicate_image_id" if image["id"] in images else "duplicate_file_name"
                self.ledger.drop_image(split, name, reason, f"{file.name} images[{i}]")
                continue
            files.add(name)
            images[image["id"]] = _Image(
                str(image["id"]), name, image.get("width"), image.get("height"), []
            )
        return images, rejected

    def _build_vocabulary(self) -> tuple[Vocabulary, dict[tuple[str, Any], str]]:
        """Classes by category id, never by position; a bare supercategory is not a class."""
        used: Counter[str] = Counter()
        for index in self._files.values():
            for image in index.images:
                used.update(index.categories[a.category_id]["name"] for a in image.annotations
                            if a.category_id in index.categories)
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

    def _sample(self, split: str, image: _Image) -> DetectionSample | None:
        index = self._files[split]
        try:
            path = resolve_inside(index.images_root, image.file_name,
                                  self.options.allow_outside_root)
        except ValueError as exc:
            return self._drop_image(split, image, "unsafe_path", str(exc))
        try:
            data, width, height = read_image(path)
        except FileNotFoundError:
            return self._drop_image(split, image, "missing_image", f"{path} does not exist")
        except (OSError, ValueError) as exc:
            return self._drop_image(split, image, "unreadable_image", str(exc))
        if (image.width, image.height) not in ((width, height), (None, None)):
            self.ledger.warn(
                f"{index.file.name}: image {image.id} is {width}x{height} in its file but "
                f"{image.width}x{image.height} in the annotations; using the file's size"
            )
        objects = []
        for ann in image.annotations:
            reason = self._keep(split, ann)
            box, note = (None, reason) if reason else check_box(
                ann.bbox, width, height, self.options.box_policy)
            if box is None:
                self.ledger.drop_object(split, image.file_name, note or "invalid_box", ann.id)
                continue
            if note == "clipped":
                self.ledger.clipped(split)
            objects.append(DetectionObject(self._class_of[(split, ann.category_id)], box))
        return DetectionSample(split, image.id, image.file_name, data, width, height, objects)

    def _keep(self, split: str, ann: _Annotation) -> str | None:
        if (split, ann.category_id) not in self._class_of:
            return "unknown_category"
        if isinstance(ann.bbox, str):
            return ann.bbox
        if ann.iscrowd and not self.options.keep_crowd:
            return "crowd"
        return None

    def _drop_image(self, split: str, image: _Image, reason: str, detail: str) -> None:
        self.ledger.drop_image(split, image.file_name, reason, detail)
        for ann in image.annotations:
            self.ledger.drop_object(split, image.file_name, reason, ann.id)


def _load_json(file: Path) -> dict[str, Any]:
    """Parse an annotation file, dropping what we never read as it is parsed.

    Polygons are most of a COCO file's objects: compacting annotations in the object hook and
    reading text rather than bytes (with the collector paused by the caller) takes
    COCO-2017-train from 3.5 GB peak and 20 s to about 1 GB and 6 s.
    """
    try:
        with file.open(encoding="utf-8-sig") as handle:
            data = json.load(handle, object_hook=_compact)
    except json.JSONDecodeError as exc:
        raise InputError(file, f"invalid JSON: {exc.msg}", f"{exc.lineno}:{exc.colno}") from None
    except UnicodeDecodeError as exc:
        raise InputError(file, f"not UTF-8 text ({exc.reason})") from None
    if not isinstance(data, dict):
        raise InputError(file, "top level is not a JSON object")
    return data


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Parsing creates millions of containers that all stay alive; without a pause the cyclic
    collector rescans them again and again."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _compact(obj: dict[str, Any]) -> dict[str, Any] | _Annotation:
    """Called by the JSON parser for every object: an annotation becomes a small record at
    once, so the polygons, areas and extra keys of 860k annotations never pile up."""
    if "image_id" not in obj or "category_id" not in obj:
        return obj
    ann_id = obj.get("id")
    return _Annotation(
        None if ann_id is None else str(ann_id), obj["image_id"], obj["category_id"],
        _box(obj.get("bbox")), bool(obj.get("iscrowd", 0)),
    )


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
    ann: _Annotation, images: dict[Any, _Image], rejected: set[Any]
) -> tuple[str, str] | None:
    """(reason, detail) when an annotation's image or category cannot be used."""
    image_id, category_id = ann.image_id, ann.category_id
    if not _is_key(image_id) or (image_id not in images and image_id not in rejected):
        return "unknown_image", f"image_id {image_id!r} is not in 'images'"
    if image_id in rejected:
        return "invalid_image_id", f"image {image_id!r} was refused"
    if not _is_key(category_id):
        return "unknown_category", f"category_id {category_id!r} is not a number or text"
    return None


def _box(value: Any) -> tuple[float, float, float, float] | str:
    if value is None:
        return "no_bbox"
    if not isinstance(value, list) or len(value) != 4:
        return "invalid_box"
    try:
        x, y, w, h = (float(v) for v in value)
    except (TypeError, ValueError):
        return "invalid_box"
    return (x, y, w, h)


def _sort_key(value: Any) -> tuple[int, Any]:
    return (0, value) if isinstance(value, int) else (1, str(value))
