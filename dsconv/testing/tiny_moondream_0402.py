"""Build a tiny checkpoint shaped like `vikhyatk/moondream2` at revision 2024-04-02.

The folder holds what that revision's Hub snapshot holds: a `config.json` whose Phi settings
are top-level keys (`MoondreamConfig` builds `phi_config` from them), an `auto_map`, the four
remote-code modules (copied from `dsconv.testing.moondream_20240402`), weights, a tokenizer and
a generation config. It loads through `AutoModelForCausalLM.from_pretrained(...,
trust_remote_code=True)` like the real revision.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Iterable
from pathlib import Path

import torch
from transformers import GenerationConfig

from dsconv.models.moondream2_compat import ensure_post_init, restore_v4_config_defaults
from dsconv.testing import moondream_20240402 as remote
from dsconv.testing.moondream_20240402.configuration_moondream import MoondreamConfig
from dsconv.testing.moondream_20240402.moondream import Moondream
from dsconv.testing.tiny_moondream import train_tokenizer

REMOTE_MODULES = ("configuration_moondream", "modeling_phi", "vision_encoder", "moondream")
AUTO_MAP = {
    "AutoConfig": "configuration_moondream.MoondreamConfig",
    "AutoModelForCausalLM": "moondream.Moondream",
}


def build_tiny_moondream_0402(
    out_dir: str | Path,
    texts: Iterable[str] = (),
    *,
    seed: int = 0,
    hidden_size: int = 64,
    init_scale: float | None = None,
) -> Path:
    """Write a randomly initialised tiny 2024-04-02-shaped checkpoint into `out_dir`.

    Weights are drawn at `init_scale` (default 1/sqrt(hidden_size)): at 0.02 a tiny model
    learns to ignore the image.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tokenizer(texts)
    eos = tokenizer.eos_token_id
    scale = init_scale or 1 / math.sqrt(hidden_size)
    phi = {
        "vocab_size": len(tokenizer),
        "hidden_size": hidden_size,
        "intermediate_size": hidden_size * 4,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "max_position_embeddings": 256,
        "initializer_range": scale,
        "bos_token_id": eos,
        "eos_token_id": eos,
    }
    config = MoondreamConfig(**phi)
    # Built here under transformers 5 the way dsconv loads it: with the adapter's shims.
    restore_v4_config_defaults(config.phi_config)
    ensure_post_init(Moondream)
    torch.manual_seed(seed)
    model = Moondream(config)
    model.save_pretrained(out)
    # The config as the revision ships it: Phi's keys at the top, no nested text config.
    shipped = {**phi, "architectures": ["Moondream"], "auto_map": AUTO_MAP,
              "model_type": "moondream1", "torch_dtype": "float32"}
    (out / "config.json").write_text(json.dumps(shipped, indent=2) + "\n")
    package = Path(remote.__file__).parent
    for name in REMOTE_MODULES:
        shutil.copyfile(package / f"{name}.py", out / f"{name}.py")
    tokenizer.save_pretrained(out)
    # The settings dsconv must never inherit: a checkpoint's beam search and n-gram ban.
    GenerationConfig(num_beams=3, no_repeat_ngram_size=3, eos_token_id=eos).save_pretrained(out)
    return out
