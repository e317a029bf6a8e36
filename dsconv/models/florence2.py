"""Florence-2 through the native transformers classes (no remote code).

The processor builds the encoder input itself (image tokens, then `<s> question </s>`) and
replaces a bare task token such as `<OD>` with its English prompt. The answer goes to the
decoder: labels are `tokenizer(answers).input_ids` with padding set to -100, not shifted (the
model shifts them into `decoder_input_ids`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import torch
from PIL import Image
from transformers import AutoProcessor, Florence2ForConditionalGeneration

from dsconv.errors import DsconvError
from dsconv.models.base import Example, ModelAdapter, TrainDefaults
from dsconv.models.registry import register
from dsconv.tasks.base import FLORENCE_LOCATIONS, TEXT

IGNORE_INDEX = -100


class Florence2Collator:
    """Runs the processor in a DataLoader worker; holds the processor, never the model."""

    def __init__(self, processor: Any, max_answer_tokens: int) -> None:
        self.processor = processor
        self.max_answer_tokens = max_answer_tokens

    def labels(self, answers: list[str]) -> torch.Tensor:
        """`<s> answer </s>` ids, right-padded with -100.

        Truncated by hand: asking the tokenizer to truncate would leave truncation switched on
        in its backend, and `save_pretrained` would ship that setting with the model.
        """
        tokenizer = self.processor.tokenizer
        rows = tokenizer(answers).input_ids
        rows = [ids if len(ids) <= self.max_answer_tokens
                else [*ids[: self.max_answer_tokens - 1], tokenizer.eos_token_id] for ids in rows]
        labels = torch.full((len(rows), max(map(len, rows))), IGNORE_INDEX, dtype=torch.long)
        for i, ids in enumerate(rows):
            labels[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        return labels

    def __call__(self, examples: list[Example]) -> dict[str, Any]:
        inputs = self.processor(
            text=[ex["question"] for ex in examples],
            images=[ex["image"] for ex in examples],
            return_tensors="pt",
            padding=True,
        )
        labels = self.labels([ex["answer"] for ex in examples])
        return {
            "input_ids": inputs["input_ids"],
            "attention_mask": inputs["attention_mask"],
            "pixel_values": inputs["pixel_values"],
            "labels": labels,
        }


@register
class Florence2Adapter(ModelAdapter):
    family: ClassVar[str] = "florence2"
    default_base: ClassVar[str] = "florence-community/Florence-2-base-ft"
    default_revision: ClassVar[str | None] = None
    defaults: ClassVar[TrainDefaults] = TrainDefaults(
        lr=1e-6, epochs=7, batch_size=6, schedule="linear", warmup=0.0, freeze_vision=True
    )
    answer_syntaxes: ClassVar[frozenset[str]] = frozenset({TEXT, FLORENCE_LOCATIONS})

    @classmethod
    def from_pretrained(
        cls, base: str, revision: str | None = None, *, dtype: Any = None
    ) -> Florence2Adapter:
        try:
            model = Florence2ForConditionalGeneration.from_pretrained(
                base, revision=revision or "main", dtype=dtype or torch.float32
            )
            processor = AutoProcessor.from_pretrained(base, revision=revision)
        except Exception as exc:
            if not base.startswith("microsoft/"):
                raise
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise DsconvError(
                f"{base}: cannot load it natively ({reason}); the microsoft/ checkpoints are "
                f"remote code, use their conversion such as {cls.default_base}"
            ) from exc
        if not hasattr(processor, "post_process_generation"):
            raise DsconvError(f"{base}: processor is {type(processor).__name__}, not Florence-2's")
        return cls(model, processor)

    def collator(self) -> Callable[[list[Example]], dict[str, Any]]:
        max_answer = self.model.config.text_config.max_position_embeddings
        return Florence2Collator(self.processor, max_answer_tokens=max_answer)

    def loss(self, batch: dict[str, Any]) -> Any:
        return self.model(**batch).loss

    @torch.no_grad()
    def generate(
        self, images: list[Image.Image], questions: list[str], max_new_tokens: int = 128
    ) -> list[str]:
        """Greedy, one beam, no n-gram ban, whatever the checkpoint's generation config says.

        Florence-2 checkpoints ship `num_beams=3, no_repeat_ngram_size=3`; the latter forbids
        the repeated `",\\n  "` of a JSON answer.
        """
        inputs = self.processor(text=questions, images=images, return_tensors="pt", padding=True)
        device = next(self.model.parameters()).device
        dtype = next(self.model.parameters()).dtype
        tokens = self.model.generate(
            input_ids=inputs["input_ids"].to(device),
            attention_mask=inputs["attention_mask"].to(device),
            pixel_values=inputs["pixel_values"].to(device, dtype),
            max_new_tokens=max_new_tokens,
            max_length=None,
            do_sample=False,
            num_beams=1,
            no_repeat_ngram_size=0,
            repetition_penalty=1.0,
            early_stopping=False,
            min_length=0,
        )
        return self.decode(tokens)

    def decode(self, tokens: torch.Tensor) -> list[str]:
        """Drop `<s>`, `</s>` and `<pad>` but keep other special tokens such as `<loc_*>`."""
        tokenizer = self.processor.tokenizer
        drop = {tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id}
        return [
            tokenizer.decode(
                [t for t in row.tolist() if t not in drop],
                skip_special_tokens=False,
                clean_up_tokenization_spaces=False,
            ).strip()
            for row in tokens
        ]

    def vision_modules(self) -> list[Any]:
        return [self.model.model.vision_tower]

    def lora_target_modules(self) -> str | list[str]:
        """The language model's attention and MLP projections; the vision tower stays as is."""
        return r".*language_model.*\.(q_proj|k_proj|v_proj|out_proj|fc1|fc2)"
