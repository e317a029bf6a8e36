"""A task defined only here, installed through the `dsconv.tasks` entry-point group, converts,
validates, scores and trains without any other file knowing its name."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest

from dsconv.models.florence2 import Florence2Adapter
from dsconv.models.moondream2 import Moondream2Adapter
from dsconv.tasks import base
from dsconv.tasks.base import QA, Task, TaskContext, TaskScore
from tests.helpers import run_cli

NAME = "total-objects"


def _total(sample: Any, ctx: TaskContext) -> Iterator[QA]:
    yield QA("How many objects are there in all?", str(len(sample.objects)))


def _check(row: dict[str, Any], vocabulary: Any) -> str | None:
    expected = str(len(row["objects"]["category"]))
    return None if row["answer"] == expected else f"answer {row['answer']} but {expected} objects"


def _score(rows: list[dict[str, Any]], preds: list[str | None]) -> TaskScore:
    right = [float(p is not None and p.strip() == r["answer"]) for r, p in zip(rows, preds,
                                                                                strict=True)]
    return TaskScore({"total_accuracy": sum(right) / len(right)}, right)


TOTAL = Task(NAME, "How many objects in all (a test plugin).", _total, _check, score=_score,
             answer_syntax="digits-only", report_extras=lambda vocabulary: {"seen": True})


@pytest.fixture
def plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    point = EntryPoint(NAME, f"{__name__}:TOTAL", base.ENTRY_POINT_GROUP)
    monkeypatch.setattr(base, "entry_points", lambda group, name=None: [
        p for p in [point] if name in (None, p.name)])
    monkeypatch.delitem(base._REGISTRY, NAME, raising=False)


def test_a_plugin_task_converts_validates_and_scores(plugin: None, tmp_path: Path) -> None:
    from dsconv.samples.coins import write_coins

    assert NAME in base.task_names()
    assert NAME in run_cli("tasks").output
    write_coins(tmp_path / "src", images=6, seed=1)
    out = tmp_path / "vqa"
    result = run_cli("coco-to-vqa", tmp_path / "src", out, "--task", NAME)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "conversion_report.json").read_text())
    assert report["task_extras"] == {NAME: {"seen": True}}
    assert run_cli("validate", out).exit_code == 0

    from dsconv.storage.dataset import iter_rows

    rows = list(iter_rows(out, "test"))
    predictions = tmp_path / "predictions.jsonl"
    predictions.write_text("".join(
        json.dumps({"id": r["id"], "prediction": r["answer"] if i else "99"}) + "\n"
        for i, r in enumerate(rows)))
    result = run_cli("score", predictions, "--dataset", out, "--split", "test",
                     "--out", tmp_path / "scores")
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "scores" / "metrics.json").read_text())
    assert metrics["per_task"][NAME]["total_accuracy"] == pytest.approx(1 - 1 / len(rows))


def test_adapters_are_checked_against_the_plugin_task_syntax(plugin: None) -> None:
    """Families say which answer syntaxes they learn; no family lists task names."""
    assert "digits-only" in (Florence2Adapter.unsupported_reason(NAME) or "")
    assert Moondream2Adapter.unsupported_reason("count-json") is None
    assert "florence-locations" in (Moondream2Adapter.unsupported_reason("florence-od") or "")
