"""Every chat family through `dsconv train` + `dsconv eval` on its tiny checkpoint: it learns 8
rows exactly, a frozen vision tower stays bit-identical, a run resumes bit-identically, and a
LoRA run exports a model `dsconv eval` loads. `--model` is never given: the family is read from
the checkpoint's config, then from the run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import dsconv.cli.train  # noqa: F401  (registers `train` until dsconv.cli imports it)
import dsconv.training.loop as loop
from dsconv.models.chat import ChatAdapter
from dsconv.models.paligemma import PaliGemmaAdapter
from dsconv.testing.tiny import tiny_count_rows, write_tiny_vqa
from dsconv.testing.tiny_chat import FAMILIES
from dsconv.training.config import TrainConfig
from dsconv.training.loop import train
from tests.helpers import run_cli

FAST = ["--workers", "0", "--device", "cpu", "--lr", "1e-3", "--schedule", "constant",
        "--grad-accum", "1"]


@pytest.fixture(scope="module")
def tiny_vqa_x20(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 scenes, 20 times each in `train` (20 steps an epoch at batch 8), once in `validation`."""
    return write_tiny_vqa(tmp_path_factory.mktemp("data") / "tiny-vqa-x20", repeats=20)


def _load(family: str, folder: Path) -> ChatAdapter:
    cls = PaliGemmaAdapter if family == "paligemma" else ChatAdapter
    return cls.from_pretrained(str(folder))


def _params(family: str, folder: Path) -> tuple[dict[str, torch.Tensor], set[str], set[str]]:
    """Weights by name, the names under the vision modules, the language model's linear ones."""
    adapter = _load(family, folder)
    vision = {id(p) for m in adapter.vision_modules() for p in m.parameters()}
    linear = {f"{t}.weight" for t in adapter.lora_target_modules()}
    named = dict(adapter.model.named_parameters())
    return ({n: p.detach().clone() for n, p in named.items()},
            {n for n, p in named.items() if id(p) in vision}, linear)


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_learns_eight_rows_exactly_through_train_and_eval(
    family: str, tiny_chat, tiny_vqa_x20: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    result = run_cli("train", tiny_vqa_x20, "--base", tiny_chat(family), "--out", run,
                     "--epochs", "15", "--batch-size", "8", "--no-freeze-vision", "--lora", "0",
                     "--max-val-items", "0", "--log-every", "20", *FAST)
    assert result.exit_code == 0, result.output
    assert json.loads((run / "run.json").read_text())["model"] == (
        "paligemma" if family == "paligemma" else "chat")

    out = tmp_path / "eval"
    result = run_cli("eval", run, "--dataset", tiny_vqa_x20, "--split", "validation",
                     "--batch-size", "8", "--max-new-tokens", "60", "--out", out)
    assert result.exit_code == 0, result.output
    predictions = [json.loads(line) for line in (out / "predictions.jsonl").open()]
    answers = [row["answer"] for row in tiny_count_rows()]
    assert [p["prediction"] for p in predictions] == answers
    assert json.loads((out / "metrics.json").read_text())["exact_match"] == 1.0


@pytest.mark.parametrize("family", FAMILIES)
def test_frozen_vision_tower_stays_bit_identical(family: str, tiny_chat, tiny_vqa: Path,
                                                 tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = run_cli("train", tiny_vqa, "--base", tiny_chat(family), "--out", run,
                     "--epochs", "1", "--batch-size", "4", "--freeze-vision", "--lora", "0",
                     "--max-val-items", "0", *FAST)
    assert result.exit_code == 0, result.output
    before, vision, _ = _params(family, tiny_chat(family))
    after, _, _ = _params(family, run / "final")
    assert vision and all(torch.equal(before[n], after[n]) for n in vision)
    assert any(not torch.equal(before[n], after[n]) for n in before if n not in vision)


@pytest.mark.parametrize("family", FAMILIES)
def test_lora_run_exports_a_model_eval_loads(family: str, tiny_chat, tiny_vqa: Path,
                                             tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = run_cli("train", tiny_vqa, "--base", tiny_chat(family), "--out", run,
                     "--epochs", "1", "--batch-size", "4", "--lora", "4",
                     "--max-val-items", "0", *FAST)
    assert result.exit_code == 0, result.output
    before, _, linear = _params(family, tiny_chat(family))
    after, _, _ = _params(family, run / "final")
    changed = {n for n in before if not torch.equal(before[n], after[n])}
    assert changed and changed <= linear  # LoRA merged into the language model's linears only

    result = run_cli("eval", run / "final", "--dataset", tiny_vqa, "--split", "validation",
                     "--max-items", "2", "--max-new-tokens", "8", "--out", tmp_path / "eval")
    assert result.exit_code == 0, result.output
    assert len((tmp_path / "eval" / "predictions.jsonl").read_text().splitlines()) == 2


class _Crash(Exception):
    pass


@pytest.mark.parametrize("family", FAMILIES)
def test_resume_gives_the_same_weights_as_a_straight_run(
    family: str, tiny_chat, tiny_vqa: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def config(name: str) -> TrainConfig:
        return TrainConfig(dataset=str(tiny_vqa), base=str(tiny_chat(family)),
                           output=str(tmp_path / name), epochs=2, lr=1e-3, batch_size=4,
                           schedule="linear", freeze_vision=False, workers=0, device="cpu",
                           max_val_items=0, save_every=1, lora=0, grad_accum=1)

    straight = train(config("straight"))
    real_save = loop.save_checkpoint

    def save_then_crash(*args, **kwargs):
        real_save(*args, **kwargs)
        raise _Crash

    monkeypatch.setattr(loop, "save_checkpoint", save_then_crash)
    with pytest.raises(_Crash):
        train(config("resumed"))
    monkeypatch.undo()
    resumed = train(TrainConfig(), resume=tmp_path / "resumed")

    a, _, _ = _params(family, straight.final_dir)
    b, _, _ = _params(family, resumed.final_dir)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _error(result) -> str:
    from dsconv.errors import DsconvError

    assert result.exit_code != 0
    assert isinstance(result.exception, DsconvError), result.output
    assert "\n" not in str(result.exception)
    return str(result.exception)


def test_processor_knobs_reach_training_and_the_exported_processor(
    tiny_chat, tiny_vqa: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    result = run_cli("train", tiny_vqa, "--base", tiny_chat("qwen2_5_vl"), "--out", run,
                     "--epochs", "1", "--batch-size", "4", "--max-val-items", "0",
                     "--min-pixels", "784", "--max-pixels", "3136", *FAST)
    assert result.exit_code == 0, result.output
    size = _load("qwen2_5_vl", run / "final").processor.image_processor.size
    assert (size["shortest_edge"], size["longest_edge"]) == (784, 3136)
    card = (run / "final" / "README.md").read_text()
    assert "model family `chat`" in card and "| max_pixels | 3136 |" in card

    run = tmp_path / "smol"
    result = run_cli("train", tiny_vqa, "--base", tiny_chat("idefics3"), "--out", run,
                     "--epochs", "1", "--batch-size", "4", "--max-val-items", "0",
                     "--image-splitting", "--longest-edge", "192", *FAST)
    assert result.exit_code == 0, result.output
    image_processor = _load("idefics3", run / "final").processor.image_processor
    assert image_processor.do_image_splitting and image_processor.size["longest_edge"] == 192

    result = run_cli("train", tiny_vqa, "--base", tiny_chat("gemma3"), "--out",
                     tmp_path / "gemma", "--max-pixels", "3136", *FAST)
    assert "--max-pixels: Gemma3ImageProcessor" in _error(result)


def test_load_in_4bit_needs_cuda(tiny_chat, tiny_vqa: Path, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    result = run_cli("train", tiny_vqa, "--base", tiny_chat("qwen3_vl"), "--out",
                     tmp_path / "run", "--lora", "8", "--load-in-4bit", *FAST)
    assert "--load-in-4bit (QLoRA) needs a CUDA GPU" in _error(result)
    assert not (tmp_path / "run").exists()


def test_unsupported_checkpoint_is_one_line_listing_the_families(
    tiny_vqa: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "bert"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "bert"}')
    result = run_cli("train", tiny_vqa, "--base", folder, "--out", tmp_path / "run", *FAST)
    message = _error(result)
    assert "'bert' is not supported" in message and "chat" in message
    assert not (tmp_path / "run").exists()


def test_defaults_follow_the_checkpoints_model_type(tiny_chat) -> None:
    from dsconv.training.config import resolve

    run = {"dataset": "someone/data", "output": "run"}
    qwen = resolve(TrainConfig(base=str(tiny_chat("qwen2_5_vl")), **run), ChatAdapter)
    assert (qwen.lr, qwen.epochs, qwen.batch_size, qwen.grad_accum, qwen.lora,
            qwen.lora_alpha) == (2e-4, 10, 4, 8, 8, 16)
    assert "maestro" in qwen.defaults_source
    gemma = resolve(TrainConfig(base=str(tiny_chat("gemma3")), lora=4, **run), ChatAdapter)
    assert (gemma.lr, gemma.lora, gemma.lora_alpha) == (ChatAdapter.defaults.lr, 4, 8)
    override = resolve(TrainConfig(base=str(tiny_chat("qwen2_5_vl")), lora=16, **run),
                       ChatAdapter)
    assert (override.lora, override.lora_alpha) == (16, 32)  # the family's alpha is for r 8
