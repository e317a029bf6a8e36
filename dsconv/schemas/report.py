"""The conversion report: every input annotation is either kept or listed here with a reason."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Drop(BaseModel):
    """One thing left out of the output, and why."""

    model_config = ConfigDict(extra="forbid")

    split: str
    file: str
    reason: str
    annotation: str | None = None
    detail: str | None = None


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
