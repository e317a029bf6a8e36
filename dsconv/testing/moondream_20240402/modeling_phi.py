"""A small Phi causal LM written the way the transformers 4.38 remote copy was.

What matters to dsconv is kept: rotary tables in non-persistent buffers filled by
`_set_cos_sin_cache`, `config.pad_token_id` read at construction, the KV cache's
`get_usable_length`, and a forward taking `inputs_embeds`, `attention_mask` and `position_ids`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers.modeling_outputs import CausalLMOutputWithPast

from .configuration_moondream import PhiConfig


class PhiRotaryEmbedding(nn.Module):
    def __init__(self, dim: int, max_position_embeddings: int = 2048, base: float = 10000.0):
        super().__init__()
        self.dim, self.max_position_embeddings, self.base = dim, max_position_embeddings, base
        steps = torch.arange(0, dim, 2, dtype=torch.int64).float()
        self.register_buffer("inv_freq", 1.0 / (base ** (steps / dim)), persistent=False)
        self._set_cos_sin_cache(max_position_embeddings, self.inv_freq.device,
                                torch.get_default_dtype())

    def _set_cos_sin_cache(self, seq_len: int, device: Any, dtype: torch.dtype) -> None:
        self.max_seq_len_cached = seq_len
        t = torch.arange(seq_len, device=device, dtype=torch.int64).type_as(self.inv_freq)
        freqs = torch.outer(t, self.inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        self.register_buffer("cos_cached", emb.cos().to(dtype), persistent=False)
        self.register_buffer("sin_cached", emb.sin().to(dtype), persistent=False)

    def forward(self, position_ids: torch.Tensor, dtype: torch.dtype):
        return self.cos_cached[position_ids].to(dtype), self.sin_cached[position_ids].to(dtype)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2 :]
    return torch.cat((-x2, x1), dim=-1)


class PhiAttention(nn.Module):
    def __init__(self, config: PhiConfig, layer_idx: int) -> None:
        super().__init__()
        self.layer_idx = layer_idx
        self.heads = config.num_attention_heads
        self.head_dim = config.hidden_size // self.heads
        self.rotary_dim = int(config.partial_rotary_factor * self.head_dim)
        self.q_proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.k_proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.v_proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.rotary_emb = PhiRotaryEmbedding(self.rotary_dim, config.max_position_embeddings,
                                             config.rope_theta)

    def _rope(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        rot, rest = x[..., : self.rotary_dim], x[..., self.rotary_dim :]
        return torch.cat([rot * cos + rotate_half(rot) * sin, rest], dim=-1)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor, position_ids: torch.Tensor,
                cache: Any) -> torch.Tensor:
        b, n, _ = hidden.shape
        q, k, v = (proj(hidden).view(b, n, self.heads, self.head_dim).transpose(1, 2)
                   for proj in (self.q_proj, self.k_proj, self.v_proj))
        cos, sin = self.rotary_emb(position_ids, hidden.dtype)
        q, k = self._rope(q, cos[:, None], sin[:, None]), self._rope(k, cos[:, None], sin[:, None])
        if cache is not None:
            k, v = cache.update(k, v, self.layer_idx)
        out = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.dense(out.transpose(1, 2).reshape(b, n, -1))


class PhiMLP(nn.Module):
    def __init__(self, config: PhiConfig) -> None:
        super().__init__()
        self.fc1 = nn.Linear(config.hidden_size, config.intermediate_size)
        self.fc2 = nn.Linear(config.intermediate_size, config.hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(nn.functional.gelu(self.fc1(x), approximate="tanh"))


class PhiDecoderLayer(nn.Module):
    def __init__(self, config: PhiConfig, layer_idx: int) -> None:
        super().__init__()
        self.input_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.self_attn = PhiAttention(config, layer_idx)
        self.mlp = PhiMLP(config)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor, position_ids: torch.Tensor,
                cache: Any) -> torch.Tensor:
        normed = self.input_layernorm(hidden)  # Phi: attention and MLP in parallel
        return hidden + self.self_attn(normed, mask, position_ids, cache) + self.mlp(normed)


class PhiPreTrainedModel(PreTrainedModel):
    config_class = PhiConfig
    base_model_prefix = "model"
    supports_gradient_checkpointing = False

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear | nn.Embedding):
            module.weight.data.normal_(0.0, self.config.initializer_range)
            if getattr(module, "bias", None) is not None:
                module.bias.data.zero_()


class PhiModel(PhiPreTrainedModel):
    def __init__(self, config: PhiConfig) -> None:
        super().__init__(config)
        self.padding_idx = config.pad_token_id  # transformers 5 no longer defaults it
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(
            PhiDecoderLayer(config, i) for i in range(config.num_hidden_layers))
        self.final_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)


class PhiForCausalLM(PhiPreTrainedModel):
    def __init__(self, config: PhiConfig) -> None:
        super().__init__(config)
        self.model = PhiModel(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size)
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        return self.model.embed_tokens

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        past_key_values: Any = None,
        inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        **kwargs: Any,
    ) -> CausalLMOutputWithPast:
        hidden = self.model.embed_tokens(input_ids) if inputs_embeds is None else inputs_embeds
        b, n = hidden.shape[:2]
        cache = past_key_values if use_cache else None
        past = cache.get_usable_length(n, 0) if cache is not None else 0
        if position_ids is None:
            position_ids = torch.arange(past, past + n, device=hidden.device)[None].expand(b, -1)
        if attention_mask is None:
            attention_mask = torch.ones(b, past + n, dtype=torch.long, device=hidden.device)
        keys = torch.arange(past + n, device=hidden.device)
        causal = keys[None, :] <= (keys[past:, None])
        allowed = causal[None, None] & attention_mask[:, None, None, :].bool()
        mask = torch.zeros(allowed.shape, dtype=hidden.dtype, device=hidden.device)
        mask = mask.masked_fill(~allowed, torch.finfo(hidden.dtype).min)
        for layer in self.model.layers:
            hidden = layer(hidden, mask, position_ids, cache)
        logits = self.lm_head(self.model.final_layernorm(hidden)).float()
        return CausalLMOutputWithPast(logits=logits, past_key_values=cache)
