"""Hand-built detection samples and contexts for the task tests."""

from __future__ import annotations

from typing import Any

from dsconv.schemas.samples import DetectionObject, DetectionSample, Vocabulary
from dsconv.tasks.base import TaskContext, get_task
from dsconv.tasks.rows import detection_rows

COINS = ["dime", "nickel", "penny", "quarter", "fifty", "five", "hundred", "one", "ten", "twenty"]


def make_sample(
    *objects: tuple[str, tuple[float, float, float, float]], image_id: str = "1",
    split: str = "train", width: int = 640, height: int = 480,
) -> DetectionSample:
    return DetectionSample(split, image_id, f"{image_id}.jpg", b"jpeg", width, height,
                           [DetectionObject(c, box) for c, box in objects])


def boxes(*categories: str) -> list[tuple[str, tuple[float, float, float, float]]]:
    """One small box per category, left to right."""
    return [(c, (10.0 + 40 * i, 10.0, 30.0, 30.0)) for i, c in enumerate(categories)]


def context(classes: list[str] | None = None, **kwargs: Any) -> TaskContext:
    return TaskContext(Vocabulary(list(classes or COINS), "currency"), **kwargs)


def qa_pairs(task: str, sample: DetectionSample, ctx: TaskContext) -> list[tuple[str, str]]:
    return [(qa.question, qa.answer) for qa in get_task(task).fn(sample, ctx)]


def rows(task: str, sample: DetectionSample, ctx: TaskContext) -> list[dict[str, Any]]:
    return list(detection_rows(sample, [get_task(task)], ctx))
