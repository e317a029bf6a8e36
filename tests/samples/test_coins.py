"""The synthetic coins dataset is deterministic, well-formed and identical across formats."""

import json
from pathlib import Path

import pytest
from defusedxml import ElementTree
from PIL import Image

from dsconv.samples.coins import FORMATS, write_coins
from dsconv.samples.scene import CLASSES

Boxes = dict[str, list[tuple[str, float, float, float, float]]]


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("fmt", FORMATS)
def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path, fmt: str) -> None:
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        write_coins(tmp_path / name, images=8, seed=seed, fmt=fmt)
    first = _files(tmp_path / "a")
    assert first == _files(tmp_path / "b")
    assert set(first.values()).isdisjoint(
        v for k, v in _files(tmp_path / "c").items() if k.endswith((".jpg", ".txt", ".xml"))
    )


def test_coco_structure_and_boxes_inside(tmp_path: Path) -> None:
    summary = write_coins(tmp_path, images=20, seed=1)
    objects = 0
    for split in ("train", "valid", "test"):
        doc = json.loads((tmp_path / split / "_annotations.coco.json").read_text())
        assert set(doc) == {"info", "licenses", "categories", "images", "annotations"}
        assert doc["categories"][0] == {"id": 0, "name": "money", "supercategory": "none"}
        assert [c["name"] for c in doc["categories"][1:]] == list(CLASSES)
        assert {c["supercategory"] for c in doc["categories"][1:]} == {"money"}
        assert [im["id"] for im in doc["images"]] == list(range(len(doc["images"])))
        sizes = {im["id"]: (im["width"], im["height"]) for im in doc["images"]}
        for im in doc["images"]:
            assert ".jpg" in im["file_name"] and "_jpg.rf." in im["file_name"]
            with Image.open(tmp_path / split / im["file_name"]) as image:
                assert image.format == "JPEG" and image.size == sizes[im["id"]]
        for ann in doc["annotations"]:
            x, y, w, h = ann["bbox"]
            width, height = sizes[ann["image_id"]]
            assert x >= 0 and y >= 0 and w > 0 and h > 0 and x + w <= width and y + h <= height
            assert 1 <= ann["category_id"] <= len(CLASSES) and ann["area"] == w * h
        assert len(doc["images"]) == summary.images[split] >= 1
        objects += len(doc["annotations"])
    assert objects == sum(summary.objects.values()) == sum(summary.per_class.values()) > 0


def test_every_split_filled_for_tiny_n(tmp_path: Path) -> None:
    assert write_coins(tmp_path, images=3).images == {"train": 1, "valid": 1, "test": 1}
    with pytest.raises(ValueError):
        write_coins(tmp_path, images=2)
    with pytest.raises(ValueError):
        write_coins(tmp_path, fmt="csv")


def _coco(root: Path) -> Boxes:
    boxes: Boxes = {}
    for split in ("train", "valid", "test"):
        doc = json.loads((root / split / "_annotations.coco.json").read_text())
        names = {im["id"]: im["file_name"] for im in doc["images"]}
        for name in names.values():
            boxes[name] = []
        for ann in doc["annotations"]:
            boxes[names[ann["image_id"]]].append((CLASSES[ann["category_id"] - 1], *ann["bbox"]))
    return boxes


def _yolo(root: Path) -> Boxes:
    boxes: Boxes = {}
    for label in root.glob("*/labels/*.txt"):
        image = label.parent.parent / "images" / f"{label.stem}.jpg"
        width, height = Image.open(image).size
        boxes[image.name] = []
        for line in label.read_text().splitlines():
            cls, cx, cy, w, h = line.split()
            bw, bh = float(w) * width, float(h) * height
            x, y = float(cx) * width - bw / 2, float(cy) * height - bh / 2
            boxes[image.name].append((CLASSES[int(cls)], x, y, bw, bh))
    return boxes


def _voc(root: Path) -> Boxes:
    boxes: Boxes = {}
    for xml in (root / "Annotations").glob("*.xml"):
        tree = ElementTree.parse(xml).getroot()
        found = boxes.setdefault(tree.findtext("filename"), [])
        for obj in tree.iter("object"):
            corners = ("xmin", "ymin", "xmax", "ymax")
            x1, y1, x2, y2 = (int(obj.findtext(f"bndbox/{t}")) for t in corners)
            found.append((obj.findtext("name"), x1 - 1, y1 - 1, x2 - x1 + 1, y2 - y1 + 1))
    return boxes


def test_three_formats_describe_the_same_boxes(tmp_path: Path) -> None:
    for fmt in FORMATS:
        write_coins(tmp_path / fmt, images=12, seed=5, fmt=fmt)
    coco = _coco(tmp_path / "coco")
    images = {p.name: p.read_bytes() for p in (tmp_path / "coco").glob("*/*.jpg")}
    assert images == {p.name: p.read_bytes() for p in (tmp_path / "yolo").glob("*/images/*.jpg")}
    assert images == {p.name: p.read_bytes() for p in (tmp_path / "voc/JPEGImages").glob("*.jpg")}
    splits = {
        s: (tmp_path / f"voc/ImageSets/Main/{s}.txt").read_text().split()
        for s in ("train", "val", "test")
    }
    listed = sorted(n for names in splits.values() for n in names)
    assert listed == sorted(Path(n).stem for n in coco)
    for other in (_yolo(tmp_path / "yolo"), _voc(tmp_path / "voc")):
        assert other.keys() == coco.keys()
        for name, boxes in coco.items():
            assert len(other[name]) == len(boxes)
            for (c1, *b1), (c2, *b2) in zip(sorted(boxes), sorted(other[name]), strict=True):
                assert c1 == c2 and all(abs(p - q) <= 1 for p, q in zip(b1, b2, strict=True))
