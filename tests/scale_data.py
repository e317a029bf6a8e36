"""A small messy COCO dataset (Roboflow layout) for the resize, sharding and merge tests.

Three splits of images of several sizes and kinds (large and small JPEGs, an RGBA PNG, a
JPEG stored sideways with EXIF orientation 6, a PNG and a JPEG whose pixels do not decode),
plus what the ledger has to account for: a missing file, an annotation naming no image and
an exact repeat (found while indexing), an invalid box, a crowd region, a box partly outside
its image, and the same bytes in train and test (leakage).
"""

from __future__ import annotations

import io
import json
import zlib
from pathlib import Path

from PIL import Image

CLASSES = ("dime", "penny", "quarter")
MAX_SIDE = 128


def encoded(image: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def picture(width: int, height: int, seed: int, mode: str = "RGB") -> Image.Image:
    """A distinct picture: a colour gradient with a seed-dependent tint."""
    image = Image.linear_gradient("L").resize((width, height))
    tint = Image.new("RGB", (width, height), ((seed * 67) % 256, (seed * 151) % 256, 90))
    return Image.blend(image.convert("RGB"), tint, 0.5).convert(mode)


def sideways_jpeg(seed: int) -> bytes:
    """Stored 240 wide and 160 high, shown upright as 160x240 (EXIF orientation 6)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return encoded(picture(240, 160, seed), "JPEG", quality=92, exif=exif)


def undecodable_png(width: int, height: int) -> bytes:
    """A PNG whose header, chunk layout and IEND are intact but whose pixel data is not
    zlib data: it passes the header checks and fails only when decoded."""
    data = encoded(Image.effect_noise((width, height), 40), "PNG")
    start = data.index(b"IDAT") + 4
    length = int.from_bytes(data[start - 8:start - 4], "big")
    garbage = bytes((i * 37 + 11) % 256 for i in range(length))
    crc = zlib.crc32(b"IDAT" + garbage).to_bytes(4, "big")
    return data[:start] + garbage + crc + data[start + length + 4:]


def undecodable_jpeg(seed: int, width: int = 300, height: int = 200) -> bytes:
    """A JPEG whose scan names a component the frame does not have: the header reads, the
    end-of-image marker is there and `verify()` passes, but the pixels never decode."""
    data = bytearray(encoded(picture(width, height, seed), "JPEG", quality=90))
    data[data.index(b"\xff\xda") + 5] = 9
    return bytes(data)


def write_messy_coco(root: Path) -> Path:
    """The dataset under `root`; returns `root`."""
    shared = encoded(picture(300, 200, 99), "JPEG", quality=90)
    splits: dict[str, list[tuple[str, bytes | None]]] = {
        "train": [
            ("big_0.jpg", encoded(picture(300, 200, 1), "JPEG", quality=90)),
            ("small_1.jpg", encoded(picture(100, 80, 2), "JPEG", quality=90)),
            ("alpha_2.png", encoded(picture(260, 180, 3, "RGBA"), "PNG")),
            ("side_3.jpg", sideways_jpeg(4)),
            ("shared_4.jpg", shared),
            ("broken_5.png", undecodable_png(200, 150)),
            ("gone_6.jpg", None),
            ("tall_7.jpg", encoded(picture(90, 400, 5), "JPEG", quality=90)),
            ("scan_8.jpg", undecodable_jpeg(6)),
            ("last_9.jpg", encoded(picture(320, 240, 7), "JPEG", quality=90)),
        ],
        "valid": [(f"v_{i}.jpg", encoded(picture(200 + 20 * i, 150, 10 + i), "JPEG",
                                         quality=90)) for i in range(4)]
        + [("v_small.png", encoded(picture(64, 48, 20), "PNG"))],
        "test": [(f"t_{i}.jpg", encoded(picture(150, 260, 30 + i), "JPEG", quality=90))
                 for i in range(3)] + [("shared_again.jpg", shared)],
    }
    for split, files in splits.items():
        folder = root / split
        folder.mkdir(parents=True)
        images, annotations = [], []
        for image_id, (name, data) in enumerate(files):
            if data is not None:
                (folder / name).write_bytes(data)
            images.append({"id": image_id, "file_name": name})
            for k in range(1 + image_id % 3):
                annotations.append({"id": len(annotations), "image_id": image_id,
                                    "category_id": 1 + (image_id + k) % len(CLASSES),
                                    "bbox": [5 + 9 * k, 6 + 7 * k, 30, 25], "iscrowd": 0})
        annotations += _trouble(len(annotations), split)
        doc = {"images": images, "annotations": annotations,
               "categories": [{"id": i + 1, "name": c, "supercategory": "coin"}
                              for i, c in enumerate(CLASSES)]}
        (folder / "_annotations.coco.json").write_text(json.dumps(doc), encoding="utf-8")
    return root


def _trouble(first_id: int, split: str) -> list[dict]:
    """Annotations the ledger must account for, some while indexing, some per image."""
    if split != "train":
        return [{"id": first_id, "image_id": 0, "category_id": 2, "bbox": [180, 100, 80, 90],
                 "iscrowd": 0}]  # partly outside the smaller validation/test images
    return [
        {"id": first_id, "image_id": 99, "category_id": 1, "bbox": [1, 1, 5, 5]},
        {"id": first_id + 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, -5, 5]},
        {"id": first_id + 2, "image_id": 2, "category_id": 3, "bbox": [10, 10, 40, 40],
         "iscrowd": 1},
        {"id": first_id + 3, "image_id": 0, "category_id": 2, "bbox": [250, 150, 90, 90]},
        {"id": first_id + 3, "image_id": 0, "category_id": 2, "bbox": [250, 150, 90, 90]},
    ]
