"""Image bytes → size and pixels, as a model will see them.

Sizes come from the header, without decoding pixels. Both sizes and pixels follow the EXIF
orientation tag, because `datasets`' Image feature applies it when it decodes: a phone photo
stored 4032x3024 with orientation 6 reaches the model as 3024x4032, and its boxes are drawn on
that upright picture.

An image whose header claims more than `max_image_pixels()` pixels (Pillow's default
`MAX_IMAGE_PIXELS`, 89.5 megapixels, ~358 MB decoded) is refused from the header with
`ImageTooLargeError`, before anything is decoded: a few hundred bytes can claim 60000x60000
(a decompression bomb). So conversion drops it (`image_too_large`) instead of writing a row
that Pillow, `validate` or a training loop would refuse, and Pillow's own
`DecompressionBombError`/`DecompressionBombWarning` never reach the user.
"""

from __future__ import annotations

import io
import struct
import warnings
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from dsconv.storage.files import MAX_IMAGE_BYTES, FileTooLargeError, read_bytes
from dsconv.storage.jpeg_header import jpeg_header

ORIENTATION = 0x0112
_SWAPS_AXES = {5, 6, 7, 8}
BLOCKS_KEPT = 4  # Pillow memory blocks (16 MB each) a worker keeps for the next image
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_IMAGE_PIXELS = 89_478_485  # Pillow's default: above it Pillow warns, above twice it raises


class ImageTooLargeError(ValueError):
    """An image whose header claims more pixels than `max_image_pixels()`."""


def max_image_pixels() -> int:
    """dsconv's bound on an image's pixels: Pillow's default limit, or Pillow's current one if
    it was lowered, so that every image we accept opens without Pillow's bomb warning."""
    pillow = Image.MAX_IMAGE_PIXELS
    return MAX_IMAGE_PIXELS if pillow is None else min(MAX_IMAGE_PIXELS, int(pillow))


def check_pixels(width: int, height: int) -> None:
    """ImageTooLargeError if `width` x `height` is over `max_image_pixels()`."""
    if width * height > max_image_pixels():
        raise ImageTooLargeError(
            f"image is {width}x{height} = {width * height:,} pixels, over the "
            f"{max_image_pixels():,}-pixel limit (a decompression bomb, or far too large)")


def image_problem(exc: BaseException) -> str:
    """The drop reason for an image that `read_image` refused with `exc`."""
    if isinstance(exc, FileNotFoundError):
        return "missing_image"
    if isinstance(exc, ImageTooLargeError | FileTooLargeError):
        return "image_too_large"
    return "unreadable_image"


def open_image(data: bytes) -> Image.Image:
    """`Image.open` on bytes (use it in a `with`), refused with `ImageTooLargeError` (never
    Pillow's bomb error or warning) when the header claims more than `max_image_pixels()`."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            if data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR":  # say the size claimed
                check_pixels(*struct.unpack(">II", data[16:24]))
            raise ImageTooLargeError(
                f"image header claims more than {max_image_pixels():,} pixels, the limit "
                "(a decompression bomb, or far too large)") from None
    try:
        check_pixels(*image.size)
    except ImageTooLargeError:
        image.close()
        raise
    return image


def read_image(path: str | Path, limit: int = MAX_IMAGE_BYTES) -> tuple[bytes, int, int]:
    """The file's bytes and its upright size; ValueError if it is not a whole image, not a
    regular file, or over `limit` bytes (`dsconv.storage.files`)."""
    data = read_bytes(path, limit)
    width, height = image_size(data)
    return data, width, height


def image_size(data: bytes) -> tuple[int, int]:
    """Upright size from the header; ValueError if the bytes are not a whole image."""
    if not data:
        raise ValueError("empty file")
    header = jpeg_header(data)
    if header is not None and truncation(data, "JPEG") is None:
        width, height, orientation = header
        check_pixels(width, height)
        return (height, width) if orientation in _SWAPS_AXES else (width, height)
    try:
        with open_image(data) as image:
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
    return (height, width) if _orientation(image) in _SWAPS_AXES else (width, height)


def _orientation(image: Image.Image) -> int | None:
    """The EXIF orientation tag, read from the header only. For a PNG, Pillow's `getexif()`
    decodes every pixel to look for a late eXIf chunk; an eXIf chunk before the pixels (the
    one place the PNG spec allows it) is already in `info`."""
    if image.format == "PNG" and "exif" not in image.info:
        return None
    if image.format not in ("JPEG", "TIFF", "WEBP", "PNG", "MPO"):
        return None
    return image.getexif().get(ORIENTATION)


def decode_image(data: bytes) -> Image.Image:
    """Upright RGB pixels, exactly what `datasets` gives a training loop for these bytes;
    `ImageTooLargeError` for an image over `max_image_pixels()`."""
    image = open_image(data)
    upright = ImageOps.exif_transpose(image) or image
    return upright.convert("RGB")


ImageJob = tuple[bytes, int, int]  # encoded bytes, and the width and height a row states


def check_images(jobs: list[ImageJob | None], deep: bool) -> list[str | None]:
    """`check_image` over a batch of rows (a worker job); None where there is nothing to
    check or nothing wrong."""
    return [None if job is None else check_image(*job, deep=deep) for job in jobs]


def check_image(data: bytes, width: int, height: int, deep: bool = False) -> str | None:
    """Integrity and size from the header; `deep` decodes every pixel."""
    try:
        with open_image(data) as image:
            if deep:
                image.load()
            else:
                image.verify()  # must come first: it cannot follow any other read
        with Image.open(io.BytesIO(data)) as image:
            size = oriented_size(image)
            if size != (width, height):
                return f"image is {size[0]}x{size[1]} upright, row says {width}x{height}"
            return truncation(data, image.format)
    except ImageTooLargeError as exc:
        return str(exc)
    except Exception as exc:  # Pillow raises many types for broken files
        return f"image does not decode ({exc.__class__.__name__}: {exc})"
    return None


def reuse_image_memory() -> None:
    """Let Pillow keep a few freed memory blocks for the next image instead of returning
    them to the system at once: a process that decodes image after image otherwise has the
    kernel hand it fresh zeroed pages every time (measured: a third of a resize worker's
    CPU time was system time; with this, a twentieth)."""
    Image.core.set_blocks_max(BLOCKS_KEPT)
