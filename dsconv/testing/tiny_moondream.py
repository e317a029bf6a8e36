"""Build a tiny Moondream2-shaped checkpoint on disk, for offline tests and CPU smoke runs.

The directory holds what a Hub snapshot of `vikhyatk/moondream2` holds: `config.json` with an
`auto_map`, the remote-code module (`moondream.py`, copied from `tiny_moondream_remote`), the
weights, a tokenizer and a generation config. It loads through the same
`AutoModelForCausalLM.from_pretrained(..., trust_remote_code=True)` call as the real model.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import GenerationConfig, PreTrainedTokenizerFast

from dsconv.testing import tiny_moondream_remote
from dsconv.testing.tiny_moondream_remote import Moondream, MoondreamConfig

SPECIAL = "<|endoftext|>"
BASE_CORPUS = (
    "\n\nQuestion: How many of each type are there?\n\nAnswer:",
    ' {\n  "dime": 2,\n  "nickel": 1,\n  "penny": 3,\n  "quarter": 4\n}',
    " yes no 0 1 2 3 4 5 6 7 8 9 red green blue yellow circle square",
)


def train_tokenizer(texts: Iterable[str], vocab_size: int = 384) -> PreTrainedTokenizerFast:
    """A byte-level BPE like Moondream2's CodeGen tokenizer, with BOS = EOS = `<|endoftext|>`."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[SPECIAL],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator([*BASE_CORPUS, *texts], trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=SPECIAL,
        eos_token=SPECIAL,
        unk_token=SPECIAL,
        clean_up_tokenization_spaces=False,
        model_max_length=512,
    )


def build_tiny_moondream(
    out_dir: str | Path,
    texts: Iterable[str] = (),
    *,
    seed: int = 0,
    image_size: int = 32,
    patch_size: int = 8,
    hidden_size: int = 64,
    init_scale: float = 0.1,
) -> Path:
    """Write a randomly initialised tiny checkpoint; `texts` widen the tokenizer's training corpus.

    `init_scale` is near 1/sqrt(hidden_size): at the default 0.02 a tiny model learns to ignore
    the image and cannot tell rows apart that differ only by picture.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tokenizer(texts)
    eos = tokenizer.eos_token_id
    config = MoondreamConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": hidden_size,
            "intermediate_size": hidden_size * 4,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "max_position_embeddings": 256,
            "initializer_range": init_scale,
            "bos_token_id": eos,
            "eos_token_id": eos,
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "image_size": image_size,
            "patch_size": patch_size,
        },
        architectures=["Moondream"],
        auto_map={
            "AutoConfig": "moondream.MoondreamConfig",
            "AutoModelForCausalLM": "moondream.Moondream",
        },
    )
    torch.manual_seed(seed)
    model = Moondream(config)
    model.save_pretrained(out)
    shutil.copyfile(tiny_moondream_remote.__file__, out / "moondream.py")
    tokenizer.save_pretrained(out)
    # The settings dsconv must never inherit: a checkpoint's beam search and n-gram ban.
    GenerationConfig(num_beams=3, no_repeat_ngram_size=3, eos_token_id=eos).save_pretrained(out)
    return out
