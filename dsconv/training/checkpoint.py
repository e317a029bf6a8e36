"""Resumable checkpoints (accelerate state) and exported models (`from_pretrained` folders).

A checkpoint holds what `--resume` needs: model, optimizer, scheduler, every process's RNG and
the data position. It is written under a temporary name and renamed when complete, so the
latest checkpoint is never a half-written one. Only the latest is kept; `best` and `final` are
plain model folders.
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from accelerate import Accelerator

from dsconv.errors import DsconvError
from dsconv.models.base import ModelAdapter

CHECKPOINTS = "checkpoints"
PREFIX = "step-"


@dataclass
class TrainState:
    """Where training stands; registered with accelerate so it is saved in every checkpoint."""

    epoch: int = 0  # epochs completed
    batch_in_epoch: int = 0  # batches of the current epoch already trained on (per process)
    global_step: int = 0  # optimizer steps
    best_score: float | None = None
    best_epoch: int | None = None
    last_train_loss: float | None = None
    last_eval: dict[str, Any] = field(default_factory=dict)

    def state_dict(self) -> dict[str, Any]:
        return asdict(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            setattr(self, key, value)


def latest_checkpoint(run_dir: Path) -> Path | None:
    found = (run_dir / CHECKPOINTS).glob(f"{PREFIX}*")
    return max(found, key=lambda p: int(p.name[len(PREFIX):]), default=None)


def save_checkpoint(accelerator: Accelerator, run_dir: Path, step: int) -> Path:
    final = run_dir / CHECKPOINTS / f"{PREFIX}{step:08d}"
    partial = run_dir / CHECKPOINTS / f".partial-{PREFIX}{step:08d}"
    if accelerator.is_main_process and partial.exists():
        shutil.rmtree(partial)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(partial))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        if final.exists():
            shutil.rmtree(final)
        partial.rename(final)
        for old in (run_dir / CHECKPOINTS).glob(f"{PREFIX}*"):
            if old != final:
                shutil.rmtree(old)
    accelerator.wait_for_everyone()
    return final


def load_checkpoint(accelerator: Accelerator, checkpoint: Path) -> None:
    try:
        accelerator.load_state(str(checkpoint))
    except Exception as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DsconvError(f"{checkpoint}: cannot load checkpoint ({reason})") from exc


@contextmanager
def using_model(adapter: ModelAdapter, model: Any) -> Iterator[ModelAdapter]:
    """Let the adapter act on `model` (an unwrapped or merged copy) for a moment."""
    previous = adapter.model
    adapter.model = model
    try:
        yield adapter
    finally:
        adapter.model = previous


def export_model(adapter: ModelAdapter, model: Any, out_dir: Path) -> None:
    """A folder `from_pretrained` loads: LoRA weights merged in, processor beside the model."""
    if hasattr(model, "merge_and_unload"):
        model = copy.deepcopy(model).merge_and_unload()
    partial = out_dir.with_name(f".partial-{out_dir.name}")
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    with using_model(adapter, model):
        adapter.save_pretrained(partial)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    partial.rename(out_dir)
