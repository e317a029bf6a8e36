"""Tiny random chat VLMs (Qwen2.5-VL, Qwen3-VL, SmolVLM/Idefics3, Gemma 3, PaliGemma, InternVL).

Each is built from the family's native transformers config classes, with a BPE tokenizer
trained here on the task's texts through the family's own tokenizer class (so it splits text
exactly as it will after `from_pretrained`), the family's real special tokens, and the public
checkpoint's chat template, copied verbatim (sources cited beside each). Saved with
`save_pretrained` and loaded back through the path a real checkpoint takes, so the chat adapter
is tested on the same code without the network.

Sizes are the smallest that still learn: hidden 64, one layer, a one-layer vision tower, 96-px
images, 4–36 image tokens. Weights are redrawn at std 1/sqrt(hidden): at the default 0.02 a
tiny model needs about twice the steps to read the image.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer, pre_tokenizers, trainers

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

# Qwen2.5-VL-*-Instruct's chat_template.json, as transformers' own processor test carries it
# (huggingface/transformers tests/models/qwen2_5_vl/test_processor_qwen2_5_vl.py,
# `prepare_processor_dict`). Adds the default system turn when none is given.
QWEN2_5_VL_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}"
    "{{ message['content'] }}<|im_end|>\n{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture "
    "{{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}Video "
    "{{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# Qwen3-VL-*-Instruct's chat template (tools, system, user/assistant/tool turns), verbatim as
# public code embeds it (e.g. caiwei's test_chat_template, search corpus "code"); no default
# system turn, unlike Qwen2.5-VL.
QWEN3_VL_TEMPLATE = r"""{%- if tools %}
    {{- '<|im_start|>system\n' }}
    {%- if messages[0].role == 'system' %}
        {%- if messages[0].content is string %}
            {{- messages[0].content }}
        {%- else %}
            {%- for content in messages[0].content %}
                {%- if 'text' in content %}
                    {{- content.text }}
                {%- endif %}
            {%- endfor %}
        {%- endif %}
        {{- '\n\n' }}
    {%- endif %}
    {{- "# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>" }}
    {%- for tool in tools %}
        {{- "\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" }}
{%- else %}
    {%- if messages[0].role == 'system' %}
        {{- '<|im_start|>system\n' }}
        {%- if messages[0].content is string %}
            {{- messages[0].content }}
        {%- else %}
            {%- for content in messages[0].content %}
                {%- if 'text' in content %}
                    {{- content.text }}
                {%- endif %}
            {%- endfor %}
        {%- endif %}
        {{- '<|im_end|>\n' }}
    {%- endif %}
{%- endif %}
{%- set image_count = namespace(value=0) %}
{%- set video_count = namespace(value=0) %}
{%- for message in messages %}
    {%- if message.role == "user" %}
        {{- '<|im_start|>' + message.role + '\n' }}
        {%- if message.content is string %}
            {{- message.content }}
        {%- else %}
            {%- for content in message.content %}
                {%- if content.type == 'image' or 'image' in content or 'image_url' in content %}
                    {%- set image_count.value = image_count.value + 1 %}
                    {%- if add_vision_id %}Picture {{ image_count.value }}: {% endif -%}
                    <|vision_start|><|image_pad|><|vision_end|>
                {%- elif content.type == 'video' or 'video' in content %}
                    {%- set video_count.value = video_count.value + 1 %}
                    {%- if add_vision_id %}Video {{ video_count.value }}: {% endif -%}
                    <|vision_start|><|video_pad|><|vision_end|>
                {%- elif 'text' in content %}
                    {{- content.text }}
                {%- endif %}
            {%- endfor %}
        {%- endif %}
        {{- '<|im_end|>\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role + '\n' }}
        {%- if message.content is string %}
            {{- message.content }}
        {%- else %}
            {%- for content_item in message.content %}
                {%- if 'text' in content_item %}
                    {{- content_item.text }}
                {%- endif %}
            {%- endfor %}
        {%- endif %}
        {%- if message.tool_calls %}
            {%- for tool_call in message.tool_calls %}
                {%- if (loop.first and message.content) or (not loop.first) %}
                    {{- '\n' }}
                {%- endif %}
                {%- if tool_call.function %}
                    {%- set tool_call = tool_call.function %}
                {%- endif %}
                {{- '<tool_call>\n{"name": "' }}
                {{- tool_call.name }}
                {{- '", "arguments": ' }}
                {%- if tool_call.arguments is string %}
                    {{- tool_call.arguments }}
                {%- else %}
                    {{- tool_call.arguments | tojson }}
                {%- endif %}
                {{- '}\n</tool_call>' }}
            {%- endfor %}
        {%- endif %}
        {{- '<|im_end|>\n' }}
    {%- elif message.role == "tool" %}
        {%- if loop.first or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\n<tool_response>\n' }}
        {%- if message.content is string %}
            {{- message.content }}
        {%- else %}
            {%- for content in message.content %}
                {%- if content.type == 'image' or 'image' in content or 'image_url' in content %}
                    {%- set image_count.value = image_count.value + 1 %}
                    {%- if add_vision_id %}Picture {{ image_count.value }}: {% endif -%}
                    <|vision_start|><|image_pad|><|vision_end|>
                {%- elif content.type == 'video' or 'video' in content %}
                    {%- set video_count.value = video_count.value + 1 %}
                    {%- if add_vision_id %}Video {{ video_count.value }}: {% endif -%}
                    <|vision_start|><|video_pad|><|vision_end|>
                {%- elif 'text' in content %}
                    {{- content.text }}
                {%- endif %}
            {%- endfor %}
        {%- endif %}
        {{- '\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}
"""  # noqa: E501  (verbatim)

# SmolVLM-*-Instruct's chat_template.json (HuggingFaceTB), as quoted in public fine-tuning
# notes: capitalised roles, `User:` glued to an image, generation prompt `Assistant:` with no
# space, so the answer is learnt as " {answer}".
IDEFICS3_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{message['role'] | capitalize}}"
    "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}"
    "<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)

# google/gemma-3-4b-it's chat template (tokenizer_config.json); transformers' processor test
# (tests/models/gemma3/test_processing_gemma3.py) carries the same text without the
# string-system branch. Starts with BOS itself; the assistant is called `model`.
GEMMA3_TEMPLATE = """{{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- if messages[0]['content'] is string -%}
        {%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}
    {%- else -%}
        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\n\n' -%}
    {%- endif -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = "" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif -%}
    {%- if (message['role'] == 'assistant') -%}
        {%- set role = "model" -%}
    {%- else -%}
        {%- set role = message['role'] -%}
    {%- endif -%}
    {{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else "") }}
    {%- if message['content'] is string -%}
        {{ message['content'] | trim }}
    {%- elif message['content'] is iterable -%}
        {%- for item in message['content'] -%}
            {%- if item['type'] == 'image' -%}
                {{ '<start_of_image>' }}
            {%- elif item['type'] == 'text' -%}
                {{ item['text'] | trim }}
            {%- endif -%}
        {%- endfor -%}
    {%- else -%}
        {{ raise_exception("Invalid content type") }}
    {%- endif -%}
    {{ '<end_of_turn>\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{'<start_of_turn>model\n'}}
{%- endif -%}
"""

# OpenGVLab/InternVL3-*-hf's chat template, as transformers' conversion script writes it
# (huggingface/transformers src/transformers/models/internvl/convert_internvl_weights_to_hf.py).
INTERNVL_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n'}}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for content in message['content'] %}{% if content['type'] == 'image' %}"
    "{{ '<IMG_CONTEXT>\n' }}{% elif content['type'] == 'video' %}{{ '<video>\n' }}"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}{% endfor %}"
    "{% endif %}{{'<|im_end|>\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{'<|im_start|>assistant\n' }}{% endif %}"
)

# Special tokens in the order the public vocabularies hold them (after the BPE vocabulary).
QWEN2_5_VL_SPECIALS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
    "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
    "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>",
]
INTERNVL_SPECIALS = [
    *QWEN2_5_VL_SPECIALS[:3], "<img>", "</img>", "<IMG_CONTEXT>", "<quad>", "</quad>", "<ref>",
    "</ref>", "<box>", "</box>", "<video>",
]
# SmolVLM: ids 0-2 first; the image tokens last (`<row_i_col_j>` make image splitting work).
IDEFICS3_SPECIALS_FIRST = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
IDEFICS3_SPECIALS_LAST = [
    "<fake_token_around_image>", "<image>", "<end_of_utterance>", "<global-img>",
    *(f"<row_{i}_col_{j}>" for i in range(1, 7) for j in range(1, 7)),
]
GEMMA_SPECIALS_FIRST = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>"]
GEMMA3_SPECIALS_LAST = ["<start_of_turn>", "<end_of_turn>", "<start_of_image>",
                        "<end_of_image>", "<image_soft_token>"]
GEMMA_BYTES = [f"<0x{i:02X}>" for i in range(256)]


def train_tokenizer(
    cls: type, texts: Iterable[str], *, first: list[str] = (), last: list[str] = (),
    byte_level: bool = True, byte_tokens: list[str] = (), vocab_size: int = 400,
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
                if getattr(module, "bias", None) is not None:
                    module.bias.zero_()


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
    config = Idefics3Config(text_config=text, vision_config=vision, scale_factor=2,
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
    image_processor = SiglipImageProcessorPil(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
                                              image_mean=[0.5] * 3, image_std=[0.5] * 3)
    seq = (IMAGE_SIZE // 16) ** 2
    # The processor adds PaliGemma's <loc>/<seg> tokens: the vocabulary is final after it.
    processor = PaliGemmaProcessor(image_processor=image_processor, tokenizer=tokenizer)
    processor.image_seq_length = seq
    image_processor.image_seq_length = seq
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
