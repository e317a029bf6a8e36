"""Deterministic synthetic US-currency detection dataset in COCO, YOLO, VOC or DOTA layout.

Offline stand-in for the Roboflow "money" export that the counting example is built on:
tests and the demo need the same layouts without a download.
"""

import json
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dsconv.samples.scene import CLASSES, Scene, make_scene, render_jpeg
from dsconv.samples.splits import assign

SPLITS: tuple[str, str, str] = ("train", "valid", "test")
FORMATS: tuple[str, ...] = ("coco", "yolo", "voc", "dota")
_VOC_SPLIT = {"train": "train", "valid": "val", "test": "test"}
_DATE = "2024-01-01T00:00:00+00:00"

Shots = dict[str, list[tuple[Scene, bytes]]]


@dataclass(frozen=True)
class CoinsSummary:
    """What was written, for tests and for the CLI to print."""

    out_dir: Path
    fmt: str
    images: dict[str, int]
    objects: dict[str, int]
    per_class: dict[str, int]

    def __str__(self) -> str:
        splits = ", ".join(
            f"{s}: {self.images[s]} images / {self.objects[s]} objects" for s in SPLITS
        )
        classes = ", ".join(f"{c} {n}" for c, n in self.per_class.items())
        return f"{self.fmt} dataset in {self.out_dir} ({splits}); classes: {classes}"


def _write_coco(out: Path, shots: Shots) -> None:
    categories = [{"id": 0, "name": "money", "supercategory": "none"}] + [
        {"id": i, "name": name, "supercategory": "money"} for i, name in enumerate(CLASSES, 1)
    ]
    for split, items in shots.items():
        folder = out / split
        folder.mkdir(parents=True, exist_ok=True)
        images, annotations = [], []
        for image_id, (scene, jpeg) in enumerate(items):
            (folder / scene.file_name).write_bytes(jpeg)
            images.append(
                {
                    "id": image_id,
                    "license": 1,
                    "file_name": scene.file_name,
                    "height": scene.height,
                    "width": scene.width,
                    "date_captured": _DATE,
                }
            )
            for b in scene.boxes:
                annotations.append(
                    {
                        "id": len(annotations),
                        "image_id": image_id,
                        "category_id": CLASSES.index(b.category) + 1,
                        "bbox": [float(b.x), float(b.y), float(b.w), float(b.h)],
                        "area": float(b.w * b.h),
                        "segmentation": [],
                        "iscrowd": 0,
                    }
                )
        doc = {
            "info": {
                "year": "2024",
                "version": "1",
                "description": "dsconv synthetic coins",
                "contributor": "dsconv",
                "url": "",
                "date_created": _DATE,
            },
            "licenses": [
                {
                    "id": 1,
                    "url": "https://creativecommons.org/licenses/by/4.0/",
                    "name": "CC BY 4.0",
                }
            ],
            "categories": categories,
            "images": images,
            "annotations": annotations,
        }
        (folder / "_annotations.coco.json").write_text(json.dumps(doc), encoding="utf-8")


def _write_yolo(out: Path, shots: Shots) -> None:
    names = ", ".join(f"'{name}'" for name in CLASSES)
    (out / "data.yaml").write_text(
        "path: .\ntrain: train/images\nval: valid/images\ntest: test/images\n\n"
        f"nc: {len(CLASSES)}\nnames: [{names}]\n",
        encoding="utf-8",
    )
    for split, items in shots.items():
        (out / split / "images").mkdir(parents=True, exist_ok=True)
        (out / split / "labels").mkdir(parents=True, exist_ok=True)
        for scene, jpeg in items:
            (out / split / "images" / scene.file_name).write_bytes(jpeg)
            W, H = scene.width, scene.height
            lines = [
                f"{CLASSES.index(b.category)} {(b.x + b.w / 2) / W:.6f} "
                f"{(b.y + b.h / 2) / H:.6f} {b.w / W:.6f} {b.h / H:.6f}\n"
                for b in scene.boxes
            ]
            label = out / split / "labels" / f"{Path(scene.file_name).stem}.txt"
            label.write_text("".join(lines), encoding="utf-8")


def _voc_xml(scene: Scene) -> bytes:
    root = ET.Element("annotation")
    ET.SubElement(root, "folder").text = "JPEGImages"
    ET.SubElement(root, "filename").text = scene.file_name
    size = ET.SubElement(root, "size")
    for tag, value in (("width", scene.width), ("height", scene.height), ("depth", 3)):
        ET.SubElement(size, tag).text = str(value)
    ET.SubElement(root, "segmented").text = "0"
    for b in scene.boxes:
        obj = ET.SubElement(root, "object")
        for tag, text in (
            ("name", b.category),
            ("pose", "Unspecified"),
            ("truncated", "0"),
            ("difficult", "0"),
            ("occluded", "0"),
        ):
            ET.SubElement(obj, tag).text = text
        box = ET.SubElement(obj, "bndbox")
        corners = (("xmin", b.x + 1), ("ymin", b.y + 1), ("xmax", b.x + b.w), ("ymax", b.y + b.h))
        for tag, value in corners:
            ET.SubElement(box, tag).text = str(value)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=False) + b"\n"


def _write_voc(out: Path, shots: Shots) -> None:
    for sub in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    for split, items in shots.items():
        stems = []
        for scene, jpeg in items:
            stem = Path(scene.file_name).stem
            stems.append(stem)
            (out / "JPEGImages" / scene.file_name).write_bytes(jpeg)
            (out / "Annotations" / f"{stem}.xml").write_bytes(_voc_xml(scene))
        listing = out / "ImageSets" / "Main" / f"{_VOC_SPLIT[split]}.txt"
        listing.write_text("".join(f"{s}\n" for s in stems), encoding="utf-8")


def _write_dota(out: Path, shots: Shots) -> None:
    """`{split}/images/` + `{split}/labelTxt/`: DOTA's header, then each box's four corners
    clockwise from the top left, its class name and `difficult` 0."""
    for split, items in shots.items():
        (out / split / "images").mkdir(parents=True, exist_ok=True)
        (out / split / "labelTxt").mkdir(parents=True, exist_ok=True)
        for scene, jpeg in items:
            (out / split / "images" / scene.file_name).write_bytes(jpeg)
            lines = ["imagesource:dsconv\n", "gsd:null\n"]
            for b in scene.boxes:
                x2, y2 = b.x + b.w, b.y + b.h
                lines.append(f"{b.x} {b.y} {x2} {b.y} {x2} {y2} {b.x} {y2} {b.category} 0\n")
            label = out / split / "labelTxt" / f"{Path(scene.file_name).stem}.txt"
            label.write_text("".join(lines), encoding="utf-8")


_WRITERS: dict[str, Callable[[Path, Shots], None]] = {
    "coco": _write_coco,
    "yolo": _write_yolo,
    "voc": _write_voc,
    "dota": _write_dota,
}


def write_coins(
    out_dir: Path, *, images: int = 48, seed: int = 0, fmt: str = "coco"
) -> CoinsSummary:
    """Write `images` synthetic currency photos and their boxes to `out_dir` in `fmt`.

    The same seed gives byte-identical files; the images and boxes do not depend on `fmt`.
    """
    if fmt not in _WRITERS:
        raise ValueError(f"unknown sample format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    shots: Shots = {split: [] for split in SPLITS}
    for index, split in enumerate(assign(images, SPLITS)):
        scene = make_scene(index, seed)
        shots[split].append((scene, render_jpeg(scene, seed)))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _WRITERS[fmt](out_dir, shots)
    per_class = Counter(b.category for items in shots.values() for s, _ in items for b in s.boxes)
    return CoinsSummary(
        out_dir=out_dir,
        fmt=fmt,
        images={split: len(items) for split, items in shots.items()},
        objects={split: sum(len(s.boxes) for s, _ in items) for split, items in shots.items()},
        per_class={name: per_class[name] for name in CLASSES},
    )
