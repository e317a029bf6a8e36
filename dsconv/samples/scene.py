"""Scene model and renderer for the synthetic currency images.

One scene (file name, size, boxes) per image feeds the COCO, YOLO and VOC writers, so the
three formats cannot disagree. Boxes are integers so VOC's 1-based integer corners are exact.
Each class has a fixed size and colour so that a tiny vision model can learn it.
"""

import hashlib
import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

CLASSES: tuple[str, ...] = (
    "dime",
    "nickel",
    "penny",
    "quarter",
    "fifty",
    "five",
    "hundred",
    "one",
    "ten",
    "twenty",
)
WIDTH, HEIGHT = 320, 240
MAX_OBJECTS = 12
JPEG_QUALITY = 90
_GAP = 3
_PLACEMENT_TRIES = 40

RGB = tuple[int, int, int]
# coin -> (diameter, face colour, rim colour); penny is copper, fifty the largest
_COINS: dict[str, tuple[int, RGB, RGB]] = {
    "dime": (18, (198, 200, 206), (118, 120, 128)),
    "penny": (20, (186, 108, 52), (108, 56, 26)),
    "nickel": (23, (150, 152, 144), (86, 88, 82)),
    "quarter": (27, (216, 218, 224), (128, 130, 140)),
    "fifty": (35, (236, 236, 240), (150, 150, 162)),
}
# bill -> (width, height, paper colour, printed denomination)
_BILLS: dict[str, tuple[int, int, RGB, str]] = {
    "one": (54, 26, (210, 230, 198), "1"),
    "five": (58, 28, (180, 214, 166), "5"),
    "ten": (62, 30, (150, 198, 136), "10"),
    "twenty": (68, 32, (118, 172, 108), "20"),
    "hundred": (76, 36, (88, 144, 98), "100"),
}


@dataclass(frozen=True)
class Box:
    """One object: class name and COCO-style integer pixel box."""

    category: str
    x: int
    y: int
    w: int
    h: int


@dataclass(frozen=True)
class Scene:
    """Everything the writers need about one image, independent of the on-disk format."""

    index: int
    file_name: str
    width: int
    height: int
    boxes: tuple[Box, ...]


def _rng(seed: int, index: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, index, stream])


def file_name(index: int, seed: int) -> str:
    """Roboflow-style name `{stem}_jpg.rf.{hex}.jpg`, with the hex fixed by seed and index."""
    digest = hashlib.blake2b(f"{seed}:{index}".encode(), digest_size=16).hexdigest()
    return f"coins_{index:04d}_jpg.rf.{digest}.jpg"


def object_size(category: str) -> tuple[int, int]:
    """Width and height of a class; every instance of it has the same size."""
    if category in _COINS:
        return _COINS[category][0], _COINS[category][0]
    width, height, _, _ = _BILLS[category]
    return width, height


def _apart(a: Box, b: Box) -> bool:
    return (
        a.x + a.w + _GAP <= b.x
        or b.x + b.w + _GAP <= a.x
        or a.y + a.h + _GAP <= b.y
        or b.y + b.h + _GAP <= a.y
    )


def make_scene(index: int, seed: int) -> Scene:
    """0-12 non-overlapping objects inside the image; a draw that finds no room is skipped."""
    rng = _rng(seed, index, 0)
    boxes: list[Box] = []
    for _ in range(int(rng.integers(0, MAX_OBJECTS + 1))):
        category = CLASSES[int(rng.integers(len(CLASSES)))]
        w, h = object_size(category)
        for _ in range(_PLACEMENT_TRIES):
            box = Box(
                category,
                int(rng.integers(0, WIDTH - w + 1)),
                int(rng.integers(0, HEIGHT - h + 1)),
                w,
                h,
            )
            if all(_apart(box, other) for other in boxes):
                boxes.append(box)
                break
    return Scene(index, file_name(index, seed), WIDTH, HEIGHT, tuple(boxes))


def _table(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    """Wood-grain-like noisy background, so objects are not on a flat colour."""
    xs = np.arange(width, dtype=np.float32)[None, :]
    ys = np.arange(height, dtype=np.float32)[:, None]
    phase = rng.uniform(0, 2 * np.pi)
    grain = np.sin(xs * rng.uniform(0.05, 0.12) + 3 * np.sin(ys * 0.02 + phase))
    base = np.array(rng.uniform([110, 78, 46], [140, 100, 64]), dtype=np.float32)
    noise = rng.normal(0, 5, (height, width, 1)).astype(np.float32)
    pixels = base + 14 * grain[..., None] + noise
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def render_jpeg(scene: Scene, seed: int) -> bytes:
    """Encode the scene as a JPEG: fixed quality, no metadata, so bytes depend only on seed."""
    image = _table(_rng(seed, scene.index, 1), scene.width, scene.height)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=14)
    for b in scene.boxes:
        right, bottom = b.x + b.w - 1, b.y + b.h - 1
        if b.category in _COINS:
            _, face, rim = _COINS[b.category]
            draw.ellipse((b.x, b.y, right, bottom), fill=face, outline=rim, width=2)
            draw.ellipse((b.x + 4, b.y + 4, right - 4, bottom - 4), outline=rim, width=1)
        else:
            _, _, paper, label = _BILLS[b.category]
            ink = tuple(c // 3 for c in paper)
            draw.rectangle((b.x, b.y, right, bottom), fill=paper, outline=ink, width=1)
            draw.rectangle((b.x + 3, b.y + 3, right - 3, bottom - 3), outline=ink, width=1)
            draw.text((b.x + b.w / 2, b.y + b.h / 2), label, fill=ink, font=font, anchor="mm")
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()
