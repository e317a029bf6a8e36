"""The tiny Florence-2 learns 8 `florence-grounding` rows, and `dsconv eval` scores it as a
detector (mAP@0.5 = 1.0) and as a counter: the grounding task trains and scores end to end."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from dsconv.schemas.samples import DetectionObject, DetectionSample, Vocabulary
from dsconv.storage.writer import DatasetWriter
from dsconv.tasks.base import TaskContext, get_task
from dsconv.tasks.rows import detection_rows
from dsconv.testing.tiny import SHAPES, _scene
from dsconv.training.loop import train
from tests.helpers import run_cli

TASK = "florence-grounding"


def grounding_rows(count: int = 8, seed: int = 0, size: tuple[int, int] = (96, 96),
                   task: str = TASK) -> list[dict]:
    """The first `count` rows of `task` on tiny scenes (florence-grounding: one row per class
    present; paligemma-detect, json-boxes: one per scene)."""
    rng = random.Random(seed)
    ctx = TaskContext(Vocabulary(list(SHAPES), "currency"))
    rows: list[dict] = []
    scene = 0
    while len(rows) < count:
        jpeg, boxes, categories = _scene(rng, size)
        sample = DetectionSample("train", str(scene), f"scene-{scene}.jpg", jpeg, *size,
                                 [DetectionObject(c, tuple(b)) for c, b in
                                  zip(categories, boxes, strict=True)])
        rows += list(detection_rows(sample, [get_task(task)], ctx))
        scene += 1
    return rows[:count]


def write_grounding(out: Path, repeats: int, task: str = TASK,
                    size: tuple[int, int] = (96, 96)) -> Path:
    """`train` holds the 8 rows of `task` `repeats` times, `test` once."""
    rows = grounding_rows(task=task, size=size)
    with DatasetWriter(out, overwrite=True) as writer:
        for k in range(repeats):
            for row in rows:
                writer.write("train", {**row, "id": f"{row['id']}/{k}"})
        for row in rows:
            writer.write("test", {**row, "id": row["id"].replace("train/", "test/", 1)})
        writer.commit()
    return out


def test_tiny_florence2_overfits_grounding_rows_to_map50_one(make_config, tmp_path: Path
                                                              ) -> None:
    data = write_grounding(tmp_path / "grounding", repeats=4)
    assert sum(row["answer"].count("<loc_") for row in grounding_rows()) >= 8 * 4
    result = train(make_config(dataset=str(data), epochs=30, batch_size=8,
                               schedule="constant", max_val_items=0, log_every=10))
    scores = tmp_path / "scores"
    cli = run_cli("eval", result.final_dir, "--dataset", data, "--split", "test",
                  "--device", "cpu", "--max-new-tokens", "40", "--out", scores,
                  "--failures", "8")
    assert cli.exit_code == 0, cli.output
    metrics = json.loads((scores / "metrics.json").read_text())["per_task"][TASK]
    assert metrics["parse_rate"] == 1.0
    assert metrics["map50"] == 1.0
    assert metrics["count_accuracy"] == 1.0


def _overfit_through_the_cli(family: str, task: str, epochs: int, tmp_path: Path,
                             size: tuple[int, int] = (96, 96)) -> dict:
    """A tiny `family` checkpoint (its tokenizer trained on the rows) through `dsconv train`
    on 8 `task` rows (4 times each), then `dsconv eval` on the same 8 rows: their metrics."""
    from dsconv.testing.tiny_chat import build_tiny_chat

    rows = grounding_rows(task=task, size=size)
    data = write_grounding(tmp_path / "data", repeats=4, task=task, size=size)
    base = build_tiny_chat(family, tmp_path / "base",
                           [text for row in rows for text in (row["question"], row["answer"])])
    run = tmp_path / "run"
    result = run_cli("train", data, "--base", base, "--out", run, "--epochs", str(epochs),
                     "--batch-size", "8", "--no-freeze-vision", "--lora", "0",
                     "--max-val-items", "0", "--log-every", "20", "--workers", "0",
                     "--device", "cpu", "--lr", "1e-3", "--schedule", "constant",
                     "--grad-accum", "1")
    assert result.exit_code == 0, result.output
    scores = tmp_path / "scores"
    result = run_cli("eval", run, "--dataset", data, "--split", "test", "--batch-size", "8",
                     "--max-new-tokens", "256", "--out", scores, "--failures", "8")
    assert result.exit_code == 0, result.output
    return json.loads((scores / "metrics.json").read_text())["per_task"][task]


@pytest.mark.slow
def test_tiny_paligemma_overfits_paligemma_detect_rows_to_map50_one(tmp_path: Path) -> None:
    metrics = _overfit_through_the_cli("paligemma", "paligemma-detect", 30, tmp_path)
    assert metrics["parse_rate"] == 1.0
    assert metrics["map50"] == 1.0
    assert metrics["count_accuracy"] == 1.0


@pytest.mark.slow
@pytest.mark.parametrize("family", ["qwen2_5_vl", "qwen3_vl"])
def test_tiny_qwen_overfits_json_boxes_rows_to_map50_one(family: str, tmp_path: Path) -> None:
    """Qwen2.5-VL learns pixels of its 140 x 112 input for the 96 x 72 scenes (the answers
    `dsconv eval` writes are restored to the stored grid, or mAP would be 0); Qwen3-VL learns
    the stored 0–1000 grid itself."""
    metrics = _overfit_through_the_cli(family, "json-boxes", 60, tmp_path, size=(96, 72))
    assert metrics["parse_rate"] == 1.0
    assert metrics["map50"] == 1.0
    assert metrics["count_accuracy"] == 1.0


@pytest.mark.parametrize(("task", "model"), [("json-boxes", "florence2"),
                                             ("paligemma-detect", "moondream2"),
                                             ("florence-grounding", "moondream2")])
def test_a_box_syntax_the_family_cannot_learn_stops_before_any_work(
    task: str, model: str, tmp_path: Path,
) -> None:
    from dsconv.errors import DsconvError
    from dsconv.samples.coins import write_coins

    write_coins(tmp_path / "src", images=6, seed=1)
    data = tmp_path / "boxes"
    assert run_cli("coco-to-vqa", tmp_path / "src", data, "--task", task).exit_code == 0
    result = run_cli("train", data, "--model", model, "--out", tmp_path / "run")
    assert isinstance(result.exception, DsconvError)
    message = str(result.exception)
    assert f"cannot learn task {task!r}" in message and "\n" not in message
    assert not (tmp_path / "run").exists()
