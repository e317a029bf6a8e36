"""One VQA row, as written to Parquet and as read back from a user's dataset."""

from __future__ import annotations

import math
import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ID_RE = re.compile(r"^[^/]+/[^/]+/[^/]+/\d+$")


class ImageCell(BaseModel):
    """The `datasets` Image feature's storage: encoded bytes plus the source file name."""

    model_config = ConfigDict(extra="forbid")

    bytes: Annotated[bytes, Field(min_length=1)]
    path: str | None = None


class Objects(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bbox: list[list[float]] = Field(default_factory=list)
    category: list[str] = Field(default_factory=list)

    @field_validator("bbox")
    @classmethod
    def _boxes(cls, boxes: list[list[float]]) -> list[list[float]]:
        for i, box in enumerate(boxes):
            if len(box) != 4 or not all(math.isfinite(v) for v in box):
                raise ValueError(f"bbox {i} is not four finite numbers: {box}")
            if box[2] <= 0 or box[3] <= 0:
                raise ValueError(f"bbox {i} has no area: {box}")
        return boxes

    @model_validator(mode="after")
    def _parallel(self) -> Objects:
        if len(self.bbox) != len(self.category):
            raise ValueError(f"{len(self.bbox)} boxes but {len(self.category)} categories")
        return self


class Row(BaseModel):
    """The row contract (docs/row-contract.md)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    image: ImageCell
    image_id: Annotated[str, Field(min_length=1)]
    width: Annotated[int, Field(gt=0)]
    height: Annotated[int, Field(gt=0)]
    objects: Objects
    task: Annotated[str, Field(min_length=1)]
    question: Annotated[str, Field(min_length=1)]
    answer: str
    answers: list[str]

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        if not ID_RE.match(value):
            raise ValueError(f"id {value!r} is not split/image_id/task/k")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Row:
        if self.id.split("/")[2] != self.task:
            raise ValueError(f"id {self.id!r} does not name task {self.task!r}")
        if self.answer not in self.answers:
            raise ValueError("answer is not among answers")
        for i, (x, y, w, h) in enumerate(self.objects.bbox):
            if x < 0 or y < 0 or x + w > self.width + 0.5 or y + h > self.height + 0.5:
                raise ValueError(
                    f"object {i} box {[x, y, w, h]} is outside the "
                    f"{self.width}x{self.height} image"
                )
        return self
