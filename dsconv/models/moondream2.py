"""Moondream2 (`vikhyatk/moondream2`), loaded as Hub remote code at a pinned revision.

The pinned revision (2024-08-26) is the last one built from a SigLIP-style `vision_encoder`
(with its `projection`) and a Phi causal LM `text_model`, the structure of the reference
fine-tune. The adapter follows that fine-tune: the sequence is BOS, the image embeddings,
`"\\n\\nQuestion: {q}\\n\\nAnswer:"`, then `" {answer}"` and EOS, fed to `text_model` as
`inputs_embeds`. Unlike the notebook, only the answer and EOS are labelled (never padding).

The remote code was written for transformers 4.4x; `moondream2_compat` makes it load and run
under transformers 5.

Generation does not use the remote `answer_question`/`generate` (those need `GenerationMixin`,
which `PreTrainedModel` lost in 4.50, and a `Cache.get_usable_length` that 5.x removed): the
adapter runs its own greedy loop with explicit settings, so no checkpoint generation config
(beam search, n-gram bans) can change an answer.
"""

from __future__ import annotations

import logging
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from dsconv.models.base import Example, ModelAdapter, TrainDefaults
from dsconv.models.moondream2_compat import (
    INSTALL_HINT,
    MOONDREAM2_REPO,
    MOONDREAM2_REVISION,
    Moondream2CompatError,
    check_environment,
    ensure_post_init,
    last_logits_kwargs,
    legacy_cache_class,
    rebuild_rotary_caches,
    restore_v4_config_defaults,
    text_config_of,
)
from dsconv.models.registry import register

log = logging.getLogger(__name__)

# Revisions whose layout dsconv loads and trains (README: Fine-tuning). 2024-04-02 is the
# reference fine-tune's pin: `phi_config` instead of `text_config`, a one-crop projection and a
# vision encoder that runs under no_grad.
TESTED_REVISIONS = (MOONDREAM2_REVISION, "2024-04-02")
IGNORE_INDEX = -100


def question_text(question: str) -> str:
    """The prompt text after the image, exactly as the remote `answer_question` builds it."""
    return f"\n\nQuestion: {question}\n\nAnswer:"


@dataclass
class Moondream2Collator:
    """Tokenises rows into BOS + question + answer + EOS; the image goes in as a PIL list.

    The image embeddings are spliced in after BOS by `training_loss`, which also extends the
    labels there with -100, so the collator needs no model and stays picklable.
    """

    tokenizer: Any

    def __call__(self, examples: list[Example]) -> dict[str, Any]:
        bos, eos = self.tokenizer.bos_token_id, self.tokenizer.eos_token_id
        ids: list[list[int]] = []
        labels: list[list[int]] = []
        for example in examples:
            prompt = self.tokenizer(question_text(example["question"]), add_special_tokens=False)
            answer = self.tokenizer(f" {example['answer']}", add_special_tokens=False)
            target = [*answer.input_ids, eos]
            ids.append([bos, *prompt.input_ids, *target])
            labels.append([IGNORE_INDEX] * (1 + len(prompt.input_ids)) + target)
        width = max(len(row) for row in ids)
        return {
            "images": [example["image"].convert("RGB") for example in examples],
            "input_ids": torch.tensor([row + [eos] * (width - len(row)) for row in ids]),
            "attention_mask": torch.tensor(
                [[1] * len(row) + [0] * (width - len(row)) for row in ids]
            ),
            "labels": torch.tensor([row + [IGNORE_INDEX] * (width - len(row)) for row in labels]),
        }


def splice_image(
    batch: dict[str, torch.Tensor], image_embeds: torch.Tensor, embed: nn.Module
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Insert the image embeddings after BOS: returns inputs_embeds, attention_mask, labels."""
    tokens = embed(batch["input_ids"])
    rows, count = image_embeds.shape[:2]
    ones = batch["attention_mask"].new_ones(rows, count)
    ignore = batch["labels"].new_full((rows, count), IGNORE_INDEX)
    mask, labels = batch["attention_mask"], batch["labels"]
    return (
        torch.cat([tokens[:, :1], image_embeds.to(tokens.dtype), tokens[:, 1:]], dim=1),
        torch.cat([mask[:, :1], ones, mask[:, 1:]], dim=1),
        torch.cat([labels[:, :1], ignore, labels[:, 1:]], dim=1),
    )


def image_embeds(model: Any, images: Sequence[Image.Image]) -> torch.Tensor:
    """Vision encoder output; no graph unless someone unfroze it (the reference never does)."""
    encoder = model.vision_encoder
    trainable = any(p.requires_grad for p in encoder.parameters())
    with torch.set_grad_enabled(trainable and torch.is_grad_enabled()):
        return encoder([image if image.mode == "RGB" else image.convert("RGB") for image in images])


def training_loss(
    model: Any,
    images: list[Image.Image],
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    labels: torch.Tensor,
) -> torch.Tensor:
    """The reference fine-tune's loss, bound as the remote wrapper's missing `forward`."""
    text = model.text_model
    batch = {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}
    embeds, mask, labels = splice_image(
        batch, image_embeds(model, images), text.get_input_embeddings()
    )
    # use_cache=False: the remote model would build a legacy cache, gone in transformers 5.
    logits = text(inputs_embeds=embeds, attention_mask=mask, use_cache=False).logits
    return F.cross_entropy(
        logits[:, :-1].flatten(0, 1).float(),
        labels[:, 1:].flatten().to(logits.device),
        ignore_index=IGNORE_INDEX,
    )


def prepare_for_training(model: Any) -> None:
    """Give the loaded wrapper a `forward` (the loss) and declare its gradient checkpointing.

    The remote `Moondream` has neither: DDP and PEFT call `forward`, and the loop's
    `gradient_checkpointing_enable` refuses a model that does not declare support, although
    its Phi text model (checkpointed by the reference notebook) supports it.
    """
    model.forward = types.MethodType(training_loss, model)
    model.supports_gradient_checkpointing = bool(
        getattr(model.text_model, "supports_gradient_checkpointing", False)
    )


@register
class Moondream2Adapter(ModelAdapter):
    family: ClassVar[str] = "moondream2"
    default_base: ClassVar[str] = MOONDREAM2_REPO
    default_revision: ClassVar[str | None] = MOONDREAM2_REVISION
    defaults: ClassVar[TrainDefaults] = TrainDefaults(
        lr=3e-5,
        epochs=1,
        batch_size=24,
        schedule="cosine-warmup",
        warmup=0.1,
        freeze_vision=True,
    )
    # Moondream answers in free text; location tokens mean nothing to it (the default).

    @classmethod
    def from_pretrained(
        cls, base: str = MOONDREAM2_REPO, revision: str | None = None, *, dtype: Any = None
    ) -> Moondream2Adapter:
        check_environment(base)
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
        from transformers.dynamic_module_utils import get_class_from_dynamic_module

        if revision is None and base == MOONDREAM2_REPO:
            revision = MOONDREAM2_REVISION
        elif base == MOONDREAM2_REPO and revision not in TESTED_REVISIONS:
            log.warning("moondream2 revision %s is untested; dsconv has tested %s", revision,
                        " and ".join(TESTED_REVISIONS))
        tested = " and ".join(TESTED_REVISIONS)
        try:
            config = AutoConfig.from_pretrained(base, revision=revision, trust_remote_code=True)
            reference = (getattr(config, "auto_map", None) or {}).get("AutoModelForCausalLM")
            text = text_config_of(config)
            if reference is None or text is None:
                raise Moondream2CompatError(
                    f"{base}@{revision} is not a Moondream2 remote-code checkpoint (auto_map and "
                    f"a Phi text_config or phi_config); dsconv supports revisions {tested}."
                )
            restore_v4_config_defaults(text[1])
            model_class = get_class_from_dynamic_module(reference, base, revision=revision)
        except ImportError as err:
            raise Moondream2CompatError(
                f"{base}@{revision} remote code cannot be imported here ({err}); the Hub "
                "revisions import torchvision and einops: "
                + INSTALL_HINT.format(torch=torch.__version__)
            ) from err
        ensure_post_init(model_class)
        kwargs: dict[str, Any] = {"dtype": dtype} if dtype is not None else {}
        model: Any = AutoModelForCausalLM.from_pretrained(  # the remote `Moondream` class
            base, revision=revision, trust_remote_code=True, config=config, **kwargs
        )
        if not (hasattr(model, "vision_encoder") and hasattr(model, "text_model")):
            raise Moondream2CompatError(
                f"{base}@{revision} has no vision_encoder/text_model; dsconv supports the "
                f"Phi-based revisions {tested}, not the 2025 rewrite."
            )
        rebuild_rotary_caches(model.text_model)
        prepare_for_training(model)
        tokenizer = AutoTokenizer.from_pretrained(base, revision=revision, config=config)
        if tokenizer.bos_token_id is None or tokenizer.eos_token_id is None:
            raise Moondream2CompatError(f"{base}@{revision} tokenizer has no BOS/EOS token")
        adapter = cls(model, tokenizer)
        if text[0] == "phi_config":
            adapter.vision_untrainable = (
                f"{base} has the 2024-04-02 layout, whose vision encoder runs under "
                "torch.no_grad(): it cannot be trained"
            )
        return adapter

    def collator(self) -> Callable[[list[Example]], dict[str, Any]]:
        return Moondream2Collator(self.processor)

    def vision_modules(self) -> list[Any]:
        return [self.model.vision_encoder]

    def lora_target_modules(self) -> str | list[str]:
        """The text model's attention and MLP projections (remote and transformers Phi names)."""
        return r"text_model\..*\.(Wqkv|out_proj|q_proj|k_proj|v_proj|dense|fc1|fc2)"

    def loss(self, batch: dict[str, Any]) -> torch.Tensor:
        """Through the model's `__call__`, so DDP and PEFT wrappers see the whole step."""
        return self.model(**batch)

    @torch.no_grad()
    def generate(
        self, images: list[Image.Image], questions: list[str], max_new_tokens: int = 128
    ) -> list[str]:
        """Greedy decoding with a KV cache; prompts are left-padded so a batch decodes together."""
        training = self.model.training
        self.model.eval()
        try:
            return self._greedy(images, questions, max_new_tokens)
        finally:
            self.model.train(training)

    def _greedy(
        self, images: list[Image.Image], questions: list[str], max_new_tokens: int
    ) -> list[str]:
        tokenizer, text = self.processor, self.model.text_model
        embed = text.get_input_embeddings()
        device = embed.weight.device
        bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
        visual = image_embeds(self.model, images).to(device)
        prompts = [
            torch.tensor(
                [bos, *tokenizer(question_text(q), add_special_tokens=False).input_ids],
                device=device,
            )
            for q in questions
        ]
        width = max(len(p) for p in prompts) + visual.shape[1]
        rows, masks = [], []
        for prompt, image in zip(prompts, visual, strict=True):
            tokens = embed(prompt)
            pad = width - len(prompt) - image.shape[0]
            rows.append(
                torch.cat(
                    [tokens[:1].expand(pad, -1), tokens[:1], image.to(tokens.dtype), tokens[1:]]
                )
            )
            masks.append(torch.cat([torch.zeros(pad), torch.ones(width - pad)]))
        mask = torch.stack(masks).to(device=device, dtype=torch.long)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        cache, last = legacy_cache_class()(), last_logits_kwargs(text)
        out = text(
            inputs_embeds=torch.stack(rows),
            attention_mask=mask,
            position_ids=positions,
            past_key_values=cache,
            use_cache=True,
            **last,
        )
        done = torch.zeros(len(prompts), dtype=torch.bool, device=device)
        steps: list[torch.Tensor] = []
        for _ in range(max_new_tokens):
            token = out.logits[:, -1].argmax(-1).masked_fill(done, eos)
            steps.append(token)
            done |= token == eos
            if bool(done.all()):
                break
            mask = torch.cat([mask, mask.new_ones(len(prompts), 1)], dim=1)
            positions = positions[:, -1:] + 1
            out = text(
                inputs_embeds=embed(token[:, None]),
                attention_mask=mask,
                position_ids=positions,
                past_key_values=out.past_key_values,
                use_cache=True,
                **last,
            )
        generated = torch.stack(steps, dim=1).tolist() if steps else [[] for _ in prompts]
        return [self._decode(row, eos) for row in generated]

    def _decode(self, ids: list[int], eos: int) -> str:
        """Text up to EOS, minus the one space the training target puts before the answer."""
        ids = ids[: ids.index(eos)] if eos in ids else ids
        text = self.processor.decode(
            ids, skip_special_tokens=True, clean_up_tokenization_spaces=False
        )
        return text.removeprefix(" ")
