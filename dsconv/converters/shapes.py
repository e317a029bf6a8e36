"""What the labelling-tool readers (CVAT, Label Studio, LabelMe) share: an index entry per
image holding its shapes already turned into boxes, and the sample step that reads the image
and checks each box against it.

Each format parses its annotation files up front into `Entry`s (annotations only, no
pixels); `ShapeReader._sample` then reads one image at a time. A shape that cannot be a box
(too few points, unknown type, bad numbers) carries its drop reason from parsing, so that
every annotation read is either kept or dropped with a reason in the ledger.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dsconv.converters.base import (
    IMAGE_SUFFIXES,
    Candidate,
    DetectionSample,
    ImageProblem,
    IndexedReader,
    OptionsT,
    Vocabulary,
    unique_ids,
)
from dsconv.converters.boxes import Box
from dsconv.errors import InputError
from dsconv.storage.files import UnsafeFileError, excerpt, open_regular, read_bytes
from dsconv.storage.images import image_problem, image_size

LISTING_LIMIT = 200  # entries `detect` looks at in a folder: it must stay cheap


@dataclass(slots=True)
class Shape:
    """One annotation of an image: its class and box, or why it cannot be one.

    `relative` boxes are fractions of the image's size (Label Studio's percentages / 100),
    turned into pixels with the size of the image actually read.
    """

    annotation: str  # how the report names it: "shape 2", "box 3"
    label: str
    box: Box | None
    problem: tuple[str, str | None] | None = None
    relative: bool = False


@dataclass(slots=True)
class Entry:
    """One image of the index: where its pixels are and what is drawn on it."""

    file_name: str  # what rows and the report call the image
    image: str | None  # path to read, relative to the reader's root; None: no file named
    source: str  # the annotation file the report names for its shapes
    shapes: list[Shape] = field(default_factory=list)
    image_id: str = ""
    size: tuple[int, int] | None = None  # the size the annotation states, for a warning
    problem: tuple[str, str] | None = None  # the image is dropped with this reason
    embedded: Callable[[], bytes | None] | None = None  # image bytes the annotation carries


class ShapeReader(IndexedReader[OptionsT]):
    """Reads the images of an index of `Entry`s; subclasses build `_index` and call
    `_finish` in `__init__`."""

    root: Path

    def _finish(self, labels: Iterable[str]) -> None:
        """Give each entry a unique id and set the vocabulary: `ReaderOptions.classes` in its
        order, else `labels` (the format's own order) followed by any other label used."""
        for split, entries in self._index.items():
            self.ledger.split(split)
            ids = unique_ids([_stem(e.file_name) for e in entries], self.ledger.warn, split)
            for entry, image_id in zip(entries, ids, strict=True):
                entry.image_id = image_id
        noun = self.options.noun or "object"
        if self.options.classes:
            names = list(dict.fromkeys(self.options.classes))
        else:
            used = sorted({s.label for entries in self._index.values() for e in entries
                           for s in e.shapes if s.label and s.problem is None})
            names = list(dict.fromkeys([*labels, *used]))
        self._vocabulary = Vocabulary(names, noun)
        self._classes = frozenset(names)

    def _sample(self, split: str, entry: Entry) -> DetectionSample | None:
        self.ledger.seen_objects(split, len(entry.shapes))
        if entry.problem is not None:
            return self._drop(split, entry, *entry.problem)
        loaded = self._image(entry)
        if isinstance(loaded, ImageProblem):
            return self._drop(split, entry, loaded.reason, loaded.detail)
        data, width, height = loaded
        if entry.size not in (None, (width, height)):
            self.ledger.warn(f"{entry.source}: {entry.file_name} is {width}x{height} but the "
                             f"annotation says {entry.size[0]}x{entry.size[1]}; using the "
                             "image's size")
        objects = self._checked_objects(split, entry.source, width, height,
                                        self._candidates(entry, width, height), _annotation)
        return DetectionSample(split, entry.image_id, entry.file_name, data, width, height,
                               objects)

    def _image(self, entry: Entry) -> tuple[bytes, int, int] | ImageProblem:
        """The image's bytes and size, or the reason it is dropped. A missing file falls back
        to the bytes the annotation embeds (LabelMe's imageData)."""
        missing = ImageProblem("missing_image", f"no image {entry.file_name!r} found")
        if entry.image is not None:
            loaded = self._load_image(self.root, entry.image)
            if not isinstance(loaded, ImageProblem) or loaded.reason != "missing_image":
                return loaded
            missing = loaded
        if entry.embedded is not None:
            try:
                data = entry.embedded()
            except (OSError, ValueError) as exc:
                return ImageProblem("unreadable_image", f"embedded image: {exc}")
            if data:
                if len(data) > self.options.max_image_bytes:
                    return ImageProblem("image_too_large", "embedded image over the "
                                        f"{self.options.max_image_bytes:,}-byte limit")
                try:
                    width, height = image_size(data)
                except ValueError as exc:
                    return ImageProblem(image_problem(exc), f"embedded image: {exc}")
                return data, width, height
        return missing

    def _candidates(self, entry: Entry, width: int, height: int) -> Iterator[Candidate]:
        """The shapes' boxes in pixels, the unusable ones with their reason."""
        classes = self._classes
        for shape in entry.shapes:
            if shape.problem is not None:
                yield shape.label, None, *shape.problem, shape
            elif shape.label not in classes:
                yield shape.label, None, "unknown_class", f"label {excerpt(shape.label)}", shape
            else:
                box = shape.box
                if box is not None and shape.relative:
                    box = (box[0] * width, box[1] * height, box[2] * width, box[3] * height)
                yield shape.label, box, None, None, shape

    def _drop(self, split: str, entry: Entry, reason: str, detail: str) -> None:
        self._drop_with_objects(split, entry.file_name, reason, detail,
                                ((entry.source, shape.annotation) for shape in entry.shapes))


def _annotation(shape: Shape) -> str | None:
    return shape.annotation


def points_box(points: Sequence[Sequence[float]]) -> Box:
    """The axis-aligned box around points (x, y), as x, y, w, h."""
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    x, y = min(xs), min(ys)
    return (x, y, max(xs) - x, max(ys) - y)


def number(value: Any) -> float:
    """A coordinate: a finite JSON number or numeric text; ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{excerpt(str(value), 30)} is not a number")
    result = float(value)
    if not math.isfinite(result):
        raise ValueError(f"{value!r} is not a finite number")
    return result


def load_json(file: Path, text_or_bytes: bytes | str) -> Any:
    """Parse a JSON annotation file; an error names the file and line:column."""
    try:
        text = text_or_bytes.decode("utf-8-sig") if isinstance(text_or_bytes, bytes) \
            else text_or_bytes
    except UnicodeDecodeError as exc:
        raise InputError(file, f"not UTF-8 text (byte {exc.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(file, f"invalid JSON: {exc.msg}", f"{exc.lineno}:{exc.colno}") from None
    except RecursionError:
        raise InputError(file, "JSON nested too deeply") from None


def read_file(file: Path | str, limit: int) -> bytes:
    """A regular file within `limit` bytes; an error names it in one line."""
    try:
        return read_bytes(file, limit)
    except (OSError, UnsafeFileError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InputError(file, reason) from None


def image_names(folder: Path) -> list[str]:
    """Image files directly in `folder`, sorted; none when there is no such folder."""
    try:
        with os.scandir(folder) as entries:
            return sorted(e.name for e in entries
                          if os.path.splitext(e.name)[1].lower() in IMAGE_SUFFIXES
                          and e.is_file())
    except (FileNotFoundError, NotADirectoryError):
        return []


def listing(folder: Path, limit: int = LISTING_LIMIT) -> list[os.DirEntry[str]]:
    """At most `limit` entries of a folder, for the cheap `detect` functions."""
    found: list[os.DirEntry[str]] = []
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                found.append(entry)
                if len(found) >= limit:
                    break
    except OSError:
        return []
    return found


def head(path: Path, size: int = 4096) -> bytes:
    """The first bytes of a regular file (no symlink followed), or b'' — for `detect`."""
    try:
        if os.path.islink(path):
            return b""
        with open_regular(path, 1 << 62) as handle:
            return handle.read(size)
    except (OSError, ValueError):
        return b""


def _stem(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    stem = os.path.splitext(base)[0]
    return stem or base or "image"
