from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import datasets
import pytest
from PIL import Image

from dsconv.converters.base import DetectionObject, DetectionSample, Ledger, Vocabulary
from dsconv.converters.coco import CocoOptions, CocoReader
from dsconv.errors import InputError
from dsconv.storage.dataset import iter_rows, read_report
from dsconv.tasks.base import TaskContext
from dsconv.tasks.count_json import count_json
from tests.helpers import out_beside, run_cli

SEED_QUESTION = (
    "How many of each type of the currency (dime, nickel, penny, quarter, fifty, five, hundred, "
    "one, ten, twenty) are there? Respond in JSON format with the currency type as the key and "
    "a integer count as the value."
)
CLASSES = ["dime", "nickel", "penny", "quarter", "fifty", "five", "hundred", "one", "ten", "twenty"]


def source_counts(coins_dir: Path) -> dict[str, Counter[str]]:
    """Per image file, the class counts straight from the COCO files."""
    counts: dict[str, Counter[str]] = {}
    for ann_file in coins_dir.glob("*/_annotations.coco.json"):
        data = json.loads(ann_file.read_text())
        names = {c["id"]: c["name"] for c in data["categories"]}
        files = {i["id"]: i["file_name"] for i in data["images"]}
        for image in data["images"]:
            counts[image["file_name"]] = Counter()
        for ann in data["annotations"]:
            counts[files[ann["image_id"]]][names[ann["category_id"]]] += 1
    return counts


def test_answers_parse_back_to_the_source_counts(coins_dir: Path, coins_vqa: Path) -> None:
    expected = source_counts(coins_dir)
    rows = list(iter_rows(coins_vqa))
    assert len(rows) == len(expected)
    for row in rows:
        assert json.loads(row["answer"]) == dict(expected[row["image"]["path"]])
        assert row["question"] == SEED_QUESTION


def test_image_bytes_are_the_source_files(coins_dir: Path, coins_vqa: Path) -> None:
    split_folder = {"train": "train", "validation": "valid", "test": "test"}
    for row in iter_rows(coins_vqa):
        split = row["id"].split("/")[0]
        source = coins_dir / split_folder[split] / row["image"]["path"]
        assert row["image"]["bytes"] == source.read_bytes()


def test_load_dataset_opens_it_as_is(coins_vqa: Path) -> None:
    loaded = datasets.load_dataset(str(coins_vqa))
    assert set(loaded) == {"train", "validation", "test"}
    assert isinstance(loaded["train"].features["image"], datasets.Image)
    first = loaded["train"][0]
    assert isinstance(first["image"], Image.Image)
    assert first["image"].size == (first["width"], first["height"])
    ours = {r["id"]: r for r in iter_rows(coins_vqa, "train", columns=["id", "answer"])}
    assert {r["id"]: r["answer"] for r in loaded["train"]} == {
        k: v["answer"] for k, v in ours.items()
    }


def test_seed_answer_character_for_character() -> None:
    sample = DetectionSample("train", "1", "a.jpg", b"x", 100, 100, [
        DetectionObject("penny", (1, 1, 5, 5)),
        DetectionObject("dime", (10, 10, 5, 5)),
        DetectionObject("dime", (20, 20, 5, 5)),
    ])
    (qa,) = count_json(sample, TaskContext(Vocabulary(CLASSES, "currency")))
    assert qa.answer == '{\n  "dime": 2,\n  "penny": 1\n}'
    assert qa.question == SEED_QUESTION


def test_report_accounts_for_every_annotation(coins_dir: Path, coins_vqa: Path) -> None:
    report = read_report(coins_vqa)
    total = sum(sum(c.values()) for c in source_counts(coins_dir).values())
    assert sum(s["objects_kept"] for s in report["splits"].values()) == total
    assert report["classes"] == CLASSES


def jpeg(path: Path, size: tuple[int, int] = (100, 80)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (120, 30, 30)).save(path, "JPEG")


@pytest.fixture
def messy_coco(tmp_path: Path) -> Path:
    """A plain COCO file with one of each problem a real export has."""
    jpeg(tmp_path / "a.jpg")
    jpeg(tmp_path / "b.jpg")
    data = {
        "images": [
            {"id": 1, "file_name": "a.jpg", "width": 100, "height": 80},
            {"id": 2, "file_name": "b.jpg", "width": 100, "height": 80},
            {"id": 3, "file_name": "missing.jpg", "width": 100, "height": 80},
        ],
        # listed out of id order: classes follow ids, never positions
        "categories": [
            {"id": 2, "name": "penny", "supercategory": "coin"},
            {"id": 0, "name": "coin", "supercategory": "none"},
            {"id": 1, "name": "dime", "supercategory": "coin"},
        ],
        "annotations": [
            {"id": 10, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], "iscrowd": 0},
            {"id": 11, "image_id": 1, "category_id": 2, "bbox": [90, 70, 20, 20], "iscrowd": 0},
            {"id": 12, "image_id": 1, "category_id": 2, "bbox": [200, 10, 5, 5], "iscrowd": 0},
            {"id": 13, "image_id": 1, "category_id": 1, "bbox": [10, 10, 0, 5], "iscrowd": 0},
            {"id": 14, "image_id": 1, "category_id": 1, "bbox": [5, 5, 50, 50], "iscrowd": 1},
            {"id": 15, "image_id": 1, "category_id": 9, "bbox": [5, 5, 5, 5], "iscrowd": 0},
            {"id": 16, "image_id": 99, "category_id": 1, "bbox": [5, 5, 5, 5], "iscrowd": 0},
            {"id": 17, "image_id": 3, "category_id": 1, "bbox": [5, 5, 5, 5], "iscrowd": 0},
            {"id": 18, "image_id": 2, "category_id": 2, "bbox": [1, 1, 10, 10], "iscrowd": 0},
        ],
    }
    (tmp_path / "annotations.json").write_text(json.dumps(data))
    return tmp_path


def test_messy_coco_drops_are_reported_with_reasons(messy_coco: Path, tmp_path: Path) -> None:
    ledger = Ledger()
    reader = CocoReader(messy_coco / "annotations.json", ledger)
    assert reader.vocabulary().classes == ["dime", "penny"]
    assert reader.vocabulary().noun == "coin"
    samples = {s.image_id: s for s in reader.samples("train")}
    for sample in samples.values():
        ledger.kept(sample, rows=1)
    assert set(samples) == {"1", "2"}
    kept = samples["1"].objects
    assert [o.category for o in kept] == ["dime", "penny"]
    assert kept[1].bbox == (90, 70, 10, 10)  # clipped to the image
    report = ledger.split_reports(["dime", "penny"])["train"]
    assert report.objects_dropped == {
        "box_outside_image": 1, "crowd": 1, "degenerate_box": 1, "missing_image": 1,
        "unknown_category": 1, "unknown_image": 1,
    }
    assert report.images_dropped == {"missing_image": 1}
    assert report.objects_total == 9 and report.objects_kept == 3
    assert report.objects_clipped == 1
    reasons = {(d.annotation, d.reason) for d in ledger.drops}
    assert ("16", "unknown_image") in reasons and ("17", "missing_image") in reasons


def test_keep_crowd_counts_crowd_regions(messy_coco: Path) -> None:

    reader = CocoReader(messy_coco, Ledger(), CocoOptions(keep_crowd=True))
    objects = next(s for s in reader.samples("train") if s.image_id == "1").objects
    assert [o.category for o in objects] == ["dime", "penny", "dime"]


def test_malformed_json_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "annotations.json"
    bad.write_text('{\n  "images": [],\n  "annotations": [,]\n}')
    with pytest.raises(InputError) as err:
        CocoReader(bad, Ledger())
    assert str(err.value).startswith(f"{bad}:3:")


def test_missing_key_names_the_place(tmp_path: Path) -> None:
    bad = tmp_path / "annotations.json"
    bad.write_text(json.dumps({"images": [{"file_name": "a.jpg"}], "annotations": [],
                               "categories": []}))
    with pytest.raises(InputError, match=r"images\[0\]: image needs 'id'"):
        CocoReader(bad, Ledger())


def test_cli_converts_messy_coco_and_validates(messy_coco: Path, tmp_path: Path) -> None:
    out = out_beside(tmp_path)
    assert run_cli("coco-to-vqa", messy_coco, out).exit_code == 0
    rows = list(iter_rows(out))
    assert {r["image_id"]: r["answer"] for r in rows} == {
        "1": '{\n  "dime": 1,\n  "penny": 1\n}', "2": '{\n  "penny": 1\n}'}
    assert run_cli("validate", out).exit_code == 0


def test_the_index_stays_compact(tmp_path: Path) -> None:
    """The index is kept for the whole conversion: ~55 bytes an annotation (COCO-2017 train
    has 860k), where a Python record per annotation took ~340."""
    import gc
    import tracemalloc

    images, per_image = 1000, 20
    (tmp_path / "annotations.json").write_text(json.dumps({
        "images": [{"id": i, "file_name": f"img_{i:06d}.jpg", "width": 640, "height": 480}
                   for i in range(images)],
        "annotations": [{"id": k, "image_id": k // per_image, "category_id": k % 3 + 1,
                         "bbox": [k % 500 + 0.5, 10.25, 30.0, 40.0], "area": 1200.0,
                         "segmentation": [[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]], "iscrowd": 0}
                        for k in range(images * per_image)],
        "categories": [{"id": c, "name": f"class{c}"} for c in (1, 2, 3)],
    }))
    gc.collect()
    tracemalloc.start()
    try:
        reader = CocoReader(tmp_path, Ledger())
        gc.collect()
        retained = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert reader.count("train") == images
    assert retained / (images * per_image) < 100
