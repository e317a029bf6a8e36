"""The seed task: how many of each class, answered as an indented JSON object."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

from dsconv.converters.base import DetectionSample, Vocabulary
from dsconv.schemas.answer import parse_count_answer
from dsconv.tasks.base import QA, TaskContext, class_counts, register
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


@register(
    "count-json", "How many of each class, answered as a JSON object (the seed task).", check,
    PROMPTS,
)
def count_json(sample: DetectionSample, ctx: TaskContext) -> Iterator[QA]:
    text = answer(class_counts(sample, ctx.vocabulary.classes), ctx.include_zero)
    template = choose(PROMPTS, ctx, prompt_rng(sample, ctx, "count-json"))
    yield QA(question(ctx, template), text)
