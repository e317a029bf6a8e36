"""Configuration of the tiny 2024-04-02-shaped Moondream2 (see this package's docstring)."""

from __future__ import annotations

from typing import Any

from transformers import PretrainedConfig


class PhiConfig(PretrainedConfig):
    """The text model's settings, as the transformers 4.38 Phi spelled them."""

    model_type = "phi"

    def __init__(
        self,
        vocab_size: int = 51200,
        hidden_size: int = 2048,
        intermediate_size: int = 8192,
        num_hidden_layers: int = 24,
        num_attention_heads: int = 32,
        max_position_embeddings: int = 2048,
        initializer_range: float = 0.02,
        layer_norm_eps: float = 1e-5,
        rope_theta: float = 10000.0,
        rope_scaling: dict | None = None,
        partial_rotary_factor: float = 0.5,
        bos_token_id: int = 1,
        eos_token_id: int = 2,
        **kwargs: Any,
    ) -> None:
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.intermediate_size = intermediate_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.max_position_embeddings = max_position_embeddings
        self.initializer_range = initializer_range
        self.layer_norm_eps = layer_norm_eps
        self.rope_theta = rope_theta
        self.rope_scaling = rope_scaling
        self.partial_rotary_factor = partial_rotary_factor
        self._rope_scaling_validation()
        super().__init__(bos_token_id=bos_token_id, eos_token_id=eos_token_id, **kwargs)

    def _rope_scaling_validation(self) -> None:
        if self.rope_scaling is not None and "type" not in self.rope_scaling:
            raise ValueError(f"`rope_scaling` needs a `type`, got {self.rope_scaling}")


class MoondreamConfig(PretrainedConfig):
    model_type = "moondream1"

    def __init__(self, **kwargs: Any) -> None:
        self.phi_config = PhiConfig(**kwargs)
        super().__init__(**kwargs)
