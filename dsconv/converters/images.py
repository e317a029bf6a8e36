"""Image bytes and sizes without decoding pixels."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, UnidentifiedImageError


def read_image(path: Path) -> tuple[bytes, int, int]:
    """The file's bytes and its size from the header; ValueError if it is not an image."""
    data = path.read_bytes()
    width, height = image_size(data)
    return data, width, height


def image_size(data: bytes) -> tuple[int, int]:
    if not data:
        raise ValueError("empty file")
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"not a readable image ({exc.__class__.__name__})") from None
