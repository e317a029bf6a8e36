"""The `objects` column of a Hugging Face detection table: the options that name its parts,
its boxes in each bbox format as COCO pixels, its categories as class names (ClassLabel
names from the features `datasets` wrote, or text).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from dsconv.converters.base import (
    ReaderOptions,
)
from dsconv.converters.boxes import Box
from dsconv.converters.shapes import number
from dsconv.storage.files import excerpt

BboxFormat = Literal["coco", "xyxy", "yolo", "pascal_voc"]
MAX_NUMBERED_CLASSES = 10_000  # integer categories without names: class_0… up to this


@dataclass(frozen=True)
class HfOptions(ReaderOptions):
    """The shared reader options plus the box format and the column names."""

    bbox_format: BboxFormat = field(default="coco", metadata={
        "help": "The boxes' format: coco [x, y, w, h], xyxy or pascal_voc [x1, y1, x2, y2] in "
                "pixels, yolo [cx, cy, w, h] as fractions of the image."})
    image_col: str = field(default="image", metadata={"help": "The image column."})
    objects_col: str = field(default="objects", metadata={"help": "The objects column."})
    bbox_col: str = field(default="bbox", metadata={"help": "The boxes' field in objects."})
    category_col: str = field(default="category", metadata={
        "help": "The classes' field in objects (ClassLabel ids or names)."})


def to_coco(box: Any, fmt: str, width: int, height: int) -> Box:
    """A box in `fmt` as COCO [x, y, w, h] pixels; ValueError when it is not four numbers."""
    if not isinstance(box, list | tuple) or len(box) != 4:
        raise ValueError(f"bbox {excerpt(str(box), 40)} is not four numbers")
    a, b, c, d = (number(v) for v in box)
    if fmt == "coco":
        return (a, b, c, d)
    if fmt in ("xyxy", "pascal_voc"):
        return (a, b, c - a, d - b)
    return ((a - c / 2) * width, (b - d / 2) * height, c * width, d * height)  # yolo


def object_cells(cell: Any, options: HfOptions) -> tuple[list[Any], list[Any], list[Any]]:
    """Boxes, categories and ids of a row's objects, from a record of lists or a list of
    records; ValueError when the cell is neither."""
    if cell is None:
        return [], [], []
    if isinstance(cell, dict):
        boxes, categories = cell.get(options.bbox_col), cell.get(options.category_col)
        ids = cell.get("id") or []
        if not isinstance(boxes, list) or not isinstance(categories, list):
            raise ValueError(f"objects has no {options.bbox_col!r} and "
                             f"{options.category_col!r} lists")
        if len(boxes) != len(categories):
            raise ValueError(f"{len(boxes)} boxes but {len(categories)} categories")
        return boxes, categories, ids if isinstance(ids, list) else []
    if isinstance(cell, list):
        if not all(isinstance(o, dict) for o in cell):
            raise ValueError("objects is a list of something other than records")
        return ([o.get(options.bbox_col) for o in cell],
                [o.get(options.category_col) for o in cell], [o.get("id") for o in cell])
    raise ValueError("objects is neither a record of lists nor a list of records")


def class_of(category: Any, names: list[str] | None, index: dict[str, int]
           ) -> tuple[str | None, str | None]:
    if isinstance(category, bool) or category is None:
        return None, f"category {category!r}"
    if isinstance(category, int):
        if names is not None:
            if 0 <= category < len(names) and names[category] in index:
                return names[category], None
            return None, f"category {category} is not one of the {len(names)} ClassLabel names"
        name = f"class_{category}"
        return (name, None) if name in index else (None, f"category {category}")
    if isinstance(category, str) and category.strip() in index:
        return category.strip(), None
    return None, f"category {excerpt(str(category), 40)}"


def features_of(raw: bytes | None) -> dict[str, Any] | None:
    """The features `datasets` wrote into a Parquet file's schema metadata."""
    if not raw:
        return None
    try:
        info = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    features = info.get("info", {}).get("features") if isinstance(info, dict) else None
    return features if isinstance(features, dict) else None


def class_label_names(features: dict[str, Any] | None, options: HfOptions) -> list[str] | None:
    """The ClassLabel names of `objects.category`, through any `List`/`Sequence` wrapping
    (`Sequence` of a dict was stored as {"feature": {…}, "_type": "Sequence"})."""
    if not features:
        return None
    node: Any = features.get(options.objects_col)
    for _ in range(8):
        if not isinstance(node, dict):
            return None
        if options.category_col in node and "_type" not in node:
            node = node[options.category_col]
            break
        node = node.get("feature")
    for _ in range(8):
        if not isinstance(node, dict):
            return None
        if node.get("_type") == "ClassLabel":
            names = node.get("names")
            return [str(n) for n in names] if isinstance(names, list) else None
        node = node.get("feature")
    return None
