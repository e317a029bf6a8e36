"""Join predictions with dataset rows by id, score them per task, write metrics.json.

Each task's metrics come from its descriptor's scorer (`dsconv.tasks`); a task without one,
or one this version does not know, is scored by exact match only. Definitions worth knowing
when reading the numbers: a missing or unparseable answer counts as wrong everywhere (it
lowers `parse_rate`, gets no accuracy, and its count error is the full reference count).

`dsconv eval` is meant to be "generate predictions.jsonl, then `score_dataset`", so this module
needs nothing from training: no torch, no model.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dsconv.errors import DsconvError, InputError
from dsconv.metrics.text import exact_match
from dsconv.storage.dataset import iter_rows
from dsconv.storage.files import excerpt
from dsconv.tasks.base import TaskScore, find_task, references

ROW_COLUMNS = [
    "id",
    "image_id",
    "width",
    "height",
    "objects",
    "task",
    "question",
    "answer",
    "answers",
]
METRICS_FILE = "metrics.json"
FAILURES_FILE = "failures.jsonl"
EXAMPLE_IDS = 10


@dataclass
class RowResult:
    id: str
    image_id: str
    task: str
    question: str
    expected: str
    predicted: str | None
    score: float


@dataclass
class ScoreResult:
    metrics: dict[str, Any]
    rows: list[RowResult]

    def failures(self, n: int) -> list[RowResult]:
        """The n lowest-scoring imperfect rows, dataset order breaking ties."""
        return sorted((r for r in self.rows if r.score < 1.0), key=lambda r: r.score)[:n]


def read_predictions(path: str | Path) -> dict[str, str]:
    """`{"id": …, "prediction": "…"}` per line → {id: prediction}; malformed lines are errors."""
    path = Path(path)
    if not path.is_file():
        raise DsconvError(f"{path}: no such predictions file")
    predictions: dict[str, str] = {}
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            where = f"line {number}"
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise InputError(path, f"not JSON ({getattr(exc, 'msg', exc)})", where
                                 ) from None
            except RecursionError:
                raise InputError(path, "JSON nested too deeply", where) from None
            if not isinstance(record, dict) or not isinstance(record.get("id"), str):
                raise InputError(path, 'expected {"id": "...", "prediction": "..."}', where)
            if not isinstance(record.get("prediction"), str):
                raise InputError(path, f"prediction for {record['id']!r} is not a string", where)
            if record["id"] in predictions:
                raise InputError(path, f"duplicate prediction for {record['id']!r}", where)
            predictions[record["id"]] = record["prediction"]
    return predictions


def _pool(scores: Mapping[str, TaskScore], sizes: Mapping[str, int]) -> dict[str, float]:
    """Top-level value of each task metric: the row-weighted mean over the tasks that have it."""
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for task, task_score in scores.items():
        for name, value in task_score.metrics.items():
            sums[name] = sums.get(name, 0.0) + value * sizes[task]
            counts[name] = counts.get(name, 0) + sizes[task]
    return {name: sums[name] / counts[name] for name in sums}


def score_rows(rows: Iterable[dict], predictions: Mapping[str, str]) -> ScoreResult:
    """Score every row; rows without a prediction are wrong, predictions without a row reported."""
    by_task: dict[str, list[dict]] = {}
    position: dict[str, int] = {}
    for row in rows:
        position[row["id"]] = len(position)
        by_task.setdefault(row["task"], []).append(row)
    if not position:
        raise DsconvError("no rows to score")
    missing = [i for i in position if i not in predictions]
    unknown = [i for i in predictions if i not in position]

    results: list[RowResult] = []
    per_task: dict[str, dict[str, Any]] = {}
    task_scores: dict[str, TaskScore] = {}
    per_class: dict[str, dict[str, float]] = {}
    unknown_classes: dict[str, int] = {}
    exact_total = 0.0
    for task, task_rows in by_task.items():
        preds = [predictions.get(row["id"]) for row in task_rows]
        exact = [exact_match(p, references(r)) for p, r in zip(preds, task_rows, strict=True)]
        exact_total += sum(exact)
        descriptor = find_task(task)
        scorer = descriptor.score if descriptor else None
        task_score = scorer(task_rows, preds) if scorer else TaskScore({}, exact)
        task_scores[task] = task_score
        per_task[task] = {
            "rows": len(task_rows),
            "missing": sum(p is None for p in preds),
            "exact_match": sum(exact) / len(exact),
            **task_score.metrics,
        }
        for name, values in task_score.per_class.items():
            per_class.setdefault(name, {}).update(values)
        for name, n in task_score.unknown_classes.items():
            unknown_classes[name] = unknown_classes.get(name, 0) + n
        results += [
            RowResult(r["id"], r.get("image_id", ""), task, r["question"], r["answer"], p, s)
            for r, p, s in zip(task_rows, preds, task_score.row_scores, strict=True)
        ]

    results.sort(key=lambda r: position[r.id])
    metrics: dict[str, Any] = {
        "rows": len(results),
        "missing": len(missing),
        "unknown_ids": len(unknown),
        "exact_match": exact_total / len(results),
        **_pool(task_scores, {t: len(r) for t, r in by_task.items()}),
        "per_task": per_task,
    }
    if per_class:
        metrics["per_class"] = dict(sorted(per_class.items()))
    if unknown_classes:
        metrics["unknown_classes"] = unknown_classes
    if missing or unknown:
        metrics["examples"] = {
            "missing_ids": missing[:EXAMPLE_IDS],
            "unknown_ids": unknown[:EXAMPLE_IDS],
        }
    return ScoreResult(metrics, results)


def score_dataset(
    predictions_path: str | Path, dataset_dir: str | Path, split: str = "test"
) -> ScoreResult:
    """Score a predictions file against one split of a dsconv dataset; an error when no
    prediction is for a row of it (the wrong split or dataset scores 0 otherwise)."""
    predictions = read_predictions(predictions_path)
    result = score_rows(iter_rows(dataset_dir, split, columns=ROW_COLUMNS), predictions)
    if result.metrics["missing"] == result.metrics["rows"]:
        example = (f" (ids such as {excerpt(next(iter(predictions)))}; the split's are like "
                   f"{excerpt(result.rows[0].id)})" if predictions else "")
        raise DsconvError(f"{predictions_path}: none of its {len(predictions)} predictions is "
                          f"for a row of split {split!r} of {dataset_dir}{example}: wrong "
                          "--split or --dataset?")
    return result


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_results(result: ScoreResult, out_dir: str | Path, failures: int = 0) -> list[Path]:
    """Write metrics.json and, if asked, the `failures` worst rows to failures.jsonl."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / METRICS_FILE]
    _write_atomic(written[0], json.dumps(result.metrics, indent=2) + "\n")
    if failures > 0:
        written.append(out / FAILURES_FILE)
        lines = (json.dumps(asdict(r), ensure_ascii=False) for r in result.failures(failures))
        _write_atomic(written[1], "".join(f"{line}\n" for line in lines))
    return written


def score(
    predictions: str | Path, dataset: str | Path, *, split: str = "test",
    out: str | Path | None = None, failures: int = 0,
) -> ScoreResult:
    """Score a predictions file (`{"id": …, "prediction": "…"}` lines) against one split of a
    dsconv dataset: exact match for every row, plus each task's own metrics (count accuracy
    and MAE, ANLS, mAP…). With `out`, writes metrics.json (and the `failures` worst rows to
    failures.jsonl) there. Needs no model and no torch.

    Example:
        >>> import dsconv
        >>> dsconv.score("runs/coins/predictions.jsonl", "out/coins-vqa").metrics["exact_match"]
        0.855
    """
    result = score_dataset(predictions, dataset, split)
    if out is not None:
        write_results(result, out, failures)
    return result
