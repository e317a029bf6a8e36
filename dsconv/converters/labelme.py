"""LabelMe reader: one JSON file per image, written by the LabelMe annotation tool.

Layout: JSON files (anywhere below the folder given) with a `shapes` list and an
`imagePath`; split folders (`train/`, `valid/`, `test/`) when the folder has them, else
everything is `train`. Images in the JSON files' folders that no JSON names are images with
no objects, as LabelMe leaves an image it was never asked to label without a file.

- `rectangle`: two points, in any order (the box spans them); `polygon` (and a shape with no
  `shape_type`, as LabelMe 3 wrote): its bounding box, at least three points. Any other shape
  (`circle`, `line`, `linestrip`, `point`, `points`, `mask`) is dropped with its type as the
  reason (`shape_circle`…); a shape with fewer points than its type needs is dropped as
  `too_few_points`.
- `imagePath` is relative to the JSON file and must stay inside the dataset folder; one that
  leaves it (absolute, `..` past the root — LabelMe writes absolute paths when asked to) is
  looked up by its base name beside the JSON instead, and otherwise dropped as `unsafe_path`
  unless `allow_outside_root`. When the file does not exist, the base64 `imageData` the JSON
  embeds is used (read again from the JSON only then, never kept in the index).
- A JSON file that cannot be parsed drops its image as `bad_annotation`, the detail giving
  line:column; a JSON file without a `shapes` list is not a LabelMe file and is skipped with
  a warning.
"""

from __future__ import annotations

import base64
import binascii
import os
import posixpath
from pathlib import Path
from typing import Any, ClassVar

from dsconv.converters.base import (
    SPLIT_ALIASES,
    ReaderOptions,
    canonical_split,
    collector_paused,
)
from dsconv.converters.paths import resolve_inside
from dsconv.converters.shapes import (
    Entry,
    Shape,
    ShapeReader,
    head,
    image_names,
    listing,
    load_json,
    number,
    points_box,
    read_file,
)
from dsconv.errors import InputError, NoAnnotationsError
from dsconv.storage.files import MAX_LABEL_BYTES, excerpt

POINTS_NEEDED = {"rectangle": 2, "polygon": 3}


DETECT_FILES = 5  # JSON files `detect` opens in a folder (4 KB each) before giving up on it


class LabelMeReader(ShapeReader[ReaderOptions]):
    name: ClassVar[str] = "labelme"
    description: ClassVar[str] = (
        "LabelMe: one JSON per image (shapes, imagePath, optional imageData), "
        "in split folders or one folder"
    )

    @staticmethod
    def detect(src: Path) -> tuple[float, str] | None:
        """`--from auto`: how sure `src` is this format, and why (the module's `detect`)."""
        return detect(src)

    def _index_source(self) -> None:
        if not self.src.exists():
            raise InputError(self.src, "no such file or folder")
        if not self.src.is_dir():
            raise InputError(self.src, "expected a folder of LabelMe JSON files")
        self.root = self.src
        with collector_paused():
            self._index = {split: self._split(folder) for split, folder in self._splits()}
        if not any(e.source.endswith(".json") for es in self._index.values() for e in es):
            raise NoAnnotationsError(self.src, "labelme", "*.json files with a 'shapes' list")
        self._finish(())

    def _splits(self) -> list[tuple[str, Path]]:
        found = [(canonical_split(child.name), child) for child in sorted(self.src.iterdir())
                 if child.name.lower() in SPLIT_ALIASES and child.is_dir()
                 and not child.is_symlink()]
        return found or [("train", self.src)]

    def _split(self, base: Path) -> list[Entry]:
        prefix = _prefix(base, self.root)
        entries: list[Entry] = []
        claimed: set[str] = set()  # images a JSON names, and stems of JSON files
        folders: list[str] = []
        for folder, dirs, files in os.walk(base):  # symlinked folders are not followed
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            folders.append(_prefix(Path(folder), self.root))
            for name in sorted(files):
                if name.lower().endswith(".json") and not name.startswith("."):
                    entry = self._entry(folders[-1], name, prefix)
                    if entry is not None:
                        entries.append(entry)
                        claimed.add(entry.image or "")
                        claimed.add(folders[-1] + os.path.splitext(name)[0])
        for folder in folders:
            for name in image_names(self.root / folder):
                if folder + name not in claimed and \
                        folder + os.path.splitext(name)[0] not in claimed:
                    entries.append(Entry(_below(folder + name, prefix), folder + name,
                                         folder + name))
        return entries

    def _entry(self, folder: str, name: str, prefix: str) -> Entry | None:
        """One JSON file's image and shapes; None when it is not a LabelMe file."""
        source = folder + name
        file = self.root / source
        try:
            resolve_inside(self.root, source, self.options.allow_outside_root)
        except ValueError as exc:
            return Entry(source, None, source, problem=("unsafe_path", str(exc)))
        try:
            data = load_json(file, read_file(file, MAX_LABEL_BYTES))
        except InputError as exc:
            place = f"{exc.where}: " if exc.where else ""
            return Entry(source, None, source, problem=("bad_annotation", place + exc.reason))
        if not isinstance(data, dict) or "shapes" not in data:
            self.ledger.warn(f"{source}: not a LabelMe file (no 'shapes'); skipped")
            return None
        shapes = data["shapes"]
        if not isinstance(shapes, list):
            return Entry(source, None, source, problem=("bad_annotation", "'shapes' is not a list"))
        entry = self._image_of(folder, source, data, prefix)
        entry.shapes = [_shape(k, shape) for k, shape in enumerate(shapes, 1)]
        entry.size = _size(data)
        if data.get("imageData"):
            entry.embedded = lambda: _embedded(file)
        return entry

    def _image_of(self, folder: str, source: str, data: dict[str, Any], prefix: str) -> Entry:
        """Where the JSON's image is: `imagePath` relative to it when that stays inside the
        root, else the same base name beside the JSON."""
        path = data.get("imagePath")
        stem = posixpath.splitext(posixpath.basename(source))[0]
        if not isinstance(path, str) or not path.strip():
            return Entry(_below(folder + stem, prefix), None, source)
        path = path.replace("\\", "/")
        if self.options.allow_outside_root:
            joined = path if posixpath.isabs(path) else posixpath.join(folder, path)
            return Entry(_below(posixpath.normpath(joined), prefix), joined, source)
        relative = posixpath.normpath(posixpath.join(folder, path))
        if not (posixpath.isabs(path) or _drive(path) or relative.startswith("../")
                or relative == ".."):
            return Entry(_below(relative, prefix), relative, source)
        beside = folder + posixpath.basename(path)
        if posixpath.basename(path) and os.path.isfile(self.root / beside):
            return Entry(_below(beside, prefix), beside, source)
        entry = Entry(_below(beside, prefix), None, source)
        if not data.get("imageData"):
            entry.problem = ("unsafe_path", f"imagePath {excerpt(path)} leaves the dataset "
                             "folder (use --allow-outside-root)")
        return entry


def _shape(number_: int, shape: Any) -> Shape:
    """One LabelMe shape as a box, or the reason it cannot be one."""
    annotation = f"shape {number_}"
    if not isinstance(shape, dict):
        return Shape(annotation, "", None, ("bad_annotation", "shape is not an object"))
    label = shape.get("label")
    label = label.strip() if isinstance(label, str) else ""
    kind = shape.get("shape_type") or "polygon"
    if not isinstance(kind, str):
        return Shape(annotation, label, None, ("bad_annotation", "shape_type is not text"))
    if not label:
        return Shape(annotation, label, None, ("no_name", "shape has no label"))
    if kind not in POINTS_NEEDED:
        return Shape(annotation, label, None, (f"shape_{_word(kind)}",
                                               f"{excerpt(kind, 20)} shapes are not boxes"))
    points = shape.get("points")
    if not isinstance(points, list):
        return Shape(annotation, label, None, ("invalid_box", "points is not a list"))
    try:
        xy = [(number(p[0]), number(p[1])) for p in points
              if isinstance(p, list | tuple) and len(p) >= 2]
    except ValueError as exc:
        return Shape(annotation, label, None, ("invalid_box", str(exc)))
    if len(xy) != len(points):
        return Shape(annotation, label, None, ("invalid_box", "a point is not [x, y]"))
    if len(xy) < POINTS_NEEDED[kind]:
        return Shape(annotation, label, None, (
            "too_few_points", f"{kind} with {len(xy)} point(s), needs {POINTS_NEEDED[kind]}"))
    return Shape(annotation, label, points_box(xy))


def _size(data: dict[str, Any]) -> tuple[int, int] | None:
    width, height = data.get("imageWidth"), data.get("imageHeight")
    if isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0:
        return width, height
    return None


def _embedded(file: Path) -> bytes | None:
    """The JSON's base64 `imageData`, read again now that it is needed."""
    data = load_json(file, read_file(file, MAX_LABEL_BYTES))
    text = data.get("imageData") if isinstance(data, dict) else None
    if not isinstance(text, str) or not text:
        return None
    try:
        return base64.b64decode(text, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"imageData is not base64 ({exc})") from None


def _word(kind: str) -> str:
    """A shape type as part of a drop reason: letters, digits and `_` only."""
    word = "".join(c if c.isalnum() else "_" for c in kind.lower())[:20]
    return word or "unknown"


def _drive(path: str) -> bool:
    return len(path) >= 2 and path[1] == ":" and path[0].isalpha()


def _prefix(folder: Path, root: Path) -> str:
    relative = Path(os.path.relpath(folder, root)).as_posix()
    return "" if relative == "." else relative + "/"


def _below(name: str, prefix: str) -> str:
    """A name relative to the split folder when it is inside it, else to the root."""
    return name[len(prefix):] if prefix and name.startswith(prefix) else name


def detect(src: Path) -> tuple[float, str] | None:
    """A folder with JSON files holding `shapes` and `imagePath`, in it or in a folder just
    below (split folders, or an `annotations/` beside `images/`): the reader reads JSON files
    anywhere below, so detection looks one level down, at most a few files a folder."""
    src = Path(src)
    folders = [src] + [Path(e.path) for e in listing(src) if e.is_dir(follow_symlinks=False)]
    for folder in folders:
        jsons = [e for e in listing(folder)
                 if e.name.lower().endswith(".json") and e.is_file(follow_symlinks=False)]
        for entry in jsons[:DETECT_FILES]:
            start = head(Path(entry.path))
            if (b'"shapes"' in start and b'"imagePath"' in start) or \
                    (b'"shapes"' in start and b'"shape_type"' in start):
                return 0.9, f"{entry.path}: LabelMe JSON (shapes, imagePath)"
    return None
