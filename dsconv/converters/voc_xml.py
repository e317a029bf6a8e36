"""One Pascal VOC annotation file read into what the reader keeps: its `<filename>`, `<size>`
and objects (name, 1-based inclusive corners as x, y, w, h, difficult, or why the object is
unusable). Parsed through `safe_xml` (DOCTYPE refused), bounded by `MAX_LABEL_BYTES`,
streamed when large.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dsconv.converters import safe_xml
from dsconv.converters.boxes import Box
from dsconv.storage.files import (
    MAX_LABEL_BYTES,
    UnsafeFileError,
    read_bytes,
)

if TYPE_CHECKING:
    pass


CORNERS = ("xmin", "ymin", "xmax", "ymax")
DIFFICULT = frozenset({"1", "true", "1.0"})


@dataclass(slots=True)
class VocObject:
    number: int  # 1-based position among the file's objects, for the report
    name: str
    box: Box | None
    difficult: bool
    problem: tuple[str, str] | None = None  # (reason, detail) when the object is unusable


@dataclass(slots=True)
class VocXml:
    """What one annotation file says: the first `<filename>` and `<size>`, every object."""

    filename: str = ""
    size: tuple[int, int] | None = None
    objects: list[VocObject] = field(default_factory=list)
    _seen: set[str] = field(default_factory=set)

    def add(self, element: ET.Element) -> None:
        """Take in one child of `<annotation>`, complete with its own children."""
        tag = element.tag
        if tag == "object":
            self.objects.append(parse_object(len(self.objects) + 1, element))
        elif tag not in self._seen:
            self._seen.add(tag)
            if tag == "filename":
                self.filename = (element.text or "").strip()
            elif tag == "size":
                self.size = size_of(element)


STREAM_ABOVE = 1 << 20  # bytes; smaller files parse faster as a whole tree


def read_xml(path: str) -> tuple[VocXml | None, str | None]:
    """What the file says, or why it cannot be used (with line:col, or why it was not opened:
    not a regular file, over `MAX_LABEL_BYTES`, no permission, a DOCTYPE: `safe_xml`).

    A large file is parsed as a stream: each child of `<annotation>` is read when it closes
    and then freed, so memory follows the file's bytes and the objects kept, not the element
    tree (a 100 MB file of 400,000 objects took 1 GB as a tree). A usual one-image file is
    parsed whole, which is faster. Files are read whole (`read_bytes`, at most
    `MAX_LABEL_BYTES`): cheaper per file than a file object and an `fstat`.
    """
    try:
        data = read_bytes(path, MAX_LABEL_BYTES)
        parsed = VocXml()
        if len(data) > STREAM_ABOVE:
            for child in safe_xml.children(io.BytesIO(data), "annotation"):
                parsed.add(child)
            return parsed, None
        root = safe_xml.parse(data)
        if root.tag != "annotation":
            return None, f"root element is <{root.tag}>, not <annotation>"
        for child in root:
            parsed.add(child)
        return parsed, None
    except safe_xml.PARSE_ERRORS as exc:
        what, place = safe_xml.problem_place(str(exc))
        return None, f"{place}: {what}" if place else what
    except safe_xml.WrongRoot as exc:
        return None, f"root element is <{exc.tag}>, not <annotation>"
    except safe_xml.Refused as exc:
        return None, str(exc)
    except UnsafeFileError as exc:
        return None, str(exc).removeprefix(f"{path} ")
    except OSError as exc:
        return None, f"cannot read: {exc.strerror or exc}"


def size_of(element: ET.Element) -> tuple[int, int] | None:
    """`<size>` when it holds positive numbers; otherwise the image header decides."""
    try:
        width = int(float(element.findtext("width") or 0))
        height = int(float(element.findtext("height") or 0))
    except (ValueError, OverflowError):
        return None
    return (width, height) if width > 0 and height > 0 else None


def parse_object(number: int, element: ET.Element) -> VocObject:
    """One `<object>` (its `<part>` children are parts of it, not objects)."""
    name = (element.findtext("name") or "").strip()
    difficult = (element.findtext("difficult") or "0").strip().lower() in DIFFICULT
    bndbox = element.find("bndbox")
    if not name:
        return VocObject(number, name, None, difficult, ("no_name", "<object> has no <name>"))
    if bndbox is None:
        return VocObject(number, name, None, difficult, ("no_bbox", "<object> has no <bndbox>"))
    try:
        xmin, ymin, xmax, ymax = bndbox_corners(bndbox)
    except ValueError as exc:
        return VocObject(number, name, None, difficult, ("invalid_box", str(exc)))
    return VocObject(number, name, (xmin - 1, ymin - 1, xmax - xmin + 1, ymax - ymin + 1),
                   difficult)


def bndbox_corners(bndbox: ET.Element) -> list[float]:
    """xmin, ymin, xmax, ymax, in any order (each the first of its name, as for `<name>`).

    The usual file takes the first line (`float` ignores surrounding white space); the loop
    only runs to say what is wrong."""
    try:
        return [float(bndbox.findtext(tag)) for tag in CORNERS]  # type: ignore[arg-type]
    except (TypeError, ValueError):
        pass
    corners = []
    for tag in CORNERS:
        text = bndbox.findtext(tag)
        if text is None:
            raise ValueError(f"<bndbox> has no <{tag}>")
        try:
            corners.append(float(text.strip()))
        except ValueError as exc:
            raise ValueError(f"<bndbox>: {exc}") from None
    return corners
