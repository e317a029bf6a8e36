"""Training settings: what the user asked for, filled in from the model family's defaults.

`TrainConfig` is what was asked: every field defaults to None, meaning "not given", so a
`--resume` can tell an explicit override from a default. `resolve` turns it into a
`ResolvedConfig`, complete and checked, which the loop trains with and `run.json` records.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from dsconv.errors import DsconvError
from dsconv.models.base import ModelAdapter
from dsconv.models.loading import DEVICES, RUN_FILE
from dsconv.models.registry import get_adapter
from dsconv.training.schedule import SCHEDULES

# Defaults that do not depend on the model family.
GENERAL_DEFAULTS: dict[str, Any] = {
    "gradient_checkpointing": False,
    "max_val_items": 200,
    "seed": 0,
    "workers": 2,
    "device": "auto",
    "train_split": "train",
    "log_every": 10,
    "save_every": 0,
    "max_new_tokens": 128,
}
# Settings a resumed run must share with the run it continues.
FIXED_ON_RESUME = (
    "dataset", "model", "base", "revision", "lr", "batch_size", "grad_accum", "schedule",
    "warmup", "freeze_vision", "lora", "lora_alpha", "max_train_items", "seed", "train_split",
    "min_pixels", "max_pixels", "image_splitting", "longest_edge", "load_in_4bit",
)
# Processor knobs, passed to the adapter's `set_image_options` only when given.
IMAGE_OPTIONS = ("min_pixels", "max_pixels", "image_splitting", "longest_edge")


@dataclass
class TrainConfig:
    dataset: str | None = None
    model: str | None = None
    output: str | None = None
    base: str | None = None
    revision: str | None = None
    epochs: int | None = None
    lr: float | None = None
    batch_size: int | None = None
    grad_accum: int | None = None
    schedule: str | None = None
    warmup: float | None = None
    freeze_vision: bool | None = None
    lora: int | None = None
    lora_alpha: int | None = None
    gradient_checkpointing: bool | None = None
    max_train_items: int | None = None
    max_val_items: int | None = None
    seed: int | None = None
    workers: int | None = None
    device: str | None = None
    train_split: str | None = None
    val_split: str | None = None
    log_every: int | None = None
    save_every: int | None = None
    max_new_tokens: int | None = None
    push_to_hub: str | None = None
    cache_dir: str | None = None
    min_pixels: int | None = None
    max_pixels: int | None = None
    image_splitting: bool | None = None
    longest_edge: int | None = None
    load_in_4bit: bool | None = None
    defaults_source: str | None = None  # filled by `resolve`: where the defaults come from

    def given(self) -> dict[str, Any]:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        if values["dataset"] is not None:
            values["dataset"] = normalise_dataset(values["dataset"])
        return {k: v for k, v in values.items() if v is not None}


@dataclass
class ResolvedConfig:
    """The settings a run trains with: every default filled in and every value checked.

    The fields are `TrainConfig`'s, in its order (`run.json` lists them so); None is left only
    where it means something: no pinned revision, no cap on training rows, no validation split
    named, no Hub push, processor knobs not given.
    """

    dataset: str
    model: str
    output: str
    base: str
    revision: str | None
    epochs: int
    lr: float
    batch_size: int
    grad_accum: int
    schedule: str
    warmup: float
    freeze_vision: bool
    lora: int
    lora_alpha: int
    gradient_checkpointing: bool
    max_train_items: int | None
    max_val_items: int
    seed: int
    workers: int
    device: str
    train_split: str
    val_split: str | None
    log_every: int
    save_every: int
    max_new_tokens: int
    push_to_hub: str | None
    cache_dir: str | None
    min_pixels: int | None
    max_pixels: int | None
    image_splitting: bool | None
    longest_edge: int | None
    load_in_4bit: bool | None
    defaults_source: str | None

    def image_options(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in IMAGE_OPTIONS if getattr(self, k) is not None}


def required(config: TrainConfig) -> tuple[str, str, str]:
    """DATASET, the model family and --out, without which no run starts."""
    dataset, model, output = config.dataset, config.model, config.output
    if dataset and model and output:
        return dataset, model, output
    names = {"DATASET": dataset, "--model or --base": model, "--out": output}
    raise DsconvError(f"missing {', '.join(flag for flag, value in names.items() if not value)}")


def normalise_dataset(source: str) -> str:
    """A local dataset as an absolute path, so a resume from another directory matches."""
    path = Path(source)
    return str(path.resolve()) if path.exists() else source


def resolve(
    config: TrainConfig, adapter_cls: type[ModelAdapter] | None = None
) -> ResolvedConfig:
    """Fill every unset field from the family's reference defaults, then check the values.

    The family is `adapter_cls`'s when given (and `config.model` unset), else `config.model`'s.
    """
    if adapter_cls is None:
        adapter_cls = get_adapter(required(config)[1])
    base = config.base or adapter_cls.default_base
    family = adapter_cls.defaults_for(base, config.revision)
    lora = family.lora if config.lora is None else config.lora
    family_alpha = family.lora_alpha if lora == family.lora else None
    filled = {
        "model": adapter_cls.family,
        "base": adapter_cls.default_base,
        "revision": adapter_cls.default_revision if config.base is None else None,
        "epochs": family.epochs,
        "lr": family.lr,
        "batch_size": family.batch_size,
        "grad_accum": family.grad_accum,
        "schedule": family.schedule,
        "warmup": family.warmup,
        "freeze_vision": family.freeze_vision,
        "lora": family.lora,
        "lora_alpha": family_alpha or 2 * lora,
        "defaults_source": family.source or None,
        **GENERAL_DEFAULTS,
    }
    values = {f.name: getattr(config, f.name) for f in fields(config)}
    values.update({k: v for k, v in filled.items() if values[k] is None})
    dataset, _, _ = required(TrainConfig(**values))
    resolved = ResolvedConfig(**{**values, "dataset": normalise_dataset(dataset)})
    _check(resolved)
    return resolved


def _check(c: ResolvedConfig) -> None:
    problems = []
    for name in ("epochs", "batch_size", "grad_accum", "log_every", "max_new_tokens",
                 "min_pixels", "max_pixels", "longest_edge"):
        if getattr(c, name) is None:
            continue
        if getattr(c, name) < 1:
            problems.append(f"--{name.replace('_', '-')} must be at least 1")
    for name in ("lora", "lora_alpha", "max_val_items", "workers", "save_every"):
        if getattr(c, name) < 0:
            problems.append(f"--{name.replace('_', '-')} must not be negative")
    if c.max_train_items is not None and c.max_train_items < 1:
        problems.append("--max-train-items must be at least 1")
    if c.min_pixels is not None and c.max_pixels is not None and c.min_pixels > c.max_pixels:
        problems.append("--min-pixels must not exceed --max-pixels")
    if c.lr <= 0:
        problems.append("--lr must be positive")
    if not 0 <= c.warmup < 1:
        problems.append("--warmup is a fraction of the steps, in [0, 1)")
    if c.schedule not in SCHEDULES:
        problems.append(f"--schedule must be one of {', '.join(SCHEDULES)}")
    if c.device not in DEVICES:
        problems.append(f"--device must be one of {', '.join(DEVICES)}")
    if problems:
        raise DsconvError("; ".join(problems))


def save_run(config: ResolvedConfig, run_dir: Path) -> None:
    settings = {k: v for k, v in asdict(config).items() if k not in ("output", "cache_dir")}
    (run_dir / RUN_FILE).write_text(json.dumps(settings, indent=2) + "\n")


def merge_resume(config: TrainConfig, run_dir: Path) -> TrainConfig:
    """The saved run's settings, with explicit overrides that do not change what is trained."""
    path = run_dir / RUN_FILE
    if not path.is_file():
        raise DsconvError(f"{run_dir}: nothing to resume (no {RUN_FILE})")
    saved = json.loads(path.read_text())
    given = config.given()
    changed = [k for k in FIXED_ON_RESUME if k in given and given[k] != saved.get(k)]
    if changed:
        names = ", ".join(f"--{k.replace('_', '-')}" for k in changed)
        raise DsconvError(f"{run_dir}: cannot change {names} when resuming")
    known = {f.name for f in fields(TrainConfig)}
    merged = {k: v for k, v in saved.items() if k in known}
    merged.update(given)
    merged["output"] = str(run_dir)
    return TrainConfig(**merged)
