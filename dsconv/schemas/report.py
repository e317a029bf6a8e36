"""The conversion report: every input annotation is either kept or listed here with a reason."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Drop(BaseModel):
    """One thing left out of the output, and why."""

    model_config = ConfigDict(extra="forbid")

    split: str
    file: str
    reason: str
    annotation: str | None = None
    detail: str | None = None


class Leak(BaseModel):
    """One image whose bytes occur in more than one split: a model evaluated on it has seen it."""

    model_config = ConfigDict(extra="forbid")

    hash: str  # SHA-256 of the image bytes
    splits: list[str]
    files: list[str]  # "{split}/{file name}" of each occurrence


class SplitReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    images: int = 0
    images_dropped: dict[str, int] = Field(default_factory=dict)
    rows: int = 0
    objects_total: int = 0
    objects_kept: int = 0
    objects_clipped: int = 0
    objects_dropped: dict[str, int] = Field(default_factory=dict)
    per_class: dict[str, int] = Field(default_factory=dict)
    # Documents only (absent for detection): questions read, and those left out by reason.
    questions: int | None = Field(default=None, exclude_if=lambda v: v is None)
    questions_dropped: dict[str, int] | None = Field(default=None, exclude_if=lambda v: v is None)

    @model_validator(mode="after")
    def _accounted(self) -> SplitReport:
        dropped_objects = sum(self.objects_dropped.values())
        if self.objects_kept + dropped_objects != self.objects_total:
            raise ValueError(
                f"objects kept ({self.objects_kept}) + dropped ({dropped_objects}) "
                f"!= total ({self.objects_total})"
            )
        if sum(self.per_class.values()) != self.objects_kept:
            raise ValueError("per-class counts do not add up to the objects kept")
        return self


class PartInfo(BaseModel):
    """Marks the report of one part of a sharded conversion (`--num-shards/--shard-index`):
    `dsconv merge` joins parts whose fingerprints match and whose indexes are 0 … count-1."""

    model_config = ConfigDict(extra="forbid")

    index: int = Field(ge=0)
    count: int = Field(ge=1)
    fingerprint: str  # SHA-256 of everything that shapes the rows: source, options, tasks

    @model_validator(mode="after")
    def _in_range(self) -> PartInfo:
        if self.index >= self.count:
            raise ValueError(f"part index {self.index} is not below the count {self.count}")
        return self


class ConversionReport(BaseModel):
    """Written as conversion_report.json; no timestamps, so two runs give the same bytes."""

    model_config = ConfigDict(extra="forbid")

    dsconv_version: str
    source_format: str
    tasks: list[str]
    classes: list[str]
    splits: dict[str, SplitReport]
    drops: list[Drop] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    leakage: list[Leak] = Field(default_factory=list)
    # Set when images were assigned to splits by the hash of their bytes, not by the source.
    split_ratios: list[float] | None = Field(default=None, exclude_if=lambda v: v is None)
    # What tasks add, by task name (florence-od: `names`, each class → the name its answers
    # use). A report written before tasks declared extras has `florence_od_names` instead.
    task_extras: dict[str, dict[str, Any]] = Field(
        default_factory=dict, exclude_if=lambda v: not v)
    # Set in a part of a sharded conversion only; absent from a whole or merged dataset.
    part: PartInfo | None = Field(default=None, exclude_if=lambda v: v is None)

    @model_validator(mode="before")
    @classmethod
    def _older_florence_names(cls, data: Any) -> Any:
        """Reports of dsconv 0.1 kept florence-od's names in a key of their own."""
        if isinstance(data, dict) and "florence_od_names" in data:
            data = dict(data)
            names = data.pop("florence_od_names")
            if names is not None:
                data.setdefault("task_extras", {}).setdefault("florence-od", {"names": names})
        return data
