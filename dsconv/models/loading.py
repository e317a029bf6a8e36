"""A model to run: found from what the user names (a `dsconv train` run, a model folder or a Hub
id), its family told, and its adapter loaded on a device.

Training and evaluation load checkpoints the same way, so a mistake is reported the same way:
a missing folder or an unreachable Hub in seconds, a load failure in one line. torch is imported
only when a model is loaded, so finding one (and `dsconv score`, `--help`) stays torch-free.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dsconv.errors import DsconvError
from dsconv.models.base import ModelAdapter
from dsconv.models.registry import available, detect_family, get_adapter
from dsconv.models.sources import check_source, first_line, looks_local

# What `dsconv train` writes into a run directory: its settings and the exported models.
RUN_FILE = "run.json"
FINAL, BEST = "final", "best"
DEVICES = ("auto", "cpu", "cuda")
# config.json `model_type` of the checkpoints each built-in family loads.
MODEL_TYPES = {"florence2": "florence2", "moondream1": "moondream2"}


@dataclass(frozen=True)
class ModelRef:
    """What `from_pretrained` gets (a folder or a Hub id), its family, and the run it ends."""

    source: str
    family: str
    run_dir: Path | None = None

    def default_out(self, split: str) -> Path:
        """`RUN/eval-final-test` beside a dsconv run's models, else `./eval-NAME-test`."""
        name = Path(self.source).name
        if self.run_dir is not None:
            return self.run_dir / f"eval-{name}-{split}"
        return Path(f"eval-{name}-{split}")


def resolve_model(model: str, family: str | None = None) -> ModelRef:
    """Where the model is and which adapter runs it, from what `dsconv train` wrote beside it.

    A run directory means its `final` model; a `final`/`best` folder takes the family from the
    run's `run.json`, any other folder from its model card's tags or its `config.json`. A Hub id
    needs `family` (no network is used to guess it).
    """
    families = available()
    if family is not None and family not in families:
        raise DsconvError(f"unknown model family {family!r} (choose from: {', '.join(families)})")
    path = Path(model).expanduser()
    if not path.exists():
        if family is None or looks_local(model):
            hint = "" if family else " (for a Hub checkpoint id, also pass --model)"
            raise DsconvError(f"{model}: no such model folder{hint}")
        return ModelRef(model, family)
    if not path.is_dir():
        raise DsconvError(f"{model}: not a model folder")
    run_dir = None
    if (path / RUN_FILE).is_file():
        run_dir, path = path, path / FINAL
        if not (path / "config.json").is_file():
            best = f"; {run_dir / BEST} holds the best epoch so far" if (
                run_dir / BEST / "config.json").is_file() else ""
            raise DsconvError(f"{run_dir}: the run has no {FINAL} model yet{best}")
    elif (path.parent / RUN_FILE).is_file():
        run_dir = path.parent
    if not (path / "config.json").is_file():
        raise DsconvError(f"{path}: not a model folder (no config.json)")
    family = family or _family_of(path, run_dir, families)
    return ModelRef(str(path), family, run_dir)


def _family_of(path: Path, run_dir: Path | None, families: list[str]) -> str:
    if run_dir is not None:
        try:
            family = json.loads((run_dir / RUN_FILE).read_text())["model"]
        except (ValueError, KeyError, TypeError):
            raise DsconvError(f"{run_dir / RUN_FILE}: no model family in it") from None
        if family in families:
            return str(family)
    tags = _card_tags(path / "README.md")
    known = [tag for tag in tags if tag in families]
    if len(known) == 1:
        return known[0]
    try:
        model_type = json.loads((path / "config.json").read_text()).get("model_type")
    except (ValueError, AttributeError):
        raise DsconvError(f"{path / 'config.json'}: not a JSON object") from None
    if model_type in MODEL_TYPES:
        return MODEL_TYPES[model_type]
    try:
        return detect_family(str(path))
    except DsconvError:
        raise DsconvError(f"{path}: cannot tell the model family (config.json model_type "
                          f"{model_type!r}); pass --model {' or '.join(families)}") from None


def _card_tags(card: Path) -> list[str]:
    """The `tags` of a model card's YAML front matter (dsconv train lists the family there)."""
    if not card.is_file():
        return []
    parts = card.read_text(encoding="utf-8").split("---", 2)
    if len(parts) < 3 or parts[0].strip():
        return []
    try:
        meta = yaml.safe_load(parts[1])
    except yaml.YAMLError:
        return []
    tags = meta.get("tags") if isinstance(meta, dict) else None
    return [str(tag) for tag in tags] if isinstance(tags, list) else []


def mixed_precision(device: str) -> str:
    """bf16 on a GPU that supports it, fp32 otherwise; a GPU asked for must exist."""
    import torch

    has_cuda = torch.cuda.is_available()
    if device == "cuda" and not has_cuda:
        raise DsconvError("--device cuda: no CUDA GPU is visible to torch")
    on_gpu = has_cuda and device != "cpu"
    return "bf16" if on_gpu and torch.cuda.is_bf16_supported() else "no"


def torch_device(device: str) -> str:
    """`auto` as the GPU when there is one, else the CPU; `cpu`/`cuda` as given."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def load_adapter(
    adapter_cls: type[ModelAdapter], base: str, revision: str | None = None, *,
    load_in_4bit: bool = False, image_options: dict[str, Any] | None = None,
) -> ModelAdapter:
    """The checkpoint from a local folder or the Hub; a missing folder or an unreachable Hub is
    reported in seconds, not after huggingface_hub's retries."""
    import torch

    source = check_source(base, "model", "--base", revision)
    extra = {"load_in_4bit": True} if load_in_4bit else {}
    try:
        adapter = adapter_cls.from_pretrained(source, revision, dtype=torch.float32, **extra)
    except DsconvError:
        raise
    except Exception as exc:
        raise DsconvError(f"{base}: cannot load a {adapter_cls.family} checkpoint "
                          f"({first_line(exc)})") from exc
    adapter.set_image_options(image_options or {})
    return adapter


def load_model(ref: ModelRef, revision: str | None = None, device: str = "auto") -> ModelAdapter:
    """The family's adapter on `device` (a GPU when there is one), through `from_pretrained`."""
    if device not in DEVICES:
        raise DsconvError(f"--device must be one of {', '.join(DEVICES)}")
    mixed_precision(device)  # a GPU asked for must exist, before the weights are read
    adapter = load_adapter(get_adapter(ref.family), ref.source, revision)
    adapter.model.to(torch_device(device))
    return adapter
