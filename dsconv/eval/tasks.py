"""Task-specific scoring: which metrics a row's `task` gets, aggregated over that task's rows.

Definitions worth knowing when reading the numbers:

- A missing or unparseable answer counts as wrong everywhere: it lowers `parse_rate`, gets no
  accuracy, and its count error is the full reference count (as if it had predicted nothing).
- `count-json` classes are the reference answers' keys plus the rows' `objects` categories;
  `count_mae` is the mean over rows and those classes of |predicted − reference| (absent = 0).
- `hallucination_rate` (`count-json`): of the class keys that parsed answers give a positive
  count, the share whose reference count is 0 — a class not in the image, or not in the
  vocabulary at all (those are also tallied by name in `unknown_classes`).
- Row scores (0–1, 1 = right) rank failures: ANLS for documents, 1 / (1 + total count error)
  for counts, one-to-one box match rate for detection, exact match for everything else.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from dsconv.errors import DsconvError
from dsconv.eval.detection import (
    coco_to_boxes,
    match_rate,
    mean_average_precision,
    parse_florence_od,
)
from dsconv.eval.metrics import (
    anls,
    count_errors,
    levenshtein_similarity,
    parse_count,
    parse_count_json,
)


@dataclass
class TaskScore:
    """Metrics for one task's rows; each flat metric is a mean over those rows unless noted."""

    metrics: dict[str, float]
    row_scores: list[float]
    per_class: dict[str, dict[str, float]] = field(default_factory=dict)
    unknown_classes: dict[str, int] = field(default_factory=dict)


def references(row: dict) -> list[str]:
    """The row's `answer` plus any other accepted `answers`."""
    return list(dict.fromkeys([row["answer"], *(row.get("answers") or [])]))


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _bad_reference(row: dict, what: str) -> DsconvError:
    return DsconvError(f"row {row['id']}: answer {row['answer']!r} is not {what}")


def score_docvqa(rows: list[dict], preds: list[str | None]) -> TaskScore:
    refs = [references(row) for row in rows]
    anls_scores = [anls(p, r) for p, r in zip(preds, refs, strict=True)]
    similarity = [levenshtein_similarity(p, r) for p, r in zip(preds, refs, strict=True)]
    return TaskScore(
        {"anls": _mean(anls_scores), "levenshtein_similarity": _mean(similarity)}, anls_scores
    )


def score_count_class(rows: list[dict], preds: list[str | None]) -> TaskScore:
    parsed, errors, scores = [], [], []
    for row, pred in zip(rows, preds, strict=True):
        ref = parse_count(row["answer"])
        if ref is None:
            raise _bad_reference(row, "an integer count")
        got = parse_count(pred)
        error = abs((got or 0) - ref)
        parsed.append(got is not None)
        errors.append(error)
        scores.append(0.0 if got is None else 1.0 / (1 + error))
    return TaskScore(
        {
            "parse_rate": _mean(parsed),
            "count_accuracy": _mean([s == 1.0 for s in scores]),
            "count_mae": _mean(errors),
        },
        scores,
    )


def score_count_json(rows: list[dict], preds: list[str | None]) -> TaskScore:
    refs = []
    for row in rows:
        ref = parse_count_json(row["answer"])
        if ref is None:
            raise _bad_reference(row, "a JSON object of counts")
        refs.append(ref)
    classes = sorted(
        {c for ref in refs for c in ref}
        | {c for row in rows for c in (row.get("objects") or {}).get("category") or []}
    )
    correct, abs_error = Counter(), Counter()
    unknown: Counter[str] = Counter()
    parsed, exact, row_mae, scores = [], [], [], []
    positive_keys = hallucinated = 0
    for pred, ref in zip(preds, refs, strict=True):
        got = parse_count_json(pred)
        parsed.append(got is not None)
        exact.append(got == ref)
        predicted = got or {}
        errors = count_errors(got, ref, classes)
        abs_error.update(errors)
        correct.update(c for c, e in errors.items() if got is not None and e == 0)
        row_mae.append(_mean(list(errors.values())))
        positive_keys += len(predicted)
        hallucinated += sum(1 for c in predicted if c not in ref)
        unknown.update(c for c in predicted if c not in classes)
        total = sum(abs(predicted.get(c, 0) - ref.get(c, 0)) for c in predicted.keys() | ref)
        scores.append(0.0 if got is None else 1.0 / (1 + total))
    n = len(rows)
    return TaskScore(
        {
            "parse_rate": _mean(parsed),
            "count_dict_accuracy": _mean(exact),
            "count_mae": _mean(row_mae),
            "hallucination_rate": hallucinated / positive_keys if positive_keys else 0.0,
        },
        scores,
        per_class={
            c: {"count_accuracy": correct[c] / n, "count_mae": abs_error[c] / n} for c in classes
        },
        unknown_classes=dict(unknown.most_common()),
    )


def score_florence_od(rows: list[dict], preds: list[str | None]) -> TaskScore:
    refs = [coco_to_boxes(row["objects"]["bbox"], row["objects"]["category"]) for row in rows]
    got = [
        parse_florence_od(pred, row["width"], row["height"])
        for row, pred in zip(rows, preds, strict=True)
    ]
    found = mean_average_precision(got, refs)
    metrics = {"parse_rate": _mean([g is not None for g in got])}
    metrics.update({k: v for k, v in found.items() if k != "per_class"})
    return TaskScore(
        metrics,
        [match_rate(g, r) for g, r in zip(got, refs, strict=True)],
        per_class=found.get("per_class", {}),
    )


TaskScorer = Callable[[list[dict], list[str | None]], TaskScore]
TASK_SCORERS: dict[str, TaskScorer] = {
    "count-json": score_count_json,
    "count-class": score_count_class,
    "docvqa": score_docvqa,
    "florence-od": score_florence_od,
}
