"""`dsconv preview --failures-file` on box tasks: the predicted boxes beside the reference ones."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageChops

from dsconv.inspect.preview import (
    THUMB,
    Failure,
    annotated_thumbnail,
    failure_thumbnail,
    write_preview,
)
from dsconv.storage.dataset import iter_rows
from dsconv.tasks.base import BoxConvention, get_task
from tests.helpers import run_cli


@pytest.fixture(scope="module")
def box_rows(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    from dsconv.samples.coins import write_coins

    src = tmp_path_factory.mktemp("boxes-src")
    write_coins(src, images=6, seed=3)
    out = tmp_path_factory.mktemp("boxes") / "vqa"
    result = run_cli("coco-to-vqa", src, out, "--task", "json-boxes", "--task",
                     "paligemma-detect", "--split-ratios", "1,0,0")
    assert result.exit_code == 0, result.output
    return out, [r for r in iter_rows(out, "train") if r["objects"]["bbox"]]


def _halves(image: Image.Image, row: dict) -> tuple[Image.Image, Image.Image]:
    """The two panels under their captions."""
    plain = annotated_thumbnail({**row, "objects": {"bbox": [], "category": []}}, [])
    top = image.height - plain.height
    left = image.crop((0, top, plain.width, image.height))
    right = image.crop((image.width - plain.width, top, image.width, image.height))
    return left, right


def _paligemma(boxes: list, row: dict) -> str:
    from dsconv.tasks.paligemma_detect import answer, box_bins

    return answer([(label, box_bins((x1, y1, x2 - x1, y2 - y1), row["width"], row["height"]))
                   for label, (x1, y1, x2, y2) in boxes])


def _same(a: Image.Image, b: Image.Image) -> bool:
    return ImageChops.difference(a.convert("RGB"), b.convert("RGB")).getbbox() is None


@pytest.mark.parametrize("task", ["json-boxes", "paligemma-detect"])
def test_truth_left_prediction_right(box_rows: tuple[Path, list[dict]], task: str) -> None:
    _, rows = box_rows
    row = next(r for r in rows if r["task"] == task)
    plain = annotated_thumbnail({**row, "objects": {"bbox": [], "category": []}}, [])
    truth = annotated_thumbnail(row, [])

    silent = failure_thumbnail(row, Failure(row["id"], row["answer"], ""), [])
    assert silent.width == 2 * plain.width + 8 and max(plain.size) <= THUMB
    left, right = _halves(silent, row)
    assert not _same(left, plain) and _same(right, plain)

    descriptor = get_task(task)
    reference = descriptor.reference_boxes(row)
    moved = [(label, (x1 + 20, y1 + 20, x2 + 20, y2 + 20))
             for label, (x1, y1, x2, y2) in descriptor.parse_boxes(row["answer"], row)]
    predicted = descriptor.render_answer(
        {**row, "objects": {"bbox": [[x1, y1, x2 - x1, y2 - y1] for _, (x1, y1, x2, y2) in moved],
                            "category": [label for label, _ in moved]}}, BoxConvention()
    ) if descriptor.render_answer else _paligemma(moved, row)
    shifted = failure_thumbnail(row, Failure(row["id"], row["answer"], predicted), [])
    left, right = _halves(shifted, row)
    assert _same(left, annotated_thumbnail(row, [], boxes=reference))
    assert _same(right, annotated_thumbnail(
        row, [], boxes=descriptor.parse_boxes(predicted, row)))
    assert not _same(left, right) and not _same(truth, plain)


def test_other_tasks_keep_one_picture(box_rows: tuple[Path, list[dict]]) -> None:
    _, rows = box_rows
    row = {**rows[0], "task": "count-json"}
    image = failure_thumbnail(row, Failure(row["id"], "1", "2"), [])
    assert image.size == annotated_thumbnail(row, []).size


def test_failures_page_draws_the_pairs(box_rows: tuple[Path, list[dict]], tmp_path: Path) -> None:
    folder, rows = box_rows
    failures = tmp_path / "failures.jsonl"
    import json

    failures.write_text("".join(json.dumps({"id": r["id"], "expected": r["answer"],
                                            "predicted": "[]"}) + "\n" for r in rows[:2]))
    result = write_preview(folder, failures=failures, out=tmp_path / "f.html",
                           png=tmp_path / "f.png")
    assert result.shown == 2 and result.missing == []
