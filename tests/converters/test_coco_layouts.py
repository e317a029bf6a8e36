"""Real-world COCO layouts and hostile annotation files."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from dsconv.converters.base import Ledger, ReaderOptions
from dsconv.converters.coco import CocoOptions, CocoReader


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
    reader = CocoReader(src, ledger, CocoOptions(**options))
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


# --- the compact annotation index: rows made while the JSON is parsed ------------------------


def test_a_number_in_the_annotations_list_is_an_error(tmp_path: Path) -> None:
    import pytest

    from dsconv.errors import InputError

    (tmp_path / "annotations.json").write_text(coco([{"id": 1, "file_name": "a.jpg"}],
                                                    [ann(1, 1), 7, ann(2, 1)]))
    with pytest.raises(InputError, match=r"annotations\[1\]: annotation needs 'image_id'"):
        CocoReader(tmp_path, Ledger())


def test_annotation_like_objects_elsewhere_do_not_shift_rows(tmp_path: Path) -> None:
    """The parser's hook sees every object with image_id and category_id, wherever it is: one
    in `info` or inside an annotation must not take the place of a real annotation."""
    jpeg(tmp_path / "a.jpg")
    jpeg(tmp_path / "b.jpg")
    cats = [{"id": 1, "name": "dime"}, {"id": 2, "name": "penny"}]
    nested = {"image_id": 2, "category_id": 2, "bbox": [30, 30, 9, 9]}
    anns = [ann(1, 1, box=(1, 1, 5, 5), cat=1) | {"attributes": nested},
            ann(2, 2, box=(2, 2, 6, 6), cat=2),
            {"image_id": 1, "category_id": 2, "bbox": [3, 3, 7, 7], "extra": [nested, nested]},
            {"id": 4, "image_id": 1, "category_id": 1, "bbox": [1, 1, nested, 5]}]
    doc = json.loads(coco([{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "b.jpg"}],
                          anns, cats))
    doc = {"info": {"image_id": 2, "category_id": 1, "bbox": [0, 0, 1, 1]}, **doc}
    (tmp_path / "annotations.json").write_text(json.dumps(doc))
    samples, ledger = read(tmp_path)
    objects = {s.image_id: [(o.category, o.bbox) for o in s.objects] for s in samples["train"]}
    assert objects == {"1": [("dime", (1, 1, 5, 5)), ("penny", (3, 3, 7, 7))],
                       "2": [("penny", (2, 2, 6, 6))]}
    # an annotation in a box is not a number; a missing id is named by list position
    assert [(d.annotation, d.reason) for d in ledger.drops] == [("4", "invalid_box")]
    assert ledger.objects_seen() == {"train": 4}


def test_missing_ids_are_named_by_position(tmp_path: Path) -> None:
    jpeg(tmp_path / "a.jpg")
    anns = [{"image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5], "extra": ann(9, 1)},
            {"image_id": 1, "category_id": 5, "bbox": [1, 1, 5, 5]},
            {"image_id": 7, "category_id": 1, "bbox": [1, 1, 5, 5]}]
    (tmp_path / "annotations.json").write_text(coco([{"id": 1, "file_name": "a.jpg"}], anns))
    _, ledger = read(tmp_path)
    assert [(d.annotation, d.reason) for d in ledger.drops] == [
        ("#2", "unknown_image"), ("#1", "unknown_category")]


def test_text_ids_and_category_ids(tmp_path: Path) -> None:
    jpeg(tmp_path / "a.jpg")
    cats = [{"id": "coin-2", "name": "penny"}, {"id": "coin-1", "name": "dime"}]
    anns = [{"id": "a-1", "image_id": "img-a", "category_id": "coin-1", "bbox": [1, 1, 5, 5]},
            {"id": "a-2", "image_id": "img-a", "category_id": "coin-2", "bbox": [2, 2, 5, 5]},
            {"id": "a-3", "image_id": "img-a", "category_id": "coin-3", "bbox": [3, 3, 5, 5]},
            {"id": 4.5, "image_id": "img-a", "category_id": "coin-2", "bbox": [9, 9, 0, 5]}]
    (tmp_path / "annotations.json").write_text(
        coco([{"id": "img-a", "file_name": "a.jpg", "width": 64, "height": 48}], anns, cats))
    samples, ledger = read(tmp_path)
    (sample,) = samples["train"]
    assert sample.image_id == "img-a"
    assert [(o.category, o.bbox) for o in sample.objects] == [
        ("dime", (1, 1, 5, 5)), ("penny", (2, 2, 5, 5))]
    assert [(d.annotation, d.reason) for d in ledger.drops] == [
        ("a-3", "unknown_category"), ("4.5", "degenerate_box")]


def test_annotations_out_of_image_order_keep_file_order_per_image(tmp_path: Path) -> None:
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        jpeg(tmp_path / name)
    images = [{"id": i, "file_name": n} for i, n in ((3, "c.jpg"), (1, "a.jpg"), (2, "b.jpg"))]
    anns = [ann(10, 2, box=(1, 1, 1, 1)), ann(11, 1, box=(2, 2, 2, 2)),
            ann(12, 2, box=(3, 3, 3, 3)), ann(13, 3, box=(4, 4, 4, 4)),
            ann(14, 1, box=(5, 5, 5, 5)), ann(15, 9), ann(16, 2, box=(6, 6, 6, 6))]
    (tmp_path / "annotations.json").write_text(coco(images, anns))
    ledger = Ledger()
    reader = CocoReader(tmp_path, ledger)
    assert reader.count("train") == 3
    samples = [reader.read("train", item) for item in reader.items("train")]
    assert [(s.image_id, [o.bbox[0] for o in s.objects]) for s in samples] == [
        ("3", [4]), ("1", [2, 5]), ("2", [1, 3, 6])]
    part = reader.items("train")[1::2]  # what one part of a sharded run reads
    assert [reader.read("train", item).image_id for item in part] == ["1"]


def test_repeated_ids_after_increasing_ones_are_still_found(tmp_path: Path) -> None:
    """Ids usually increase, and then none can repeat; the check must still see a repeat
    once they stop increasing, and 1 and "1" are the same id (drops report ids as text)."""
    jpeg(tmp_path / "a.jpg")
    anns = [ann(i, 1, box=(i, 1, 2, 2)) for i in range(1, 6)]
    anns += [ann(3, 1, box=(3, 1, 2, 2)),  # an exact repeat of id 3
             ann("2", 1, box=(2, 1, 2, 2)),  # "2" repeats 2
             ann(4, 1, box=(9, 9, 2, 2)),  # id 4 again, another box: kept, with a warning
             ann(4, 1, box=(9, 9, 2, 2)),  # a repeat of the latest id 4
             ann(2.0, 1, box=(2, 1, 2, 2))]  # 2.0 is not 2
    (tmp_path / "annotations.json").write_text(coco([{"id": 1, "file_name": "a.jpg"}], anns))
    samples, ledger = read(tmp_path)
    assert [o.bbox[0] for o in samples["train"][0].objects] == [1, 2, 3, 4, 5, 9, 2]
    assert [(d.annotation, d.reason) for d in ledger.drops] == [
        ("3", "duplicate_annotation"), ("2", "duplicate_annotation"),
        ("4", "duplicate_annotation")]
    assert [w for w in ledger.warnings if "more than once" in w] == [
        f"{tmp_path / 'annotations.json'}: annotation id 4 is used more than once"]


def test_boxes_that_are_not_numbers(tmp_path: Path) -> None:
    jpeg(tmp_path / "a.jpg")
    anns = [{"id": 1, "image_id": 1, "category_id": 1, "bbox": ["1.5", 2, "3", 4]},
            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [10**400, 1, 1, 1]},
            {"id": 3, "image_id": 1, "category_id": 1, "bbox": [1, 1, None, 1]},
            {"id": 4, "image_id": 1, "category_id": 1, "bbox": "1 1 2 2"},
            {"id": 5, "image_id": 1, "category_id": 1, "bbox": None}]
    (tmp_path / "annotations.json").write_text(coco([{"id": 1, "file_name": "a.jpg"}], anns))
    samples, ledger = read(tmp_path)
    assert [o.bbox for o in samples["train"][0].objects] == [(1.5, 2.0, 3.0, 4.0)]
    assert [(d.annotation, d.reason) for d in ledger.drops] == [
        ("2", "invalid_box"), ("3", "invalid_box"), ("4", "invalid_box"), ("5", "no_bbox")]
