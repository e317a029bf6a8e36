"""The training loop end to end on the tiny Florence-2: learning, freezing, resuming, outputs."""

from __future__ import annotations

import json
from pathlib import Path
from unittest import mock

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoProcessor, Florence2ForConditionalGeneration

import dsconv.training.loop as loop
from dsconv.models.florence2 import Florence2Adapter
from dsconv.models.generation import decode_image
from dsconv.testing.tiny import tiny_count_rows
from dsconv.training.config import TrainConfig
from dsconv.training.loop import train
from dsconv.training.runlog import read_metrics


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


def test_learns_the_training_answers_exactly(tiny_vqa_x4: Path, make_config) -> None:
    config = make_config(dataset=str(tiny_vqa_x4), epochs=50, batch_size=8, schedule="constant",
                         max_val_items=0, log_every=4)
    result = train(config)

    losses = [r["loss"] for r in read_metrics(result.run_dir) if r["type"] == "train"]
    assert len(losses) == 50
    assert losses[-1] < 0.2 * losses[0]

    adapter = Florence2Adapter.from_pretrained(str(result.final_dir))
    rows = tiny_count_rows()
    images = [decode_image(r["image"], r["id"]) for r in rows]
    questions = [r["question"] for r in rows]
    answers = [r["answer"] for r in rows]
    assert adapter.generate(images, questions, max_new_tokens=60) == answers

    # The checkpoint still ships Florence-2's beam search with a 3-gram ban, which breaks
    # JSON answers (they repeat `,\n  "`); dsconv's generate must not depend on it.
    shipped = adapter.model.generation_config
    assert (shipped.num_beams, shipped.no_repeat_ngram_size) == (3, 3)
    inputs = adapter.processor(text=questions, images=images, return_tensors="pt", padding=True)
    with torch.no_grad():
        naive = adapter.decode(adapter.model.generate(**inputs, max_new_tokens=60))
    assert naive != answers


def test_frozen_vision_tower_is_bit_identical(make_config, tiny_florence2: Path) -> None:
    result = train(make_config(freeze_vision=True, epochs=1, max_val_items=0))

    before, after = _weights(tiny_florence2), _weights(result.final_dir)
    vision = [k for k in before if ".vision_tower." in k]
    assert vision
    assert all(torch.equal(before[k], after[k]) for k in vision)
    others = [k for k in before if ".vision_tower." not in k]
    assert any(not torch.equal(before[k], after[k]) for k in others)


class _Crash(Exception):
    pass


@pytest.mark.parametrize("save_every", [0, 1], ids=["after-epoch", "mid-epoch"])
def test_resume_gives_the_same_weights_as_a_straight_run(
    make_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, save_every: int
) -> None:
    """2 epochs straight vs. a run that dies right after its first checkpoint, then resumes."""
    straight = train(make_config(output=str(tmp_path / "straight"), save_every=save_every))

    real_save = loop.save_checkpoint

    def save_then_crash(*args, **kwargs):
        real_save(*args, **kwargs)
        raise _Crash

    monkeypatch.setattr(loop, "save_checkpoint", save_then_crash)
    with pytest.raises(_Crash):
        train(make_config(output=str(tmp_path / "resumed"), save_every=save_every))
    monkeypatch.undo()
    resumed = train(TrainConfig(), resume=tmp_path / "resumed")

    a, b = _weights(straight.final_dir), _weights(resumed.final_dir)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)

    def curve(run: Path) -> list[tuple]:
        return [(r["type"], r["step"], r.get("loss"), r.get("lr"), r.get("val_loss"))
                for r in read_metrics(run)]

    assert curve(straight.run_dir) == curve(resumed.run_dir)


def test_run_outputs_card_metrics_best_and_push(make_config) -> None:
    hub = mock.MagicMock()
    hub.return_value.create_repo.return_value = "https://huggingface.co/someone/tiny-florence2"
    with mock.patch("dsconv.training.hub.HfApi", hub):
        result = train(make_config(push_to_hub="someone/tiny-florence2"))

    for folder in (result.final_dir, result.best_dir):
        assert isinstance(Florence2ForConditionalGeneration.from_pretrained(folder),
                          Florence2ForConditionalGeneration)
        AutoProcessor.from_pretrained(folder)
    card = (result.final_dir / "README.md").read_text()
    config = json.loads((result.run_dir / "run.json").read_text())
    for needed in (config["base"], config["dataset"], "| lr | 0.001 |", "exact_match", "val_loss"):
        assert needed in card

    records = read_metrics(result.run_dir)
    train_lines = [r for r in records if r["type"] == "train"]
    evals = [r for r in records if r["type"] == "eval"]
    assert [r["step"] for r in train_lines] == [1, 2, 3, 4]
    assert all({"loss", "lr", "samples_per_s", "epoch"} <= r.keys() for r in train_lines)
    assert [r["epoch"] for r in evals] == [1, 2]
    assert all({"val_loss", "exact_match", "score"} <= r.keys() for r in evals)
    assert result.metrics["epoch"] == 2

    assert [p.name for p in (result.run_dir / "checkpoints").iterdir()] == ["step-00000004"]

    upload = hub.return_value.upload_folder
    upload.assert_called_once()
    assert upload.call_args.kwargs["repo_id"] == "someone/tiny-florence2"
    assert Path(upload.call_args.kwargs["folder_path"]) == result.final_dir
    assert result.hub_url == "https://huggingface.co/someone/tiny-florence2"


def test_lora_exports_a_merged_plain_model(make_config, tiny_florence2: Path) -> None:
    result = train(make_config(lora=4, epochs=1, max_val_items=0))

    before, after = _weights(tiny_florence2), _weights(result.final_dir)
    assert before.keys() == after.keys()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed
    assert all("language_model" in k and any(p in k for p in ("_proj", "fc1", "fc2"))
               for k in changed)


def test_gradient_accumulation_and_checkpointing(make_config) -> None:
    result = train(make_config(grad_accum=2, gradient_checkpointing=True, epochs=1,
                               max_val_items=0))
    steps = [r["step"] for r in read_metrics(result.run_dir) if r["type"] == "train"]
    assert steps == [1]  # 8 rows, batch 4, 2 batches a step
