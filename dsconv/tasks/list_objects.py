"""list-objects: the objects as free text, "2 dimes, 1 penny and 1 twenty".

Counts are digits, each class in vocabulary order with its plural for counts above one, the
last two joined by "and". An image with no objects is answered "none": short, the same for
every noun, and not a number a count parser could misread.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

from dsconv.schemas.samples import DetectionSample, Vocabulary
from dsconv.tasks.base import QA, TaskContext, class_counts, register
from dsconv.tasks.paraphrase import choose, prompt_rng, render
from dsconv.tasks.words import pluralize

NAME = "list-objects"
NONE = "none"
PROMPTS = (
    "List each type of {noun} in the image with its count.",
    "What {noun} types are in the image, and how many of each?",
    "Count each type of {noun} in the image and list the counts.",
    "Which types of {noun} does the image show, and how many of each?",
    "Give the number of each type of {noun} in the image as a short list.",
)
_COUNT = re.compile(r"(\d+) ")
_SEPARATORS = (", ", " and ")


def answer(counts: dict[str, int]) -> str:
    """ "2 dimes, 1 penny and 1 twenty" from counts in the order to list them; "none" if empty."""
    items = [f"{n} {name if n == 1 else pluralize(name)}" for name, n in counts.items() if n]
    if not items:
        return NONE
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def parse(text: str, names: Sequence[str]) -> dict[str, int]:
    """An answer back to counts, reading only the given class names (singular or plural),
    so names with commas or "and" in them still parse. ValueError if it does not read."""
    if text == NONE:
        return {}
    forms = sorted(((form, name) for name in names for form in {name, pluralize(name)}),
                   key=lambda item: -len(item[0]))
    counts: dict[str, int] = {}
    pos = 0
    while True:
        match = _COUNT.match(text, pos)
        if match is None:
            raise ValueError(f"expected a count at character {pos} of {text!r}")
        pos = match.end()
        found = next(((f, n) for f, n in forms
                      if text.startswith(f, pos) and _ends_item(text, pos + len(f))), None)
        if found is None:
            raise ValueError(f"no known class at character {pos} of {text!r}")
        form, name = found
        if name in counts:
            raise ValueError(f"{name!r} is listed twice in {text!r}")
        counts[name] = int(match.group(1))
        pos += len(form)
        if pos == len(text):
            return counts
        pos += len(next(s for s in _SEPARATORS if text.startswith(s, pos)))


def _ends_item(text: str, pos: int) -> bool:
    return pos == len(text) or any(text.startswith(s, pos) for s in _SEPARATORS)


def check(row: dict[str, Any], vocabulary: Vocabulary | None) -> str | None:
    """The answer lists exactly the row's objects, class by class."""
    categories = row["objects"]["category"]
    names = list(dict.fromkeys([*(vocabulary.classes if vocabulary else []), *categories]))
    try:
        stated = parse(row["answer"], names)
    except ValueError as exc:
        return str(exc)
    expected = Counter(categories)
    if stated != dict(expected):
        diff = sorted(k for k in set(stated) | set(expected) if stated.get(k, 0) != expected[k])
        shown = ", ".join(f"{k}: {stated.get(k, 0)} vs {expected[k]}" for k in diff)
        return f"listed counts differ from the row's objects ({shown})"
    return None


@register(NAME, "The objects as free text, e.g. '2 dimes, 1 penny and 1 twenty'.", check,
          PROMPTS)
def list_objects(sample: DetectionSample, ctx: TaskContext) -> Iterator[QA]:
    vocabulary = ctx.vocabulary
    template = choose(PROMPTS, ctx, prompt_rng(sample, ctx, NAME))
    question = render(template, noun=vocabulary.noun, classes=", ".join(vocabulary.classes))
    yield QA(question, answer(class_counts(sample, vocabulary.classes)))
