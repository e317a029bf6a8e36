"""Deterministic synthetic US-currency detection dataset in COCO, YOLO, VOC, DOTA, LabelMe,
CVAT, Label Studio or Hugging Face (Parquet) layout.

Offline stand-in for the Roboflow "money" export that the counting example is built on:
tests and the demo need the same layouts without a download.
"""

import hashlib
import json
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dsconv.samples.scene import CLASSES, Scene, make_scene, render_jpeg
from dsconv.samples.splits import assign

SPLITS: tuple[str, str, str] = ("train", "valid", "test")
FORMATS: tuple[str, ...] = ("coco", "yolo", "voc", "dota", "labelme", "cvat", "labelstudio",
                           "hf")
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
        images: list[dict[str, Any]] = []
        annotations: list[dict[str, Any]] = []
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


def _write_labelme(out: Path, shots: Shots) -> None:
    """Split folders, each image beside its JSON (LabelMe 5's keys, no embedded imageData)."""
    for split, items in shots.items():
        folder = out / split
        folder.mkdir(parents=True, exist_ok=True)
        for scene, jpeg in items:
            (folder / scene.file_name).write_bytes(jpeg)
            shapes: list[dict[str, Any]] = [
                {"label": b.category, "points": [[b.x, b.y], [b.x + b.w, b.y + b.h]],
                 "group_id": None, "description": "", "shape_type": "rectangle",
                 "flags": {}} for b in scene.boxes]
            doc: dict[str, Any] = {"version": "5.4.1", "flags": {}, "shapes": shapes,
                   "imagePath": scene.file_name, "imageData": None,
                   "imageHeight": scene.height, "imageWidth": scene.width}
            (folder / f"{Path(scene.file_name).stem}.json").write_text(
                json.dumps(doc, indent=2), encoding="utf-8")


_CVAT_SUBSET = {"train": "Train", "valid": "Validation", "test": "Test"}


def _write_cvat(out: Path, shots: Shots) -> None:
    """A CVAT project export: one `annotations.xml`, images in `images/{subset}/`."""
    root = ET.Element("annotations")
    ET.SubElement(root, "version").text = "1.1"
    project = ET.SubElement(ET.SubElement(root, "meta"), "project")
    ET.SubElement(project, "name").text = "coins"
    labels = ET.SubElement(project, "labels")
    for name in CLASSES:
        label = ET.SubElement(labels, "label")
        ET.SubElement(label, "name").text = name
        ET.SubElement(label, "type").text = "rectangle"
        ET.SubElement(label, "attributes")
    number = 0
    for split, items in shots.items():
        folder = out / "images" / _CVAT_SUBSET[split]
        folder.mkdir(parents=True, exist_ok=True)
        for scene, jpeg in items:
            (folder / scene.file_name).write_bytes(jpeg)
            image = ET.SubElement(root, "image", id=str(number), name=scene.file_name,
                                  subset=_CVAT_SUBSET[split], width=str(scene.width),
                                  height=str(scene.height))
            number += 1
            for b in scene.boxes:
                ET.SubElement(image, "box", label=b.category, source="manual", occluded="0",
                              xtl=f"{b.x:.2f}", ytl=f"{b.y:.2f}", xbr=f"{b.x + b.w:.2f}",
                              ybr=f"{b.y + b.h:.2f}", z_order="0")
    ET.indent(root)
    (out / "annotations.xml").write_bytes(
        b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="utf-8")
        + b"\n")


def _write_labelstudio(out: Path, shots: Shots) -> None:
    """A Label Studio "JSON" export per split (`train.json`…) and the uploaded files in
    `images/`; tasks name them as Label Studio does, `/data/upload/1/{8 hex}-{name}`."""
    (out / "images").mkdir(parents=True, exist_ok=True)
    task_id = 0
    for split, items in shots.items():
        tasks = []
        for scene, jpeg in items:
            task_id += 1
            (out / "images" / scene.file_name).write_bytes(jpeg)
            prefix = hashlib.sha256(scene.file_name.encode()).hexdigest()[:8]
            W, H = scene.width, scene.height
            result = [{"id": f"r{task_id}-{k}", "type": "rectanglelabels",
                       "from_name": "label", "to_name": "image",
                       "original_width": W, "original_height": H, "image_rotation": 0,
                       "value": {"x": 100 * b.x / W, "y": 100 * b.y / H,
                                 "width": 100 * b.w / W, "height": 100 * b.h / H,
                                 "rotation": 0, "rectanglelabels": [b.category]}}
                      for k, b in enumerate(scene.boxes)]
            tasks.append({"id": task_id,
                          "data": {"image": f"/data/upload/1/{prefix}-{scene.file_name}"},
                          "annotations": [{"id": task_id, "completed_by": 1,
                                           "was_cancelled": False, "result": result}],
                          "predictions": []})
        (out / f"{split}.json").write_text(json.dumps(tasks, indent=1), encoding="utf-8")


def _write_hf(out: Path, shots: Shots) -> None:
    """The Hub's detection layout, written by `datasets` itself: `data/{split}-00000-of-00001
    .parquet` with `image` (bytes and file name), `image_id`, `width`, `height` and `objects`
    (`id`, `area`, COCO `bbox`, `category` as a ClassLabel)."""
    import pyarrow.parquet as pq
    from datasets import ClassLabel, Dataset, Features, Image, List, Value

    features = Features({
        "image_id": Value("int64"), "image": Image(), "width": Value("int32"),
        "height": Value("int32"),
        "objects": {"id": List(Value("int64")), "area": List(Value("float32")),
                    "bbox": List(List(Value("float32"), length=4)),
                    "category": List(ClassLabel(names=list(CLASSES)))},
    })
    (out / "data").mkdir(parents=True, exist_ok=True)
    number = 0
    for split, items in shots.items():
        rows: dict[str, list] = {name: [] for name in features}
        for scene, jpeg in items:
            rows["image_id"].append(number)
            rows["image"].append({"bytes": jpeg, "path": scene.file_name})
            rows["width"].append(scene.width)
            rows["height"].append(scene.height)
            rows["objects"].append({
                "id": [number * 100 + k for k in range(len(scene.boxes))],
                "area": [float(b.w * b.h) for b in scene.boxes],
                "bbox": [[float(b.x), float(b.y), float(b.w), float(b.h)] for b in scene.boxes],
                "category": [CLASSES.index(b.category) for b in scene.boxes]})
            number += 1
        name = {"valid": "validation"}.get(split, split)
        table = Dataset.from_dict(rows, features=features).data.table  # with its features
        pq.write_table(table, out / "data" / f"{name}-00000-of-00001.parquet")


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
    "labelme": _write_labelme,
    "cvat": _write_cvat,
    "labelstudio": _write_labelstudio,
    "hf": _write_hf,
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
