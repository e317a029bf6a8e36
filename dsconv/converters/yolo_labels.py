"""YOLO label files: reading them bounded, splitting their lines, parsing a line into a
class id and a box (normalised centre/size, or a polygon) and that box into pixels.
"""

from __future__ import annotations

import math
import os
from collections.abc import Collection, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from dsconv.converters.boxes import Box
from dsconv.converters.yolo_files import files_under, is_text, path_order, relative_path
from dsconv.converters.yolo_layout import NOT_LABELS
from dsconv.storage.files import (
    MAX_LABEL_BYTES,
    FileTooLargeError,
    UnsafeFileError,
    excerpt,
    open_regular,
)

if TYPE_CHECKING:

    pass


TOLERANCE = 0.01  # normalised values this far outside 0–1 are rounding, clipped; beyond, dropped
BOX_FIELDS = ("x_center", "y_center", "width", "height")
HEAD_BYTES = 4096  # what is read of a stray .txt to tell whether it is a label file
LINES_AT_ONCE = 1 << 20  # a label's text is split into lines this many characters at a time
NO_FOLLOW = hasattr(os, "O_NOFOLLOW")  # else every label's path is checked before it is opened


class BadLine(Exception):
    """A label line that cannot become an object: the drop reason and what was wrong."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def label_text(path: str, follow_symlinks: bool = True) -> str:
    """A label file's text; "" when there is none (no label file means no objects).
    UnsafeFileError for a FIFO or a file over MAX_LABEL_BYTES, OSError when unreadable."""
    try:
        handle = open_regular(path, MAX_LABEL_BYTES, follow_symlinks=follow_symlinks)
    except FileNotFoundError:
        return ""
    with handle:
        data = handle.read()  # whole: the size was checked, a bounded read costs 6× more
    if len(data) > MAX_LABEL_BYTES:
        raise FileTooLargeError(f"{path} grew over the {MAX_LABEL_BYTES:,}-byte limit "
                                "while read")
    return data.decode("utf-8-sig", errors="replace")


def label_head(path: str) -> str:
    """The start of a `.txt` file: enough to tell a label file from notes or a list."""
    with open_regular(path, MAX_LABEL_BYTES) as handle:
        return handle.read(HEAD_BYTES).decode("utf-8-sig", errors="replace")


def label_lines(text: str) -> Iterable[str]:
    """A label's lines as `str.splitlines` gives them, a megabyte at a time (cut after a
    `\n`, so the lines and their numbers are the same): a big label's lines as one list took
    2.5 times the file, on top of the objects made from them."""
    if len(text) <= LINES_AT_ONCE:
        return text.splitlines()
    return lines_in_parts(text)


def lines_in_parts(text: str) -> Iterator[str]:
    start = 0
    while start < len(text):
        end = text.find("\n", start + LINES_AT_ONCE)
        end = len(text) if end < 0 else end + 1
        yield from text[start:end].splitlines()
        start = end


def numbered(text: str) -> list[int]:
    """The line numbers (1-based) of a label's non-blank lines: its annotations."""
    return [n for n, line in enumerate(label_lines(text), 1) if line and not line.isspace()]


def looks_like_labels(head: str) -> bool:
    """A stray README or list file is not a label file: its first line is not `int floats…`
    (five or more fields, ASCII)."""
    for line in head.splitlines():
        fields = line.split()
        if not fields:
            continue
        try:
            parse_class_id(fields[0])
            [float(v) for v in fields[1:]]
        except (BadLine, ValueError):
            return False
        return len(fields) >= 5 and line.isascii() and "_" not in line
    return False


def parse_class_id(text: str) -> int:
    """An ASCII class id (checked by the caller); `1.0` is one too."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise BadLine("bad_label_line", f"class id {excerpt(text)} is not a number") from None
    if not value.is_integer():
        raise BadLine("bad_label_line", f"class id {excerpt(text)} is not an integer")
    return int(value)


def parse_line(fields: list[str], keypoint_fields: int) -> tuple[int, list[float]]:
    """`class cx cy w h [conf]`, `class x1 y1 x2 y2 … (polygon)` or a pose line → id, values.
    The line is ASCII without `_` (checked by the caller)."""
    n = len(fields) - 1
    if keypoint_fields:
        if n != 4 + keypoint_fields:
            raise BadLine("bad_label_line", f"{len(fields)} fields; a pose line has "
                                             f"{5 + keypoint_fields}")
    elif n not in (4, 5) and (n < 6 or n % 2):
        raise BadLine("bad_label_line", f"{len(fields)} fields; expected 5 (class cx cy w h), "
                                         "6 (with a confidence) or an odd number ≥ 7 (polygon)")
    class_id = parse_class_id(fields[0])
    try:
        values = list(map(float, fields[1:]))
    except ValueError:
        raise BadLine("bad_label_line", "non-numeric coordinate") from None
    if not all(map(math.isfinite, values)):
        raise BadLine("bad_label_line", "non-finite coordinate")
    if keypoint_fields or n in (4, 5):
        del values[4:]
        check_normalised(values, BOX_FIELDS)
        return class_id, values
    check_normalised(values, ("x", "y") * (n // 2))
    return class_id, values


def check_normalised(values: list[float], names: Iterable[str]) -> None:
    """Each value (finite by now) within the tolerance of 0–1, else which one is not."""
    if min(values) >= -TOLERANCE and max(values) <= 1 + TOLERANCE:
        return
    for name, value in zip(names, values, strict=True):
        if not -TOLERANCE <= value <= 1 + TOLERANCE:
            raise BadLine("box_outside_image", f"{name} {value:g} is outside 0–1")


def pixel_box(values: list[float], width: int, height: int) -> Box:
    """Normalised centre box or polygon → COCO `[x, y, w, h]` in pixels."""
    if len(values) == 4:
        cx, cy, w, h = values
        return ((cx - w / 2) * width, (cy - h / 2) * height, w * width, h * height)
    xs, ys = values[0::2], values[1::2]
    return (min(xs) * width, min(ys) * height,
            (max(xs) - min(xs)) * width, (max(ys) - min(ys)) * height)


def unread_labels(root: Path, scanned: Collection[str], known: set[str]) -> list[str]:
    """Files under `root` that look like YOLO labels (by their first bytes) but are none of
    the `known` names and lie in no `scanned` folder (searched for labels already)."""
    top = os.fspath(root)
    if top.rstrip(os.sep) in scanned:  # labels beside the images from the root down
        return []
    unread = []
    for path in sorted(files_under(top, is_text, skip_hidden=True, skip=frozenset(scanned)),
                       key=path_order):
        name = relative_path(path, root)
        if name in known or os.path.basename(path).lower() in NOT_LABELS:
            continue
        try:
            if looks_like_labels(label_head(path)):
                unread.append(name)
        except (OSError, UnsafeFileError):
            continue  # not a file that can be read: not one that could be a label
    return unread
