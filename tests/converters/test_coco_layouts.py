"""Real-world COCO layouts and hostile annotation files."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from dsconv.converters.base import Ledger, ReaderOptions
from dsconv.converters.coco import CocoReader


def jpeg(path: Path, size: tuple[int, int] = (64, 48)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (10, 200, 30)).save(path, "JPEG")


def coco(images: list[dict], annotations: list[dict], categories: list[dict] | None = None) -> str:
    return json.dumps({
        "images": images, "annotations": annotations,
        "categories": categories or [{"id": 1, "name": "dime"}],
    })


def ann(i: int, image_id, box=(1, 1, 5, 5), cat=1) -> dict:
    return {"id": i, "image_id": image_id, "category_id": cat, "bbox": list(box)}


def read(src: Path, **options) -> tuple[dict[str, list], Ledger]:
    ledger = Ledger()
    reader = CocoReader(src, ledger, ReaderOptions(**options))
    samples = {split: list(reader.samples(split)) for split in reader.splits()}
    for items in samples.values():
        for sample in items:
            ledger.kept(sample, 1)
    return samples, ledger


def test_mmdetection_layout_ignores_other_task_files(tmp_path: Path) -> None:
    for split in ("train2017", "val2017"):
        jpeg(tmp_path / split / "a.jpg")
        (tmp_path / "annotations").mkdir(exist_ok=True)
        (tmp_path / "annotations" / f"instances_{split}.json").write_text(
            coco([{"id": "img-a", "file_name": "a.jpg"}], [ann(1, "img-a")]))
    (tmp_path / "annotations" / "captions_train2017.json").write_text("{}")
    samples, ledger = read(tmp_path)
    assert set(samples) == {"train", "validation"}
    assert samples["train"][0].image_id == "img-a"  # string ids work
    assert samples["train"][0].width == 64  # missing width/height come from the header
    assert any("captions_train2017.json: ignored" in w for w in ledger.warnings)


def test_category_ids_with_gaps_follow_ids(tmp_path: Path) -> None:
    jpeg(tmp_path / "a.jpg")
    cats = [{"id": 40, "name": "zebra"}, {"id": 3, "name": "ant"}, {"id": 17, "name": "cow"}]
    (tmp_path / "annotations.json").write_text(coco(
        [{"id": 1, "file_name": "a.jpg"}], [ann(1, 1, cat=40), ann(2, 1, cat=3)], cats))
    reader = CocoReader(tmp_path, Ledger())
    assert reader.vocabulary().classes == ["ant", "cow", "zebra"]


def test_unsafe_paths_are_refused_and_reported(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    jpeg(tmp_path / "outside.jpg")
    jpeg(root / "ok.jpg")
    (root / "link.jpg").symlink_to(tmp_path / "outside.jpg")
    images = [
        {"id": 1, "file_name": str(tmp_path / "outside.jpg")},
        {"id": 2, "file_name": "../outside.jpg"},
        {"id": 3, "file_name": "link.jpg"},
        {"id": 4, "file_name": "bad\x00name.jpg"},
        {"id": 5, "file_name": "ok.jpg"},
    ]
    (root / "annotations.json").write_text(coco(images, [ann(i, i) for i in range(1, 6)]))
    samples, ledger = read(root)
    assert [s.image_id for s in samples["train"]] == ["5"]
    report = ledger.split_reports(["dime"])["train"]
    assert report.images_dropped == {"unsafe_path": 4}
    assert report.objects_dropped == {"unsafe_path": 4}
    allowed, _ = read(root, allow_outside_root=True)
    assert [s.image_id for s in allowed["train"]] == ["1", "2", "3", "5"]


def test_duplicates_are_reported_not_merged(tmp_path: Path) -> None:
    jpeg(tmp_path / "a.jpg")
    images = [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "a.jpg"},
              {"id": 1, "file_name": "b.jpg"}]
    anns = [ann(1, 1), ann(1, 1), ann(2, 1, box=(9, 9, 3, 3)), ann(2, 1, box=(20, 9, 3, 3))]
    cats = [{"id": 1, "name": "dime"}, {"id": 2, "name": "dime"}]
    (tmp_path / "annotations.json").write_text(coco(images, anns, cats))
    samples, ledger = read(tmp_path)
    assert len(samples["train"][0].objects) == 3
    report = ledger.split_reports(["dime"])["train"]
    assert report.images_dropped == {"duplicate_file_name": 1, "duplicate_image_id": 1}
    assert report.objects_dropped == {"duplicate_annotation": 1}
    assert any("used more than once" in w for w in ledger.warnings)
    assert any("both named 'dime'" in w for w in ledger.warnings)


def test_non_ascii_names_and_bad_boxes(tmp_path: Path) -> None:
    jpeg(tmp_path / "pièce 1.jpg")
    anns = [ann(1, 1), {"id": 2, "image_id": 1, "category_id": 1},
            {"id": 3, "image_id": 1, "category_id": 1, "bbox": ["a", 1, 2, 3]},
            {"id": 4, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3]}]
    (tmp_path / "annotations.json").write_text(
        coco([{"id": 1, "file_name": "pièce 1.jpg"}], anns))
    samples, ledger = read(tmp_path)
    assert samples["train"][0].file_name == "pièce 1.jpg"
    assert ledger.split_reports(["dime"])["train"].objects_dropped == {
        "invalid_box": 2, "no_bbox": 1}


def partly_outside(tmp_path: Path) -> Path:
    jpeg(tmp_path / "a.jpg")
    (tmp_path / "annotations.json").write_text(coco(
        [{"id": 1, "file_name": "a.jpg"}], [ann(1, 1, box=(60, 40, 10, 10)), ann(2, 1)]))
    return tmp_path


def test_box_policy_clip_drop_error(tmp_path: Path) -> None:
    import pytest

    from dsconv.errors import InputError

    src = partly_outside(tmp_path)
    clipped, _ = read(src)
    assert clipped["train"][0].objects[0].bbox == (60, 40, 4, 8)
    dropped, ledger = read(src, box_policy="drop")
    assert len(dropped["train"][0].objects) == 1
    assert ledger.split_reports(["dime"])["train"].objects_dropped == {"box_partly_outside": 1}
    with pytest.raises(InputError, match=r"a\.jpg:annotation 1: box partly outside"):
        reader = CocoReader(src, Ledger(box_policy="error"), ReaderOptions(box_policy="error"))
        list(reader.samples("train"))
