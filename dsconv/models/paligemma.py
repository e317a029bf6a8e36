"""PaliGemma / PaliGemma 2: no chat template, a prefix (image tokens, BOS, question, "\\n") and a
suffix (the answer, EOS) that the processor builds itself.

The processor's `suffix=` gives the token types (0 prefix, 1 suffix: the prefix attends both
ways, the suffix causally) and the labels (prefix and padding -100, answer and EOS learnt).
Generation, freezing and LoRA are the chat adapter's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from PIL import Image

from dsconv.errors import DsconvError
from dsconv.models.base import Example, TrainDefaults
from dsconv.models.chat import IGNORE_INDEX, ChatAdapter, load_options
from dsconv.models.processors import load_processor
from dsconv.models.registry import register
from dsconv.tasks.base import PALIGEMMA_LOCATIONS, TEXT


def prefix(processor: Any, question: str) -> str:
    """The prompt with its image placeholder first, where the processor expects it."""
    return f"{processor.image_token}{question}"


class PaliGemmaCollator:
    """Runs the processor with `suffix=` in a DataLoader worker; holds no model."""

    def __init__(self, processor: Any) -> None:
        self.processor = processor

    def __call__(self, examples: list[Example]) -> dict[str, Any]:
        batch = self.processor(
            text=[prefix(self.processor, ex["question"]) for ex in examples],
            images=[ex["image"] for ex in examples],
            suffix=[ex["answer"] for ex in examples], padding=True, padding_side="right",
            return_tensors="pt",
        )
        # The processor labels every suffix token; padding must stay out whatever its type.
        batch["labels"] = batch["labels"].masked_fill(batch["attention_mask"] == 0, IGNORE_INDEX)
        return dict(batch)


@register
class PaliGemmaAdapter(ChatAdapter):
    family: ClassVar[str] = "paligemma"
    default_base: ClassVar[str] = "google/paligemma2-3b-pt-224"
    default_revision: ClassVar[str | None] = None
    defaults: ClassVar[TrainDefaults] = TrainDefaults(
        lr=1e-5, epochs=10, batch_size=4, grad_accum=8, schedule="constant", warmup=0.0,
        freeze_vision=True, lora=8, lora_alpha=16,
        source="roboflow/maestro's PaliGemma 2 configuration (LoRA; rank 8/16 is dsconv's)",
    )
    # Free text and its own `<locNNNN>` detection answers; not JSON boxes, which no PaliGemma
    # checkpoint was trained to write.
    answer_syntaxes: ClassVar[frozenset[str]] = frozenset({TEXT, PALIGEMMA_LOCATIONS})

    @classmethod
    def defaults_for(cls, base: str, revision: str | None = None) -> TrainDefaults:
        return cls.defaults

    @classmethod
    def from_pretrained(
        cls, base: str, revision: str | None = None, *, dtype: Any = None,
        load_in_4bit: bool = False,
    ) -> PaliGemmaAdapter:
        from transformers import PaliGemmaForConditionalGeneration

        processor = load_processor(base, revision)
        if type(processor).__name__ != "PaliGemmaProcessor":
            raise DsconvError(f"{base}: processor is {type(processor).__name__}, not PaliGemma's")
        model = PaliGemmaForConditionalGeneration.from_pretrained(
            base, revision=revision or "main", **load_options(dtype, load_in_4bit))
        return cls(model, processor)

    def _stop_ids(self) -> list[int]:
        tokenizer = self.processor.tokenizer
        eos = getattr(self.model.generation_config, "eos_token_id", None)
        stops = [tokenizer.eos_token_id]
        for token in eos if isinstance(eos, list) else [eos]:
            if token is not None and token not in stops:
                stops.append(token)
        return stops

    def collator(self) -> Callable[[list[Example]], dict[str, Any]]:
        return PaliGemmaCollator(self.processor)

    def generation_inputs(self, images: list[Image.Image], questions: list[str]) -> Any:
        return self.processor(text=[prefix(self.processor, q) for q in questions],
                              images=images, padding=True, padding_side="left",
                              return_tensors="pt")
