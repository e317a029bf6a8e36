"""Tiny random chat VLMs (Qwen2.5-VL, Qwen3-VL, SmolVLM/Idefics3, Gemma 3, PaliGemma, InternVL).

Each is built from the family's native transformers config classes, with a BPE tokenizer
trained here on the task's texts through the family's own tokenizer class (so it splits text
exactly as it will after `from_pretrained`), the family's real special tokens, and the public
checkpoint's chat template, copied verbatim (`dsconv.testing.chat_templates`, sources cited).
Saved with `save_pretrained` and loaded back through the path a real checkpoint takes, so the
chat adapter is tested on the same code without the network.

Sizes are the smallest that still learn: hidden 64, one layer, a one-layer vision tower, 96-px
images, 4–36 image tokens. Weights are redrawn at std 1/sqrt(hidden): at the default 0.02 a
tiny model needs about twice the steps to read the image.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer, pre_tokenizers, trainers

from dsconv.testing.chat_templates import (
    GEMMA3_SPECIALS_LAST,
    GEMMA3_TEMPLATE,
    GEMMA_BYTES,
    GEMMA_SPECIALS_FIRST,
    IDEFICS3_SPECIALS_FIRST,
    IDEFICS3_SPECIALS_LAST,
    IDEFICS3_TEMPLATE,
    INTERNVL_SPECIALS,
    INTERNVL_TEMPLATE,
    QWEN2_5_VL_SPECIALS,
    QWEN2_5_VL_TEMPLATE,
    QWEN3_VL_TEMPLATE,
)
from dsconv.testing.tiny import BASE_CORPUS

FAMILIES = ("qwen2_5_vl", "qwen3_vl", "idefics3", "gemma3", "paligemma", "internvl")
# The public checkpoint each tiny model stands in for (its template and special tokens).
PUBLIC_CHECKPOINTS = {
    "qwen2_5_vl": "Qwen/Qwen2.5-VL-3B-Instruct",
    "qwen3_vl": "Qwen/Qwen3-VL-2B-Instruct",
    "idefics3": "HuggingFaceTB/SmolVLM-256M-Instruct",
    "gemma3": "google/gemma-3-4b-it",
    "paligemma": "google/paligemma2-3b-pt-224",
    "internvl": "OpenGVLab/InternVL3-1B-hf",
}
HIDDEN = 64
IMAGE_SIZE = 96

def train_tokenizer(
    cls: type, texts: Iterable[str], *, first: Sequence[str] = (), last: Sequence[str] = (),
    byte_level: bool = True, byte_tokens: Sequence[str] = (), vocab_size: int = 400,
    **kwargs: Any,
) -> Any:
    """A `cls` tokenizer whose BPE was trained on `texts` with `cls`'s own splitting rules.

    transformers 5 rebuilds `Qwen2Tokenizer`'s, `GPT2Tokenizer`'s and `GemmaTokenizer`'s
    pre-tokenisation on load and keeps only vocab and merges from `tokenizer.json`, so the BPE
    is trained through an empty instance's own normaliser and pre-tokeniser. `first` and `last`
    are special tokens placed before and after the learnt vocabulary, as in the public ones.
    """
    probe = cls(vocab={t: i for i, t in enumerate([*first, *last])}, merges=[], **kwargs)
    backend = Tokenizer.from_str(probe.backend_tokenizer.to_str())
    alphabet = pre_tokenizers.ByteLevel.alphabet() if byte_level else sorted(
        {c for text in [*BASE_CORPUS, *texts] for c in text.replace(" ", "▁")})
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=alphabet,
                                  special_tokens=[], show_progress=False)
    backend.train_from_iterator([*BASE_CORPUS, *texts], trainer)
    model = json.loads(backend.to_str())["model"]
    learnt = sorted(model["vocab"], key=model["vocab"].get)
    ordered = [*first, *byte_tokens]
    ordered += [t for t in learnt if t not in set(ordered) | set(last)]
    ordered += list(last)
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    tokenizer = cls(vocab={t: i for i, t in enumerate(ordered)}, merges=merges, **kwargs)
    from transformers import AddedToken

    tokenizer.add_tokens([AddedToken(t, special=True, normalized=False)
                          for t in [*first, *last]], special_tokens=True)
    return tokenizer


def reinit(model: torch.nn.Module, std: float, seed: int) -> None:
    """Redraw weight matrices at `std` (biases zero); norms keep their init."""
    generator = torch.Generator().manual_seed(seed)
    kinds = (torch.nn.Linear, torch.nn.Embedding, torch.nn.Conv2d, torch.nn.Conv3d)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, kinds):
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator) * std)
                bias = getattr(module, "bias", None)
                if bias is not None:
                    bias.zero_()


def _qwen_text(tokenizer: Any, layers: int) -> dict[str, Any]:
    return {
        "vocab_size": len(tokenizer), "hidden_size": HIDDEN, "intermediate_size": 2 * HIDDEN,
        "num_hidden_layers": layers, "num_attention_heads": 4, "num_key_value_heads": 2,
        "max_position_embeddings": 1024, "bos_token_id": tokenizer.convert_tokens_to_ids(
            "<|endoftext|>"), "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id, "tie_word_embeddings": False,
    }


def _qwen_tokenizer(texts: Iterable[str], specials: list[str], **extra: Any) -> Any:
    from transformers import Qwen2Tokenizer

    return train_tokenizer(Qwen2Tokenizer, texts, last=specials, eos_token="<|im_end|>",
                           pad_token="<|endoftext|>", unk_token=None, **extra)


def _generation_config(tokenizer: Any, eos: list[str], **shipped: Any) -> Any:
    """The checkpoint's shipped settings (sampling etc.), which dsconv must override."""
    from transformers import GenerationConfig

    return GenerationConfig(eos_token_id=[tokenizer.convert_tokens_to_ids(t) for t in eos],
                            pad_token_id=tokenizer.pad_token_id, **shipped)


def build_qwen2_5_vl(texts: Iterable[str], layers: int) -> tuple[Any, Any]:
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2VLImageProcessorPil,
    )

    tokenizer = _qwen_tokenizer(texts, QWEN2_5_VL_SPECIALS)
    ids = tokenizer.convert_tokens_to_ids
    text = {**_qwen_text(tokenizer, layers),
            "rope_parameters": {"rope_type": "default", "rope_theta": 1e6,
                                "mrope_section": [2, 3, 3]}}  # sums to head_dim / 2
    vision = {"depth": 1, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2,
              "out_hidden_size": HIDDEN, "patch_size": 14, "spatial_merge_size": 2,
              "temporal_patch_size": 2, "window_size": 56, "fullatt_block_indexes": [0]}
    config = Qwen2_5_VLConfig(text_config=text, vision_config=vision,
                              image_token_id=ids("<|image_pad|>"),
                              video_token_id=ids("<|video_pad|>"),
                              vision_start_token_id=ids("<|vision_start|>"),
                              vision_end_token_id=ids("<|vision_end|>"))
    model = Qwen2_5_VLForConditionalGeneration(config)
    pixels = 112 * 112  # 96-px images -> 112 x 112 (multiples of 28) -> 16 image tokens
    image_processor = Qwen2VLImageProcessorPil(
        size={"shortest_edge": pixels, "longest_edge": pixels}, patch_size=14, merge_size=2,
        temporal_patch_size=2)
    processor = _processor("Qwen2_5_VLProcessor", image_processor, tokenizer,
                           QWEN2_5_VL_TEMPLATE)
    model.generation_config = _generation_config(
        tokenizer, ["<|im_end|>", "<|endoftext|>"], do_sample=True, temperature=0.1, top_p=0.001,
        top_k=1, repetition_penalty=1.05)
    return model, processor


def build_qwen3_vl(texts: Iterable[str], layers: int) -> tuple[Any, Any]:
    from transformers import (
        Qwen2VLImageProcessorPil,
        Qwen3VLConfig,
        Qwen3VLForConditionalGeneration,
    )

    tokenizer = _qwen_tokenizer(texts, QWEN2_5_VL_SPECIALS)
    ids = tokenizer.convert_tokens_to_ids
    text = {**_qwen_text(tokenizer, layers), "head_dim": 16,
            "rope_parameters": {"rope_type": "default", "rope_theta": 5e6,
                                "mrope_section": [2, 3, 3], "mrope_interleaved": True}}
    vision = {"depth": 1, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2,
              "out_hidden_size": HIDDEN, "patch_size": 16, "spatial_merge_size": 2,
              "temporal_patch_size": 2, "num_position_embeddings": 36,
              "deepstack_visual_indexes": [0]}
    config = Qwen3VLConfig(text_config=text, vision_config=vision,
                           image_token_id=ids("<|image_pad|>"), video_token_id=ids("<|video_pad|>"),
                           vision_start_token_id=ids("<|vision_start|>"),
                           vision_end_token_id=ids("<|vision_end|>"))
    model = Qwen3VLForConditionalGeneration(config)
    pixels = 128 * 128  # multiples of 32 -> 16 image tokens
    image_processor = Qwen2VLImageProcessorPil(
        size={"shortest_edge": pixels, "longest_edge": pixels}, patch_size=16, merge_size=2,
        temporal_patch_size=2, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    processor = _processor("Qwen3VLProcessor", image_processor, tokenizer, QWEN3_VL_TEMPLATE)
    model.generation_config = _generation_config(
        tokenizer, ["<|im_end|>", "<|endoftext|>"], do_sample=True, temperature=0.7, top_p=0.8,
        top_k=20, repetition_penalty=1.0)
    return model, processor


def build_idefics3(texts: Iterable[str], layers: int) -> tuple[Any, Any]:
    from transformers import (
        GPT2Tokenizer,
        Idefics3Config,
        Idefics3ForConditionalGeneration,
        Idefics3ImageProcessorPil,
        Idefics3Processor,
    )

    tokenizer = train_tokenizer(GPT2Tokenizer, texts, first=IDEFICS3_SPECIALS_FIRST,
                                last=IDEFICS3_SPECIALS_LAST, bos_token="<|im_start|>",
                                eos_token="<end_of_utterance>", pad_token="<|im_end|>",
                                unk_token="<|endoftext|>")
    ids = tokenizer.convert_tokens_to_ids
    text = {"model_type": "llama", "vocab_size": len(tokenizer), "hidden_size": HIDDEN,
            "intermediate_size": 2 * HIDDEN, "num_hidden_layers": layers,
            "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 1024,
            "bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id, "tie_word_embeddings": False}
    vision = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
              "num_attention_heads": 2, "image_size": IMAGE_SIZE, "patch_size": 16}
    # pad_token_id goes through PreTrainedConfig's **kwargs, which Idefics3Config's generated
    # signature does not list.
    config = Idefics3Config(text_config=text, vision_config=vision, scale_factor=2,  # type: ignore[call-arg]
                            image_token_id=ids("<image>"), pad_token_id=tokenizer.pad_token_id)
    model = Idefics3ForConditionalGeneration(config)
    image_processor = Idefics3ImageProcessorPil(
        size={"longest_edge": IMAGE_SIZE}, max_image_size={"longest_edge": IMAGE_SIZE},
        do_image_splitting=False, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    seq = (IMAGE_SIZE // 16) ** 2 // 4  # (96/16)^2 patches, pixel shuffle by 2 -> 9 tokens
    processor = Idefics3Processor(image_processor=image_processor, tokenizer=tokenizer,
                                  image_seq_len=seq, chat_template=IDEFICS3_TEMPLATE)
    model.generation_config = _generation_config(
        tokenizer, ["<end_of_utterance>"], bos_token_id=tokenizer.bos_token_id)
    return model, processor


def _gemma_tokenizer(texts: Iterable[str], last: list[str], **extra: Any) -> Any:
    from transformers import GemmaTokenizer

    return train_tokenizer(GemmaTokenizer, texts, first=GEMMA_SPECIALS_FIRST, last=last,
                           byte_level=False, byte_tokens=GEMMA_BYTES, **extra)


def build_gemma3(texts: Iterable[str], layers: int) -> tuple[Any, Any]:
    from transformers import (
        Gemma3Config,
        Gemma3ForConditionalGeneration,
        Gemma3ImageProcessorPil,
        Gemma3Processor,
    )

    tokenizer = _gemma_tokenizer(texts, GEMMA3_SPECIALS_LAST, extra_special_tokens={
        "image_token": "<image_soft_token>", "boi_token": "<start_of_image>",
        "eoi_token": "<end_of_image>"})
    ids = tokenizer.convert_tokens_to_ids
    text = {"vocab_size": len(tokenizer), "hidden_size": HIDDEN, "intermediate_size": 2 * HIDDEN,
            "num_hidden_layers": layers, "num_attention_heads": 4, "num_key_value_heads": 2,
            "head_dim": 16, "query_pre_attn_scalar": 16, "sliding_window": 512,
            "max_position_embeddings": 1024, "pad_token_id": 0, "eos_token_id": 1,
            "bos_token_id": 2}
    vision = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
              "num_attention_heads": 2, "image_size": IMAGE_SIZE, "patch_size": 16,
              "vision_use_head": False}
    config = Gemma3Config(text_config=text, vision_config=vision, mm_tokens_per_image=9,
                          boi_token_index=ids("<start_of_image>"),
                          eoi_token_index=ids("<end_of_image>"),
                          image_token_index=ids("<image_soft_token>"))
    model = Gemma3ForConditionalGeneration(config)
    image_processor = Gemma3ImageProcessorPil(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
                                              image_mean=[0.5] * 3, image_std=[0.5] * 3)
    processor = Gemma3Processor(image_processor=image_processor, tokenizer=tokenizer,
                                image_seq_length=9, chat_template=GEMMA3_TEMPLATE)
    model.generation_config = _generation_config(
        tokenizer, ["<eos>", "<end_of_turn>"], bos_token_id=2, do_sample=True, top_k=64,
        top_p=0.95)
    return model, processor


def build_paligemma(texts: Iterable[str], layers: int) -> tuple[Any, Any]:
    from transformers import (
        PaliGemmaConfig,
        PaliGemmaForConditionalGeneration,
        PaliGemmaProcessor,
        SiglipImageProcessorPil,
    )

    tokenizer = _gemma_tokenizer(texts, ["<image>"],
                                 extra_special_tokens={"image_token": "<image>"})
    seq = (IMAGE_SIZE // 16) ** 2
    image_processor = SiglipImageProcessorPil(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
                                              image_mean=[0.5] * 3, image_std=[0.5] * 3,
                                              image_seq_length=seq)
    # The processor adds PaliGemma's <loc>/<seg> tokens: the vocabulary is final after it.
    processor = PaliGemmaProcessor(image_processor=image_processor, tokenizer=tokenizer)
    processor.image_seq_length = seq
    text = {"model_type": "gemma", "vocab_size": len(tokenizer), "hidden_size": HIDDEN,
            "intermediate_size": 2 * HIDDEN, "num_hidden_layers": layers,
            "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
            "max_position_embeddings": 1024, "pad_token_id": 0, "eos_token_id": 1,
            "bos_token_id": 2}
    vision = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
              "num_attention_heads": 2, "image_size": IMAGE_SIZE, "patch_size": 16,
              "projection_dim": HIDDEN, "vision_use_head": False}
    config = PaliGemmaConfig(text_config=text, vision_config=vision,
                             image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
                             projection_dim=HIDDEN, hidden_size=HIDDEN)
    model = PaliGemmaForConditionalGeneration(config)
    model.generation_config = _generation_config(tokenizer, ["<eos>"], bos_token_id=2)
    return model, processor


def build_internvl(texts: Iterable[str], layers: int) -> tuple[Any, Any]:
    from transformers import (
        GotOcr2ImageProcessorPil,
        InternVLConfig,
        InternVLForConditionalGeneration,
    )

    tokenizer = _qwen_tokenizer(texts, INTERNVL_SPECIALS, extra_special_tokens={
        "start_image_token": "<img>", "end_image_token": "</img>",
        "context_image_token": "<IMG_CONTEXT>", "video_token": "<video>"})
    text = {**_qwen_text(tokenizer, layers), "model_type": "qwen2"}
    vision = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
              "num_attention_heads": 2, "image_size": [IMAGE_SIZE, IMAGE_SIZE],
              "patch_size": [16, 16]}
    config = InternVLConfig(text_config=text, vision_config=vision, downsample_ratio=0.5,
                            image_token_id=tokenizer.convert_tokens_to_ids("<IMG_CONTEXT>"),
                            image_seq_length=9, tie_word_embeddings=False)
    model = InternVLForConditionalGeneration(config)
    image_processor = GotOcr2ImageProcessorPil(
        size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}, crop_to_patches=False,
        image_mean=[0.5] * 3, image_std=[0.5] * 3)
    processor = _processor("InternVLProcessor", image_processor, tokenizer, INTERNVL_TEMPLATE,
                           image_seq_length=9)
    model.generation_config = _generation_config(tokenizer, ["<|im_end|>", "<|endoftext|>"])
    return model, processor


def _processor(name: str, image_processor: Any, tokenizer: Any, template: str,
               **kwargs: Any) -> Any:
    """A processor whose class needs a video processor, built without one where torchvision is
    absent (dsconv never feeds video)."""
    from dsconv.models.processors import processor_class

    cls = processor_class(name)
    return cls(image_processor=image_processor, tokenizer=tokenizer, chat_template=template,
               **kwargs)


BUILDERS: dict[str, Callable[[Iterable[str], int], tuple[Any, Any]]] = {
    "qwen2_5_vl": build_qwen2_5_vl,
    "qwen3_vl": build_qwen3_vl,
    "idefics3": build_idefics3,
    "gemma3": build_gemma3,
    "paligemma": build_paligemma,
    "internvl": build_internvl,
}


def build_tiny_chat(
    family: str, out_dir: str | Path, texts: Iterable[str] = (), *, layers: int = 1,
    seed: int = 0,
) -> Path:
    """Save a tiny `family` checkpoint (model, processor, generation config) into `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model, processor = BUILDERS[family](list(texts), layers)
    reinit(model, std=1 / math.sqrt(HIDDEN), seed=seed)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out
