"""Size and EXIF orientation of a JPEG from its marker segments, without Pillow.

Opening every image with Pillow just to learn its size cost a fifth of a conversion; walking the
markers up to the frame header reads the same two numbers in a few microseconds. Anything this
walk does not understand returns None, and the caller asks Pillow instead.
"""

from __future__ import annotations

import struct

_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_NO_LENGTH = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM and RSTn carry no length
_ORIENTATION = 0x0112


def jpeg_header(data: bytes) -> tuple[int, int, int | None] | None:
    """(width, height, EXIF orientation or None) as stored, or None if unsure."""
    if data[:2] != b"\xff\xd8":
        return None
    orientation = None
    i, end = 2, len(data)
    while i + 4 <= end:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _NO_LENGTH:
            i += 2
            continue
        length = int.from_bytes(data[i + 2:i + 4], "big")
        if length < 2:
            return None
        if marker in _SOF:
            if i + 9 > end:
                return None
            height, width = struct.unpack(">HH", data[i + 5:i + 9])
            return (width, height, orientation) if width and height else None
        if marker == 0xE1 and orientation is None and data[i + 4:i + 10] == b"Exif\0\0":
            orientation = _exif_orientation(data[i + 10:i + 2 + length])
        if marker in (0xD9, 0xDA):  # end of image or start of scan before any frame header
            return None
        i += 2 + length
    return None


def _exif_orientation(tiff: bytes) -> int | None:
    """The orientation tag of the first IFD of a TIFF-structured EXIF block."""
    order = {b"II": "<", b"MM": ">"}.get(tiff[:2])
    if order is None or len(tiff) < 8:
        return None
    (offset,) = struct.unpack(order + "I", tiff[4:8])
    if offset + 2 > len(tiff):
        return None
    (count,) = struct.unpack(order + "H", tiff[offset:offset + 2])
    for n in range(count):
        entry = offset + 2 + 12 * n
        if entry + 12 > len(tiff):
            return None
        tag, kind = struct.unpack(order + "HH", tiff[entry:entry + 4])
        if tag == _ORIENTATION and kind == 3:  # SHORT
            return struct.unpack(order + "H", tiff[entry + 8:entry + 10])[0]
    return None
