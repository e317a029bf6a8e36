"""Everything checked and built before the first step, in the order that fails fastest.

Settings and the run directory, then the device, then the data (whose tasks must suit the
model family), and only then the model: a mistake is reported before minutes go into loading.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from dsconv.errors import DsconvError
from dsconv.models.base import ModelAdapter
from dsconv.models.loading import FINAL
from dsconv.models.registry import detect_family
from dsconv.storage.target import check_apart
from dsconv.training import data
from dsconv.training.checkpoint import latest_checkpoint
from dsconv.training.config import ResolvedConfig, TrainConfig, merge_resume, required


def open_run_dir(config: TrainConfig, resume: str | Path | None) -> tuple[Path, TrainConfig]:
    """A resumed run takes its saved settings; a new one must not clobber a resumable run."""
    if resume is not None:
        run_dir = Path(resume)
        if config.output and Path(config.output).resolve() != run_dir.resolve():
            raise DsconvError("--out and --resume name different run directories")
        return run_dir, merge_resume(config, run_dir)
    if not config.model and config.base:  # the family is read from the checkpoint's config
        config = replace(config, model=detect_family(config.base, config.revision))
    dataset, _, output = required(config)
    run_dir = Path(output)
    if Path(dataset).exists():  # a local dataset, not a Hub id
        check_apart(run_dir, [Path(dataset)])
    if latest_checkpoint(run_dir) or (run_dir / FINAL).exists():
        raise DsconvError(f"{run_dir} already holds a run: continue it with --resume {run_dir} "
                          "or choose another --out")
    return run_dir, config


def load_data(cfg: ResolvedConfig, adapter_cls: type[ModelAdapter]) -> tuple[Any, Any]:
    """Both splits (validation capped at --max-val-items), tasks checked against the family."""
    splits = data.split_names(cfg.dataset)
    if cfg.train_split not in splits:
        raise DsconvError(f"{cfg.dataset}: no split {cfg.train_split!r} (has {', '.join(splits)})")
    val_split = cfg.val_split or next((s for s in data.VALIDATION_SPLITS if s in splits), None)
    if cfg.val_split and cfg.val_split not in splits:
        raise DsconvError(f"{cfg.dataset}: no split {cfg.val_split!r} (has {', '.join(splits)})")
    train_rows = data.load_split(cfg.dataset, cfg.train_split, cfg.cache_dir)
    for task in data.tasks_of(train_rows):
        reason = adapter_cls.unsupported_reason(task)
        if reason:
            raise DsconvError(f"{cfg.dataset}: {reason}")
    if len(train_rows) == 0:
        raise DsconvError(f"{cfg.dataset}: split {cfg.train_split!r} is empty")
    if cfg.max_train_items:
        train_rows = train_rows.select(range(min(cfg.max_train_items, len(train_rows))))
    val_rows = None
    if val_split is not None and cfg.max_val_items:
        val_rows = data.load_split(cfg.dataset, val_split, cfg.cache_dir)
        val_rows = val_rows.select(range(min(cfg.max_val_items, len(val_rows))))
        if len(val_rows) == 0:
            val_rows = None
    return train_rows, val_rows


def check_quantization(cfg: ResolvedConfig, adapter_cls: type[ModelAdapter]) -> None:
    """--load-in-4bit (QLoRA, bitsandbytes) runs on CUDA only, with LoRA, for chat families."""
    if not cfg.load_in_4bit:
        return
    from importlib.util import find_spec

    if cfg.device == "cpu" or not torch.cuda.is_available():
        raise DsconvError("--load-in-4bit (QLoRA) needs a CUDA GPU and none is in use here; "
                          "train without it (full weights or --lora)")
    if not getattr(adapter_cls, "supports_4bit", False):
        raise DsconvError(f"--load-in-4bit: not supported for model family {cfg.model!r}")
    if not cfg.lora:
        raise DsconvError("--load-in-4bit trains LoRA adapters on a 4-bit model: add --lora RANK")
    if find_spec("bitsandbytes") is None:
        raise DsconvError("--load-in-4bit needs bitsandbytes (pip install bitsandbytes)")


def prepare_model(adapter: ModelAdapter, cfg: ResolvedConfig) -> list[torch.nn.Module]:
    """Freeze the vision tower, add LoRA, enable checkpointing; returns the frozen modules."""
    if not cfg.freeze_vision and adapter.vision_untrainable:
        raise DsconvError(f"--no-freeze-vision: {adapter.vision_untrainable}; train without it")
    frozen = adapter.vision_modules() if cfg.freeze_vision else []
    for module in frozen:
        module.requires_grad_(False)
    if cfg.lora:
        from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

        if cfg.load_in_4bit:
            adapter.model = prepare_model_for_kbit_training(adapter.model)

        lora = LoraConfig(r=cfg.lora, lora_alpha=cfg.lora_alpha or 2 * cfg.lora,
                          lora_dropout=0.05,
                          target_modules=adapter.lora_target_modules())
        adapter.model = get_peft_model(adapter.model, lora)
    if cfg.gradient_checkpointing:
        model = adapter.model
        if hasattr(model, "activation_checkpointing_enable"):  # transformers 5.x's name
            model.activation_checkpointing_enable({"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable({"use_reentrant": False})
    return frozen
