"""The per-epoch validation metric, each task's own (exact match for counting, ANLS for documents).

One number per epoch picks the `best` checkpoint; the per-answer functions are `dsconv score`'s
own, so a training run and a later `dsconv score` agree. `dsconv score` owns the full metric set.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from dsconv.metrics.text import anls, exact_match
from dsconv.tasks.base import find_task, references


def metric_for(task: str) -> str:
    """The task's own validation metric; exact match for a task this version does not know."""
    descriptor = find_task(task)
    return descriptor.validation_metric if descriptor else "exact_match"


def score(predictions: Sequence[str], rows: Sequence[dict]) -> dict[str, float | dict]:
    """Mean of each task's metric, and `score`, the mean over all rows used to pick `best`."""
    by_metric: dict[str, list[float]] = defaultdict(list)
    by_task: dict[str, list[float]] = defaultdict(list)
    for prediction, row in zip(predictions, rows, strict=True):
        task = row.get("task") or ""
        name = metric_for(task)
        metric = anls if name == "anls" else exact_match
        value = metric(prediction, references(row))
        by_metric[name].append(value)
        by_task[task].append(value)
    everything = [v for values in by_metric.values() for v in values]
    result: dict[str, float | dict] = {name: _mean(values) for name, values in by_metric.items()}
    result["score"] = _mean(everything)
    if len(by_task) > 1:
        result["per_task"] = {task: _mean(values) for task, values in by_task.items()}
    return result


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0
