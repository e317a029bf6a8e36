"""Canonical samples: what every reader yields and every task reads, one image at a time.

Plain dataclasses, not pydantic models: they are made once per image in the conversion's hot
loop, and the readers have already checked what goes into them. The encoded image bytes
travel in them untouched.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class DetectionObject:
    category: str
    bbox: tuple[float, float, float, float]  # COCO [x, y, w, h] in pixels


@dataclass(slots=True)
class DetectionSample:
    split: str
    image_id: str
    file_name: str  # relative to the split or dataset root; becomes image.path
    image_bytes: bytes
    width: int
    height: int
    objects: list[DetectionObject] = field(default_factory=list)


@dataclass(slots=True)
class DocumentSample:
    split: str
    image_id: str
    question_id: str
    file_name: str | None
    image_bytes: bytes
    width: int
    height: int
    question: str
    answers: list[str]


@dataclass
class Vocabulary:
    """The dataset's classes in their answer order, and the noun the prompt uses for them."""

    classes: list[str]
    noun: str = "object"
