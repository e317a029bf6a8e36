"""The seed task: how many of each class, answered as an indented JSON object."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

from dsconv.metrics.text import count_errors, parse_count_json
from dsconv.schemas.answer import parse_count_answer
from dsconv.schemas.samples import DetectionSample, Vocabulary
from dsconv.tasks.base import (
    QA,
    TaskContext,
    TaskScore,
    bad_reference,
    class_counts,
    mean,
    register,
)
from dsconv.tasks.paraphrase import choose, prompt_rng, render

PROMPT = (
    "How many of each type of the {noun} ({classes}) are there? Respond in JSON format with "
    "the {noun} type as the key and a integer count as the value."
)
PROMPTS = (
    PROMPT,
    "Count each type of {noun} ({classes}) in the image. Answer with a JSON object that maps "
    "each {noun} type present to its integer count.",
    "Which types of {noun} ({classes}) appear in the image, and how many of each? Reply in "
    "JSON with the {noun} type as the key and an integer count as the value.",
)


def question(ctx: TaskContext, template: str | None = None) -> str:
    template = ctx.prompt or template or PROMPT
    return render(template, noun=ctx.vocabulary.noun, classes=", ".join(ctx.vocabulary.classes))


def answer(counts: dict[str, int], include_zero: bool = False) -> str:
    """`json.dumps(counts, indent=2)` in class order, zero counts left out unless asked for.

    Spelled out because `indent` sends `json.dumps` to its pure-Python encoder, the costliest
    step of making a row; keys still go through the C encoder, so escaping is identical.
    """
    lines = [f"  {json.dumps(k)}: {v}" for k, v in counts.items() if v or include_zero]
    return "{\n" + ",\n".join(lines) + "\n}" if lines else "{}"


def check(row: dict[str, Any], vocabulary: Vocabulary | None) -> str | None:
    """The answer parses, names only known classes, and its counts equal the row's objects."""
    try:
        counts = parse_count_answer(row["answer"], vocabulary.classes if vocabulary else None)
    except ValueError as exc:
        return str(exc)
    expected = Counter(row["objects"]["category"])
    stated = {k: v for k, v in counts.items() if v}
    if stated != dict(expected):
        diff = sorted(k for k in set(stated) | set(expected) if stated.get(k, 0) != expected[k])
        shown = ", ".join(f"{k}: {stated.get(k, 0)} vs {expected[k]}" for k in diff)
        return f"answer counts differ from the row's objects ({shown})"
    return None


def score(rows: list[dict[str, Any]], preds: list[str | None]) -> TaskScore:
    """Exact dict match, count MAE over the reference and object classes (absent = 0), and
    `hallucination_rate`: of the class keys parsed answers give a positive count, the share
    whose reference count is 0 (not in the image, or not in the vocabulary at all — those are
    also tallied by name in `unknown_classes`). A row scores 1 / (1 + total count error)."""
    refs = []
    for row in rows:
        ref = parse_count_json(row["answer"])
        if ref is None:
            raise bad_reference(row, "a JSON object of counts")
        refs.append(ref)
    classes = sorted(
        {c for ref in refs for c in ref}
        | {c for row in rows for c in (row.get("objects") or {}).get("category") or []}
    )
    correct: Counter[str] = Counter()
    abs_error: Counter[str] = Counter()
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
        row_mae.append(mean(list(errors.values())))
        positive_keys += len(predicted)
        hallucinated += sum(1 for c in predicted if c not in ref)
        unknown.update(c for c in predicted if c not in classes)
        total = sum(abs(predicted.get(c, 0) - ref.get(c, 0)) for c in predicted.keys() | ref)
        scores.append(0.0 if got is None else 1.0 / (1 + total))
    n = len(rows)
    return TaskScore(
        {
            "parse_rate": mean(parsed),
            "count_dict_accuracy": mean(exact),
            "count_mae": mean(row_mae),
            "hallucination_rate": hallucinated / positive_keys if positive_keys else 0.0,
        },
        scores,
        per_class={
            c: {"count_accuracy": correct[c] / n, "count_mae": abs_error[c] / n} for c in classes
        },
        unknown_classes=dict(unknown.most_common()),
    )


@register(
    "count-json", "How many of each class, answered as a JSON object (the seed task).", check,
    PROMPTS, score=score,
)
def count_json(sample: DetectionSample, ctx: TaskContext) -> Iterator[QA]:
    text = answer(class_counts(sample, ctx.vocabulary.classes), ctx.include_zero)
    template = choose(PROMPTS, ctx, prompt_rng(sample, ctx, "count-json"))
    yield QA(question(ctx, template), text)
