"""Image bytes → size and pixels, as a model will see them.

Sizes come from the header, without decoding pixels. Both sizes and pixels follow the EXIF
orientation tag, because `datasets`' Image feature applies it when it decodes: a phone photo
stored 4032x3024 with orientation 6 reaches the model as 3024x4032, and its boxes are drawn on
that upright picture.
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

ORIENTATION = 0x0112
_SWAPS_AXES = {5, 6, 7, 8}


def read_image(path: Path) -> tuple[bytes, int, int]:
    """The file's bytes and its upright size; ValueError if it is not a whole image."""
    data = path.read_bytes()
    width, height = image_size(data)
    return data, width, height


def image_size(data: bytes) -> tuple[int, int]:
    """Upright size from the header; ValueError if the bytes are not a whole image."""
    if not data:
        raise ValueError("empty file")
    try:
        with Image.open(io.BytesIO(data)) as image:
            problem = truncation(data, image.format)
            if problem:
                raise ValueError(problem)
            return oriented_size(image)
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ValueError(f"not a readable image ({exc.__class__.__name__})") from None


def truncation(data: bytes, fmt: str | None) -> str | None:
    """A cheap end-of-file check for the two formats datasets are made of; a cut-off download
    or copy otherwise passes the header read and only fails when a model decodes it."""
    if fmt == "JPEG" and b"\xff\xd9" not in data[-1024:]:
        return "truncated JPEG (no end-of-image marker)"
    if fmt == "PNG" and b"IEND" not in data[-32:]:
        return "truncated PNG (no IEND chunk)"
    return None


def oriented_size(image: Image.Image) -> tuple[int, int]:
    width, height = image.size
    if image.format in ("JPEG", "TIFF", "WEBP", "PNG", "MPO") and \
            image.getexif().get(ORIENTATION) in _SWAPS_AXES:
        return height, width
    return width, height


def decode_image(data: bytes) -> Image.Image:
    """Upright RGB pixels, exactly what `datasets` gives a training loop for these bytes."""
    image = Image.open(io.BytesIO(data))
    upright = ImageOps.exif_transpose(image) or image
    return upright.convert("RGB")
