"""Moondream2 (`vikhyatk/moondream2`), loaded as Hub remote code at a pinned revision.

The pinned revision (2024-08-26) is the last one built from a SigLIP-style `vision_encoder`
(with its `projection`) and a Phi causal LM `text_model`, the structure of the reference
fine-tune. The adapter follows that fine-tune: the sequence is BOS, the image embeddings,
`"\\n\\nQuestion: {q}\\n\\nAnswer:"`, then `" {answer}"` and EOS, fed to `text_model` as
`inputs_embeds`. Unlike the notebook, only the answer and EOS are labelled (never padding).

The remote code was written for transformers 4.4x. Under transformers 5 it breaks in three
places, each patched here with the smallest change that restores the 4.x behaviour:

- its `PhiConfig` has no `pad_token_id` (5.x stopped defaulting it) and sees an auto-filled
  `rope_scaling` dict where it expects `None`, so building the text model raises;
- its `Moondream.__init__` never calls `post_init()`, so loading dies on
  `all_tied_weights_keys`;
- 5.x builds models on the meta device and refills non-persistent buffers with uninitialised
  memory; the remote rotary embeddings keep their `inv_freq`/`cos_cached`/`sin_cached` there,
  so the text model silently computes garbage (NaN in our transcription) until they are rebuilt.

Generation does not use the remote `answer_question`/`generate` (those need `GenerationMixin`,
which `PreTrainedModel` lost in 4.50, and a `Cache.get_usable_length` that 5.x removed): the
adapter runs its own greedy loop with explicit settings, so no checkpoint generation config
(beam search, n-gram bans) can change an answer.
"""

from __future__ import annotations

import functools
import inspect
import logging
import sys
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.util import find_spec
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from packaging.specifiers import SpecifierSet
from packaging.version import Version
from PIL import Image
from torch import nn

from dsconv.errors import DsconvError
from dsconv.models.base import Example, ModelAdapter, TrainDefaults
from dsconv.models.registry import register

log = logging.getLogger(__name__)

MOONDREAM2_REPO = "vikhyatk/moondream2"
MOONDREAM2_REVISION = "2024-08-26"
# Revisions whose layout dsconv loads and trains (README: Fine-tuning). 2024-04-02 is the
# reference fine-tune's pin: `phi_config` instead of `text_config`, a one-crop projection and a
# vision encoder that runs under no_grad.
TESTED_REVISIONS = (MOONDREAM2_REVISION, "2024-04-02")
SUPPORTED_TRANSFORMERS = ">=5.0,<6"
TESTED_TRANSFORMERS = "5.23.0"
# What the remote code of every tested revision imports beyond torch and transformers.
REMOTE_CODE_PACKAGES = ("torchvision", "einops")
# `pip install 'dsconv[moondream2]'` brings einops; torchvision must be the build made for the
# installed torch (a mismatched one fails to import), so it is the user's to install.
INSTALL_HINT = (
    "pip install 'dsconv[moondream2]' and the torchvision built for your torch "
    "(torch {torch} here; torchvision 0.28 pairs with torch 2.13, from the index torch came from)"
)
IGNORE_INDEX = -100


class Moondream2CompatError(DsconvError):
    """The installed packages cannot run the Moondream2 remote code; raised before any work."""


def check_versions(transformers_version: str | None = None) -> None:
    """Fail early when transformers is outside the range the loading shims were written for."""
    if transformers_version is None:
        import transformers

        transformers_version = transformers.__version__
    if Version(transformers_version) not in SpecifierSet(SUPPORTED_TRANSFORMERS):
        raise Moondream2CompatError(
            f"Moondream2 ({MOONDREAM2_REPO}@{MOONDREAM2_REVISION}) needs transformers "
            f"{SUPPORTED_TRANSFORMERS} with dsconv (tested with {TESTED_TRANSFORMERS}); found "
            f"transformers {transformers_version}. The remote code alone targets transformers "
            "4.44 (its own generate() stops working at 4.50)."
        )


def check_environment(base: str = MOONDREAM2_REPO) -> None:
    """Everything checkable without the network: transformers range, remote-code imports."""
    check_versions()
    if base != MOONDREAM2_REPO:
        return  # a local or forked checkpoint: its own imports are checked when it loads
    missing = [name for name in REMOTE_CODE_PACKAGES if find_spec(name) is None]
    if missing:
        raise Moondream2CompatError(
            f"{MOONDREAM2_REPO} remote code imports {', '.join(missing)}, missing here: "
            + INSTALL_HINT.format(torch=torch.__version__)
        )


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


def restore_v4_config_defaults(text_config: Any) -> None:
    """Give the remote `PhiConfig` the values it had under transformers 4.x.

    Only configs written against 4.x (the remote one keeps `_rope_scaling_validation`) are
    touched; transformers' own PhiConfig already speaks the 5.x rope format.
    """
    if not hasattr(text_config, "pad_token_id"):
        text_config.pad_token_id = None
    if not hasattr(type(text_config), "_rope_scaling_validation"):
        return
    rope = getattr(text_config, "rope_parameters", None)
    if isinstance(rope, dict) and rope.get("rope_type", "default") == "default":
        text_config.rope_parameters = None
    elif rope is not None:
        raise Moondream2CompatError(
            f"Moondream2 text config carries rope scaling {rope!r}, which the remote code cannot "
            "read under transformers 5; only unscaled rope is supported."
        )


def text_config_of(config: Any) -> tuple[str, Any] | None:
    """The Phi settings and their attribute: `text_config` (2024-08-26) or `phi_config`
    (2024-04-02, which builds it from the top-level keys); None for any other layout.

    A 2024-04-02 config saved once comes back with `phi_config` as a plain dict, which the
    remote `Moondream.__init__` would turn into its `PhiConfig` too late for the 5.x defaults;
    it is rebuilt here with the class from the same remote module.
    """
    for name in ("text_config", "phi_config"):
        value = getattr(config, name, None)
        if isinstance(value, dict):
            remote = sys.modules.get(type(config).__module__)
            phi_class = getattr(remote, "PhiConfig", None)
            if phi_class is None:
                return None
            value = phi_class(**value)
            setattr(config, name, value)
        if value is not None:
            return name, value
    return None


def ensure_post_init(model_class: type) -> None:
    """Make the remote wrapper call `post_init()`, which transformers 5 requires of every model."""
    if getattr(model_class, "_dsconv_post_init", False):
        return
    original = model_class.__init__

    @functools.wraps(original)
    def __init__(self: Any, config: Any, *args: Any, **kwargs: Any) -> None:
        original(self, config, *args, **kwargs)
        if not hasattr(self, "all_tied_weights_keys"):
            self.post_init()

    model_class.__init__ = __init__
    model_class._dsconv_post_init = True


def rebuild_rotary_caches(text_model: nn.Module) -> int:
    """Recompute the remote rotary buffers the way their `__init__` did; returns how many.

    transformers 5 refills non-persistent buffers with `torch.empty_like` after loading and
    only knows how to re-initialise its own rotary classes.
    """
    rebuilt = 0
    for module in text_model.modules():
        if not all(
            hasattr(module, name)
            for name in ("_set_cos_sin_cache", "inv_freq", "base", "dim", "max_position_embeddings")
        ):
            continue
        device = module.inv_freq.device
        steps = torch.arange(0, module.dim, 2, dtype=torch.int64, device=device).float()
        module.register_buffer(
            "inv_freq", 1.0 / (module.base ** (steps / module.dim)), persistent=False
        )
        module._set_cos_sin_cache(
            seq_len=module.max_position_embeddings, device=device, dtype=torch.get_default_dtype()
        )
        rebuilt += 1
    return rebuilt


@functools.cache
def _legacy_cache_class() -> type:
    """DynamicCache plus `get_usable_length`, which the remote attention calls and 5.x removed."""
    from transformers.cache_utils import DynamicCache

    class LegacyDynamicCache(DynamicCache):
        def get_usable_length(self, new_seq_length: int, layer_idx: int = 0) -> int:
            return self.get_seq_length(layer_idx)

    return LegacyDynamicCache


def _last_logits_kwargs(text_model: nn.Module) -> dict[str, int]:
    """Ask for last-position logits only (`logits_to_keep` in 5.x, `num_logits_to_keep` remote)."""
    params = inspect.signature(text_model.forward).parameters
    for name in ("logits_to_keep", "num_logits_to_keep"):
        if name in params:
            return {name: 1}
    return {}


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
        model = AutoModelForCausalLM.from_pretrained(
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
        cache, last = _legacy_cache_class()(), _last_logits_kwargs(text)
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
