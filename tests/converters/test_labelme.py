"""LabelMe: one JSON per image; rectangles and polygons become boxes, the rest is reported."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest

from dsconv.converters.base import Ledger, ReaderOptions
from dsconv.converters.labelme import LabelMeReader, detect
from dsconv.errors import NoAnnotationsError
from dsconv.samples.coins import write_coins
from tests.helpers import convert_coins, read_all, write_image, write_text


def labelme(path: Path, shapes: list[dict[str, Any]], image: str | None = "a.jpg",
            **extra: Any) -> Path:
    doc = {"version": "5.4.1", "flags": {}, "shapes": shapes, "imagePath": image,
           "imageData": None, "imageHeight": 30, "imageWidth": 40, **extra}
    return write_text(path, json.dumps(doc, indent=2))


def shape(kind: str | None, points: list[Any], label: str = "coin") -> dict[str, Any]:
    found: dict[str, Any] = {"label": label, "points": points}
    if kind is not None:
        found["shape_type"] = kind
    return found


def test_coins_sample_converts_with_every_object(tmp_path: Path) -> None:
    convert_coins(tmp_path, "labelme")


def test_rectangle_points_in_any_order_and_polygon_bounds(tmp_path: Path) -> None:
    write_image(tmp_path / "a.jpg", (40, 30))
    labelme(tmp_path / "a.json", [
        shape("rectangle", [[30, 20], [10, 5]]),
        shape("polygon", [[5, 5], [15, 2], [12, 25]]),
        shape(None, [[1, 1], [3, 1], [2, 4]]),  # LabelMe 3: no shape_type, a polygon
    ])
    _, ledger, samples, reports = read_all(LabelMeReader, tmp_path)
    (sample,) = samples["train"]
    assert [o.bbox for o in sample.objects] == [(10, 5, 20, 15), (5, 2, 10, 23), (1, 1, 2, 3)]
    assert (sample.file_name, sample.image_id) == ("a.jpg", "a")
    assert reports["train"].objects_total == 3 and not ledger.drops


def test_other_shapes_and_short_ones_are_dropped_with_a_reason(tmp_path: Path) -> None:
    write_image(tmp_path / "a.jpg", (40, 30))
    labelme(tmp_path / "a.json", [
        shape("circle", [[10, 10], [12, 12]]), shape("line", [[1, 1], [5, 5]]),
        shape("point", [[3, 3]]), shape("rectangle", [[3, 3]]),
        shape("polygon", [[1, 1], [5, 5]]), shape("rectangle", [[1, 1], ["x", 2]]),
        shape("rectangle", [[1, 1], [5, 5]], label=""), shape("rectangle", [[1, 1], [5, 5]]),
    ])
    _, ledger, samples, reports = read_all(LabelMeReader, tmp_path)
    assert len(samples["train"][0].objects) == 1
    assert reports["train"].objects_dropped == {
        "invalid_box": 1, "no_name": 1, "shape_circle": 1, "shape_line": 1, "shape_point": 1,
        "too_few_points": 2}
    assert reports["train"].objects_total == 8
    assert {d.annotation for d in ledger.drops} == {f"shape {k}" for k in range(1, 8)}
    assert all(d.file == "a.json" for d in ledger.drops)


def test_image_path_relative_to_the_json_and_images_without_json(tmp_path: Path) -> None:
    write_image(tmp_path / "images" / "a.jpg")
    write_image(tmp_path / "images" / "unlabelled.jpg")
    labelme(tmp_path / "labels" / "a.json", [shape("rectangle", [[1, 1], [5, 5]])],
            image="..\\images\\a.jpg")
    _, _, samples, _ = read_all(LabelMeReader, tmp_path)
    by_name = {s.file_name: s for s in samples["train"]}
    assert set(by_name) == {"images/a.jpg", "images/unlabelled.jpg"}
    assert len(by_name["images/a.jpg"].objects) == 1
    assert by_name["images/unlabelled.jpg"].objects == []


def test_image_data_is_used_when_the_file_is_missing(tmp_path: Path) -> None:
    data = write_image(tmp_path / "elsewhere.png", (40, 30), "PNG").read_bytes()
    os.remove(tmp_path / "elsewhere.png")
    labelme(tmp_path / "a.json", [shape("rectangle", [[1, 1], [5, 5]])], image="a.png",
            imageData=base64.b64encode(data).decode())
    _, ledger, samples, _ = read_all(LabelMeReader, tmp_path)
    (sample,) = samples["train"]
    assert sample.image_bytes == data and len(sample.objects) == 1 and not ledger.drops


def test_image_path_leaving_the_root_is_refused(tmp_path: Path) -> None:
    write_image(tmp_path / "secret.jpg")
    root = tmp_path / "ds"
    labelme(root / "a.json", [shape("rectangle", [[1, 1], [5, 5]])], image="../secret.jpg")
    labelme(root / "b.json", [shape("rectangle", [[1, 1], [5, 5]])],
            image=str(tmp_path / "secret.jpg"))
    write_image(root / "c.jpg")
    (root / "link.jpg").symlink_to(tmp_path / "secret.jpg")
    labelme(root / "c.json", [shape("rectangle", [[1, 1], [5, 5]])], image="link.jpg")
    _, _ledger, samples, reports = read_all(LabelMeReader, root)
    assert samples["train"] == []
    assert reports["train"].images_dropped == {"unsafe_path": 3}
    assert reports["train"].objects_dropped == {"unsafe_path": 3}
    _, _, samples, _ = read_all(LabelMeReader, root, ReaderOptions(allow_outside_root=True))
    assert len(samples["train"]) == 3


def test_absolute_image_path_falls_back_to_the_file_beside_the_json(tmp_path: Path) -> None:
    write_image(tmp_path / "a.jpg")
    labelme(tmp_path / "a.json", [shape("rectangle", [[1, 1], [5, 5]])],
            image="C:\\Users\\me\\photos\\a.jpg")
    _, ledger, samples, _ = read_all(LabelMeReader, tmp_path)
    assert [s.file_name for s in samples["train"]] == ["a.jpg"] and not ledger.drops


def test_malformed_json_drops_its_image_naming_the_line(tmp_path: Path) -> None:
    write_image(tmp_path / "a.jpg")
    write_text(tmp_path / "a.json", '{\n  "shapes": [\n    {"label": "coin",,}\n')
    write_image(tmp_path / "b.jpg")
    labelme(tmp_path / "b.json", [shape("rectangle", [[1, 1], [5, 5]])], image="b.jpg")
    _, ledger, samples, _reports = read_all(LabelMeReader, tmp_path)
    assert [s.file_name for s in samples["train"]] == ["b.jpg"]  # a.jpg is not "unlabelled"
    (drop,) = ledger.drops
    assert (drop.file, drop.reason) == ("a.json", "bad_annotation")
    assert drop.detail is not None and drop.detail.startswith("3:")


def test_fifo_json_is_not_a_hang(tmp_path: Path) -> None:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    labelme(tmp_path / "b.json", [shape("rectangle", [[1, 1], [5, 5]])], image="b.jpg")
    write_image(tmp_path / "b.jpg")
    os.mkfifo(tmp_path / "a.json")
    _, ledger, _samples, reports = read_all(LabelMeReader, tmp_path)
    assert reports["train"].images_dropped == {"bad_annotation": 1}
    assert "FIFO" in (ledger.drops[0].detail or "")


def test_split_folders(tmp_path: Path) -> None:
    write_coins(tmp_path, images=6, seed=1, fmt="labelme")
    reader, _, samples, _ = read_all(LabelMeReader, tmp_path)
    assert set(reader.splits()) == {"train", "validation", "test"}
    assert sum(len(s) for s in samples.values()) == 6


def test_folder_without_labelme_files_is_refused(tmp_path: Path) -> None:
    write_image(tmp_path / "a.jpg")
    write_text(tmp_path / "meta.json", '{"name": "x"}')
    with pytest.raises(NoAnnotationsError, match="labelme"):
        LabelMeReader(tmp_path, Ledger())


def test_detect(tmp_path: Path) -> None:
    assert detect(tmp_path) is None
    write_coins(tmp_path / "lm", images=3, seed=1, fmt="labelme")
    found = detect(tmp_path / "lm")
    assert found is not None and found[0] >= 0.8 and ".json" in found[1]
    write_coins(tmp_path / "coco", images=3, seed=1, fmt="coco")
    assert detect(tmp_path / "coco") is None


def test_json_linked_from_outside_is_not_read(tmp_path: Path) -> None:
    labelme(tmp_path / "elsewhere" / "a.json", [shape("rectangle", [[1, 1], [5, 5]])])
    root = tmp_path / "ds"
    write_image(root / "a.jpg")
    (root / "a.json").symlink_to(tmp_path / "elsewhere" / "a.json")
    _, _, samples, reports = read_all(LabelMeReader, root)
    assert samples["train"] == [] and reports["train"].objects_total == 0
    assert reports["train"].images_dropped == {"unsafe_path": 1}


def test_json_folder_beside_the_image_folder_is_detected_and_converts(tmp_path: Path) -> None:
    """`ann/*.json` naming `../img/…`: a layout unlike the sample's split folders."""
    import dsconv

    root = tmp_path / "lm"
    write_image(root / "img" / "a.jpg", (40, 30))
    write_image(root / "img" / "b.jpg", (40, 30))
    labelme(root / "ann" / "a.json", [shape("rectangle", [[1, 1], [9, 9]])], "../img/a.jpg")
    labelme(root / "ann" / "b.json", [shape("rectangle", [[2, 2], [8, 8]]),
                                      shape("polygon", [[1, 1], [5, 1], [5, 5]])],
            "../img/b.jpg")
    found = detect(root)
    assert found is not None and "ann" in found[1]
    report = dsconv.convert(root, tmp_path / "out", split_ratios=(1.0, 0.0, 0.0))
    assert report.source_format == "labelme"
    assert report.splits["train"].objects_kept == 3 and not report.drops
