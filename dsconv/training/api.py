"""`dsconv.train`: fine-tune a model family on a dsconv dataset from keyword arguments."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

from dsconv.errors import DsconvError
from dsconv.training.config import TrainConfig
from dsconv.training.loop import TrainResult
from dsconv.training.loop import train as run_training


def train(
    dataset: str | Path | None, *, model: str | None = None, output: str | Path | None = None,
    resume: str | Path | None = None, **overrides: Any,
) -> TrainResult:
    """Fine-tune `model` (a family: florence2, moondream2…) on a dsconv dataset folder or Hub
    dataset into the run directory `output`: checkpoints every epoch, `final` and `best`
    (by the tasks' validation metric), metrics.jsonl and a model card. Every hyper-parameter
    defaults to the family's reference recipe; `overrides` are `dsconv train`'s options as
    keyword arguments (`lr=1e-5`, `epochs=3`, `lora=16`, `base="path/or/hub-id"`…).
    `resume` continues a run from its last checkpoint. Needs the `train` extra.

    Example:
        >>> import dsconv
        >>> result = dsconv.train("out/coins-vqa", model="florence2", output="runs/coins",
        ...                       epochs=1)
        >>> result.final_dir
        PosixPath('runs/coins/final')
    """
    known = {f.name for f in fields(TrainConfig)} - {"dataset", "model", "output"}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise DsconvError(f"train: no option {', '.join(map(repr, unknown))} "
                          f"(options: {', '.join(sorted(known))})")
    config = TrainConfig(dataset=None if dataset is None else str(dataset), model=model,
                         output=None if output is None else str(output), **overrides)
    return run_training(config, resume=resume)
