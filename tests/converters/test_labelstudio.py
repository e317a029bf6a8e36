"""Label Studio JSON and JSON-MIN exports: percentage boxes, annotators, image look-up."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from dsconv.converters.base import Ledger, ReaderOptions
from dsconv.converters.labelstudio import (
    LabelStudioOptions,
    LabelStudioReader,
    detect,
    rotated_fraction,
)
from dsconv.errors import InputError, NoAnnotationsError
from dsconv.samples.coins import write_coins
from tests.helpers import convert_coins, read_all, write_image, write_text


def rect(x: float, y: float, w: float, h: float, label: str = "coin",
         rotation: float = 0, rid: str = "r") -> dict[str, Any]:
    return {"id": rid, "type": "rectanglelabels", "from_name": "label", "to_name": "image",
            "original_width": 40, "original_height": 20,
            "value": {"x": x, "y": y, "width": w, "height": h, "rotation": rotation,
                      "rectanglelabels": [label]}}


def task(image: str, *annotations: list[dict[str, Any]], cancelled: tuple[int, ...] = (),
         task_id: int = 1) -> dict[str, Any]:
    return {"id": task_id, "data": {"image": image}, "predictions": [],
            "annotations": [{"id": k, "was_cancelled": k in cancelled, "result": result}
                            for k, result in enumerate(annotations)]}


def export(path: Path, tasks: list[Any]) -> Path:
    return write_text(path, json.dumps(tasks, indent=2))


def boxes(objects: list[Any]) -> list[float]:
    return [v for o in objects for v in o.bbox]


def test_coins_sample_converts_with_every_object(tmp_path: Path) -> None:
    convert_coins(tmp_path, "labelstudio")


def test_percentages_become_pixels_of_the_image_read(tmp_path: Path) -> None:
    write_image(tmp_path / "images" / "photo.jpg", (40, 20))
    export(tmp_path / "export.json", [task("/data/upload/1/0a1b2c3d-photo.jpg",
                                           [rect(25, 50, 50, 25)])])
    _, ledger, samples, _ = read_all(LabelStudioReader, tmp_path)
    (sample,) = samples["train"]
    assert sample.file_name == "photo.jpg" and not ledger.drops
    assert sample.objects[0].bbox == pytest.approx((10, 10, 20, 5))


def test_percentages_outside_0_100_are_outside_the_image(tmp_path: Path) -> None:
    write_image(tmp_path / "photo.jpg", (40, 20))
    export(tmp_path / "export.json", [task("photo.jpg", [
        rect(90, 10, 20, 10, rid="a"), rect(120, 10, 5, 5, rid="b"), rect(-10, 0, 20, 10,
                                                                           rid="c")])])
    _, _, samples, reports = read_all(LabelStudioReader, tmp_path,
                                      ReaderOptions(box_policy="drop"))
    assert samples["train"][0].objects == []
    assert reports["train"].objects_dropped == {"box_outside_image": 1, "box_partly_outside": 2}
    _, _, samples, reports = read_all(LabelStudioReader, tmp_path)
    assert boxes(samples["train"][0].objects) == pytest.approx([36, 2, 4, 2, 0, 0, 4, 2])


def test_rotation_gives_the_upright_box_around_the_turned_one(tmp_path: Path) -> None:
    # 40x20 image; a 10x5 px box at (10, 4) turned 90° clockwise about its top-left corner
    # covers x 5..10 and y 4..14.
    assert rotated_fraction((0.25, 0.2, 0.25, 0.25), 90, 40, 20) == pytest.approx(
        (5 / 40, 4 / 20, 5 / 40, 10 / 20))
    write_image(tmp_path / "photo.jpg", (40, 20))
    export(tmp_path / "export.json", [task("photo.jpg", [rect(25, 20, 25, 25, rotation=90)])])
    _, _, samples, _ = read_all(LabelStudioReader, tmp_path)
    assert samples["train"][0].objects[0].bbox == pytest.approx((5, 4, 5, 10))


def test_first_annotation_not_cancelled_and_tasks_without_any(tmp_path: Path) -> None:
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        write_image(tmp_path / name, (40, 20))
    export(tmp_path / "export.json", [
        task("a.jpg", [rect(0, 0, 10, 10, "dog")], [rect(0, 0, 10, 10), rect(5, 5, 5, 5)],
             [rect(0, 0, 1, 1)], cancelled=(0,), task_id=1),
        task("b.jpg", task_id=2),
        task("c.jpg", [rect(0, 0, 10, 10)], cancelled=(0,), task_id=3),
    ])
    reader, ledger, samples, reports = read_all(LabelStudioReader, tmp_path)
    by_name = {s.file_name: s for s in samples["train"]}
    assert [o.category for o in by_name["a.jpg"].objects] == ["coin", "coin"]
    assert by_name["b.jpg"].objects == []
    assert "c.jpg" not in by_name and reports["train"].images_dropped == {"cancelled": 1}
    assert reader.vocabulary().classes == ["coin"]
    assert any("1 tasks have several annotations" in w and "2 others" in w
               for w in ledger.warnings)


def test_json_min_export(tmp_path: Path) -> None:
    write_image(tmp_path / "images" / "photo.jpg", (40, 20))
    export(tmp_path / "min.json", [{
        "image": "/data/local-files/?d=shots/photo.jpg", "id": 7, "annotator": 1,
        "label": [{"x": 25, "y": 50, "width": 50, "height": 25, "rotation": 0,
                   "rectanglelabels": ["coin"], "original_width": 40, "original_height": 20},
                  {"points": [[0, 0], [50, 0], [25, 50]], "polygonlabels": ["coin"],
                   "original_width": 40, "original_height": 20}]}])
    _, ledger, samples, _ = read_all(LabelStudioReader, tmp_path / "min.json")
    (sample,) = samples["train"]
    assert boxes(sample.objects) == pytest.approx([10, 10, 20, 5, 0, 0, 20, 10])
    assert not ledger.drops


def test_other_results_are_reported(tmp_path: Path) -> None:
    write_image(tmp_path / "photo.jpg", (40, 20))
    export(tmp_path / "export.json", [task("photo.jpg", [
        {"id": "k", "type": "keypointlabels", "value": {"x": 1, "y": 1,
                                                        "keypointlabels": ["coin"]}},
        {"id": "c", "type": "choices", "value": {"choices": ["day"]}},
        {"id": "p", "type": "polygonlabels", "value": {"points": [[1, 1], [2, 2]],
                                                       "polygonlabels": ["coin"]}},
        {"id": "x", "type": "rectangle", "value": {"x": 0, "y": 0, "width": 50, "height": 50}},
        {"id": "x", "type": "labels", "value": {"labels": ["coin"]}},
        {"id": "bad", "type": "rectanglelabels", "value": {"x": "?", "y": 0, "width": 5,
                                                           "height": 5,
                                                           "rectanglelabels": ["coin"]}},
    ])])
    _, ledger, samples, reports = read_all(LabelStudioReader, tmp_path)
    assert boxes(samples["train"][0].objects) == pytest.approx([0, 0, 20, 10])
    assert reports["train"].objects_dropped == {
        "invalid_box": 1, "shape_keypointlabels": 1, "too_few_points": 1}
    assert any("1 results that are not regions" in w for w in ledger.warnings)


def test_images_are_found_by_name_only(tmp_path: Path) -> None:
    write_image(tmp_path / "secret.jpg")
    root = tmp_path / "ds"
    write_image(root / "pics" / "a" / "same.jpg")
    write_image(root / "pics" / "b" / "same.jpg")
    export(root / "export.json", [
        task("/data/upload/1/../../../secret.jpg", [rect(0, 0, 5, 5)], task_id=1),
        task("https://example.com/x/same.jpg?sig=1", [rect(0, 0, 5, 5)], task_id=2),
        task("nothing.jpg", [rect(0, 0, 5, 5)], task_id=3),
    ])
    _, ledger, samples, reports = read_all(LabelStudioReader, root)
    assert samples["train"] == []
    assert reports["train"].images_dropped == {"ambiguous_image": 1, "missing_image": 2}
    assert any("--images" in (d.detail or "") for d in ledger.drops)
    _, _, samples, _ = read_all(LabelStudioReader, root,
                                LabelStudioOptions(images_dir=root / "pics" / "a"))
    assert [s.file_name for s in samples["train"]] == ["same.jpg"]


def test_symlinked_image_leaving_the_folder_is_refused(tmp_path: Path) -> None:
    write_image(tmp_path / "secret.jpg")
    root = tmp_path / "ds"
    (root / "images").mkdir(parents=True)
    (root / "images" / "a.jpg").symlink_to(tmp_path / "secret.jpg")
    export(root / "export.json", [task("a.jpg", [rect(0, 0, 5, 5)])])
    _, _, samples, reports = read_all(LabelStudioReader, root)
    assert samples["train"] == [] and reports["train"].images_dropped == {"unsafe_path": 1}


def test_malformed_json_names_file_and_line(tmp_path: Path) -> None:
    write_text(tmp_path / "export.json", '[\n  {"id": 1,\n   "data": {"image": }\n]')
    with pytest.raises(InputError) as caught:
        LabelStudioReader(tmp_path, Ledger())
    assert caught.value.file.endswith("export.json") and caught.value.where == "3:22"


def test_fifo_export_is_not_a_hang(tmp_path: Path) -> None:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    os.mkfifo(tmp_path / "export.json")
    with pytest.raises(InputError, match="FIFO"):
        LabelStudioReader(tmp_path, Ledger())


def test_split_files_and_no_exports(tmp_path: Path) -> None:
    write_coins(tmp_path / "ls", images=6, seed=1, fmt="labelstudio")
    reader, ledger, _, _ = read_all(LabelStudioReader, tmp_path / "ls")
    assert set(reader.splits()) == {"train", "validation", "test"} and not ledger.drops
    write_text(tmp_path / "other" / "config.json", '{"a": 1}')
    with pytest.raises(NoAnnotationsError, match="labelstudio"):
        LabelStudioReader(tmp_path / "other", Ledger())


def test_detect(tmp_path: Path) -> None:
    write_coins(tmp_path / "ls", images=3, seed=1, fmt="labelstudio")
    found = detect(tmp_path / "ls")
    assert found is not None and found[0] >= 0.8 and ".json" in found[1]
    write_coins(tmp_path / "lm", images=3, seed=1, fmt="labelme")
    assert detect(tmp_path / "lm") is None and detect(tmp_path / "lm" / "train") is None
