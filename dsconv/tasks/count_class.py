"""count-class: "How many dimes are there?" → "2", one row per class present.

With `--absent-rate R` (or `--include-zero`, R = 1) each class absent from the image is also
asked about with chance R and answered "0", so the model learns to say zero rather than to
count whatever class it is asked about. Rows follow vocabulary order.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

from dsconv.metrics.text import parse_count
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
from dsconv.tasks.paraphrase import choose, prompt_rng
from dsconv.tasks.per_class import ask, asked_class

NAME = "count-class"
PROMPTS = (
    "How many {plural} are there?",
    "How many {plural} are in the image?",
    "Count the {plural} in the image.",
    "What is the number of {plural} in this image?",
    "How many {plural} can you see? Answer with a number.",
)
_INTEGER = re.compile(r"\d+")


def asked(sample: DetectionSample, ctx: TaskContext) -> list[tuple[str, int]]:
    """(class, count) pairs to ask about: classes present, plus absent ones drawn at the rate."""
    rate = 1.0 if ctx.include_zero else ctx.absent_rate
    rng = ctx.rng(sample, f"{NAME}/absent")
    pairs = []
    for name, count in class_counts(sample, ctx.vocabulary.classes).items():
        if count or (rate > 0 and rng.random() < rate):
            pairs.append((name, count))
    return pairs


def check(row: dict[str, Any], vocabulary: Vocabulary | None) -> str | None:
    """The answer is an integer equal to the row's objects of the class the question names."""
    if not _INTEGER.fullmatch(row["answer"]):
        return f"answer {row['answer']!r} is not a whole number"
    categories = row["objects"]["category"]
    names = vocabulary.classes if vocabulary else list(dict.fromkeys(categories))
    name = asked_class(row["question"], PROMPTS, names)
    stated = int(row["answer"])
    if name is None:
        if vocabulary is None and stated == 0:
            return None
        return "question names none of the dataset's classes"
    expected = Counter(categories)[name]
    if stated != expected:
        return f"answer {stated} but the row has {expected} {name}"
    return None


def score(rows: list[dict[str, Any]], preds: list[str | None]) -> TaskScore:
    """Count accuracy and MAE from the first integer of each answer; a row scores
    1 / (1 + count error)."""
    parsed, errors, scores = [], [], []
    for row, pred in zip(rows, preds, strict=True):
        ref = parse_count(row["answer"])
        if ref is None:
            raise bad_reference(row, "an integer count")
        got = parse_count(pred)
        error = abs((got or 0) - ref)
        parsed.append(got is not None)
        errors.append(error)
        scores.append(0.0 if got is None else 1.0 / (1 + error))
    return TaskScore(
        {
            "parse_rate": mean(parsed),
            "count_accuracy": mean([s == 1.0 for s in scores]),
            "count_mae": mean(errors),
        },
        scores,
    )


@register(NAME, "How many of one class, answered as a number; one row per class.", check, PROMPTS,
          score=score)
def count_class(sample: DetectionSample, ctx: TaskContext) -> Iterator[QA]:
    rng = prompt_rng(sample, ctx, NAME)
    for name, count in asked(sample, ctx):
        yield QA(ask(choose(PROMPTS, ctx, rng), name, ctx), str(count))
