"""A tiny, randomly initialised Florence-2 checkpoint for offline tests and benchmarks.

It is saved with `save_pretrained` and loaded back through exactly the `from_pretrained` path
a real checkpoint takes, so tests exercise the same code as a real run without the network.
"""

from __future__ import annotations

import io
import json
import math
import random
from collections.abc import Iterable
from pathlib import Path

import torch
from PIL import Image, ImageDraw
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import (
    BartConfig,
    BartTokenizer,
    CLIPImageProcessorPil,
    Florence2Config,
    Florence2ForConditionalGeneration,
    Florence2Processor,
    Florence2VisionConfig,
    GenerationConfig,
)
from transformers.image_utils import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

from dsconv.storage.writer import DatasetWriter

# BART's special-token order, so the ids match a real Florence-2 tokenizer.
SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
IMAGE_TOKEN = "<image>"
# One colour and shape per class, so each count is visible in the pixels.
SHAPES = {"dime": ("red", "disc"), "nickel": ("blue", "square"), "penny": ("green", "triangle"),
          "quarter": ("orange", "ring")}
COUNT_QUESTION = (
    "How many of each type of the currency (dime, nickel, penny, quarter) are there? "
    "Respond in JSON format with the currency type as the key and a integer count as the value."
)
BASE_CORPUS = [
    COUNT_QUESTION,
    '{\n  "dime": 2,\n  "nickel": 1,\n  "penny": 3,\n  "quarter": 4\n}',
    "<DocVQA>What is the date on the document? 0123456789",
]


def train_tokenizer(
    texts: Iterable[str], vocab_size: int = 400, loc_tokens: int = 1000
) -> BartTokenizer:
    """A byte-level BPE tokenizer with Florence-2's special tokens, trained on `texts`."""
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator([*BASE_CORPUS, *texts], trainer)
    model = json.loads(bpe.to_str())["model"]
    tokenizer = BartTokenizer(
        vocab=model["vocab"],
        # (a, b) pairs, as tokenizers' BPE takes them; transformers annotates list[str].
        merges=[tuple(merge) for merge in model["merges"]],  # type: ignore[misc]
        extra_special_tokens={"image_token": IMAGE_TOKEN},
    )
    if loc_tokens:
        tokenizer.add_special_tokens(
            {"extra_special_tokens": [f"<loc_{i}>" for i in range(loc_tokens)]},
            replace_extra_special_tokens=False,
        )
    return tokenizer


def _reinit(model: torch.nn.Module, std: float, seed: int) -> None:
    """Re-draw every weight matrix at `std`: at the default 0.02 a tiny model ignores the image."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Linear | torch.nn.Embedding | torch.nn.Conv2d):
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator) * std)
                bias = getattr(module, "bias", None)
                if bias is not None:
                    bias.zero_()


def build_tiny_florence2(
    out_dir: str | Path,
    texts: Iterable[str] = (),
    *,
    image_size: int = 96,
    d_model: int = 64,
    layers: int = 1,
    seed: int = 0,
    loc_tokens: int = 1000,
) -> Path:
    """Save a tiny Florence-2 (model, processor, generation config) into `out_dir`.

    The generation config carries Florence-2's shipped `num_beams=3, no_repeat_ngram_size=3`
    on purpose, so tests prove that dsconv's own generation settings override it.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tokenizer(texts, loc_tokens=loc_tokens)

    grid = image_size // 32  # DaViT downsamples by 4·2·2·2
    vision = Florence2VisionConfig(
        depths=[1, 1, 1, 1],
        embed_dim=[16, 32, 32, d_model],
        num_heads=[1, 2, 2, 4],
        num_groups=[1, 2, 2, 4],
        window_size=4,
        drop_path_rate=0.0,
        projection_dim=d_model,
        max_position_embeddings=max(grid, 8),
    )
    text = BartConfig(
        vocab_size=len(tokenizer),
        d_model=d_model,
        encoder_layers=layers,
        decoder_layers=layers,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=2 * d_model,
        decoder_ffn_dim=2 * d_model,
        max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.eos_token_id,
        forced_eos_token_id=tokenizer.eos_token_id,
    )
    config = Florence2Config(
        text_config=text, vision_config=vision, image_token_id=tokenizer.image_token_id
    )
    torch.manual_seed(seed)
    model = Florence2ForConditionalGeneration(config)
    _reinit(model, std=1 / math.sqrt(d_model), seed=seed)
    model.generation_config = GenerationConfig(
        num_beams=3,
        no_repeat_ngram_size=3,
        early_stopping=True,
        max_length=1025,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        decoder_start_token_id=tokenizer.eos_token_id,
        forced_bos_token_id=tokenizer.bos_token_id,
        forced_eos_token_id=tokenizer.eos_token_id,
    )
    model.save_pretrained(out)

    image_processor = CLIPImageProcessorPil(
        size={"height": image_size, "width": image_size},
        do_center_crop=False,
        image_mean=IMAGENET_DEFAULT_MEAN,
        image_std=IMAGENET_DEFAULT_STD,
        image_seq_length=grid * grid + 1,  # one per final cell, plus the pooled one
    )
    Florence2Processor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(out)
    return out


def _draw(draw: ImageDraw.ImageDraw, shape: str, colour: str, x: int, y: int, side: int) -> None:
    box = [x, y, x + side, y + side]
    if shape == "disc":
        draw.ellipse(box, fill=colour)
    elif shape == "square":
        draw.rectangle(box, fill=colour)
    elif shape == "triangle":
        draw.polygon([(x, y + side), (x + side, y + side), (x + side // 2, y)], fill=colour)
    else:
        draw.ellipse(box, outline=colour, width=max(2, side // 5))


def _scene(rng: random.Random, size: tuple[int, int]) -> tuple[bytes, list[list[float]], list[str]]:
    """A JPEG of 0–2 shapes per class on white, with their COCO boxes."""
    width, height = size
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    side = max(8, min(size) // 7)
    boxes, categories = [], []
    for category, (colour, shape) in SHAPES.items():
        for _ in range(rng.randint(0, 2)):
            x, y = rng.randint(0, width - side), rng.randint(0, height - side)
            _draw(draw, shape, colour, x, y, side)
            boxes.append([float(x), float(y), float(side), float(side)])
            categories.append(category)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue(), boxes, categories


def tiny_count_rows(
    count: int = 8, *, seed: int = 0, size: tuple[int, int] = (96, 96)
) -> list[dict]:
    """`count-json` rows following the row contract (ids without the split prefix)."""
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        jpeg, boxes, categories = _scene(rng, size)
        counts = {c: categories.count(c) for c in SHAPES if c in categories}
        answer = json.dumps(counts, indent=2)
        rows.append({
            "id": f"{i}/count-json/0",
            "image": {"bytes": jpeg, "path": f"scene-{i:03d}.jpg"},
            "image_id": str(i),
            "width": size[0],
            "height": size[1],
            "objects": {"bbox": boxes, "category": categories},
            "task": "count-json",
            "question": COUNT_QUESTION,
            "answer": answer,
            "answers": [answer],
        })
    return rows


def write_tiny_vqa(
    out_dir: str | Path,
    rows: int = 8,
    *,
    repeats: int = 1,
    seed: int = 0,
    size: tuple[int, int] = (96, 96),
) -> Path:
    """A dsconv dataset of `rows` scenes: `train` holds each `repeats` times (as paraphrase
    indices k), `validation` once, so what is learnt can be checked on the same scenes."""
    scenes = tiny_count_rows(rows, seed=seed, size=size)
    with DatasetWriter(Path(out_dir), overwrite=True) as writer:
        for k in range(repeats):
            for row in scenes:
                writer.write("train", {**row, "id": f"train/{row['image_id']}/count-json/{k}"})
        for row in scenes:
            writer.write("validation", {**row, "id": f"validation/{row['id']}"})
        writer.commit()
    return Path(out_dir)
