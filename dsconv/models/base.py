"""What a model family must provide to be trained and evaluated by dsconv.

An adapter owns only what differs between families: how rows become model inputs and
labels, how the loss is computed, and how an answer is generated. The loop, data loading,
checkpointing and scoring are shared. Adding a family is one new module with one subclass.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypedDict

from PIL import Image

from dsconv.errors import DsconvError
from dsconv.tasks.base import TEXT, BoxConvention, answer_in, find_task, restored
from dsconv.tasks.json_boxes import ResizeRule


class Example(TypedDict):
    """One training/eval example as the data pipeline hands it to a collator."""

    image: Image.Image
    question: str
    answer: str


@dataclass(frozen=True)
class AnswerFormat:
    """How one model writes coordinates in text answers, for any row.

    Rows store `json-boxes`/`json-points` on the 0–1000 grid (Qwen3-VL's convention); a model
    that reads another (Qwen2.5-VL: pixels of its processor's resized input, `resize`) learns
    its targets rendered in it and has its answers rewritten in the stored one before they are
    scored. Tasks without `render_answer`/`restore_answer` pass through unchanged. Small and
    model-free, so DataLoader workers can render targets with it.
    """

    resize: ResizeRule | None = None  # None: the stored conventions

    def convention(self, row: dict[str, Any]) -> BoxConvention | None:
        """The convention for the row's image; None where the stored answer is the model's
        (the stored convention, or a task whose answers do not depend on the model)."""
        if self.resize is None:
            return None
        task = find_task(row.get("task") or "")
        if task is None or task.render_answer is None:
            return None
        if not row.get("width") or not row.get("height"):
            raise DsconvError(f"row {row.get('id')}: a {task.name} answer in this model's "
                              "coordinates needs the row's width and height, and it has none")
        return self.resize.convention(int(row["width"]), int(row["height"]))

    def target(self, row: dict[str, Any]) -> str:
        """The answer the model learns for the row."""
        return answer_in(row, self.convention(row))

    def reference(self, row: dict[str, Any]) -> dict[str, Any]:
        """The row with its answers as the model must give them (per-epoch exact match)."""
        target = self.target(row)
        return row if target == row["answer"] else {**row, "answer": target, "answers": [target]}

    def restore(self, text: str, row: dict[str, Any]) -> str:
        """The model's answer to the row, written as the stored answers are."""
        return restored(text, row, self.convention(row))


@dataclass(frozen=True)
class TrainDefaults:
    """Hyper-parameters of the family's reference result; every one can be overridden."""

    lr: float
    epochs: int
    batch_size: int
    schedule: str  # "linear" | "cosine-warmup"
    warmup: float  # fraction of steps
    freeze_vision: bool
    grad_accum: int = 1
    lora: int = 0  # LoRA rank; 0 trains every weight
    lora_alpha: int | None = None  # None: twice the rank
    source: str = ""  # where these settings come from (the run card quotes it)


class ModelAdapter(ABC):
    family: ClassVar[str]
    default_base: ClassVar[str]
    default_revision: ClassVar[str | None]
    defaults: ClassVar[TrainDefaults]
    # Answer syntaxes this family can learn (`dsconv.tasks.base.TEXT`, `FLORENCE_LOCATIONS`…);
    # a dataset's tasks are checked against them before any work is done.
    answer_syntaxes: ClassVar[frozenset[str]] = frozenset({TEXT})

    def __init__(self, model: Any, processor: Any) -> None:
        self.model = model
        self.processor = processor
        # Why --no-freeze-vision cannot train this checkpoint's vision tower, if it cannot.
        self.vision_untrainable: str | None = None

    @classmethod
    @abstractmethod
    def from_pretrained(
        cls, base: str, revision: str | None = None, *, dtype: Any = None
    ) -> ModelAdapter:
        """Load a real checkpoint or a local tiny one through the same code path."""

    @abstractmethod
    def collator(self) -> Callable[[list[Example]], dict[str, Any]]:
        """A picklable callable that runs in DataLoader workers; it must not hold the model.

        Labels are the answer tokens only: prompt, image positions and padding are -100.
        """

    @abstractmethod
    def loss(self, batch: dict[str, Any]) -> Any:
        """The scalar training loss for a collated batch already on the model's device."""

    @abstractmethod
    def generate(
        self, images: list[Image.Image], questions: list[str], max_new_tokens: int = 128
    ) -> list[str]:
        """Answers as plain text, with dsconv's own generation settings (greedy, no n-gram ban)."""

    @abstractmethod
    def vision_modules(self) -> list[Any]:
        """Modules frozen by --freeze-vision."""

    @classmethod
    def defaults_for(cls, base: str, revision: str | None = None) -> TrainDefaults:
        """The reference settings for this checkpoint; one set per family unless it knows
        better (the chat adapter serves many families)."""
        return cls.defaults

    @classmethod
    def unsupported_reason(cls, task: str) -> str | None:
        """Why rows of `task` cannot train this family, or None when they can. A task this
        version does not know is taken to answer in plain text."""
        descriptor = find_task(task)
        syntax = descriptor.answer_syntax if descriptor else TEXT
        if syntax in cls.answer_syntaxes:
            return None
        known = ", ".join(sorted(cls.answer_syntaxes))
        return (f"model family {cls.family!r} cannot learn task {task!r}: its answers use "
                f"{syntax}, and this family learns {known}")

    def answer_format(self) -> AnswerFormat:
        """How this model writes box coordinates: the stored conventions unless the family
        reads its own (read when asked: `set_image_options` may change the processor)."""
        return AnswerFormat()

    def set_image_options(self, options: dict[str, Any]) -> None:
        """Apply processor knobs (`max_pixels`, `image_splitting`…) before training; a family
        whose processor has no such knob refuses them (the exported processor keeps them)."""
        if options:
            names = ", ".join(f"--{k.replace('_', '-')}" for k in options)
            raise DsconvError(f"{names}: not an option of model family {self.family!r}")

    def lora_target_modules(self) -> str | list[str]:
        """What --lora wraps; peft's "all-linear" unless a family knows better."""
        return "all-linear"

    def save_pretrained(self, out_dir: str | Path) -> None:
        self.model.save_pretrained(out_dir)
        self.processor.save_pretrained(out_dir)
