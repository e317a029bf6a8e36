"""Prompt paraphrases: each question drawn among a task's first N phrasings.

A model fine-tuned on one fixed wording tends to answer only that wording. The draw uses its
own generator (seed, sample, task), separate from any other draw a task makes, so changing
`--paraphrases` changes the wording and nothing else.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable, Sequence
from functools import cache, partial
from typing import Any

from dsconv.errors import DsconvError
from dsconv.schemas.samples import DetectionSample
from dsconv.tasks.base import TaskContext


def prompt_rng(sample: DetectionSample, ctx: TaskContext, task: str
               ) -> Callable[[], random.Random]:
    """The sample's prompt generator, made on first use (seeding one per sample is a
    noticeable part of a conversion that never draws) and the same one after that."""
    return cache(partial(ctx.rng, sample, f"{task}/prompt"))


def choose(prompts: Sequence[str], ctx: TaskContext, rng: Callable[[], random.Random]) -> str:
    """`--prompt` if given, else the default phrasing, or a draw among the first N of them.

    With N = 1 nothing is drawn, so no generator is made.
    """
    if ctx.prompt:
        return ctx.prompt
    n = min(max(ctx.paraphrases, 1), len(prompts))
    return prompts[rng().randrange(n)] if n > 1 else prompts[0]


def render(template: str, **values: Any) -> str:
    """`template.format(**values)`, with a one-line error naming an unknown placeholder."""
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError) as exc:
        known = ", ".join("{" + k + "}" for k in values)
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
        unknown = [f for f in fields if f not in values]
        what = f"unknown placeholder {{{unknown[0]}}}" if unknown else f"bad template ({exc})"
        raise DsconvError(f"prompt {template!r}: {what} (this task knows {known})") from None
