"""Every image-text-to-text model transformers ships natively, through its own chat template.

One adapter for Qwen2.5-VL, Qwen3-VL, SmolVLM/Idefics3, Gemma 3, InternVL, LLaVA-style models…:
`AutoProcessor` + `AutoModelForImageTextToText`, no remote code. An example is the checkpoint's
own conversation (user: the image and the question; assistant: the answer) rendered by
`processor.apply_chat_template` and tokenised by the processor, so image tokens are expanded
exactly as at inference.

Labels: only the assistant's answer and its end-of-turn token. The conversation rendered up to
the generation prompt must be a prefix of the whole conversation (checked, in text and tokens);
everything before it (system turn, user turn, image tokens) and everything after the first
special token that follows the answer (the template's trailing newline) is -100, and so is
padding. Templates differ in ways that matter here: Qwen2.5-VL adds a default system turn,
SmolVLM's prompt ends `Assistant:` so the answer is learnt as " {answer}", Gemma 3 starts with
BOS itself (so nothing is tokenised with special tokens added) and names the assistant `model`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar

import torch
from PIL import Image

from dsconv.errors import DsconvError
from dsconv.models.base import AnswerFormat, Example, ModelAdapter, TrainDefaults
from dsconv.models.processors import load_processor
from dsconv.models.registry import read_config, register
from dsconv.tasks.base import JSON_BOXES, TEXT
from dsconv.tasks.json_boxes import ResizeRule

IGNORE_INDEX = -100
PROBE_ANSWER = "probe"


def load_options(dtype: Any, load_in_4bit: bool) -> dict[str, Any]:
    """`from_pretrained` keywords: fp32 by default; 4-bit NF4 weights on the GPU for QLoRA."""
    if not load_in_4bit:
        return {"dtype": dtype or torch.float32}
    from transformers import BitsAndBytesConfig

    quantization = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                      bnb_4bit_use_double_quant=True,
                                      bnb_4bit_compute_dtype=torch.bfloat16)
    return {"dtype": torch.bfloat16, "quantization_config": quantization, "device_map": {"": 0}}


def refuse(options: Iterable[str], image_processor: Any) -> None:
    names = ", ".join(f"--{k.replace('_', '-')}" for k in options)
    raise DsconvError(f"{names}: {type(image_processor).__name__} has no such setting (it is "
                      "Qwen-VL's (--min/--max-pixels) or Idefics3/SmolVLM's (--image-splitting, "
                      "--longest-edge))")


def user_turn(question: str) -> dict[str, Any]:
    return {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}


def assistant_turn(answer: str) -> dict[str, Any]:
    return {"role": "assistant", "content": [{"type": "text", "text": answer}]}


def special_ids(tokenizer: Any) -> frozenset[int]:
    """Ids of every special token, the added ones (`<end_of_turn>`, `<|im_end|>`…) included."""
    added = getattr(tokenizer, "added_tokens_decoder", {}) or {}
    ids = {i for i, token in added.items() if getattr(token, "special", False)}
    return frozenset(ids | set(tokenizer.all_special_ids))


def render(processor: Any, question: str, answer: str | None) -> str:
    """The conversation as text: up to the generation prompt, or with the answer."""
    messages = [user_turn(question)]
    if answer is not None:
        messages.append(assistant_turn(answer))
    return processor.apply_chat_template(messages, tokenize=False,
                                         add_generation_prompt=answer is None)


def answer_span(ids: Sequence[int], suffix_ids: Sequence[int], specials: frozenset[int],
                where: str) -> tuple[int, int]:
    """[start, end) of the labelled tokens: the suffix (answer + end-of-turn + template tail)
    must end the sequence; it is cut after its first special token (the end of turn)."""
    start = len(ids) - len(suffix_ids)
    if start < 0 or list(ids[start:]) != list(suffix_ids):
        raise DsconvError(f"{where}: the answer does not tokenise the same inside the "
                          "conversation as alone; the chat template and tokenizer disagree")
    for offset, token in enumerate(suffix_ids):
        if token in specials:
            return start, start + offset + 1
    raise DsconvError(f"{where}: the chat template ends the answer with no special token, so "
                      "there is no end of turn to learn")


class ChatCollator:
    """Renders and tokenises conversations in a DataLoader worker; holds no model."""

    def __init__(self, processor: Any, processor_kwargs: dict[str, Any] | None = None) -> None:
        self.processor = processor
        self.processor_kwargs = dict(processor_kwargs or {})
        self.specials = special_ids(processor.tokenizer)

    def __call__(self, examples: list[Example]) -> dict[str, Any]:
        prompts = [render(self.processor, ex["question"], None) for ex in examples]
        fulls = [render(self.processor, ex["question"], ex["answer"]) for ex in examples]
        for prompt, full in zip(prompts, fulls, strict=True):
            if not full.startswith(prompt):
                raise DsconvError("the chat template's generation prompt is not a prefix of the "
                                  f"conversation: {prompt[-40:]!r} vs {full[len(prompt) - 40:]!r}")
        batch = self.processor(
            text=fulls, images=[[ex["image"]] for ex in examples], padding=True,
            padding_side="right", add_special_tokens=False, return_tensors="pt",
            **self.processor_kwargs,
        )
        tokenizer = self.processor.tokenizer
        labels = torch.full_like(batch["input_ids"], IGNORE_INDEX)
        for i, (prompt, full) in enumerate(zip(prompts, fulls, strict=True)):
            length = int(batch["attention_mask"][i].sum())
            ids = batch["input_ids"][i, :length].tolist()
            suffix = tokenizer(full[len(prompt):], add_special_tokens=False).input_ids
            start, end = answer_span(ids, suffix, self.specials, f"example {i}")
            labels[i, start:end] = batch["input_ids"][i, start:end]
        return {**batch, "labels": labels}


# Per model type, the public recipe each family's users start from (README, "Chat families").
FAMILY_DEFAULTS: dict[str, TrainDefaults] = {
    "qwen2_5_vl": TrainDefaults(
        lr=2e-4, epochs=10, batch_size=4, grad_accum=8, schedule="constant", warmup=0.0,
        freeze_vision=True, lora=8, lora_alpha=16,
        source="roboflow/maestro's Qwen2.5-VL configuration (LoRA r 8, alpha 16)"),
    "qwen3_vl": TrainDefaults(
        lr=2e-7, epochs=1, batch_size=4, grad_accum=4, schedule="cosine-warmup", warmup=0.03,
        freeze_vision=True,
        source="Qwen3-VL's qwen-vl-finetune/scripts/sft_7b.sh (full fine-tune, vision frozen)"),
    "idefics3": TrainDefaults(
        lr=2e-5, epochs=10, batch_size=4, grad_accum=4, schedule="constant", warmup=0.0,
        freeze_vision=True, lora=8, lora_alpha=16,
        source="roboflow/maestro's SmolVLM2 configuration (LoRA; rank 8/16 is dsconv's)"),
}
FAMILY_DEFAULTS["smolvlm"] = FAMILY_DEFAULTS["idefics3"]
# Model types whose box answers are pixels of the processor's resized input, not the 0–1000
# grid the rows store (Qwen2.5-VL's technical report, "absolute coordinates").
RESIZED_PIXEL_TYPES = frozenset({"qwen2_5_vl"})


@register
class ChatAdapter(ModelAdapter):
    family: ClassVar[str] = "chat"
    default_base: ClassVar[str] = "Qwen/Qwen2.5-VL-3B-Instruct"
    default_revision: ClassVar[str | None] = None
    # Any other chat family: the schedule, batch and freezing of Qwen's own fine-tuning script
    # (QwenLM qwen-vl-finetune/scripts/sft_7b.sh); its lr (2e-7, a 7B for half an epoch) is
    # replaced by 1e-5, which is not from a guide.
    defaults: ClassVar[TrainDefaults] = TrainDefaults(
        lr=1e-5, epochs=1, batch_size=4, grad_accum=4, schedule="cosine-warmup", warmup=0.03,
        freeze_vision=True,
        source="Qwen's qwen-vl-finetune sft_7b.sh schedule and batch, lr 1e-5 (dsconv's)",
    )

    # Free text, and JSON boxes in the checkpoint's own coordinates (`answer_format`).
    answer_syntaxes: ClassVar[frozenset[str]] = frozenset({TEXT, JSON_BOXES})

    def __init__(self, model: Any, processor: Any,
                 processor_kwargs: dict[str, Any] | None = None) -> None:
        super().__init__(model, processor)
        self.model_type = getattr(getattr(model, "config", None), "model_type", None)
        self.processor_kwargs = dict(processor_kwargs or {})
        self.stop_ids = self._stop_ids()

    supports_4bit: ClassVar[bool] = True

    @classmethod
    def defaults_for(cls, base: str, revision: str | None = None) -> TrainDefaults:
        """The settings of the public fine-tuning recipe for the checkpoint's model type."""
        try:
            model_type = read_config(base, revision).get("model_type")
        except DsconvError:
            return cls.defaults
        return FAMILY_DEFAULTS.get(str(model_type), cls.defaults)

    @classmethod
    def from_pretrained(
        cls, base: str, revision: str | None = None, *, dtype: Any = None,
        load_in_4bit: bool = False,
    ) -> ChatAdapter:
        from transformers import AutoModelForImageTextToText

        processor = load_processor(base, revision)
        if getattr(processor, "chat_template", None) is None:
            raise DsconvError(f"{base}: its processor has no chat template, so the chat adapter "
                              "cannot build conversations (a base, not an instruct, checkpoint?)")
        model = AutoModelForImageTextToText.from_pretrained(
            base, revision=revision, **load_options(dtype, load_in_4bit))
        return cls(model, processor)

    def set_image_options(self, options: dict[str, Any]) -> None:
        """Qwen's `min_pixels`/`max_pixels` (its `size` edges, in pixels) and Idefics3/SmolVLM's
        `image_splitting` and `longest_edge`; the exported processor keeps them for eval."""
        image_processor = self.processor.image_processor
        size = {k: v for k, v in dict(getattr(image_processor, "size", None) or {}).items()
                if v is not None}
        pixels = {k: options[k] for k in ("min_pixels", "max_pixels") if k in options}
        if pixels:
            if not hasattr(image_processor, "merge_size"):  # Qwen2-VL's pixel-budget resizing
                refuse(pixels, image_processor)
            if "min_pixels" in pixels:
                size["shortest_edge"] = pixels["min_pixels"]
            if "max_pixels" in pixels:
                size["longest_edge"] = pixels["max_pixels"]
            image_processor.size = size
        tiles = {k: options[k] for k in ("image_splitting", "longest_edge") if k in options}
        if tiles:
            if not hasattr(image_processor, "do_image_splitting"):  # Idefics3 / SmolVLM
                refuse(tiles, image_processor)
            if "image_splitting" in tiles:
                image_processor.do_image_splitting = tiles["image_splitting"]
            if "longest_edge" in tiles:
                image_processor.size = {"longest_edge": tiles["longest_edge"]}

    def answer_format(self) -> AnswerFormat:
        """Qwen2.5-VL: pixels of the image as its processor resizes it (`smart_resize` with the
        processor's patch factor and pixel bounds, `--min/--max-pixels` included); every other
        chat family: the stored 0–1000 grid."""
        if self.model_type not in RESIZED_PIXEL_TYPES:
            return AnswerFormat()
        image_processor = self.processor.image_processor
        size = dict(getattr(image_processor, "size", None) or {})
        default = ResizeRule()
        return AnswerFormat(ResizeRule(
            factor=int(image_processor.patch_size) * int(image_processor.merge_size),
            min_pixels=int(size.get("shortest_edge") or default.min_pixels),
            max_pixels=int(size.get("longest_edge") or default.max_pixels)))

    def _stop_ids(self) -> list[int]:
        """The template's end-of-turn token, then the checkpoint's own EOS ids."""
        tokenizer = self.processor.tokenizer
        prompt = render(self.processor, "?", None)
        full = render(self.processor, "?", PROBE_ANSWER)
        suffix = tokenizer(full[len(prompt):], add_special_tokens=False).input_ids
        specials = special_ids(tokenizer)
        stops = [t for t in suffix if t in specials][:1]
        eos = getattr(self.model.generation_config, "eos_token_id", None)
        for token in [*(eos if isinstance(eos, list) else [eos]), tokenizer.eos_token_id]:
            if token is not None and token not in stops:
                stops.append(token)
        return stops

    def collator(self) -> Callable[[list[Example]], dict[str, Any]]:
        return ChatCollator(self.processor, self.processor_kwargs)

    def loss(self, batch: dict[str, Any]) -> Any:
        return self.model(**batch).loss

    def generation_inputs(self, images: list[Image.Image], questions: list[str]) -> Any:
        prompts = [render(self.processor, q, None) for q in questions]
        return self.processor(text=prompts, images=[[im] for im in images], padding=True,
                              padding_side="left", add_special_tokens=False,
                              return_tensors="pt", **self.processor_kwargs)

    @torch.no_grad()
    def generate(
        self, images: list[Image.Image], questions: list[str], max_new_tokens: int = 128
    ) -> list[str]:
        """Greedy with explicit settings (the checkpoint's sampling or penalties never apply),
        stopping at the end of turn; only the new tokens are decoded."""
        inputs = self.generation_inputs(images, questions)
        device = next(self.model.parameters()).device
        dtype = next(self.model.parameters()).dtype
        inputs = {k: (v.to(device, dtype) if v.is_floating_point() else v.to(device))
                  for k, v in inputs.items() if isinstance(v, torch.Tensor)}
        tokens = self.model.generate(
            **inputs, max_new_tokens=max_new_tokens, max_length=None, do_sample=False,
            num_beams=1, temperature=None, top_p=None, top_k=None, repetition_penalty=1.0,
            no_repeat_ngram_size=0, min_length=0, min_new_tokens=None, eos_token_id=self.stop_ids,
            pad_token_id=self.pad_id(),
        )
        return self.decode(tokens[:, inputs["input_ids"].shape[1]:])

    def pad_id(self) -> int:
        tokenizer = self.processor.tokenizer
        return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.stop_ids[0]

    def decode(self, new_tokens: torch.Tensor) -> list[str]:
        """Text before the first stop token, special tokens dropped, the template's leading
        space (SmolVLM's `Assistant: `) and trailing newline stripped."""
        stops = set(self.stop_ids)
        answers = []
        for row in new_tokens.tolist():
            cut = next((i for i, t in enumerate(row) if t in stops), len(row))
            text = self.processor.tokenizer.decode(row[:cut], skip_special_tokens=True,
                                                   clean_up_tokenization_spaces=False)
            answers.append(text.strip())
        return answers

    def language_model(self) -> torch.nn.Module:
        return self.model.get_decoder()

    def vision_modules(self) -> list[Any]:
        """Everything of the multimodal model that is not its language model: the vision
        tower and the projector (found by module, whatever the family names them)."""
        decoder = self.language_model()
        base = self.model.base_model
        modules = [child for child in base.children() if child is not decoder]
        if not modules or not any(isinstance(p, torch.nn.Parameter) for m in modules
                                  for p in m.parameters()):
            raise DsconvError(f"{type(self.model).__name__}: cannot tell its vision tower from "
                              "its language model")
        return modules

    def lora_target_modules(self) -> str | list[str]:
        """Every linear layer of the language model, by full name (vision and head excluded)."""
        decoder = self.language_model()
        prefix = next(name for name, module in self.model.named_modules() if module is decoder)
        return [f"{prefix}.{name}" for name, module in decoder.named_modules()
                if isinstance(module, torch.nn.Linear)]
