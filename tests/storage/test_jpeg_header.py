"""The JPEG marker walk must agree with Pillow on every JPEG we can make."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from dsconv.samples.scene import make_scene, render_jpeg
from dsconv.storage.images import image_size
from dsconv.storage.jpeg_header import jpeg_header


def jpeg(size: tuple[int, int] = (64, 48), mode: str = "RGB", **options) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, 90).save(buffer, "JPEG", **options)
    return buffer.getvalue()


def pillow_upright(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        orientation = image.getexif().get(0x0112)
        width, height = image.size
    return (height, width) if orientation in {5, 6, 7, 8} else (width, height)


def with_orientation(value: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = value
    exif[0x010F] = "camera"  # another tag before it, as cameras write
    return jpeg((80, 30), exif=exif.tobytes())


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_matches_pillow(orientation: int) -> None:
    data = with_orientation(orientation)
    assert jpeg_header(data)[2] == orientation
    assert image_size(data) == pillow_upright(data)


@pytest.mark.parametrize("data", [
    jpeg(), jpeg((1, 1)), jpeg((640, 480), progressive=True), jpeg(mode="CMYK"),
    jpeg(mode="L"), jpeg((300, 200), quality=5, subsampling=2),
    render_jpeg(make_scene(3, 0), 0),
], ids=["plain", "1px", "progressive", "cmyk", "grey", "low-quality", "coins-sample"])
def test_sizes_match_pillow(data: bytes) -> None:
    width, height, _ = jpeg_header(data)
    with Image.open(io.BytesIO(data)) as image:
        assert (width, height) == image.size


@pytest.mark.parametrize("data", [b"", b"\xff\xd8", b"\xff\xd8\xff\xda\x00\x02",
                                  b"\xff\xd8garbage", b"\x89PNG\r\n\x1a\n"])
def test_anything_unclear_is_left_to_pillow(data: bytes) -> None:
    assert jpeg_header(data) is None
