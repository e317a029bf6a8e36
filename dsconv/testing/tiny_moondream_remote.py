"""A tiny stand-in for Moondream2's Hub remote code, shipped as `moondream.py` in a model directory.

`dsconv.testing.tiny_moondream` copies this file next to a `config.json` whose `auto_map` points at
it, so the tiny model loads through `AutoModelForCausalLM.from_pretrained(dir,
trust_remote_code=True)` exactly like `vikhyatk/moondream2` does. It mirrors the attribute names
the adapter touches in the pinned revision (2024-08-26): `vision_encoder` (with `encoder`,
`projection`, `preprocess`, and a forward that takes PIL images or preprocessed tensors) and
`text_model` (a Phi causal LM). Like the real wrapper, `Moondream.__init__` does not call
`post_init()`, so the adapter's transformers-5 loading shim is exercised by the tests.

This file must stay self-contained: transformers imports it as a standalone module.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn
from transformers import (
    PhiConfig,
    PhiForCausalLM,
    PretrainedConfig,
    PreTrainedModel,
    SiglipVisionConfig,
    SiglipVisionModel,
)


class MoondreamConfig(PretrainedConfig):
    model_type = "moondream1"

    def __init__(
        self,
        text_config: dict[str, Any] | PhiConfig | None = None,
        vision_config: dict[str, Any] | SiglipVisionConfig | None = None,
        **kwargs: Any,
    ) -> None:
        if not isinstance(text_config, PhiConfig):
            text_config = PhiConfig(**(text_config or {}))
        if not isinstance(vision_config, SiglipVisionConfig):
            vision_config = SiglipVisionConfig(**(vision_config or {}))
        self.text_config = text_config
        self.vision_config = vision_config
        super().__init__(**kwargs)


class MLP(nn.Module):
    def __init__(self, in_features: int, hidden_features: int, out_features: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = nn.GELU(approximate="tanh")
        self.fc2 = nn.Linear(hidden_features, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class VisionProjection(nn.Module):
    def __init__(self, image_dim: int, model_dim: int) -> None:
        super().__init__()
        self.mlp = MLP(image_dim, model_dim * 4, model_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(x)


class VisionEncoder(nn.Module):
    """Resize + normalise like the real encoder (one crop, no multi-crop), SigLIP, then project."""

    def __init__(self, config: MoondreamConfig) -> None:
        super().__init__()
        self.encoder = SiglipVisionModel(config.vision_config)
        self.projection = VisionProjection(
            config.vision_config.hidden_size, config.text_config.hidden_size
        )
        size = config.vision_config.image_size
        if not isinstance(size, int):
            raise ValueError(f"the tiny vision encoder takes a square image_size, not {size!r}")
        self.image_size = size

    @property
    def device(self) -> torch.device:
        return self.projection.mlp.fc1.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.projection.mlp.fc1.weight.dtype

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        size = (self.image_size, self.image_size)
        pixels = np.asarray(image.convert("RGB").resize(size, Image.Resampling.BICUBIC),
                            dtype=np.float32)
        return (torch.from_numpy(pixels).permute(2, 0, 1) / 255.0 - 0.5) / 0.5

    def forward(self, images: Image.Image | list[Any] | torch.Tensor) -> torch.Tensor:
        if isinstance(images, Image.Image):
            images = [images]
        items = list(images)
        if not isinstance(items[0], torch.Tensor):
            items = [self.preprocess(image) for image in items]
        pixels = torch.stack(items).to(self.device, dtype=self.dtype)
        features = self.encoder(pixel_values=pixels).last_hidden_state
        return self.projection(features)


class Moondream(PreTrainedModel):
    config_class = MoondreamConfig

    def __init__(self, config: MoondreamConfig) -> None:
        super().__init__(config)
        self.vision_encoder = VisionEncoder(config)
        self.text_model = PhiForCausalLM(config.text_config)

    @property
    def device(self) -> torch.device:
        return self.text_model.device

    def get_input_embeddings(self) -> nn.Module:
        return self.text_model.get_input_embeddings()

    def encode_image(self, image: Image.Image | list[Image.Image]) -> torch.Tensor:
        with torch.no_grad():
            return self.vision_encoder(image)
