"""`--max-image-size`: shrink the images whose longer side is over a limit, boxes with them.

Only those images are decoded and re-encoded, upright (their EXIF orientation applied, as
`datasets` would when decoding) and in their own format: JPEG at quality 90, WebP at quality
90, PNG and the other lossless formats as they are; a format Pillow cannot write back becomes
PNG. Every other image keeps its bytes. `image.path` keeps the source file name.

Decoding and encoding run in worker processes (`dsconv.storage.parallel`); the boxes are
scaled here.
This module imports only Pillow, because every worker imports it.

Memory, for any number of workers: an image is decoded only if it has at most
`max_image_pixels()` pixels (89.5 megapixels; larger ones were dropped when read), a JPEG at
the smallest libjpeg scale (1/2, 1/4, 1/8) still at least the target size. A job's peak,
measured, is at most `BYTES_PER_PIXEL` bytes a decoded pixel (RGB PNG 5.4, RGBA 9.4, WebP 16),
and jobs are handed to the workers only while the costs of those not finished add up to
`RESIZE_MEMORY_BUDGET` (2 GiB): one job always runs, and no one job costs more than
89.5 M x 16 B = 1.43 GB. So all workers together hold at most 2 GiB of pixels, plus each
one's interpreter and the 64 MB of Pillow blocks it keeps (`reuse_image_memory`). A
12-megapixel JPEG resized to 768 costs 12 MB, so only very large PNG/WebP/TIFF images ever
wait for each other.
"""

from __future__ import annotations

import io
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from PIL import Image, ImageOps

from dsconv.errors import DsconvError
from dsconv.storage.images import open_image, oriented_size

GiB = 1024**3

if TYPE_CHECKING:
    from dsconv.converters.base import Key, Ledger
    from dsconv.storage.parallel import Workers

JPEG_QUALITY = 90
BYTES_PER_PIXEL = 16  # a resize job's peak memory per decoded pixel (measured at most 16.1)
RESIZE_MEMORY_BUDGET = 2 * GiB  # decoding cost of the jobs in the workers' hands, summed
WEBP_QUALITY = 90
DROP_REASON = "unreadable_image"
_SAVE_AS = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG", "WEBP": "WEBP", "GIF": "GIF",
            "BMP": "BMP", "TIFF": "TIFF"}
_OPTIONS: dict[str, dict[str, Any]] = {"JPEG": {"quality": JPEG_QUALITY},
                                       "WEBP": {"quality": WEBP_QUALITY}}
_RESIZABLE = {"P": "RGBA", "PA": "RGBA", "1": "L"}  # modes LANCZOS cannot filter

Item = tuple["Key", Any, str]  # (where it was read, sample, SHA-256 of the source bytes)


def fitted_size(width: int, height: int, max_side: int) -> tuple[int, int] | None:
    """The size with the longer side at `max_side` and the aspect kept, or None if the image
    is not over the limit."""
    if max(width, height) <= max_side:
        return None
    if width >= height:
        return max_side, max(1, round(height * max_side / width))
    return max(1, round(width * max_side / height)), max_side


def resize_image(data: bytes, width: int, height: int) -> bytes | str:
    """The image re-encoded at `width` x `height` (upright), or why it cannot be (a worker
    job, so errors come back as text). Decodes at most `max_image_pixels()` pixels, JPEGs at
    the smallest libjpeg scale still at least the target size (`decode_cost`)."""
    try:
        with open_image(data) as image:
            fmt = image.format or "PNG"
            stored = (width, height) if oriented_size(image) == image.size else (height, width)
            image.draft(image.mode, stored)  # JPEG: let libjpeg decode at 1/2, 1/4 or 1/8
            profile = image.info.get("icc_profile")
            upright = ImageOps.exif_transpose(image, in_place=True) or image  # no copy
            if upright.mode in _RESIZABLE:
                mode = _RESIZABLE[upright.mode]
                upright = upright.convert("RGB" if mode == "RGBA" and not _has_alpha(upright)
                                          else mode)
            small = upright.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=3.0)
            del upright
        return _encode(small, _SAVE_AS.get(fmt, "PNG"), profile)
    except Exception as exc:  # Pillow raises many types for broken files
        return f"cannot be resized ({exc.__class__.__name__}: {exc})"


def decode_cost(data: bytes, width: int, height: int, size: tuple[int, int]) -> int:
    """Bytes `resize_image` may hold to shrink this `width` x `height` image to `size`: a
    JPEG is decoded at the scale Pillow's `draft` picks (the largest of 1/8, 1/4, 1/2 that
    stays at least `size`), anything else whole."""
    if data[:2] == b"\xff\xd8":
        scale = min(width // size[0], height // size[1])
        divisor = next(d for d in (8, 4, 2, 1) if scale >= d or d == 1)
        width, height = -(-width // divisor), -(-height // divisor)
    return width * height * BYTES_PER_PIXEL


def _has_alpha(image: Image.Image) -> bool:
    return image.mode == "PA" or "transparency" in image.info


def _encode(image: Image.Image, fmt: str, profile: bytes | None) -> bytes:
    options = dict(_OPTIONS.get(fmt, {}))
    if profile:
        options["icc_profile"] = profile
    buffer = io.BytesIO()
    try:
        if fmt == "JPEG" and image.mode not in ("L", "RGB", "CMYK"):
            image = image.convert("RGB")
        image.save(buffer, fmt, **options)
    except (OSError, KeyError, ValueError):  # a mode this format cannot hold
        buffer = io.BytesIO()
        alpha = "A" in image.getbands()
        image.convert("RGBA" if alpha else "RGB").save(buffer, "PNG")
    return buffer.getvalue()


def scale_boxes(objects: list[Any], scale_x: float, scale_y: float, width: int,
                height: int) -> list[Any]:
    """COCO [x, y, w, h] boxes scaled to the new size and clipped to it."""
    scaled = []
    for obj in objects:
        x, y, w, h = obj.bbox
        x1, y1 = _clip(x * scale_x, width), _clip(y * scale_y, height)
        x2, y2 = _clip((x + w) * scale_x, width), _clip((y + h) * scale_y, height)
        scaled.append(replace(obj, bbox=(x1, y1, x2 - x1, y2 - y1)))
    return scaled


def _clip(value: float, limit: int) -> float:
    return min(max(value, 0.0), float(limit))


class Resizer:
    """The conversion's resize step: samples in, the same samples out (in order), those over
    the limit shrunk. A sample whose image fails to decode is dropped where it was read.

    Identical images in a row (a document's several questions) are resized once. A job is
    submitted only when the decoding costs of the jobs not finished, its own included, stay
    within `RESIZE_MEMORY_BUDGET` (or when none is left): see the module's docstring.
    """

    def __init__(self, max_side: int | None, workers: Workers, ledger: Ledger) -> None:
        if max_side is not None and max_side < 1:
            raise DsconvError(f"--max-image-size {max_side}: give 1 or more pixels")
        self.max_side = max_side
        self.workers = workers
        self.ledger = ledger
        self._recent: OrderedDict[str, Future[bytes | str]] = OrderedDict()
        self._running: list[tuple[Future[bytes | str], int]] = []  # submitted, and their costs

    def run(self, items: Iterable[Item]) -> Iterator[Item]:
        if self.max_side is None:
            yield from items
            return
        jobs = ((item, self._submit(item)) for item in items)
        for (key, sample, digest), result in self.workers.in_order(jobs):
            if isinstance(result, str):
                self.ledger.drop_sample(sample, DROP_REASON, result, key)
                continue
            if result is not None:
                _apply(sample, result, self.max_side)
            yield key, sample, digest

    def _submit(self, item: Item) -> Future[bytes | str] | None:
        _, sample, digest = item
        assert self.max_side is not None
        size = fitted_size(sample.width, sample.height, self.max_side)
        if size is None:
            return None
        future = self._recent.get(digest)
        if future is None:
            cost = decode_cost(sample.image_bytes, sample.width, sample.height, size)
            self._make_room(cost)
            future = self.workers.submit(resize_image, sample.image_bytes, *size)
            self._running.append((future, cost))
            self._recent[digest] = future
            if len(self._recent) > self.workers.window:
                self._recent.popitem(last=False)
        return future


    def _make_room(self, cost: int) -> None:
        """Wait until `cost` fits in the budget beside the jobs not finished (or none is left)."""
        budget = RESIZE_MEMORY_BUDGET
        while True:
            self._running = [(f, c) for f, c in self._running if not f.done()]
            if not self._running or cost + sum(c for _, c in self._running) <= budget:
                return
            wait([f for f, _ in self._running], return_when=FIRST_COMPLETED)


def _apply(sample: Any, data: bytes, max_side: int) -> None:
    """Give a sample its resized bytes, its new size and its boxes scaled to it."""
    size = fitted_size(sample.width, sample.height, max_side)
    assert size is not None
    width, height = size
    objects = getattr(sample, "objects", None)
    if objects:
        sample.objects = scale_boxes(objects, width / sample.width, height / sample.height,
                                     width, height)
    sample.image_bytes, sample.width, sample.height = data, width, height
