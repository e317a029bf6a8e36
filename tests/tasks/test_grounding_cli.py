"""The grounding tasks through the CLI: convert, validate (each task's check), score."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dsconv.storage.dataset import iter_rows, read_report
from dsconv.validation import validate_dataset
from tests.helpers import break_one_row_per_task, run_cli

TASKS = ["florence-grounding", "florence-ovd", "paligemma-detect", "json-boxes", "json-points"]
BROKEN = {
    "florence-grounding": lambda a: a + "dime<loc_1><loc_2><loc_3><loc_4>",
    "florence-ovd": lambda a: a.replace("<loc_", "<loc_9", 1) if a else "x<loc_1><loc_2>",
    "paligemma-detect": lambda a: "<loc0001><loc0002><loc0003><loc0004> dime",
    "json-boxes": lambda a: "[]" if a != "[]" else '[{"bbox_2d": [1, 2, 3, 4], "label": "d"}]',
    "json-points": lambda a: "[]" if a != "[]" else '[{"point_2d": [1, 2], "label": "d"}]',
}


@pytest.fixture(scope="module")
def grounding(coins_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("grounding") / "out"
    args = [a for t in TASKS for a in ("--task", t)]
    result = run_cli("coco-to-vqa", coins_dir, out, *args, "--absent-rate", "0.3",
                     "--noun", "currency")
    assert result.exit_code == 0, result.output
    return out


def test_grounding_tasks_convert_validate_and_report(grounding: Path) -> None:
    report = read_report(grounding)
    assert report["tasks"] == TASKS
    extras = report["task_extras"]
    assert extras["json-boxes"] == extras["json-points"] == {"convention": "relative-1000"}
    assert extras["paligemma-detect"]["names"]["dime"] == "dime"
    assert extras["florence-grounding"]["names"]["dime"] == "dime"
    answers = [r["answer"] for r in iter_rows(grounding, columns=["task", "answer"])
               if r["task"] == "florence-grounding"]
    assert "" in answers  # absent classes asked at --absent-rate
    result = run_cli("validate", grounding)
    assert result.exit_code == 0, result.output
    listed = run_cli("tasks").output
    assert all(t in listed for t in TASKS)


def test_validate_runs_each_grounding_check(grounding: Path, tmp_path: Path) -> None:
    copy, broken = break_one_row_per_task(grounding, BROKEN, tmp_path / "broken")
    problems = validate_dataset(copy).problems
    assert {p.row: p.id.split("/")[2] for p in problems} == broken


def test_score_reports_detection_and_counting_per_task(grounding: Path, tmp_path: Path) -> None:
    rows = list(iter_rows(grounding, "test"))
    predictions = tmp_path / "predictions.jsonl"
    predictions.write_text("".join(
        json.dumps({"id": r["id"], "prediction": r["answer"]}) + "\n" for r in rows))
    out = tmp_path / "scores"
    result = run_cli("score", predictions, "--dataset", grounding, "--split", "test",
                     "--out", out, "--failures", "5")
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    for task in TASKS:
        numbers = metrics["per_task"][task]
        assert numbers["parse_rate"] == numbers["count_accuracy"] == 1.0
        assert numbers["unparsed_items"] == 0.0 and numbers["count_mae"] == 0.0
        if task == "json-points":
            assert numbers["point_precision"] == numbers["point_recall"] == 1.0
        else:
            assert numbers["map50"] == 1.0 and numbers["map50_95"] > 0.8
    assert metrics["map50"] == 1.0
    assert (out / "failures.jsonl").read_text() == ""


def test_converting_and_validating_import_neither_supervision_nor_torch(
    coins_dir: Path, tmp_path: Path,
) -> None:
    """Box tasks import supervision only to score: conversion stays fast."""
    out = tmp_path / "o"
    tasks = ", ".join(f"'--task', {t!r}" for t in TASKS)
    code = (
        "import sys; from dsconv.cli import main\n"
        f"for argv in (['coco-to-vqa', {str(coins_dir)!r}, {str(out)!r}, {tasks}],\n"
        f"             ['validate', {str(out)!r}]):\n"
        "    sys.argv = ['dsconv', *argv]\n"
        "    try:\n        main()\n    except SystemExit as exc:\n"
        "        assert not exc.code, exc.code\n"
        "for name in ('supervision', 'torch'):\n"
        "    assert name not in sys.modules, name + ' was imported'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (out / "conversion_report.json").is_file()
