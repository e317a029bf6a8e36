"""`dsconv train` from the command line: a run, clear errors before any work, multi-process."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import pytest

import dsconv.cli.train  # noqa: F401  (registers `train` until dsconv.cli imports it)
from dsconv.errors import DsconvError
from dsconv.models import registry
from dsconv.models.florence2 import Florence2Adapter
from dsconv.training.config import TrainConfig, save_run
from dsconv.training.loop import train
from dsconv.training.runlog import read_metrics
from tests.helpers import out_beside, run_cli

ROOT = Path(__file__).resolve().parents[2]


def _error(result) -> str:
    assert result.exit_code != 0
    assert isinstance(result.exception, DsconvError), result.output
    message = str(result.exception)
    assert "\n" not in message
    return message


def test_cli_trains_with_dataloader_workers(tiny_vqa: Path, tiny_florence2: Path,
                                            tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = run_cli("train", tiny_vqa, "--model", "florence2", "--out", run,
                     "--base", tiny_florence2, "--epochs", "1", "--batch-size", "4",
                     "--workers", "1", "--max-val-items", "4", "--device", "cpu",
                     "--no-freeze-vision", "--lr", "1e-3", "--log-every", "1")
    assert result.exit_code == 0, result.output
    settings = json.loads((run / "run.json").read_text())
    assert (settings["epochs"], settings["batch_size"], settings["freeze_vision"]) == (1, 4, False)
    assert settings["schedule"] == "linear"  # Florence-2's default, not overridden
    assert (run / "final" / "model.safetensors").is_file()
    assert [r["type"] for r in read_metrics(run)] == ["train", "train", "eval"]


def test_unknown_model(tiny_vqa: Path, tmp_path: Path) -> None:
    result = run_cli("train", tiny_vqa, "--model", "llava", "--out", tmp_path / "run")
    assert "unknown model 'llava'" in _error(result)
    assert not (tmp_path / "run").exists()


def test_missing_gpu_is_reported_before_any_work(
    tiny_vqa: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    loaded = []
    monkeypatch.setattr(Florence2Adapter, "from_pretrained", classmethod(
        lambda cls, *a, **k: loaded.append(a)))
    result = run_cli("train", tiny_vqa, "--model", "florence2", "--out", tmp_path / "run",
                     "--device", "cuda")
    assert "no CUDA GPU" in _error(result)
    assert not loaded and not (tmp_path / "run").exists()


def test_unloadable_checkpoint(tiny_vqa: Path, tmp_path: Path) -> None:
    result = run_cli("train", tiny_vqa, "--model", "florence2", "--out", tmp_path / "run",
                     "--base", tmp_path / "no-such-model", "--device", "cpu")
    assert "no-such-model: no such folder" in _error(result)


def test_not_a_dataset(tmp_path: Path, tiny_florence2: Path) -> None:
    result = run_cli("train", tmp_path, "--model", "florence2", "--out", out_beside(tmp_path),
                     "--base", tiny_florence2, "--device", "cpu")
    assert "not a dsconv dataset" in _error(result)


class _DocumentsOnly(Florence2Adapter):
    family: ClassVar[str] = "documents-only"
    answer_syntaxes: ClassVar[frozenset[str]] = frozenset({"document-text"})


def test_task_the_model_cannot_learn(
    make_config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(registry._ADAPTERS, "documents-only", _DocumentsOnly)
    monkeypatch.setattr(_DocumentsOnly, "from_pretrained", classmethod(
        lambda cls, *a, **k: pytest.fail("loaded a model for a dataset it cannot learn")))
    with pytest.raises(DsconvError, match="cannot learn task 'count-json'"):
        train(make_config(model="documents-only"))


def test_run_directory_is_never_overwritten(make_config) -> None:
    config = make_config(epochs=1, max_val_items=0)
    run = Path(config.output)
    run.mkdir()
    (run / "run.json").write_text("{}")  # a run that died before its first checkpoint
    (run / "metrics.jsonl").write_text('{"type": "train", "step": 1, "loss": 9.0}\n')
    train(config)
    assert [r["loss"] for r in read_metrics(run)] != [9.0]
    with pytest.raises(DsconvError, match="already holds a run"):
        train(config)


@pytest.mark.parametrize("where", ["inside", "is", "holds"])
def test_run_directory_is_apart_from_the_dataset(make_config, tiny_vqa: Path,
                                                 where: str) -> None:
    output = {"inside": tiny_vqa / "run", "is": tiny_vqa, "holds": tiny_vqa.parent}[where]
    before = sorted(p.name for p in tiny_vqa.rglob("*"))
    with pytest.raises(DsconvError, match="overlaps the source"):
        train(make_config(output=str(output)))
    assert sorted(p.name for p in tiny_vqa.rglob("*")) == before


def test_resume_errors(make_config, tmp_path: Path) -> None:
    with pytest.raises(DsconvError, match="nothing to resume"):
        train(TrainConfig(), resume=tmp_path)

    run = tmp_path / "run"
    run.mkdir()
    config = make_config(output=str(run))
    from dsconv.training.config import resolve

    save_run(resolve(config, Florence2Adapter), run)
    with pytest.raises(DsconvError, match="no checkpoint to resume"):
        train(TrainConfig(), resume=run)
    with pytest.raises(DsconvError, match="cannot change --lr"):
        train(TrainConfig(lr=0.5), resume=run)

    (run / "checkpoints" / "step-00000002").mkdir(parents=True)
    with pytest.raises(DsconvError, match="cannot load checkpoint"):
        train(TrainConfig(), resume=run)


def test_bad_values_are_rejected(make_config) -> None:
    with pytest.raises(DsconvError, match="--schedule must be one of"):
        train(make_config(schedule="exponential"))
    with pytest.raises(DsconvError, match="--warmup"):
        train(make_config(warmup=1.5))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli_imports_train() -> bool:
    """Whether `dsconv.cli` registers `train` itself, so `-m dsconv train` works as is."""
    source = Path(importlib.util.find_spec("dsconv.cli").origin).read_text()
    for node in ast.walk(ast.parse(source)):
        names = [alias.name for alias in getattr(node, "names", [])]
        if isinstance(node, ast.ImportFrom) and node.module == "dsconv.cli" and "train" in names:
            return True
    return False


def test_accelerate_launch_two_processes(tiny_vqa: Path, tiny_florence2: Path,
                                         tmp_path: Path) -> None:
    """Two gloo processes on the CPU (DDP): one shared run, one checkpoint.

    accelerate 1.x's `launch --cpu` starts a single process; on a machine without CUDA,
    `--multi_gpu` is what starts several CPU processes.
    """
    run = tmp_path / "run"
    if _cli_imports_train():
        entry = ["-m", "dsconv"]
    else:  # same as `-m dsconv`, plus registering the train command
        shim = tmp_path / "dsconv_main.py"
        shim.write_text("import runpy\nimport dsconv.cli.train\n"
                        "runpy.run_module('dsconv', run_name='__main__')\n")
        entry = [str(shim)]
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        "--main_process_port", str(_free_port()), *entry,
        "train", str(tiny_vqa), "--model", "florence2", "--out", str(run),
        "--base", str(tiny_florence2), "--epochs", "1", "--batch-size", "2", "--workers", "0",
        "--max-val-items", "5", "--device", "cpu", "--lr", "1e-3",
    ]
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "HF_DATASETS_CACHE": str(tmp_path / "hf-cache"), "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]

    assert [p.name for p in (run / "checkpoints").iterdir()] == ["step-00000002"]
    states = sorted(p.name for p in (run / "checkpoints" / "step-00000002").glob("random_states_*"))
    assert states == ["random_states_0.pkl", "random_states_1.pkl"]
    records = read_metrics(run)
    assert [(r["type"], r["step"]) for r in records] == [("train", 2), ("eval", 2)]
    assert "| processes | 2 |" in (run / "final" / "README.md").read_text()


def test_a_task_the_model_cannot_learn_stops_before_any_work(tmp_path: Path) -> None:
    from dsconv.errors import DsconvError
    from dsconv.samples.coins import write_coins

    write_coins(tmp_path / "src", images=6, seed=1)
    data = tmp_path / "od"
    assert run_cli("coco-to-vqa", tmp_path / "src", data, "--task", "florence-od").exit_code == 0
    result = run_cli("train", data, "--model", "moondream2", "--out", tmp_path / "run")
    assert isinstance(result.exception, DsconvError)
    assert "cannot learn task 'florence-od'" in str(result.exception)
    assert not (tmp_path / "run").exists()


def test_a_plugin_task_trains_with_its_validation_metric(
    make_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A task only a plugin knows is trained and validated by its descriptor's metric."""
    from dataclasses import replace
    from importlib.metadata import EntryPoint

    from dsconv.samples.coins import write_coins
    from dsconv.tasks import base
    from tests.tasks import test_task_plugin as plugin

    task = replace(plugin.TOTAL, answer_syntax=base.TEXT, validation_metric="anls")
    monkeypatch.setattr(plugin, "TOTAL", task)
    point = EntryPoint(plugin.NAME, f"{plugin.__name__}:TOTAL", base.ENTRY_POINT_GROUP)
    monkeypatch.setattr(base, "entry_points", lambda group, name=None: [
        p for p in [point] if name in (None, p.name)])
    monkeypatch.delitem(base._REGISTRY, plugin.NAME, raising=False)
    write_coins(tmp_path / "src", images=6, seed=1)
    data = tmp_path / "total"
    assert run_cli("coco-to-vqa", tmp_path / "src", data, "--task", plugin.NAME).exit_code == 0
    config = make_config(dataset=str(data), epochs=1, max_train_items=4, max_val_items=2)
    train(config)
    evals = [r for r in read_metrics(Path(config.output)) if r["type"] == "eval"]
    assert evals and "anls" in evals[-1] and "exact_match" not in evals[-1], evals
