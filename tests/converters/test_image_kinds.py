"""Images as they come: odd modes, EXIF rotation, broken files."""

from __future__ import annotations

import io
import json
from pathlib import Path

import datasets
import numpy as np
from PIL import Image

from dsconv.storage.dataset import iter_rows, read_report
from dsconv.validation import validate_dataset
from tests.helpers import run_cli


def encoded(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def rotated_jpeg() -> bytes:
    """Stored 60 wide and 40 high, shown upright as 40x60 (EXIF orientation 6)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return encoded(Image.new("RGB", (60, 40), (200, 10, 10)), "JPEG", exif=exif)


KINDS: dict[str, bytes] = {
    "rgba.png": encoded(Image.new("RGBA", (50, 40), (1, 2, 3, 128)), "PNG"),
    "palette.png": encoded(Image.new("P", (50, 40), 3), "PNG"),
    "deep.png": encoded(Image.fromarray(np.full((40, 50), 40000, dtype=np.uint16)), "PNG"),
    "cmyk.jpg": encoded(Image.new("CMYK", (50, 40), (0, 50, 100, 0)), "JPEG"),
    "rotated.jpg": rotated_jpeg(),
}
BROKEN: dict[str, bytes] = {
    "empty.jpg": b"",
    "text.jpg": b"hello, not an image",
    "cut.jpg": encoded(Image.new("RGB", (50, 40), (9, 9, 9)), "JPEG")[:300],
    "cut.png": encoded(Image.effect_noise((50, 40), 30), "PNG")[:-20],
}


def make(tmp_path: Path) -> Path:
    files = {**KINDS, **BROKEN}
    tmp_path.mkdir()
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    images = [{"id": i, "file_name": name} for i, name in enumerate(files)]
    anns = [{"id": i, "image_id": i, "category_id": 1, "bbox": [2, 2, 10, 10]}
            for i in range(len(files))]
    (tmp_path / "annotations.json").write_text(json.dumps(
        {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "dot"}]}))
    return tmp_path


def test_odd_images_pass_through_and_broken_ones_are_reported(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run_cli("coco-to-vqa", make(tmp_path / "src"), out, "--split-ratios", "1,0,0"
                   ).exit_code == 0
    rows = {r["image"]["path"]: r for r in iter_rows(out)}
    assert set(rows) == set(KINDS)
    for name, data in KINDS.items():
        assert rows[name]["image"]["bytes"] == data
    assert (rows["rotated.jpg"]["width"], rows["rotated.jpg"]["height"]) == (40, 60)
    report = read_report(out)["splits"]["train"]
    assert report["images_dropped"] == {"unreadable_image": len(BROKEN)}
    assert validate_dataset(out).ok
    loaded = datasets.load_dataset(str(out), split="train")
    upright = next(r for r in loaded if r["image_id"] == str(list(KINDS).index("rotated.jpg")))
    assert upright["image"].size == (40, 60)
