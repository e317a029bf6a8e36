"""The tiny 2024-04-02-shaped Moondream2 wrapper: a vision encoder and a Phi text model."""

from __future__ import annotations

import torch
from transformers import PreTrainedModel

from .configuration_moondream import MoondreamConfig, PhiConfig
from .modeling_phi import PhiForCausalLM
from .vision_encoder import VisionEncoder


class Moondream(PreTrainedModel):
    config_class = MoondreamConfig

    def __init__(self, config: MoondreamConfig) -> None:
        super().__init__(config)
        if type(config.phi_config) is dict:
            phi_config = PhiConfig(**config.phi_config)
        else:
            phi_config = config.phi_config
        self.vision_encoder = VisionEncoder(phi_config.hidden_size)
        self.text_model = PhiForCausalLM(phi_config)

    @property
    def device(self) -> torch.device:
        return self.text_model.device

    def encode_image(self, image):
        return self.vision_encoder(image)
