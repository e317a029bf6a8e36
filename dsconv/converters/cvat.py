"""CVAT for images 1.1 reader: one `annotations.xml` beside an `images/` folder.

Layout, as CVAT exports a task or a project: `annotations.xml` and `images/`; an image's
file is looked up as `images/{subset}/{name}` (a project export with subsets), then
`images/{name}`, then `{name}` beside the XML. The split is the `<image subset="…">`
attribute (`Train`, `Validation`…; `train` without one). Split folders (`train/`,
`valid/`, `test/`) each holding such an export are read as those splits.

- `<box>`: xtl, ytl, xbr, ybr in pixels; a `rotation` (degrees, about the box centre) gives
  the axis-aligned box around the rotated one (see `rotated_box`).
- `<polygon>` (at least 3 points) and `<polyline>` (at least 2), and `<ellipse>` (cx, cy,
  rx, ry): their bounding box. Other shapes (`<points>`, `<cuboid>`, `<mask>`,
  `<skeleton>`) are dropped with `shape_{tag}` as the reason; too few points: `too_few_points`.
- `<tag>` elements label the whole image, not a region: they are not objects, and the report
  says how many were ignored. `occluded="1"` objects are kept (a row has no occlusion
  column), and the report says how many there were.
- Class names and their order come from the `<label>`s in `<meta>` (skeleton points, which
  have a `<parent>`, are not classes); a label used but not declared is still a class, after
  the declared ones.

The XML is untrusted: a file with a DOCTYPE is refused before anything is expanded (entity
bombs and external entities are declared there), the file is opened as a bounded regular
file and streamed one `<image>` at a time. A broken file is an error naming its line:column.
A CVAT for video file (`<track>`) is refused with a hint.
"""

from __future__ import annotations

import math
import os
import posixpath
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

from dsconv.converters import safe_xml
from dsconv.converters.base import (
    SPLIT_ALIASES,
    ReaderOptions,
    canonical_split,
    collector_paused,
)
from dsconv.converters.boxes import Box
from dsconv.converters.paths import check_inside
from dsconv.converters.shapes import Entry, Shape, ShapeReader, head, listing, points_box
from dsconv.errors import InputError, NoAnnotationsError
from dsconv.storage.files import MAX_ANNOTATION_BYTES, UnsafeFileError, excerpt, open_regular

ANNOTATION_FILE = "annotations.xml"
POINTS_NEEDED = {"polygon": 3, "polyline": 2}
BOX_ATTRIBUTES = ("xtl", "ytl", "xbr", "ybr")


class CvatReader(ShapeReader[ReaderOptions]):
    name: ClassVar[str] = "cvat"
    description: ClassVar[str] = (
        "CVAT for images 1.1 XML: annotations.xml beside images/ (boxes, polygons, polylines)"
    )

    @staticmethod
    def detect(src: Path) -> tuple[float, str] | None:
        """`--from auto`: how sure `src` is this format, and why (the module's `detect`)."""
        return detect(src)

    def _index_source(self) -> None:
        files = _locate(self.src)
        self.root = self.src if self.src.is_dir() else self.src.parent
        labels: list[str] = []
        index: dict[str, list[Entry]] = {}
        with collector_paused():
            for split, file in files:
                for name, entries in self._read(file, split, labels).items():
                    index.setdefault(name, []).extend(entries)
        self._index = dict(index)
        self._finish(labels)

    def _read(self, file: Path, split: str | None, labels: list[str]) -> dict[str, list[Entry]]:
        """One annotations.xml: entries by split, its labels added to `labels`."""
        if self.src.is_dir():
            try:
                file = check_inside(self.root, file, self.options.allow_outside_root)
            except ValueError as exc:
                raise InputError(file, str(exc)) from None
        folder = _prefix(file.parent, self.root)
        images = _image_files(self.root / folder)
        source = folder + file.name
        found: dict[str, list[Entry]] = {}
        tags: Counter[str] = Counter()
        occluded = 0
        for element in _elements(file):
            if element.tag == "meta":
                labels.extend(n for n in _labels(element) if n not in labels)
                continue
            if element.tag == "track":
                raise InputError(file, "has <track>s: this is CVAT for video; export the task "
                                 "as CVAT for images 1.1")
            if element.tag != "image":
                continue
            name = (element.get("name") or "").replace("\\", "/")
            subset = element.get("subset") or ""
            entry_split = split or canonical_split(subset or "train")
            entry = Entry(name or f"image {element.get('id')}",
                          _find(images, folder, subset, name), source)
            entry.size = _size(element)
            if not name:
                entry.problem = ("missing_image", "<image> has no name")
            for child in element:
                if child.tag == "tag":
                    tags[child.get("label") or ""] += 1
                    continue
                number = len(entry.shapes) + 1
                entry.shapes.append(_shape(child, f"image {element.get('id')} {child.tag} "
                                                  f"{number}"))
                occluded += child.get("occluded") == "1"
            found.setdefault(entry_split, []).append(entry)
        if tags:
            self.ledger.warn(f"{source}: {sum(tags.values())} <tag>s (labels of a whole image, "
                             "not regions) ignored")
        if occluded:
            self.ledger.warn(f"{source}: {occluded} objects are marked occluded; kept (rows "
                             "have no occlusion column)")
        return found


def _locate(src: Path) -> list[tuple[str | None, Path]]:
    """The annotation files, each with its split (None: the `subset` attribute says)."""
    if not src.exists():
        raise InputError(src, "no such file or folder")
    if src.is_file():
        return [(None, src)]
    if os.path.lexists(src / ANNOTATION_FILE):  # a FIFO or device is found, then refused
        return [(None, src / ANNOTATION_FILE)]
    found: list[tuple[str | None, Path]] = [(canonical_split(child.name), child / ANNOTATION_FILE)
             for child in sorted(src.iterdir())
             if child.name.lower() in SPLIT_ALIASES and child.is_dir()
             and os.path.lexists(child / ANNOTATION_FILE)]
    if not found:
        raise NoAnnotationsError(src, "cvat", f"{ANNOTATION_FILE} or */{ANNOTATION_FILE}")
    return found


def _image_files(folder: Path) -> set[str]:
    """Every file below `folder/images` (as `images/…` names) and directly in `folder`, so
    that finding an image costs no file-system call."""
    names: set[str] = set()
    base = folder / "images"
    for current, dirs, files in os.walk(base):  # symlinked folders are not followed
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        relative = Path(os.path.relpath(current, folder)).as_posix()
        names.update(f"{relative}/{f}" for f in files)
    try:
        with os.scandir(folder) as entries:
            names.update(e.name for e in entries if not e.is_dir())
    except OSError:
        pass
    return names


def _find(images: set[str], folder: str, subset: str, name: str) -> str | None:
    """The image file, relative to the reader's root; unchecked names (`..`, absolute) are
    returned as they are, for the sample step to refuse as `unsafe_path`."""
    if not name:
        return None
    candidates = [f"images/{subset}/{name}", f"images/{name}", name] if subset else \
        [f"images/{name}", name]
    for candidate in candidates:
        if candidate in images:
            return folder + candidate
    if posixpath.isabs(name) or ".." in name.split("/") or (len(name) > 1 and name[1] == ":"):
        return name  # refused, not looked for elsewhere
    return folder + candidates[0]


def _labels(meta: ET.Element) -> list[str]:
    """Declared class names in order; skeleton points (labels with a parent) are not classes."""
    names = []
    for label in meta.iter("label"):
        name = (label.findtext("name") or "").strip()
        if name and not (label.findtext("parent") or "").strip() and name not in names:
            names.append(name)
    return names


def _shape(element: ET.Element, annotation: str) -> Shape:
    tag = element.tag
    label = (element.get("label") or "").strip()
    if not label:
        return Shape(annotation, label, None, ("no_name", f"<{tag}> has no label"))
    try:
        if tag == "box":
            xtl, ytl, xbr, ybr = (_float(element, a) for a in BOX_ATTRIBUTES)
            box: Box = (xtl, ytl, xbr - xtl, ybr - ytl)
            rotation = element.get("rotation")
            if rotation not in (None, "", "0", "0.0"):
                box = rotated_box(box, _float(element, "rotation"))
            return Shape(annotation, label, box)
        if tag == "ellipse":
            cx, cy, rx, ry = (_float(element, a) for a in ("cx", "cy", "rx", "ry"))
            return Shape(annotation, label, (cx - rx, cy - ry, 2 * rx, 2 * ry))
        if tag in POINTS_NEEDED:
            points = _points(element.get("points") or "")
            if len(points) < POINTS_NEEDED[tag]:
                return Shape(annotation, label, None, (
                    "too_few_points",
                    f"<{tag}> with {len(points)} point(s), needs {POINTS_NEEDED[tag]}"))
            return Shape(annotation, label, points_box(points))
    except ValueError as exc:
        return Shape(annotation, label, None, ("invalid_box", str(exc)))
    return Shape(annotation, label, None, (f"shape_{_word(tag)}",
                                           f"<{excerpt(tag, 20)}> is not a box"))


def rotated_box(box: Box, degrees: float) -> Box:
    """The axis-aligned box around `box` turned by `degrees` about its centre.

    A w×h rectangle turned by θ spans w·|cos θ| + h·|sin θ| across and w·|sin θ| + h·|cos θ|
    down, centred where it was: the smallest upright box holding every pixel of it.
    """
    x, y, w, h = box
    theta = math.radians(degrees)
    cos, sin = abs(math.cos(theta)), abs(math.sin(theta))
    width, height = w * cos + h * sin, w * sin + h * cos
    cx, cy = x + w / 2, y + h / 2
    return (cx - width / 2, cy - height / 2, width, height)


def _float(element: ET.Element, name: str) -> float:
    text = element.get(name)
    if text is None:
        raise ValueError(f"<{element.tag}> has no {name}")
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name}={excerpt(text, 30)} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{name}={excerpt(text, 30)} is not a finite number")
    return value


def _points(text: str) -> list[tuple[float, float]]:
    """CVAT's `x1,y1;x2,y2;…`."""
    points = []
    for pair in text.split(";"):
        if not pair.strip():
            continue
        parts = pair.split(",")
        try:
            x, y = float(parts[0]), float(parts[1])
        except (ValueError, IndexError):
            raise ValueError(f"point {excerpt(pair, 30)} is not x,y") from None
        if len(parts) != 2 or not (math.isfinite(x) and math.isfinite(y)):
            raise ValueError(f"point {excerpt(pair, 30)} is not x,y")
        points.append((x, y))
    return points


def _size(element: ET.Element) -> tuple[int, int] | None:
    try:
        width, height = int(element.get("width") or 0), int(element.get("height") or 0)
    except ValueError:
        return None
    return (width, height) if width > 0 and height > 0 else None


def _word(tag: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in tag.lower())[:20] or "unknown"


def _prefix(folder: Path, root: Path) -> str:
    relative = Path(os.path.relpath(folder, root)).as_posix()
    return "" if relative == "." else relative + "/"


def _elements(file: Path) -> Iterator[ET.Element]:
    """The children of `<annotations>`, each complete when yielded, then freed."""
    try:
        handle = open_regular(file, MAX_ANNOTATION_BYTES)
    except (OSError, UnsafeFileError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InputError(file, reason) from None
    with handle:
        try:
            yield from safe_xml.children(handle, "annotations")
        except safe_xml.WrongRoot as exc:
            raise InputError(file, f"root element is <{excerpt(exc.tag)}>, "
                             "not <annotations> (not a CVAT for images file)") from None
        except safe_xml.PARSE_ERRORS as exc:
            what, place = safe_xml.problem_place(str(exc))
            raise InputError(file, f"invalid XML: {what}", place) from None
        except safe_xml.Refused as exc:
            raise InputError(file, str(exc)) from None


def detect(src: Path) -> tuple[float, str] | None:
    """`annotations.xml` (in the folder or its split folders) whose root is <annotations>."""
    src = Path(src)
    candidates = [src / ANNOTATION_FILE] + [
        Path(e.path) / ANNOTATION_FILE for e in listing(src)
        if e.name.lower() in SPLIT_ALIASES and e.is_dir(follow_symlinks=False)]
    for file in candidates:
        start = head(file)
        if b"<annotations" in start and (b"<version>1.1" in start or b"<meta" in start):
            return 0.95, f"{file}: CVAT for images XML (<annotations>, <meta>)"
        if b"<annotations" in start:
            return 0.6, f"{file}: an <annotations> XML"
    return None
