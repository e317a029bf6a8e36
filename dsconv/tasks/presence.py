"""presence: "Is there a dime in the image?" → "yes" / "no".

Every class present is asked about, plus as many absent classes as present ones (at least one,
so an empty image still gets a "no"), drawn with the sample's generator: yes and no come out
roughly balanced, and a model cannot score by always saying yes. Rows follow vocabulary order.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from dsconv.schemas.samples import DetectionSample, Vocabulary
from dsconv.tasks.base import QA, TaskContext, register
from dsconv.tasks.paraphrase import choose, prompt_rng
from dsconv.tasks.per_class import absent_classes, ask, asked_class

NAME = "presence"
YES, NO = "yes", "no"
PROMPTS = (
    "Is there {a_class} in the image?",
    "Does the image contain {a_class}?",
    "Can you see {a_class} in this image?",
    "Is there any {class} in the image? Answer yes or no.",
    "Does this image show {a_class}? Answer yes or no.",
)


def asked(sample: DetectionSample, ctx: TaskContext) -> list[tuple[str, bool]]:
    """(class, present) pairs: all classes present, and a balanced draw of absent ones."""
    classes = ctx.vocabulary.classes
    absent = absent_classes(sample, classes)
    present = len(classes) - len(absent)
    rng = ctx.rng(sample, f"{NAME}/absent")
    drawn = set(rng.sample(absent, min(len(absent), max(present, 1))))
    return [(c, c not in absent) for c in classes if c not in absent or c in drawn]


def check(row: dict[str, Any], vocabulary: Vocabulary | None) -> str | None:
    """The answer is yes/no, and yes exactly when the row has an object of the asked class."""
    answer = row["answer"]
    if answer not in (YES, NO):
        return f"answer {answer!r} is not {YES!r} or {NO!r}"
    categories = row["objects"]["category"]
    names = vocabulary.classes if vocabulary else list(dict.fromkeys(categories))
    name = asked_class(row["question"], PROMPTS, names)
    if name is None:
        if vocabulary is None and answer == NO:
            return None
        return "question names none of the dataset's classes"
    expected = YES if name in categories else NO
    if answer != expected:
        return f"answer {answer!r} but the row {'has' if expected == YES else 'has no'} {name}"
    return None


@register(NAME, "Is there a given class in the image, answered yes or no.", check, PROMPTS)
def presence(sample: DetectionSample, ctx: TaskContext) -> Iterator[QA]:
    rng = prompt_rng(sample, ctx, NAME)
    for name, present in asked(sample, ctx):
        yield QA(ask(choose(PROMPTS, ctx, rng), name, ctx), YES if present else NO)
