"""The task protocol and registry.

A task turns one sample into zero or more question/answer pairs. It is a pure function of
the sample and the context: the same sample, context and seed give the same pairs.
"""

from __future__ import annotations

import hashlib
import importlib
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from dsconv.converters.base import DetectionSample, Vocabulary
from dsconv.errors import DsconvError


@dataclass(frozen=True, slots=True)
class QA:
    question: str
    answer: str
    answers: tuple[str, ...] = ()


@dataclass(frozen=True)
class TaskContext:
    vocabulary: Vocabulary
    prompt: str | None = None  # overrides the task's template
    include_zero: bool = False
    seed: int = 0
    options: dict[str, Any] = field(default_factory=dict)
    paraphrases: int = 1  # draw each question among the task's first N phrasings
    absent_rate: float = 0.0  # chance that a class absent from the image is asked about

    def rng(self, sample: DetectionSample, task: str) -> random.Random:
        """A generator seeded by the run seed and the sample, so that output does not depend on
        the order samples arrive in."""
        key = f"{self.seed}/{sample.split}/{sample.image_id}/{task}".encode()
        return random.Random(int.from_bytes(hashlib.sha256(key).digest()[:8], "big"))


TaskFn = Callable[[DetectionSample, TaskContext], Iterator[QA]]
CheckFn = Callable[[dict[str, Any], Vocabulary | None], str | None]


@dataclass(frozen=True)
class Task:
    """A template, and the check `dsconv validate` runs on the rows it made."""

    name: str
    summary: str
    fn: TaskFn
    check: CheckFn | None = None
    prompts: tuple[str, ...] = ()  # the phrasings `--paraphrases` draws among, default first


_MODULES = {
    "count-json": "dsconv.tasks.count_json",
    "count-class": "dsconv.tasks.count_class",
    "presence": "dsconv.tasks.presence",
    "list-objects": "dsconv.tasks.list_objects",
    "florence-od": "dsconv.tasks.florence_od",
    "docvqa": "dsconv.tasks.docvqa",
}
_REGISTRY: dict[str, Task] = {}


def register(
    name: str, summary: str, check: CheckFn | None = None, prompts: tuple[str, ...] = ()
) -> Callable[[TaskFn], TaskFn]:
    def wrap(fn: TaskFn) -> TaskFn:
        _REGISTRY[name] = Task(name, summary, fn, check, prompts)
        return fn

    return wrap


def get_task(name: str) -> Task:
    if name not in _REGISTRY and name in _MODULES:
        importlib.import_module(_MODULES[name])
    if name not in _REGISTRY:
        raise DsconvError(f"unknown task {name!r} (choose from {', '.join(task_names())})")
    return _REGISTRY[name]


def find_task(name: str) -> Task | None:
    """The task if dsconv knows it (a dataset may carry tasks from a newer version)."""
    try:
        return get_task(name)
    except DsconvError:
        return None


def task_names() -> list[str]:
    return list(_MODULES)


def all_tasks() -> list[Task]:
    return [get_task(name) for name in task_names()]


def class_counts(sample: DetectionSample, classes: list[str]) -> dict[str, int]:
    """Objects per class in vocabulary order, zero counts included."""
    counts = dict.fromkeys(classes, 0)
    for obj in sample.objects:
        counts[obj.category] += 1
    return counts
