"""Samples → rows of the row contract (docs/row-contract.md)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from dsconv.schemas.samples import DetectionSample
from dsconv.tasks.base import Task, TaskContext


def row_id(split: str, image_id: str, task: str, k: int) -> str:
    return f"{split}/{image_id}/{task}/{k}"


def detection_rows(
    sample: DetectionSample, tasks: Sequence[Task], ctx: TaskContext
) -> Iterator[dict[str, Any]]:
    image = {"bytes": sample.image_bytes, "path": sample.file_name}
    objects = {
        "bbox": [list(o.bbox) for o in sample.objects],
        "category": [o.category for o in sample.objects],
    }
    for task in tasks:
        for k, qa in enumerate(task.fn(sample, ctx)):
            yield {
                "id": row_id(sample.split, sample.image_id, task.name, k),
                "image": image,
                "image_id": sample.image_id,
                "width": sample.width,
                "height": sample.height,
                "objects": objects,
                "task": task.name,
                "question": qa.question,
                "answer": qa.answer,
                "answers": list(qa.answers or (qa.answer,)),
            }
