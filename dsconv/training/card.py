"""The model card written beside a trained model: where it came from and how well it does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from dsconv.training.config import ResolvedConfig
from dsconv.training.data import is_local

HYPER_PARAMETERS = (
    "epochs", "lr", "batch_size", "grad_accum", "schedule", "warmup", "freeze_vision", "lora",
    "lora_alpha",
    "gradient_checkpointing", "max_train_items", "seed",
)


def render_card(config: ResolvedConfig, metrics: dict[str, Any], *, world_size: int = 1) -> str:
    meta: dict[str, Any] = {
        "library_name": "transformers",
        "pipeline_tag": "image-text-to-text",
        "tags": ["dsconv", "vqa", config.model],
    }
    if config.base and not is_local(config.base):
        meta["base_model"] = config.base
    if config.dataset and not is_local(config.dataset):
        meta["datasets"] = [config.dataset]
    base = f"`{config.base}`" + (f" at revision `{config.revision}`" if config.revision else "")
    lines = [
        "---",
        yaml.safe_dump(meta, sort_keys=False).rstrip(),
        "---",
        "",
        f"# {config.model} fine-tuned with dsconv",
        "",
        f"Fine-tuned from {base} on `{config.dataset}` (split `{config.train_split}`) "
        f"with `dsconv train`, model family `{config.model}`.",
        "",
        *([f"Defaults from {config.defaults_source}; the table shows what was used.", ""]
          if config.defaults_source else []),
        "## Hyper-parameters",
        "",
        "| name | value |",
        "|---|---|",
        *(f"| {name} | {getattr(config, name)} |" for name in HYPER_PARAMETERS),
        *(f"| {name} | {value} |" for name, value in config.image_options().items()),
        *(["| load_in_4bit | True |"] if config.load_in_4bit else []),
        f"| processes | {world_size} |",
        f"| effective batch size | {config.batch_size * config.grad_accum * world_size} |",
        "",
        "## Final metrics",
        "",
    ]
    flat = {k: v for k, v in metrics.items() if isinstance(v, int | float)}
    if flat:
        lines += ["| metric | value |", "|---|---|"]
        lines += [f"| {k} | {_fmt(v)} |" for k, v in flat.items()]
    if "val_loss" not in metrics:
        lines += ["", "No validation split was scored."]
    return "\n".join(lines) + "\n"


def write_card(
    out_dir: Path, config: ResolvedConfig, metrics: dict[str, Any], world_size: int
) -> None:
    (out_dir / "README.md").write_text(render_card(config, metrics, world_size=world_size))


def _fmt(value: float) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)
