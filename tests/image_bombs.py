"""Images whose header claims far more pixels than their few bytes hold (decompression bombs),
written by the tests that need them."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

from PIL import Image


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(width: int = 60000, height: int = 60000) -> bytes:
    """A complete PNG (IHDR … IEND) of a few hundred bytes claiming `width` x `height` RGB."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\0" * 1024, 9)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", pixels)
            + _chunk(b"IEND", b""))


def jpeg_bomb(width: int = 60000, height: int = 60000) -> bytes:
    """A small real JPEG whose frame header is patched to claim `width` x `height`."""
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 10, 10)).save(buffer, "JPEG")
    data = bytearray(buffer.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
