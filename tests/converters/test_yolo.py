"""YOLO reader: the Ultralytics and Darknet layouts, and every malformed label line reported."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from dsconv.converters.base import DetectionSample, Ledger, ReaderOptions
from dsconv.converters.yolo import YoloReader
from dsconv.errors import InputError, NoAnnotationsError
from dsconv.schemas.report import SplitReport
from dsconv.storage.dataset import iter_rows
from tests.helpers import convert_coins, read_all, run_cli, write_image, write_text

image = write_image


text = write_text


def read(
    src: Path, options: ReaderOptions | None = None
) -> tuple[YoloReader, Ledger, dict[str, list[DetectionSample]], dict[str, SplitReport]]:
    return read_all(YoloReader, src, options)


def test_coins_sample_converts_and_validates(tmp_path: Path) -> None:
    out, _ = convert_coins(tmp_path, "yolo")
    row = next(iter_rows(out, "train"))
    assert "/" not in row["image"]["path"] and row["image"]["path"].endswith(".jpg")
    assert row["image_id"] == Path(row["image"]["path"]).stem


def test_every_malformed_line_is_a_reported_drop(tmp_path: Path) -> None:
    text(tmp_path / "data.yaml", "train: images\nnames: [coin, bill]\n")
    image(tmp_path / "images" / "a.jpg", (100, 50))
    lines = [
        "0 0.5 0.5 0.2 0.2",  # 1 kept
        "0 0.5 0.5 0.2",  # 2 too few fields
        "7 0.5 0.5 0.2 0.2",  # 3 class out of range
        "coin 0.5 0.5 0.2 0.2",  # 4 class not a number
        "0 0.5 abc 0.2 0.2",  # 5 coordinate not a number
        "0 1.7 0.5 0.2 0.2",  # 6 far outside 0-1
        "0 1.004 0.5 0.2 0.2",  # 7 rounding overshoot: clipped, kept
        "0 0.5 0.5 0.2 0.2 0.93",  # 8 confidence column: kept
        "1 0.1 0.1 0.3 0.1 0.3 0.4 0.1 0.4",  # 9 polygon: its bounding box, kept
        "0 0.5 0.5 0 0.2",  # 10 zero width
        "0 0.1 0.1 0.2 0.2 0.3 0.3 0.4",  # 11 odd coordinate count
        "0 nan 0.5 0.2 0.2",  # 12 not finite
        "-1 0.5 0.5 0.2 0.2",  # 13 negative class
        "",  # blank: not an annotation
    ]
    text(tmp_path / "labels" / "a.txt", "\n".join(lines) + "\n")
    _, ledger, samples, reports = read(tmp_path)

    (sample,) = samples["train"]
    assert [o.category for o in sample.objects] == ["coin", "coin", "coin", "bill"]
    assert sample.objects[0].bbox == pytest.approx((40, 20, 20, 10))
    assert sample.objects[3].bbox == pytest.approx((10, 5, 20, 15))
    x, _, w, _ = sample.objects[1].bbox
    assert x + w == pytest.approx(100)
    report = reports["train"]
    assert report.objects_total == 13 and report.objects_kept == 4 and report.objects_clipped == 1
    assert report.objects_dropped == {"bad_label_line": 5, "box_outside_image": 1,
                                      "degenerate_box": 1, "unknown_class": 2}
    where = {d.annotation: d.reason for d in ledger.drops}
    assert where["labels/a.txt:2"] == "bad_label_line"
    assert where["labels/a.txt:3"] == "unknown_class"
    assert where["labels/a.txt:6"] == "box_outside_image"
    assert all(d.file == "labels/a.txt" for d in ledger.drops)
    assert "1.7" in next(d.detail for d in ledger.drops if d.reason == "box_outside_image")


def test_names_map_alias_folders_and_stray_files(tmp_path: Path) -> None:
    text(tmp_path / "data.yaml",
         "path: .\ntrain: images/train\nval: images/valid\nnames:\n  1: dog\n  0: cat\n")
    image(tmp_path / "images" / "train" / "a.JPG", (64, 32))
    image(tmp_path / "images" / "train" / "sub" / "b.png", (10, 20), "PNG")
    image(tmp_path / "images" / "train" / "c.jpg")
    image(tmp_path / "images" / "val" / "d.jpg")
    text(tmp_path / "labels" / "train" / "a.txt", "1 0.5 0.5 0.5 0.5\n")
    text(tmp_path / "labels" / "train" / "sub" / "b.txt", "")
    text(tmp_path / "labels" / "train" / "classes.txt", "cat\ndog\n")
    text(tmp_path / "labels" / "train" / "README.txt", "Exported by a tool.\n")
    text(tmp_path / "labels" / "val" / "d.txt", "0 0.5 0.5 0.1 0.1\n")
    reader, ledger, samples, reports = read(tmp_path, ReaderOptions(noun="pet"))

    assert reader.splits() == ["train", "validation"]
    assert reader.vocabulary().classes == ["cat", "dog"]
    assert reader.vocabulary().noun == "pet"
    by_name = {s.file_name: s for s in samples["train"]}
    assert set(by_name) == {"a.JPG", "sub/b.png", "c.jpg"}
    assert by_name["a.JPG"].objects[0].category == "dog"
    assert by_name["a.JPG"].objects[0].bbox == pytest.approx((16, 8, 32, 16))
    assert (by_name["sub/b.png"].width, by_name["sub/b.png"].height) == (10, 20)
    assert by_name["sub/b.png"].objects == [] and by_name["c.jpg"].objects == []
    assert [o.category for o in samples["validation"][0].objects] == ["cat"]
    assert ledger.drops == []
    assert reports["train"].images == 3


def test_folder_walk_order_hidden_and_symlinked_folders(tmp_path: Path) -> None:
    """Images are found as `Path.rglob` found them: sorted by path component (`a/b` before
    `a-b`), hidden files and folders skipped, symlinked folders not entered; a nested
    `images` folder takes its labels from the `labels` folder beside it."""
    text(tmp_path / "data.yaml", "train: images\nnames: [x]\n")
    for name in ("a-b.jpg", "a/b.jpg", "B.jpg", ".hidden.jpg", ".cache/c.jpg",
                 "shots/images/d.png"):
        image(tmp_path / "images" / name)
    (tmp_path / "images" / "elsewhere").symlink_to(tmp_path / "images" / "a",
                                                   target_is_directory=True)
    text(tmp_path / "labels" / "a" / "b.txt", "0 0.5 0.5 0.2 0.2\n")
    text(tmp_path / "images" / "shots" / "labels" / "d.txt", "0 0.5 0.5 0.2 0.2\n")
    text(tmp_path / "labels" / ".cache" / "c.txt", "0 0.5 0.5 0.2 0.2\n")
    _, ledger, samples, reports = read(tmp_path)

    assert [(s.file_name, len(s.objects)) for s in samples["train"]] == [
        ("B.jpg", 0), ("a/b.jpg", 1), ("a-b.jpg", 0), ("shots/images/d.png", 1)]
    assert reports["train"].images_dropped == {"missing_image": 1}
    assert ledger.drops[0].file == "labels/.cache/c.txt"


def test_relative_source_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`.` as the source gives the same names; `1.0` is class id 1, `0.5` is not a class id."""
    text(tmp_path / "obj.names", "coin\n")
    image(tmp_path / "a.jpg")
    text(tmp_path / "a.txt", "0 0.5 0.5 0.2 0.2\n1.0 0.5 0.5 0.2 0.2\n0.5 0.5 0.5 0.2 0.2\n")
    monkeypatch.chdir(tmp_path)
    _, ledger, samples, _ = read(Path("."))
    (sample,) = samples["train"]
    assert (sample.file_name, len(sample.objects)) == ("a.jpg", 1)
    assert [(d.file, d.annotation, d.reason) for d in ledger.drops] == [
        ("a.txt", "a.txt:2", "unknown_class"), ("a.txt", "a.txt:3", "bad_label_line")]


def test_split_lists_and_duplicate_stems(tmp_path: Path) -> None:
    text(tmp_path / "data.yaml",
         "train: [images/a, images/b]\nval: val.txt\ntest: images/missing\nnames: [x]\n")
    image(tmp_path / "images" / "a" / "p.jpg")
    image(tmp_path / "images" / "b" / "p.jpg")
    image(tmp_path / "images" / "c" / "q.jpg")
    image(tmp_path / "images" / "c" / "r.jpg")
    text(tmp_path / "labels" / "b" / "p.txt", "0 0.5 0.5 0.2 0.2\n")
    text(tmp_path / "val.txt",
         "# validation\n./images/c/q.jpg\n\nimages/c/r.jpg\nimages/c/gone.jpg\n")
    text(tmp_path / "labels" / "c" / "gone.txt", "0 0.5 0.5 0.2 0.2\n")
    reader, ledger, samples, reports = read(tmp_path)

    assert reader.splits() == ["train", "validation"]
    assert [(s.image_id, s.file_name) for s in samples["train"]] == [
        ("p", "images/a/p.jpg"), ("p-2", "images/b/p.jpg")]
    assert [s.image_id for s in samples["validation"]] == ["q", "r"]
    assert reports["validation"].images_dropped == {"missing_image": 1}
    assert reports["validation"].objects_dropped == {"missing_image": 1}
    assert any("images/missing" in w for w in ledger.warnings)
    assert any("-2" in w for w in ledger.warnings)


def test_roboflow_parent_paths_and_orphan_labels(tmp_path: Path) -> None:
    text(tmp_path / "data.yaml", "train: ../train/images\nval: ../valid/images\nnames: [x]\n")
    image(tmp_path / "train" / "images" / "a.jpg")
    image(tmp_path / "valid" / "images" / "b.jpg")
    text(tmp_path / "train" / "labels" / "orphan.txt", "0 0.5 0.5 0.2 0.2\n0 0.1 0.1 0.1 0.1\n")
    _, ledger, samples, reports = read(tmp_path)

    assert [s.file_name for s in samples["train"]] == ["a.jpg"]
    assert [s.file_name for s in samples["validation"]] == ["b.jpg"]
    assert reports["train"].objects_dropped == {"missing_image": 2}
    assert reports["train"].images_dropped == {"missing_image": 1}
    assert ledger.drops[0].file == "train/labels/orphan.txt"


def test_darknet_layout_beside_images(tmp_path: Path) -> None:
    text(tmp_path / "obj.names", "dime\n\nnickel\n")
    image(tmp_path / "a.jpg", (200, 100))
    image(tmp_path / "b.jpg")
    text(tmp_path / "a.txt", "1 0.5 0.5 0.5 0.5\n0 0.25 0.25 0.1 0.1\n")
    text(tmp_path / "README.txt", "Darknet export\n")
    reader, ledger, samples, _ = read(tmp_path, ReaderOptions(noun="coin"))

    assert reader.splits() == ["train"]
    assert reader.vocabulary().classes == ["dime", "nickel"]
    a, b = samples["train"]
    assert [o.category for o in a.objects] == ["nickel", "dime"]
    assert a.objects[0].bbox == pytest.approx((50, 25, 100, 50))
    assert b.objects == [] and ledger.drops == []


def test_darknet_obj_data_as_cvat_writes_it(tmp_path: Path) -> None:
    text(tmp_path / "obj.data",
         "classes = 1\ntrain = data/train.txt\nnames = data/obj.names\nbackup = backup/\n")
    text(tmp_path / "obj.names", "coin\n")
    image(tmp_path / "obj_train_data" / "a.jpg")
    text(tmp_path / "obj_train_data" / "a.txt", "0 0.5 0.5 0.2 0.2\n")
    text(tmp_path / "train.txt", "data/obj_train_data/a.jpg\n")
    reader, _, samples, _ = read(tmp_path)

    assert reader.vocabulary().classes == ["coin"]
    (sample,) = samples["train"]
    assert sample.file_name == "obj_train_data/a.jpg" and len(sample.objects) == 1


def test_no_class_names_gives_numbered_classes_and_a_warning(tmp_path: Path) -> None:
    image(tmp_path / "images" / "a.jpg")
    text(tmp_path / "labels" / "a.txt", "2 0.5 0.5 0.2 0.2\n0 0.5 0.5 0.2 0.2\n")
    reader, ledger, samples, _ = read(tmp_path)

    assert reader.vocabulary().classes == ["class_0", "class_1", "class_2"]
    assert reader.vocabulary().noun == "object"
    assert [o.category for o in samples["train"][0].objects] == ["class_2", "class_0"]
    assert any("no class names" in w for w in ledger.warnings)


def test_pose_lines_use_the_box(tmp_path: Path) -> None:
    text(tmp_path / "data.yaml", "train: images\nkpt_shape: [2, 3]\nnames: [person]\n")
    image(tmp_path / "images" / "a.jpg", (100, 100))
    text(tmp_path / "labels" / "a.txt",
         "0 0.5 0.5 0.2 0.2 0.45 0.45 2 0.55 0.55 2\n0 0.5 0.5 0.2 0.2\n")
    _, _, samples, reports = read(tmp_path)
    assert samples["train"][0].objects[0].bbox == pytest.approx((40, 40, 20, 20))
    assert reports["train"].objects_dropped == {"bad_label_line": 1}


def test_unreadable_image_drops_its_objects(tmp_path: Path) -> None:
    text(tmp_path / "data.yaml", "train: images\nnames: [x]\n")
    text(tmp_path / "images" / "a.jpg", "not a jpeg")
    text(tmp_path / "labels" / "a.txt", "0 0.5 0.5 0.2 0.2\n")
    _, _, samples, reports = read(tmp_path)
    assert samples["train"] == []
    assert reports["train"].images_dropped == {"unreadable_image": 1}
    assert reports["train"].objects_dropped == {"unreadable_image": 1}


def test_bad_yaml_is_one_located_error(tmp_path: Path) -> None:
    text(tmp_path / "data.yaml", "train: images\nnames: [a, b\n")
    with pytest.raises(InputError) as info:
        YoloReader(tmp_path, Ledger())
    assert "data.yaml:" in str(info.value) and "\n" not in str(info.value)
    text(tmp_path / "data.yaml", "train: nowhere\nnames: [a]\n")
    with pytest.raises(InputError, match="no split found"):
        YoloReader(tmp_path, Ledger())


def test_cli_report_lists_line_drops(tmp_path: Path) -> None:
    text(tmp_path / "src" / "data.yaml", "train: images\nnames: [x]\n")
    image(tmp_path / "src" / "images" / "a.jpg")
    text(tmp_path / "src" / "labels" / "a.txt", "0 0.5 0.5 0.2 0.2\n3 0.5 0.5 0.2 0.2\n")
    result = run_cli("yolo-to-vqa", tmp_path / "src", tmp_path / "out")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out" / "conversion_report.json").read_text())
    assert Counter(d["reason"] for d in report["drops"]) == {"unknown_class": 1}
    assert run_cli("validate", tmp_path / "out").exit_code == 0


# --- never a silent empty dataset ----------------------------------------------------------


@pytest.mark.parametrize("fmt", ["coco", "voc"])
def test_other_formats_are_not_converted_to_an_empty_dataset(tmp_path: Path, fmt: str) -> None:
    """A COCO or VOC folder given to the YOLO reader used to give 48 rows about "the object
    ()" with answer `{}`."""
    from dsconv.samples.coins import write_coins

    write_coins(tmp_path / "src", images=6, seed=1, fmt=fmt)
    with pytest.raises(NoAnnotationsError, match="YOLO") as info:
        YoloReader(tmp_path / "src", Ledger())
    assert info.value.format == "YOLO" and ".txt" in info.value.looked_for
    result = run_cli("yolo-to-vqa", tmp_path / "src", tmp_path / "out")
    assert result.exit_code != 0 and not (tmp_path / "out").exists()


def test_one_image_without_a_label_is_a_background_image(tmp_path: Path) -> None:
    text(tmp_path / "data.yaml", "train: images\nnames: [x]\n")
    image(tmp_path / "images" / "a.jpg")
    image(tmp_path / "images" / "b.jpg")
    text(tmp_path / "labels" / "a.txt", "0 0.5 0.5 0.2 0.2\n")
    _, ledger, samples, _ = read(tmp_path)
    assert [len(s.objects) for s in samples["train"]] == [1, 0] and ledger.drops == []


def test_yaml_split_listing_image_files(tmp_path: Path) -> None:
    """`train: [images/train/1.jpg]`: the JPEG used to be read as a text list of paths."""
    text(tmp_path / "data.yaml",
         "train: [images/train/1.jpg, images/train/2.png]\nval: images/val/3.jpg\n"
         "names: [coin]\n")
    image(tmp_path / "images" / "train" / "1.jpg")
    image(tmp_path / "images" / "train" / "2.png", fmt="PNG")
    image(tmp_path / "images" / "val" / "3.jpg")
    for stem, split in (("1", "train"), ("2", "train"), ("3", "val")):
        text(tmp_path / "labels" / split / f"{stem}.txt", "0 0.5 0.5 0.2 0.2\n")
    _, ledger, samples, reports = read(tmp_path)
    assert [s.file_name for s in samples["train"]] == ["images/train/1.jpg",
                                                       "images/train/2.png"]
    assert [len(s.objects) for s in samples["train"] + samples["validation"]] == [1, 1, 1]
    assert ledger.drops == [] and reports["train"].objects_kept == 2


@pytest.mark.parametrize(("images", "labels"), [
    ("Images", "Annotations"), ("images", "annotations"), ("JPEGImages", "labels"),
    ("Images", "Labels")])
def test_darknet_image_and_label_folders_in_any_capitalisation(
    tmp_path: Path, images: str, labels: str
) -> None:
    text(tmp_path / "obj.names", "dime\nnickel\n")
    image(tmp_path / images / "a.jpg", (200, 100))
    image(tmp_path / images / "b.jpg")
    text(tmp_path / labels / "a.txt", "1 0.5 0.5 0.5 0.5\n0 0.25 0.25 0.1 0.1\n")
    text(tmp_path / labels / "b.txt", "0 0.5 0.5 0.5 0.5\n")
    reader, ledger, samples, _ = read(tmp_path)
    assert reader.vocabulary().classes == ["dime", "nickel"]
    assert [len(s.objects) for s in samples["train"]] == [2, 1]
    assert ledger.drops == [] and ledger.warnings == []


def test_label_files_the_reader_does_not_read_are_named(tmp_path: Path) -> None:
    """Labels in a folder the reader does not look in are warned about, by name; when no
    image has a label and nothing names classes, the error names them."""
    text(tmp_path / "data.yaml", "train: images\nnames: [x]\n")
    image(tmp_path / "images" / "a.jpg")
    image(tmp_path / "images" / "b.jpg")
    text(tmp_path / "labels" / "a.txt", "0 0.5 0.5 0.2 0.2\n")
    text(tmp_path / "old_labels" / "b.txt", "0 0.5 0.5 0.2 0.2\n")
    text(tmp_path / "notes" / "README.txt", "Exported by a tool.\n")
    _, ledger, _, _ = read(tmp_path)
    (warning,) = [w for w in ledger.warnings if "old_labels/b.txt" in w]
    assert "README" not in warning
    (tmp_path / "labels" / "a.txt").unlink()
    _, ledger, _, _ = read(tmp_path)
    assert any("none of its 2 images has a label" in w for w in ledger.warnings)
    (tmp_path / "data.yaml").unlink()
    with pytest.raises(NoAnnotationsError, match=r"old_labels/b\.txt"):
        YoloReader(tmp_path, Ledger())


@pytest.mark.parametrize("bad", [
    "\u0663 0.5 0.5 0.2 0.2", "0 0.5_0 0.5 0.2 0.2", "0 \u0660.5 0.5 0.2 0.2",
    "1_0 0.5 0.5 0.2 0.2", "0\u00a00.5 0.5 0.2 0.2", "0 0.5 0.5 0.2 \uff10.2"],
    ids=["arabic-class", "underscore", "arabic-coordinate", "underscore-class", "nbsp",
         "fullwidth"])
def test_only_ascii_decimal_numbers_are_read(tmp_path: Path, bad: str) -> None:
    """Python's int() and float() accept other scripts' digits and `_`; YOLO does not."""
    text(tmp_path / "data.yaml", "train: images\nnames: [a, b, c, d]\n")
    image(tmp_path / "images" / "a.jpg")
    text(tmp_path / "labels" / "a.txt", f"1.0 0.5 0.5 0.2 0.2\n{bad}\n")
    _, ledger, samples, reports = read(tmp_path)
    assert [o.category for o in samples["train"][0].objects] == ["b"]
    assert reports["train"].objects_dropped == {"bad_label_line": 1}
    assert ledger.drops[0].annotation == "labels/a.txt:2"
