"""COCO's column storage: one annotation file's images and annotations in arrays, not objects.

COCO-2017 train has 860k annotations and 118k images; as Python records they were most of a
conversion's memory. The reader (`dsconv.converters.coco`) fills these columns while the JSON
is parsed (`Annotations.add` is the parser's object hook) and reads them back per image.
"""

from __future__ import annotations

import struct
from array import array
from dataclasses import dataclass
from itertools import accumulate, pairwise
from typing import Any


class Row(int):
    """What the JSON parser leaves in an annotation's place: its row in `Annotations`.

    A distinct type, so that a literal number in the `annotations` list is still malformed;
    never a box coordinate, so that an annotation nested in a `bbox` still makes it invalid.
    """

    __slots__ = ()

    def __float__(self) -> float:
        raise TypeError("an annotation is not a number")


class Ints:
    """A column of JSON values that are nearly always integers (ids, sizes).

    An int64 array, 8 bytes a row instead of a pointer and an int object (36 bytes);
    None has a reserved value, any other value (text, a float, a huge int) is kept by row.
    """

    __slots__ = ("_has_none", "_others", "_values")

    def __init__(self) -> None:
        self._values = array("q")
        self._others: dict[int, Any] = {}
        self._has_none = False

    def __len__(self) -> int:
        return len(self._values)

    def append(self, value: Any) -> None:
        if value.__class__ is int and _OTHER < value <= _INT64_MAX:
            self._values.append(value)
        elif value is None:
            self._values.append(_NONE)
            self._has_none = True
        else:
            self._others[len(self._values)] = value
            self._values.append(_OTHER)

    def __getitem__(self, row: int) -> Any:
        value = self._values[row]
        if value > _OTHER:
            return value
        return None if value == _NONE else self._others[row]

    def __setitem__(self, row: int, value: Any) -> None:
        self._others[row] = value
        self._values[row] = _OTHER

    def compact(self) -> Ints | array:
        """The plain array when every value is an int (the usual case), so that reading a
        value costs no Python call; else the column itself."""
        return self if self._others or self._has_none else self._values


_NONE, _OTHER, _INT64_MAX = -(2**63), -(2**63) + 1, 2**63 - 1
BOX = struct.Struct("4d")  # one row of `Annotations.boxes`


class Annotations:
    """The annotations of one COCO file, in columns, one row per annotation.

    Memory: COCO-2017 train has 860k annotations. As Python objects (a record, a tuple of four
    floats, an id string, ints) they took ~300 bytes each and most of a conversion's memory;
    here a row is ~50 bytes (box 32, id 8, category 4, crowd 1, its place in `order` 4).

    Rows are made by `add`, the JSON parser's object hook, in the order annotation objects
    are parsed; `group` then keeps the rows the `annotations` list holds, image by image.
    """

    def __init__(self) -> None:
        self.boxes = array("d")  # x, y, w, h of row r at 4r … 4r+3 (zeros when bad)
        self.bad_boxes: dict[int, tuple[str, str | None]] = {}  # row → why it has no box
        self.ids: Ints | array = Ints()  # as in the file; None becomes "#{position}"
        self.categories = array("I")  # row → index in category_values
        self.category_values: list[Any] = []  # distinct category_id values, as parsed
        self.crowd = bytearray()
        self.image_ids = Ints()  # emptied by `group`
        self.order = array("I")  # rows grouped by image, in file order within an image
        self.starts = array("I")  # image k's rows: order[starts[k]:starts[k + 1]]
        self._codes: dict[Any, int] = {}

    def add(self, obj: dict[str, Any]) -> dict[str, Any] | Row:
        """Called by the JSON parser for every object: an annotation becomes a row at once,
        so the polygons, areas and extra keys of 860k annotations never pile up."""
        if "image_id" not in obj or "category_id" not in obj:
            return obj
        row = len(self.crowd)
        self.image_ids.append(obj["image_id"])
        self.ids.append(obj.get("id"))
        self.categories.append(self._code(obj["category_id"]))
        self.crowd.append(1 if obj.get("iscrowd", 0) else 0)
        box = obj.get("bbox")
        if box.__class__ is list and len(box) == 4:
            # true/false are ints to Python (and to `fromlist`): never coordinates
            if (box[0].__class__ is bool or box[1].__class__ is bool
                    or box[2].__class__ is bool or box[3].__class__ is bool):
                return self._bad_box(row, "invalid_box", "bbox holds true/false, not numbers")
            try:
                self.boxes.fromlist(box)  # all or nothing
                return Row(row)
            except (TypeError, ValueError, OverflowError):
                try:  # text such as "12.5" is a number to float()
                    self.boxes.fromlist([float(v) for v in box])
                    return Row(row)
                except (TypeError, ValueError, OverflowError):
                    pass
        if box is None:
            return self._bad_box(row, "no_bbox", None)
        return self._bad_box(row, "invalid_box", "bbox is not a list of four numbers")

    def _bad_box(self, row: int, reason: str, detail: str | None) -> Row:
        self.bad_boxes[row] = (reason, detail)
        self.boxes.fromlist([0.0, 0.0, 0.0, 0.0])
        return Row(row)

    def _code(self, category_id: Any) -> int:
        """Equal category ids share a code (they key the same category); a list or object,
        which keys nothing, gets one of its own."""
        try:
            return self._codes[category_id]
        except KeyError:
            code = self._codes[category_id] = len(self.category_values)
        except TypeError:
            code = len(self.category_values)
        self.category_values.append(category_id)
        return code

    def box(self, row: int) -> tuple[float, float, float, float]:
        return BOX.unpack_from(self.boxes, 32 * row)

    def same(self, row: int, other: int) -> bool:
        """Same category and box (the image is compared by the caller)."""
        if self.categories[row] != self.categories[other]:
            return False
        reason = self.bad_boxes.get(row)
        if reason is not None or other in self.bad_boxes:
            return reason == self.bad_boxes.get(other)
        return self.box(row) == self.box(other)

    def annotation_id(self, row: int) -> str:
        """The id drops are reported with."""
        return str(self.ids[row])

    def group(self, rows: array, images: array, n_images: int) -> None:
        """Keep `rows` (in file order), `images[i]` being the image of `rows[i]`, grouped by
        image; drop what only parsing needed."""
        counts = [0] * n_images
        for k in images:
            counts[k] += 1
        self.starts = array("I", accumulate(counts, initial=0))
        if all(a <= b for a, b in pairwise(images)):  # the usual order: no sort
            self.order = rows
        else:
            self.order = array("I", bytes(4 * len(rows)))
            place = self.starts[:-1]
            for row, k in zip(rows, images, strict=True):
                self.order[place[k]] = row
                place[k] += 1
        self.image_ids, self._codes = Ints(), {}
        if isinstance(self.ids, Ints):
            self.ids = self.ids.compact()

    def rows_of(self, image: int) -> array:
        return self.order[self.starts[image]:self.starts[image + 1]]


class Texts:
    """Strings kept as one: `texts[k]` is a slice. A list of 100k file names costs ~90 bytes
    a name, and names made by the JSON parser also pin the parser's arenas around them (the
    image objects they were parsed with): ~400 bytes an image of resident memory."""

    __slots__ = ("_ends", "_joined")

    def __init__(self, texts: list[str]) -> None:
        self._joined = "".join(texts)
        self._ends = array("q", accumulate(map(len, texts), initial=0))

    def __len__(self) -> int:
        return len(self._ends) - 1

    def __getitem__(self, k: int) -> str:
        return self._joined[self._ends[k]:self._ends[k + 1]]


@dataclass
class Images:
    """The usable images of one file, in columns; an image is its position. Ids and sizes are
    as in the file: str() of an id is the sample's image_id, a missing width is None."""

    ids: Ints | array
    file_names: Texts
    widths: Ints | array
    heights: Ints | array

    def __len__(self) -> int:
        return len(self.file_names)
