"""The tiny vision encoder: fixed sizes, one crop, and a forward that never builds a graph."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

IMAGE_SIZE = 32
PATCH = 8
WIDTH = 32  # the real encoder's features are 1152 wide


class MLP(nn.Module):
    def __init__(self, in_features: int, hidden_features: int, out_features: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = nn.GELU(approximate="tanh")
        self.fc2 = nn.Linear(hidden_features, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class VisionProjection(nn.Module):
    def __init__(self, model_dim: int) -> None:
        super().__init__()
        self.mlp = MLP(WIDTH, model_dim * 4, model_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(x)


class EncoderWrapper(nn.Module):
    """Patch embedding, position embedding and one transformer block over the patches."""

    def __init__(self) -> None:
        super().__init__()
        patches = (IMAGE_SIZE // PATCH) ** 2
        self.patch_embed = nn.Linear(3 * PATCH * PATCH, WIDTH)
        self.pos_embed = nn.Parameter(torch.randn(1, patches, WIDTH) * 0.1)
        self.block = nn.TransformerEncoderLayer(WIDTH, 2, WIDTH * 2, dropout=0.0,
                                                batch_first=True, norm_first=True)
        self.norm = nn.LayerNorm(WIDTH)

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        return self.norm(self.block(self.patch_embed(patches) + self.pos_embed))


class VisionEncoder(nn.Module):
    def __init__(self, model_dim: int) -> None:
        super().__init__()
        self.encoder = EncoderWrapper()
        self.projection = VisionProjection(model_dim)

    @property
    def device(self) -> torch.device:
        return self.projection.mlp.fc1.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.projection.mlp.fc1.weight.dtype

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        size = (IMAGE_SIZE, IMAGE_SIZE)
        pixels = np.asarray(image.convert("RGB").resize(size, Image.BICUBIC), dtype=np.float32)
        return (torch.from_numpy(pixels).permute(2, 0, 1) / 255.0 - 0.5) / 0.5

    def __call__(self, images: Any) -> torch.Tensor:
        if not isinstance(images, list):
            images = [images]
        with torch.no_grad():
            x = torch.stack([self.preprocess(image) for image in images])
            x = x.to(self.device, dtype=self.dtype)
            b, c, side = x.shape[0], x.shape[1], IMAGE_SIZE // PATCH
            x = x.reshape(b, c, side, PATCH, side, PATCH).permute(0, 2, 4, 1, 3, 5)
            x = self.encoder(x.reshape(b, side * side, c * PATCH * PATCH))
            return self.projection(x)
