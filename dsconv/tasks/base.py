"""The task descriptor and registry.

A task is everything dsconv knows about one kind of question: the sample kind it reads, how
it turns one sample into question/answer pairs (a pure function of the sample and the
context: the same sample, context and seed give the same pairs), the check `dsconv validate`
runs on its rows, how its answers are scored, the metric that picks the best epoch, the
answer syntax a model must be able to produce, and what it adds to the conversion report.
Generic code (convert, validate, score, train) reads these fields and never names a task.

Built-in tasks are modules of this package; third parties add one through the `dsconv.tasks`
entry-point group (the entry point names a module that calls `register`, or a `Task`).
"""

from __future__ import annotations

import hashlib
import importlib
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Literal

from dsconv.errors import DsconvError
from dsconv.schemas.samples import DetectionSample, Vocabulary


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


@dataclass
class TaskScore:
    """Metrics for one task's rows; each flat metric is a mean over those rows unless noted.
    `row_scores` (0–1, 1 = right) rank the failures."""

    metrics: dict[str, float]
    row_scores: list[float]
    per_class: dict[str, dict[str, float]] = field(default_factory=dict)
    unknown_classes: dict[str, int] = field(default_factory=dict)


SampleKind = Literal["detection", "document"]
ValidationMetric = Literal["exact_match", "anls"]
TaskFn = Callable[[Any, TaskContext], Iterator[QA]]
CheckFn = Callable[[dict[str, Any], Vocabulary | None], str | None]
ScoreFn = Callable[[list[dict[str, Any]], list[str | None]], TaskScore]
ExtrasFn = Callable[[Vocabulary], dict[str, Any]]
Box = tuple[str, tuple[float, float, float, float]]  # (label, pixel xyxy), as metrics.boxes
ParseBoxesFn = Callable[[str | None, dict[str, Any]], list[Box] | None]
ReferenceBoxesFn = Callable[[dict[str, Any]], list[Box]]

# What a model must be able to emit to learn a task's answers. Adapters declare the syntaxes
# they can learn (`ModelAdapter.answer_syntaxes`); a task names the one its answers use.
TEXT = "text"  # plain text: JSON, numbers, words
FLORENCE_LOCATIONS = "florence-locations"  # Florence-2's <loc_0>…<loc_999> tokens
PALIGEMMA_LOCATIONS = "paligemma-locations"  # PaliGemma's <loc0000>…<loc1023> tokens
# JSON boxes whose coordinates follow the family's own convention (a 0–1000 grid, or pixels of
# the processor's resized input): only a family that knows its convention can learn them.
JSON_BOXES = "json-boxes"


@dataclass(frozen=True)
class BoxConvention:
    """How a family writes coordinates in text answers.

    `relative-1000`: integers on a 0–1000 grid relative to the image (Qwen3-VL, Qwen2-VL).
    `resized-pixels`: integer pixels of the image as the processor resized it (Qwen2.5-VL);
    `resized` is that (width, height).
    """

    name: str = "relative-1000"
    resized: tuple[int, int] | None = None


RenderFn = Callable[[dict[str, Any], BoxConvention], str]
RestoreFn = Callable[[str, dict[str, Any], BoxConvention], str]


@dataclass(frozen=True)
class Task:
    """One task: what it reads, what it writes, how its rows are checked and scored."""

    name: str
    summary: str
    fn: TaskFn
    check: CheckFn | None = None
    prompts: tuple[str, ...] = ()  # the phrasings `--paraphrases` draws among, default first
    kind: SampleKind = "detection"
    score: ScoreFn | None = None  # None: exact match against the references only
    validation_metric: ValidationMetric = "exact_match"  # picks the best epoch in training
    answer_syntax: str = TEXT
    report_extras: ExtrasFn | None = None  # what the report records under `task_extras`
    # Box tasks: the answer read back as (label, pixel xyxy) boxes (None: nothing readable),
    # and the row's reference boxes labelled as answers spell them; `dsconv preview
    # --failures` draws both.
    parse_boxes: ParseBoxesFn | None = None
    reference_boxes: ReferenceBoxesFn | None = None
    # Tasks whose stored answer is one family's coordinate convention among several: the row's
    # answer rendered in another convention (for training), and a model's answer in its
    # convention rewritten in the stored one (before scoring).
    render_answer: RenderFn | None = None
    restore_answer: RestoreFn | None = None


_MODULES = {
    "count-json": "dsconv.tasks.count_json",
    "count-class": "dsconv.tasks.count_class",
    "presence": "dsconv.tasks.presence",
    "list-objects": "dsconv.tasks.list_objects",
    "florence-od": "dsconv.tasks.florence_od",
    "florence-grounding": "dsconv.tasks.florence_grounding",
    "florence-ovd": "dsconv.tasks.florence_grounding",
    "paligemma-detect": "dsconv.tasks.paligemma_detect",
    "json-boxes": "dsconv.tasks.json_boxes",
    "json-points": "dsconv.tasks.json_points",
    "docvqa": "dsconv.tasks.docvqa",
}
_REGISTRY: dict[str, Task] = {}


ENTRY_POINT_GROUP = "dsconv.tasks"


def register(
    name: str, summary: str, check: CheckFn | None = None, prompts: tuple[str, ...] = (), *,
    kind: SampleKind = "detection", score: ScoreFn | None = None,
    validation_metric: ValidationMetric = "exact_match", answer_syntax: str = TEXT,
    report_extras: ExtrasFn | None = None, parse_boxes: ParseBoxesFn | None = None,
    reference_boxes: ReferenceBoxesFn | None = None, render_answer: RenderFn | None = None,
    restore_answer: RestoreFn | None = None,
) -> Callable[[TaskFn], TaskFn]:
    """Decorator: make the decorated question builder the task `name`."""

    def wrap(fn: TaskFn) -> TaskFn:
        _REGISTRY[name] = Task(name, summary, fn, check, prompts, kind, score,
                               validation_metric, answer_syntax, report_extras, parse_boxes,
                               reference_boxes, render_answer, restore_answer)
        return fn

    return wrap


def get_task(name: str) -> Task:
    if name not in _REGISTRY:
        if name in _MODULES:
            importlib.import_module(_MODULES[name])
        else:
            _load_plugin(name)
    if name not in _REGISTRY:
        raise DsconvError(f"unknown task {name!r} (choose from {', '.join(task_names())})")
    return _REGISTRY[name]


def _load_plugin(name: str) -> None:
    """A task installed through the entry-point group: a module that registers it on import,
    or a `Task` object."""
    for ep in entry_points(group=ENTRY_POINT_GROUP, name=name):
        try:
            loaded = ep.load()
        except Exception as exc:  # a broken plugin must not take the built-ins down
            raise DsconvError(f"task {name!r}: cannot load {ep.value} ({exc})") from None
        if isinstance(loaded, Task):
            _REGISTRY[name] = loaded


def find_task(name: str) -> Task | None:
    """The task if dsconv knows it (a dataset may carry tasks from a newer version)."""
    try:
        return get_task(name)
    except DsconvError:
        return None


def task_names() -> list[str]:
    """Built-in tasks first, then installed ones (a plugin may not replace a built-in)."""
    plugins = [ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)]
    return list(dict.fromkeys([*_MODULES, *plugins]))


def all_tasks() -> list[Task]:
    return [get_task(name) for name in task_names()]


def class_counts(sample: DetectionSample, classes: list[str]) -> dict[str, int]:
    """Objects per class in vocabulary order, zero counts included."""
    counts = dict.fromkeys(classes, 0)
    for obj in sample.objects:
        counts[obj.category] += 1
    return counts


def references(row: dict[str, Any]) -> list[str]:
    """The row's `answer` plus any other accepted `answers`."""
    return list(dict.fromkeys([row["answer"], *(row.get("answers") or [])]))


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def answer_in(row: dict[str, Any], convention: BoxConvention | None) -> str:
    """The row's answer as a family using `convention` must learn it: rendered by the task
    when its coordinates depend on the model (`render_answer`), else the stored answer."""
    task = find_task(row["task"])
    if convention is None or task is None or task.render_answer is None:
        return row["answer"]
    return task.render_answer(row, convention)


def restored(text: str, row: dict[str, Any], convention: BoxConvention | None) -> str:
    """A model's answer to the row, written as the stored answers are (`restore_answer`), so
    `dsconv score` reads it against the row."""
    task = find_task(row["task"])
    if convention is None or task is None or task.restore_answer is None:
        return text
    return task.restore_answer(text, row, convention)


def bad_reference(row: dict[str, Any], what: str) -> DsconvError:
    return DsconvError(f"row {row['id']}: answer {row['answer']!r} is not {what}")
