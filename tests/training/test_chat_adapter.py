"""The chat and PaliGemma adapters on tiny checkpoints of every family: templates, labels,
processors without torchvision, family detection."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer

from dsconv.errors import DsconvError
from dsconv.models import processors
from dsconv.models.chat import IGNORE_INDEX, ChatAdapter, render
from dsconv.models.generation import decode_image
from dsconv.models.paligemma import PaliGemmaAdapter
from dsconv.models.registry import detect_family
from dsconv.testing.tiny import tiny_count_rows
from dsconv.testing.tiny_chat import FAMILIES

CHAT_FAMILIES = [f for f in FAMILIES if f != "paligemma"]
QUESTION, ANSWER = "What is shown?", "A dog."
# One conversation as each public checkpoint's template renders it (written out by hand from
# the template text and the model cards): a tiny checkpoint must render exactly this.
PUBLIC_RENDER = {
    "qwen2_5_vl": "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
                  "<|vision_start|><|image_pad|><|vision_end|>What is shown?<|im_end|>\n"
                  "<|im_start|>assistant\nA dog.<|im_end|>\n",
    "qwen3_vl": "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>What is shown?"
                "<|im_end|>\n<|im_start|>assistant\nA dog.<|im_end|>\n",
    "idefics3": "<|im_start|>User:<image>What is shown?<end_of_utterance>\n"
                "Assistant: A dog.<end_of_utterance>\n",
    "gemma3": "<bos><start_of_turn>user\n<start_of_image>What is shown?<end_of_turn>\n"
              "<start_of_turn>model\nA dog.<end_of_turn>\n",
    "internvl": "<|im_start|>user\n<IMG_CONTEXT>\nWhat is shown?<|im_end|>\n"
                "<|im_start|>assistant\nA dog.<|im_end|>\n",
}
# What the labelled positions of an example must decode to: the answer and the end of turn.
LABELLED = {
    "qwen2_5_vl": "{answer}<|im_end|>", "qwen3_vl": "{answer}<|im_end|>",
    "idefics3": " {answer}<end_of_utterance>", "gemma3": "{answer}<end_of_turn>",
    "internvl": "{answer}<|im_end|>", "paligemma": "{answer}<eos>",
}


def _adapter(family: str, tiny_chat) -> ChatAdapter:
    cls = PaliGemmaAdapter if family == "paligemma" else ChatAdapter
    return cls.from_pretrained(str(tiny_chat(family)))


def _examples(count: int = 3) -> list[dict]:
    rows = tiny_count_rows(count)
    examples = [{"image": decode_image(r["image"], r["id"]), "question": r["question"],
                 "answer": r["answer"]} for r in rows]
    if count > 1:
        examples[1]["answer"] = "{}"  # much shorter: its row is padded
    return examples


@pytest.mark.parametrize("family", CHAT_FAMILIES)
def test_template_renders_the_public_conversation(family: str, tiny_chat) -> None:
    adapter = _adapter(family, tiny_chat)
    full = render(adapter.processor, QUESTION, ANSWER)
    assert full == PUBLIC_RENDER[family]
    prompt = render(adapter.processor, QUESTION, None)
    assert full.startswith(prompt)
    # Every marker of the template is one special token, as in the public vocabulary.
    tokenizer = adapter.processor.tokenizer
    tokens = tokenizer.convert_ids_to_tokens(tokenizer(full, add_special_tokens=False).input_ids)
    markers = {t for t in tokenizer.all_special_tokens if t in full}
    markers |= {t for t in ("<|im_start|>", "<|im_end|>", "<start_of_turn>", "<end_of_turn>",
                            "<end_of_utterance>", "<|vision_start|>", "<image>",
                            "<start_of_image>", "<IMG_CONTEXT>") if t in full}
    assert markers and all(m in tokens for m in markers)


@pytest.mark.parametrize("family", FAMILIES)
def test_labelled_positions_are_answer_and_end_of_turn(family: str, tiny_chat) -> None:
    adapter = _adapter(family, tiny_chat)
    examples = _examples()
    batch = adapter.collator()(examples)
    tokenizer = adapter.processor.tokenizer
    labels = batch["labels"]
    for i, example in enumerate(examples):
        kept = labels[i][labels[i] != IGNORE_INDEX].tolist()
        text = tokenizer.decode(kept, skip_special_tokens=False,
                                clean_up_tokenization_spaces=False)
        assert text == LABELLED[family].format(answer=example["answer"])
        # labelled positions hold the input token there (the model shifts them itself)
        mask = labels[i] != IGNORE_INDEX
        assert torch.equal(labels[i][mask], batch["input_ids"][i][mask])
    padding = batch["attention_mask"] == 0
    assert padding.any() and (labels[padding] == IGNORE_INDEX).all()
    assert (batch["attention_mask"][:, 0] == 1).all()  # right-padded for training


@pytest.mark.parametrize("family", CHAT_FAMILIES)
def test_generation_prompt_is_an_exact_token_prefix(family: str, tiny_chat) -> None:
    """Image tokens expanded by the processor, in the prompt alone and in the conversation."""
    adapter = _adapter(family, tiny_chat)
    example = _examples(1)[0]
    prompt = adapter.generation_inputs([example["image"]], [example["question"]])
    full = adapter.collator()([example])
    n = prompt["input_ids"].shape[1]
    assert full["input_ids"][0, :n].tolist() == prompt["input_ids"][0].tolist()
    assert (full["labels"][0, :n] == IGNORE_INDEX).all()
    assert (full["labels"][0, n:] != IGNORE_INDEX).any()


@pytest.mark.parametrize("family", FAMILIES)
def test_generation_pads_left_and_decodes_new_tokens_only(family: str, tiny_chat) -> None:
    adapter = _adapter(family, tiny_chat)
    examples = _examples(2)
    examples[0]["question"] = "Count dimes?"  # another length: one row is padded on the left
    inputs = adapter.generation_inputs([e["image"] for e in examples],
                                       [e["question"] for e in examples])
    mask = inputs["attention_mask"]
    lengths = mask.sum(dim=1)
    assert lengths[0] != lengths[1]
    assert mask[int(lengths.argmin()), 0] == 0 and (mask[:, -1] == 1).all()
    answers = adapter.generate([e["image"] for e in examples], [e["question"] for e in examples],
                               max_new_tokens=4)
    assert len(answers) == 2 and all(isinstance(a, str) for a in answers)
    # The checkpoint ships sampling settings; dsconv's greedy decoding ignores them.
    assert adapter.generate([e["image"] for e in examples], [e["question"] for e in examples],
                            max_new_tokens=4) == answers


def test_decode_stops_at_end_of_turn_and_strips_markers(tiny_chat) -> None:
    adapter = _adapter("idefics3", tiny_chat)
    tokenizer = adapter.processor.tokenizer
    answer = tokenizer(" {}", add_special_tokens=False).input_ids
    eot = tokenizer.convert_tokens_to_ids("<end_of_utterance>")
    tail = tokenizer("\nUser: more", add_special_tokens=False).input_ids
    row = torch.tensor([[*answer, eot, *tail]])
    assert adapter.decode(row) == ["{}"]


@pytest.mark.parametrize("family", ["qwen2_5_vl", "gemma3", "idefics3"])
def test_tokenizer_splits_the_same_after_reload(family: str, tiny_chat) -> None:
    """The trap: transformers 5 rebuilds Qwen2/GPT2/Gemma pre-tokenisation on load."""
    from dsconv.testing.tiny_chat import BUILDERS

    texts = [row["answer"] for row in tiny_count_rows()]
    _, processor = BUILDERS[family](texts, 1)
    reloaded = AutoTokenizer.from_pretrained(str(tiny_chat(family)))
    for text in [*texts, tiny_count_rows(1)[0]["question"], "a  b\n\n  c"]:
        assert reloaded(text).input_ids == processor.tokenizer(text).input_ids


def test_qwen_processor_loads_without_torchvision(tiny_chat, monkeypatch) -> None:
    """Image-only when torchvision is absent; its saved class name stays the real one."""
    monkeypatch.setattr(processors, "has_torchvision", lambda: False)
    for family, name in [("qwen2_5_vl", "Qwen2_5_VLProcessor"), ("qwen3_vl", "Qwen3VLProcessor"),
                         ("internvl", "InternVLProcessor")]:
        folder = tiny_chat(family)
        processor = processors.load_processor(str(folder))
        assert type(processor).__name__ == name
        assert "video_processor" not in type(processor).get_attributes()
        saved = json.loads((folder / "processor_config.json").read_text())
        assert saved["processor_class"] == name
    internvl = processors.load_processor(str(tiny_chat("internvl")))
    assert internvl.image_seq_length == 9  # saved settings survive the image-only class


def test_processor_loads_the_normal_way_with_torchvision(tiny_chat, monkeypatch) -> None:
    from unittest import mock

    monkeypatch.setattr(processors, "has_torchvision", lambda: True)
    with mock.patch("transformers.AutoProcessor.from_pretrained") as auto:
        processors.load_processor(str(tiny_chat("qwen2_5_vl")), "main")
    auto.assert_called_once_with(str(tiny_chat("qwen2_5_vl")), revision="main")


def test_image_only_processor_needs_a_video_processor_without_it() -> None:
    """Why the image-only class exists: the stock class demands three parts."""
    from transformers import Qwen2_5_VLProcessor

    assert "video_processor" in Qwen2_5_VLProcessor.get_attributes()
    assert processors.image_only(Qwen2_5_VLProcessor).get_attributes() == [
        "image_processor", "tokenizer"]


@pytest.mark.parametrize("family", ["qwen2_5_vl", "paligemma"])
def test_collator_survives_pickling_for_worker_processes(family: str, tiny_chat) -> None:
    collator = _adapter(family, tiny_chat).collator()
    copy = pickle.loads(pickle.dumps(collator))
    first, second = collator(_examples()), copy(_examples())
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)


@pytest.mark.parametrize("family", FAMILIES)
def test_vision_modules_are_the_tower_and_projector(family: str, tiny_chat) -> None:
    adapter = _adapter(family, tiny_chat)
    frozen = {id(p) for m in adapter.vision_modules() for p in m.parameters()}
    language = {id(p) for p in adapter.language_model().parameters()}
    assert frozen and not frozen & language
    named = dict(adapter.model.named_parameters())
    assert {id(p) for n, p in named.items() if "embed_tokens" in n} <= language
    targets = adapter.lora_target_modules()
    assert targets and all(isinstance(adapter.model.get_submodule(t), torch.nn.Linear)
                           for t in targets)
    assert not {id(p) for t in targets for p in adapter.model.get_submodule(t).parameters()} \
        & frozen


def test_detect_family_from_config(tiny_chat, tiny_florence2: Path, tmp_path: Path) -> None:
    for family in CHAT_FAMILIES:
        assert detect_family(str(tiny_chat(family))) == "chat"
    assert detect_family(str(tiny_chat("paligemma"))) == "paligemma"
    assert detect_family(str(tiny_florence2)) == "florence2"
    moondream = tmp_path / "moondream"
    moondream.mkdir()
    (moondream / "config.json").write_text(json.dumps({
        "model_type": "moondream1", "architectures": ["Moondream"],
        "auto_map": {"AutoModelForCausalLM": "moondream.Moondream"}}))
    assert detect_family(str(moondream)) == "moondream2"
    bert = tmp_path / "bert"
    bert.mkdir()
    (bert / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(DsconvError) as error:
        detect_family(str(bert))
    message = str(error.value)
    assert "\n" not in message and "'bert' is not supported" in message
    assert all(name in message for name in ("florence2", "moondream2", "paligemma", "chat"))


def test_checkpoint_without_a_chat_template_is_refused(tiny_chat, tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "no-template"
    shutil.copytree(tiny_chat("qwen3_vl"), folder)
    (folder / "chat_template.jinja").unlink()
    with pytest.raises(DsconvError, match="no chat template"):
        ChatAdapter.from_pretrained(str(folder))
