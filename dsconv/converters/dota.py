"""DOTA reader (also Roboflow's DOTA-style oriented-box exports): `images/` + `labelTxt/`.

Layouts: `images/` and `labelTxt/` in the folder given (one `train` split), or in split
folders (`train/images`, `train/labelTxt`, `valid/…`, `test/…`); the label folder may also be
`labels/` (Roboflow writes DOTA lines there), any capitalisation. An image's label is
`labelTxt/{stem}.txt`; an image without one has no objects, a label without its image is a
reported drop.

A label line is `x1 y1 x2 y2 x3 y3 x4 y4 class_name difficult`, corners in pixels; the object
is the polygon's axis-aligned bounding box. DOTA's header lines (`imagesource:…`, `gsd:…`)
are skipped. Class names are names, not ids: the vocabulary is `ReaderOptions.classes` in its
order, else every name found, sorted. `difficult` objects are left out of counts (reason
`difficult`) unless `keep_difficult`, as VOC's are. Every line that cannot be an object is a
reported drop with `file:line`.

Every label file is read once, up front (the vocabulary needs every name), through
`dsconv.storage.files` (regular files only, size-bounded) after `resolve_inside`; image bytes are
read one image at a time as samples are yielded.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from dsconv.converters.base import (
    IMAGE_SUFFIXES,
    SPLIT_ALIASES,
    Candidate,
    DetectionSample,
    DifficultOptions,
    ImageProblem,
    IndexedReader,
    Vocabulary,
    canonical_split,
    collector_paused,
    unique_ids,
)
from dsconv.converters.boxes import Box
from dsconv.converters.paths import resolve_inside
from dsconv.errors import InputError, NoAnnotationsError
from dsconv.storage.files import MAX_LABEL_BYTES, UnsafeFileError, excerpt, read_text

if TYPE_CHECKING:
    from dsconv.converters.probe import Detection

LABEL_DIRS = ("labelTxt", "labels")  # Roboflow's DOTA export uses labels/
HEADERS = ("imagesource:", "gsd:")
LOOKED_FOR = "images/ + labelTxt/*.txt, in the folder or in train/, valid/, test/ folders"


@dataclass(slots=True)
class _Object:
    line: int  # 1-based line number in the label file
    name: str
    box: Box | None
    difficult: bool
    problem: str | None = None  # why the line is not an object (reason bad_label_line)


@dataclass(slots=True)
class _Image:
    image_id: str
    file_name: str  # relative to the split's image folder: what rows record
    image: str | None  # relative to the dataset folder; None: a label without its image
    label: str | None  # relative to the dataset folder, for the report; None: no label file
    objects: list[_Object] = field(default_factory=list)
    error: str | None = None  # the label file could not be read: the image is dropped


@dataclass(frozen=True)
class _Source:
    images: str  # folders relative to the dataset folder, `/`-separated
    labels: str | None


class DotaOptions(DifficultOptions):
    """DOTA's options: `keep_difficult`."""


class DotaReader(IndexedReader[DotaOptions]):
    name: ClassVar[str] = "dota"
    description: ClassVar[str] = (
        "DOTA oriented boxes (as axis-aligned boxes): images/ + labelTxt/*.txt with "
        "'x1 y1 … x4 y4 class_name difficult' lines, also in split folders (Roboflow)"
    )

    def _index_source(self) -> None:
        sources = _locate(self.src)
        self._labels_read = 0
        with collector_paused():
            self._index = {split: self._build(split, source) for split, source in sources.items()}
        if not self._labels_read:
            raise NoAnnotationsError(self.src, "DOTA", LOOKED_FOR)
        self._vocabulary = self._build_vocabulary()
        self._classes = frozenset(self._vocabulary.classes)

    def _build(self, split: str, source: _Source) -> list[_Image]:
        """The split's images with their parsed labels; labels without an image reported."""
        self.ledger.split(split)
        images = _names(self.src / source.images, IMAGE_SUFFIXES, regular=False)
        labels = (set(_names(self.src / source.labels, {".txt"}, regular=False))
                  if source.labels else set())
        self._labels_read += len(labels)
        stems = [os.path.splitext(name)[0] for name in images]
        found = []
        for name, stem, image_id in zip(images, stems, unique_ids(stems, self.ledger.warn, split),
                                        strict=True):
            label = f"{stem}.txt" if f"{stem}.txt" in labels else None
            item = _Image(image_id, name, f"{source.images}/{name}",
                          f"{source.labels}/{label}" if label else None)
            self._parse(item)
            found.append(item)
        for orphan in sorted(labels - {f"{stem}.txt" for stem in stems}):
            self._orphan(split, _Image(orphan, orphan, None, f"{source.labels}/{orphan}"))
        return found

    def _parse(self, item: _Image) -> None:
        if item.label is None:
            return
        try:
            path = resolve_inside(self.src, item.label, self.options.allow_outside_root)
            text = read_text(path, MAX_LABEL_BYTES, errors="replace")
        except (OSError, UnsafeFileError, ValueError) as exc:
            item.error = f"cannot read: {getattr(exc, 'strerror', None) or exc}"
            return
        item.objects = _objects(text)

    def _orphan(self, split: str, item: _Image) -> None:
        """A label file without its image: every object in it is a reported drop."""
        self._parse(item)
        self.ledger.drop_image(split, item.label or item.file_name, "missing_image",
                               "label file without an image")
        self.ledger.seen_objects(split, len(item.objects))
        for obj in item.objects:
            self.ledger.drop_object(split, item.label or item.file_name, "missing_image",
                                    f"{item.label or item.file_name}:{obj.line}")

    def _build_vocabulary(self) -> Vocabulary:
        noun = self.options.noun or "object"
        if self.options.classes:
            return Vocabulary(list(dict.fromkeys(self.options.classes)), noun)
        names = {obj.name for items in self._index.values() for item in items
                 for obj in item.objects if obj.problem is None}
        return Vocabulary(sorted(names), noun)

    def _sample(self, split: str, item: _Image) -> DetectionSample | None:
        self.ledger.seen_objects(split, len(item.objects))
        if item.error is not None:
            self.ledger.drop_image(split, item.label or item.file_name, "bad_annotation",
                                   item.error)
            return None
        assert item.image is not None
        loaded = self._load_image(self.src, item.image)
        if isinstance(loaded, ImageProblem):
            return self._drop_image(split, item, loaded.reason, loaded.detail)
        data, width, height = loaded
        label = item.label or item.file_name
        objects = self._checked_objects(split, label, width, height, self._candidates(item),
                                        lambda line: f"{label}:{line}")
        return DetectionSample(split, item.image_id, item.file_name, data, width, height,
                               objects)

    def _candidates(self, item: _Image) -> Iterator[Candidate]:
        """The label's objects, the unusable lines with their reason."""
        classes, drop_difficult = self._classes, not self.options.keep_difficult
        for obj in item.objects:
            if obj.problem is not None or obj.box is None:
                yield obj.name, None, "bad_label_line", obj.problem, obj.line
            elif obj.name not in classes:
                yield obj.name, None, "unknown_class", f"class {excerpt(obj.name)}", obj.line
            elif obj.difficult and drop_difficult:
                yield obj.name, None, "difficult", None, obj.line
            else:
                yield obj.name, obj.box, None, None, obj.line

    def _drop_image(self, split: str, item: _Image, reason: str, detail: str) -> None:
        label = item.label or item.file_name
        self._drop_with_objects(split, item.file_name, reason, detail,
                                ((label, f"{label}:{obj.line}") for obj in item.objects))

    @staticmethod
    def detect(src: Path) -> Detection | None:
        """`--from auto`: how sure we are that `src` is DOTA, and why."""
        from dsconv.converters.sniffers import detect_dota

        return detect_dota(src)


def _locate(src: Path) -> dict[str, _Source]:
    """Split folders with an image folder, else the folder given; at least one label folder."""
    if not src.exists():
        raise InputError(src, "no such file or folder")
    if not src.is_dir():
        raise InputError(src, "expected a DOTA dataset folder (images/ + labelTxt/)")
    sources: dict[str, _Source] = {}
    for child in sorted(p for p in src.iterdir() if p.is_dir() and not p.is_symlink()):
        if child.name.lower() in SPLIT_ALIASES:
            source = _source(child, child.name)
            if source is not None:
                sources.setdefault(canonical_split(child.name), source)
    if not sources:
        source = _source(src, "")
        sources = {"train": source} if source is not None else {}
    if not any(source.labels for source in sources.values()):
        raise NoAnnotationsError(src, "DOTA", LOOKED_FOR)
    return sources


def _source(folder: Path, prefix: str) -> _Source | None:
    """The folder's `images/` and label folder (any capitalisation), if it has images."""
    dirs = {p.name.lower(): p.name for p in folder.iterdir() if p.is_dir() and not p.is_symlink()}
    images = dirs.get("images")
    if images is None:
        return None
    labels = next((dirs[d.lower()] for d in LABEL_DIRS if d.lower() in dirs), None)
    join = (lambda name: f"{prefix}/{name}") if prefix else (lambda name: name)
    return _Source(join(images), join(labels) if labels else None)


def _names(folder: Path, suffixes: set[str] | frozenset[str], regular: bool = True
           ) -> list[str]:
    """Files directly in `folder` with one of `suffixes` (any case), sorted. With `regular`
    False anything but a folder is listed: an image or label that is a FIFO or a device is
    then reported when it is refused, never silently left out."""
    try:
        with os.scandir(folder) as entries:
            return sorted(entry.name for entry in entries
                          if os.path.splitext(entry.name)[1].lower() in suffixes
                          and (entry.is_file() if regular else not entry.is_dir()))
    except (FileNotFoundError, NotADirectoryError):
        return []


def _objects(text: str) -> list[_Object]:
    """Every line but blanks and DOTA's headers, as an object or as the problem with it."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.lower().startswith(HEADERS):
            continue
        try:
            name, box, difficult = _parse_line(stripped)
        except ValueError as exc:
            found.append(_Object(number, "", None, False, str(exc)))
            continue
        found.append(_Object(number, name, box, difficult))
    return found


def _parse_line(line: str) -> tuple[str, Box, bool]:
    """`x1 y1 x2 y2 x3 y3 x4 y4 class_name [difficult]` → name, bounding box, difficult. A
    class name may hold spaces (Roboflow's may): it is everything between the corners and a
    final integer `difficult`."""
    fields = line.split()
    if len(fields) < 9:
        raise ValueError(f"{len(fields)} fields; expected x1 y1 x2 y2 x3 y3 x4 y4 "
                         "class_name difficult")
    try:
        corners = [float(v) for v in fields[:8]]
    except ValueError:
        raise ValueError(f"non-numeric corner in {excerpt(line)}") from None
    if not all(map(math.isfinite, corners)):
        raise ValueError("non-finite corner")
    rest = fields[8:]
    difficult = False
    if len(rest) > 1 and rest[-1].lstrip("-").isdigit():
        difficult = int(rest[-1]) != 0
        rest = rest[:-1]
    xs, ys = corners[0::2], corners[1::2]
    box = (min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))
    return " ".join(rest), box, difficult
