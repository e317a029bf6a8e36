"""What the one-class tasks (count-class, presence) share: the class placeholders of their
questions, the classes absent from an image, and finding the class a stored question asks
about, which `dsconv validate` needs because a row records the question, not the class."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache
from typing import Any

from dsconv.schemas.samples import DetectionSample
from dsconv.tasks.base import TaskContext
from dsconv.tasks.paraphrase import render
from dsconv.tasks.words import pluralize, with_article


def placeholders(name: str, classes: Sequence[str] = (), noun: str = "object") -> dict[str, Any]:
    """`{class}`, `{a_class}`, `{plural}` for the asked class, and `{noun}`, `{classes}`."""
    return {"class": name, "a_class": with_article(name), "plural": pluralize(name),
            "noun": noun, "classes": ", ".join(classes)}


def ask(template: str, name: str, ctx: TaskContext) -> str:
    vocabulary = ctx.vocabulary
    return render(template, **placeholders(name, vocabulary.classes, vocabulary.noun))


def absent_classes(sample: DetectionSample, classes: Sequence[str]) -> list[str]:
    present = {o.category for o in sample.objects}
    return [c for c in classes if c not in present]


def asked_class(question: str, prompts: tuple[str, ...], names: Sequence[str]) -> str | None:
    """The class a question asks about: an exact match with one of the task's phrasings, else
    (a custom `--prompt`) the longest class name or plural standing as whole words in it."""
    exact = _rendered(prompts, tuple(names)).get(question)
    if exact is not None:
        return exact
    best: tuple[int, str] | None = None
    for name in names:
        for form in (pluralize(name), name):
            longer = best is None or len(form) > best[0]
            if longer and re.search(rf"(?<!\w){re.escape(form)}(?!\w)", question, re.I):
                best = (len(form), name)
    return best[1] if best else None


@cache
def _rendered(prompts: tuple[str, ...], names: tuple[str, ...]) -> dict[str, str]:
    """Every question the task's own phrasings make, to the class each one asks about."""
    out: dict[str, str] = {}
    for name in names:
        values = placeholders(name, names)
        for prompt in prompts:
            if "{noun}" not in prompt:
                out.setdefault(render(prompt, **values), name)
    return out
