"""The Florence-2 adapter on its own: collated inputs, labels and the loss they give."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from dsconv.models.florence2 import IGNORE_INDEX, Florence2Adapter
from dsconv.models.generation import decode_image
from dsconv.testing.tiny import tiny_count_rows


@pytest.fixture(scope="module")
def adapter(tiny_florence2: Path) -> Florence2Adapter:
    return Florence2Adapter.from_pretrained(str(tiny_florence2))


def _examples() -> list[dict]:
    rows = tiny_count_rows(3)
    examples = [{"image": decode_image(r["image"], r["id"]), "question": r["question"],
                 "answer": r["answer"]} for r in rows]
    examples[1]["answer"] = "{}"  # much shorter: its labels need padding
    return examples


def test_labels_are_answer_tokens_only(adapter: Florence2Adapter) -> None:
    examples = _examples()
    batch = adapter.collator()(examples)
    tokenizer = adapter.processor.tokenizer

    for i, example in enumerate(examples):
        ids = tokenizer(example["answer"]).input_ids
        assert ids[0] == tokenizer.bos_token_id and ids[-1] == tokenizer.eos_token_id
        assert batch["labels"][i, : len(ids)].tolist() == ids
        assert (batch["labels"][i, len(ids):] == IGNORE_INDEX).all()
    assert (batch["labels"][1] == IGNORE_INDEX).sum() > 0

    # The prompt and the image positions live on the encoder side only.
    image_token = adapter.model.config.image_token_id
    assert not (batch["labels"] == image_token).any()
    per_row = (batch["input_ids"] == image_token).sum(dim=1)
    assert per_row.tolist() == [adapter.processor.num_image_tokens] * len(examples)
    prompt_ids = set(batch["input_ids"][batch["attention_mask"].bool()].tolist()) - {image_token}
    answer_ids = set(batch["labels"][batch["labels"] != IGNORE_INDEX].tolist())
    assert prompt_ids - answer_ids, "the prompt should hold tokens no answer has"


def test_loss_counts_answer_positions_only(adapter: Florence2Adapter) -> None:
    batch = adapter.collator()(_examples())
    adapter.model.eval()
    with torch.no_grad():
        loss = adapter.loss(batch)
        logits = adapter.model(**batch).logits
    labels = batch["labels"]
    mask = labels != IGNORE_INDEX
    expected = F.cross_entropy(logits[mask], labels[mask])
    assert torch.allclose(loss, expected, atol=1e-5)


def test_collator_survives_pickling_for_worker_processes(adapter: Florence2Adapter) -> None:
    collator = adapter.collator()
    copy = pickle.loads(pickle.dumps(collator))
    assert not hasattr(copy, "model")
    first, second = collator(_examples()), copy(_examples())
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_decode_keeps_location_tokens(adapter: Florence2Adapter) -> None:
    tokenizer = adapter.processor.tokenizer
    text = "dime<loc_12><loc_40><loc_300><loc_999>"
    ids = [tokenizer.eos_token_id, *tokenizer(text).input_ids, tokenizer.pad_token_id]
    assert adapter.decode(torch.tensor([ids])) == [text]
