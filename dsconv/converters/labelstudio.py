"""Label Studio reader: the "JSON" and "JSON-MIN" exports of an image project.

Layout: one export file, or a folder of them; a file named after a split (`train.json`,
`valid.json`, `test.json`…) holds that split, any other export is `train`. Images are found
by file name, never by the path the task names: in `--images` (`ReaderOptions.images_dir`)
when given, else in `images/` beside the export, else in the export's folder (any depth).

- Image references are Label Studio's: `/data/upload/1/0a1b2c3d-photo.jpg` (an upload,
  whose name Label Studio prefixed with 8 hex digits and a dash), `/data/local-files/?d=dir/
  photo.jpg`, or a URL. The base name is looked up first, then the name without the upload
  prefix; a base name two files share is dropped as `ambiguous_image` (never a guess).
- "JSON": each task's `annotations`; the first one not cancelled is read, and the report says
  how many tasks had others (several annotators) that were not. A task with no annotations is
  an image with no objects; a task whose every annotation was cancelled (skipped) is dropped
  as `cancelled`. Predictions are not annotations and are not read. "JSON-MIN": one record
  per task, its regions in lists under the labelling control's name.
- `rectanglelabels` (and a `rectangle` with a `labels` result of the same id): x, y, width
  and height are percentages of the image. They become fractions of the image actually read,
  so a value outside 0–100 is a box (partly) outside the image, clipped or dropped like any
  other. `rotation` (degrees clockwise, about the top-left corner, as Label Studio turns a
  rectangle) gives the axis-aligned box around the turned one: corners (x, y), + w·(cos θ,
  sin θ), + h·(−sin θ, cos θ) and their sum, in pixels of `original_width` × `original_height`.
- `polygonlabels`: the bounding box of its points (percentages), at least 3 points. Other
  regions (key points, brushes, ellipses…) are dropped with `shape_{type}`; results that are
  not regions (choices, text, ratings) are not objects, and the report counts them.
"""

from __future__ import annotations

import math
import os
import posixpath
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, unquote, urlsplit

from dsconv.converters.base import (
    IMAGE_SUFFIXES,
    SPLIT_ALIASES,
    ReaderOptions,
    canonical_split,
    collector_paused,
)
from dsconv.converters.boxes import Box
from dsconv.converters.paths import check_inside
from dsconv.converters.shapes import (
    Entry,
    Shape,
    ShapeReader,
    head,
    listing,
    load_json,
    number,
    points_box,
    read_file,
)
from dsconv.errors import InputError, NoAnnotationsError
from dsconv.storage.files import MAX_ANNOTATION_BYTES, excerpt

UPLOAD_PREFIX = re.compile(r"^[0-9a-fA-F]{8}-(.+)$")
MIN_META = frozenset({"id", "annotator", "annotation_id", "created_at", "updated_at",
                      "lead_time", "drafts", "predictions", "meta"})
REGION_TYPES = frozenset({"keypointlabels", "keypoint", "brushlabels", "brush", "ellipselabels",
                          "ellipse", "polygon", "magicwand", "bitmasklabels", "bitmask",
                          "vectorlabels", "vector"})


@dataclass(frozen=True)
class LabelStudioOptions(ReaderOptions):
    images_dir: Path | None = field(default=None, metadata={
        "help": "Where the export's images are, found by file name (default: images/ beside "
                "the export, then its folder)."})


class LabelStudioReader(ShapeReader[LabelStudioOptions]):
    name: ClassVar[str] = "labelstudio"
    description: ClassVar[str] = (
        'Label Studio "JSON" or "JSON-MIN" export (rectanglelabels), images found by file '
        "name in --images, images/ or beside the export"
    )

    @staticmethod
    def detect(src: Path) -> tuple[float, str] | None:
        """`--from auto`: how sure `src` is this format, and why (the module's `detect`)."""
        return detect(src)

    def _index_source(self) -> None:
        if not self.src.exists():
            raise InputError(self.src, "no such file or folder")
        base = self.src if self.src.is_dir() else self.src.parent
        self.root = Path(self.options.images_dir) if self.options.images_dir else (
            base / "images" if (base / "images").is_dir() else base)
        self._by_name = _image_index(self.root)
        index: dict[str, list[Entry]] = {}
        with collector_paused():
            for split, file, tasks in self._exports(base):
                index.setdefault(split, []).extend(self._tasks(file, tasks))
        self._index = dict(index)
        self._finish(())

    def _exports(self, base: Path) -> list[tuple[str, Path, list[Any]]]:
        files = [self.src] if self.src.is_file() else sorted(
            p for p in self.src.iterdir()
            if p.suffix.lower() == ".json" and not p.name.startswith(".") and not p.is_dir())
        found = []
        for file in files:
            if self.src.is_dir():
                try:
                    file = check_inside(self.src, file, self.options.allow_outside_root)
                except ValueError as exc:
                    raise InputError(file, str(exc)) from None
            data = load_json(file, read_file(file, MAX_ANNOTATION_BYTES))
            if not _is_export(data):
                if self.src.is_file():
                    raise InputError(file, "not a Label Studio export (a list of tasks)")
                self.ledger.warn(f"{file.name}: not a Label Studio export; skipped")
                continue
            stem = file.stem.lower()
            split = canonical_split(stem) if stem in SPLIT_ALIASES else "train"
            found.append((split, file, data))
        if not found:
            raise NoAnnotationsError(self.src, "labelstudio",
                                     "*.json exports holding a list of tasks")
        return found

    def _tasks(self, file: Path, tasks: list[Any]) -> list[Entry]:
        notes: Counter[str] = Counter()
        entries = []
        for position, task in enumerate(tasks):
            if not isinstance(task, dict):
                raise InputError(file, "a task is not a JSON object", f"task {position}")
            task_id = task.get("id", position)
            where = f"task {excerpt(str(task_id), 30)}"
            results: list[Any] | None
            if isinstance(task.get("data"), dict):
                reference = _reference(task["data"])
                results, problem = _chosen(task.get("annotations"), notes)
            else:  # JSON-MIN
                reference = _reference(task)
                results, problem = _min_results(task), None
            entry = self._entry(reference, file.name, where)
            if problem and entry.problem is None:
                entry.problem = problem
            entry.shapes = _shapes(results, where, notes)
            entries.append(entry)
        if notes["several"]:
            self.ledger.warn(f"{file.name}: {notes['several']} tasks have several annotations "
                             f"(annotators); the first not cancelled was read, "
                             f"{notes['others']} others were not")
        if notes["ignored"]:
            self.ledger.warn(f"{file.name}: {notes['ignored']} results that are not regions "
                             "(choices, text, ratings) ignored")
        if notes["labels"]:
            self.ledger.warn(f"{file.name}: {notes['labels']} regions have several labels; "
                             "the first was used")
        return entries

    def _entry(self, reference: str | None, source: str, where: str) -> Entry:
        """The image a task names, found by its file name in the image folder."""
        if not reference:
            return Entry(where, None, source, problem=("missing_image",
                                                       f"{where} names no image"))
        name = _file_name(reference)
        candidates = [name]
        stripped = UPLOAD_PREFIX.match(name)
        if stripped:
            candidates.append(stripped[1])
        for candidate in candidates:
            found = self._by_name.get(candidate)
            if found is None:
                continue
            if len(found) > 1:
                return Entry(candidate, None, source, problem=(
                    "ambiguous_image", f"{where}: {len(found)} files are named {candidate!r} "
                    f"({', '.join(found[:3])})"))
            return Entry(found[0], found[0], source)
        shown = candidates[-1] or excerpt(reference)
        return Entry(shown, None, source, problem=(
            "missing_image", f"{where}: no file named {excerpt(name)} in {self.root} "
            "(give the image folder with --images)"))


def _is_export(data: Any) -> bool:
    return isinstance(data, list) and all(isinstance(t, dict) for t in data[:50]) and (
        not data or any("data" in t or "annotations" in t or _min_results(t) is not None
                        or "image" in t for t in data[:50]))


def _image_index(folder: Path) -> dict[str, list[str]]:
    """Image files below `folder` by base name (relative names, sorted); symlinked folders
    are not followed, and a symlinked file is checked when it is read."""
    found: dict[str, list[str]] = defaultdict(list)
    for current, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        relative = Path(os.path.relpath(current, folder)).as_posix()
        prefix = "" if relative == "." else relative + "/"
        for name in sorted(files):
            if os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES:
                found[name].append(prefix + name)
    return dict(found)


def _file_name(reference: str) -> str:
    """The base name a Label Studio image reference ends with (`?d=` for local files)."""
    try:
        parts = urlsplit(reference)
        query = parse_qs(parts.query).get("d")
        path = query[0] if query else unquote(parts.path)
    except ValueError:  # not a URL (an unclosed IPv6 bracket…): the text as it is
        path = reference
    return posixpath.basename(path.replace("\\", "/"))


def _reference(data: dict[str, Any]) -> str | None:
    """The task's image: the `image` field, else the first text value naming an image."""
    value = data.get("image")
    if isinstance(value, str):
        return value
    for key, value in data.items():
        if key not in MIN_META and isinstance(value, str) and \
                os.path.splitext(_file_name(value))[1].lower() in IMAGE_SUFFIXES:
            return value
    return None


def _chosen(annotations: Any, notes: Counter[str]) -> tuple[list[Any], tuple[str, str] | None]:
    """The results of the first annotation not cancelled; (results, drop reason)."""
    if not isinstance(annotations, list) or not annotations:
        return [], None
    usable = [a for a in annotations if isinstance(a, dict) and not a.get("was_cancelled")]
    if not usable:
        return [], ("cancelled", "every annotation of the task was cancelled (skipped)")
    if len(annotations) > 1:
        notes["several"] += 1
        notes["others"] += len(annotations) - 1
    results = usable[0].get("result")
    return (results if isinstance(results, list) else []), None


def _min_results(task: dict[str, Any]) -> list[Any] | None:
    """JSON-MIN regions: the lists of objects under the controls' names, as results."""
    found: list[Any] = []
    seen = False
    for key, value in task.items():
        if key in MIN_META or not isinstance(value, list):
            continue
        if value and all(isinstance(v, dict) for v in value) and \
                any(k.endswith("labels") or k in ("x", "points") for v in value for k in v):
            seen = True
            for region in value:
                kind = next((k for k in region if k.endswith("labels")), "rectangle")
                found.append({"type": kind, "value": region,
                              "original_width": region.get("original_width"),
                              "original_height": region.get("original_height")})
    return found if seen else None


def _shapes(results: Any, where: str, notes: Counter[str]) -> list[Shape]:
    if not isinstance(results, list):
        return []
    labels_by_id = {_key(r.get("id")): r["value"].get("labels") for r in results
                    if isinstance(r, dict) and r.get("type") == "labels"
                    and isinstance(r.get("value"), dict) and _key(r.get("id")) is not None}
    regions = {_key(r.get("id")) for r in results if isinstance(r, dict)
               and r.get("type") in ("rectangle", "polygon")} - {None}
    shapes = []
    for k, result in enumerate(results, 1):
        if not isinstance(result, dict):
            shapes.append(Shape(f"{where} result {k}", "", None,
                                ("bad_annotation", "result is not an object")))
            continue
        kind = result.get("type")
        name = f"{where} result {excerpt(str(result.get('id', k)), 20)}"
        value = result.get("value")
        if kind == "labels" and _key(result.get("id")) in regions:
            continue  # the label of a `rectangle` result with the same id
        if not isinstance(kind, str):
            notes["ignored"] += 1
            continue
        if kind in ("rectanglelabels", "rectangle", "polygonlabels") or kind in REGION_TYPES:
            if not isinstance(value, dict):
                shapes.append(Shape(name, "", None, ("bad_annotation", "no value")))
                continue
            labels = value.get(kind) if kind.endswith("labels") else \
                labels_by_id.get(_key(result.get("id")))
            label = _label(labels, notes)
            if not label:
                shapes.append(Shape(name, "", None, ("no_name", "region has no label")))
            elif kind in REGION_TYPES:
                shapes.append(Shape(name, label, None, (f"shape_{_word(str(kind))}",
                                                        f"{kind} regions are not boxes")))
            else:
                shapes.append(_region(name, label, str(kind), value, result))
            continue
        notes["ignored"] += 1
    return shapes


def _key(value: Any) -> str | int | None:
    """A result id that can pair a `rectangle` with its `labels` (text or a number)."""
    return value if isinstance(value, str | int) and not isinstance(value, bool) else None


def _label(labels: Any, notes: Counter[str]) -> str:
    if not isinstance(labels, list) or not labels or not isinstance(labels[0], str):
        return ""
    if len(labels) > 1:
        notes["labels"] += 1
    return labels[0].strip()


def _region(name: str, label: str, kind: str, value: dict[str, Any],
            result: dict[str, Any]) -> Shape:
    """A box as fractions of the image, or why it cannot be one."""
    try:
        if kind == "polygonlabels":
            points = value.get("points")
            if not isinstance(points, list):
                raise ValueError("points is not a list")
            xy = [(number(p[0]) / 100, number(p[1]) / 100) for p in points
                  if isinstance(p, list) and len(p) >= 2]
            if len(xy) != len(points):
                raise ValueError("a point is not [x, y]")
            if len(xy) < 3:
                return Shape(name, label, None, ("too_few_points",
                                                 f"polygon with {len(xy)} point(s), needs 3"))
            return Shape(name, label, points_box(xy), relative=True)
        x, y, w, h = (number(value.get(k)) / 100 for k in ("x", "y", "width", "height"))
        rotation = number(value.get("rotation") or 0)
        if rotation % 360:
            width, height = result.get("original_width"), result.get("original_height")
            if not (isinstance(width, int | float) and width > 0
                    and isinstance(height, int | float) and height > 0):
                raise ValueError("a rotated box needs original_width and original_height")
            return Shape(name, label, rotated_fraction((x, y, w, h), rotation, width, height),
                         relative=True)
        return Shape(name, label, (x, y, w, h), relative=True)
    except ValueError as exc:
        return Shape(name, label, None, ("invalid_box", str(exc)))


def rotated_fraction(box: Box, degrees: float, width: float, height: float) -> Box:
    """The upright box, as fractions of the image, around a Label Studio rectangle turned by
    `degrees` clockwise about its top-left corner (fractions x, y, w, h of a width×height
    image): the turn is done in pixels, where angles are true."""
    x, y, w, h = box[0] * width, box[1] * height, box[2] * width, box[3] * height
    theta = math.radians(degrees)
    cos, sin = math.cos(theta), math.sin(theta)
    corners = [(x, y), (x + w * cos, y + w * sin), (x - h * sin, y + h * cos),
               (x + w * cos - h * sin, y + w * sin + h * cos)]
    left, top, box_w, box_h = points_box(corners)
    return (left / width, top / height, box_w / width, box_h / height)


def _word(kind: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in kind.lower())[:20] or "unknown"


def detect(src: Path) -> tuple[float, str] | None:
    """A `.json` export that starts as a list of tasks with Label Studio's keys."""
    src = Path(src)
    files = [src] if src.is_file() else [
        Path(e.path) for e in listing(src)
        if e.name.lower().endswith(".json") and e.is_file(follow_symlinks=False)]
    for file in files[:20]:
        start = head(file).lstrip(b"\xef\xbb\xbf \t\r\n")
        if not start.startswith(b"["):
            continue
        if (b'"annotations"' in start and b'"data"' in start) or \
                b'"rectanglelabels"' in start or b'"/data/upload/' in start:
            return 0.9, f"{file}: Label Studio export (tasks with data and annotations)"
    return None
