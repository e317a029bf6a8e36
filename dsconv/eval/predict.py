"""Predictions from a model for one split of a dataset: the generating half of `dsconv eval`.

Everything cheap is checked first (the split, the model folder, the model family) so a mistake
is one line before minutes go into loading a model. torch and the adapters are imported only
when a model is loaded: `dsconv score` and the CLI's `--help` stay torch-free.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import pyarrow.parquet as pq
import yaml

from dsconv.errors import DsconvError
from dsconv.eval.score import ROW_COLUMNS, ScoreResult, read_predictions, score_dataset, score_rows
from dsconv.models.registry import available
from dsconv.storage.dataset import iter_rows, shard_paths
from dsconv.training.hub import looks_local

if TYPE_CHECKING:
    from dsconv.models.base import ModelAdapter

PREDICTIONS_FILE = "predictions.jsonl"
# What `dsconv train` writes (dsconv.training.config and .setup), named here: those import
# torch.
RUN_FILE = "run.json"
FINAL, BEST = "final", "best"
# config.json `model_type` of the checkpoints each built-in family loads.
MODEL_TYPES = {"florence2": "florence2", "moondream1": "moondream2"}
INPUT_COLUMNS = ["id", "image", "question", "task", "width", "height"]  # the last 3: restore

T = TypeVar("T")
Progress = Callable[[Iterable[T], int | None, str], Iterable[T]]  # as pipeline.convert.Progress


def _no_progress(items: Iterable[T], total: int | None, label: str) -> Iterable[T]:
    return items


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


def check_split(dataset: str | Path, split: str) -> int:
    """Rows in the split; a missing dataset or an absent or empty split is an error."""
    rows = sum(pq.ParquetFile(p).metadata.num_rows for p in shard_paths(dataset, split)[split])
    if rows == 0:
        raise DsconvError(f"{dataset}: split {split!r} is empty")
    return rows


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
            return family
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
    from dsconv.models.registry import detect_family

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


def load_model(ref: ModelRef, revision: str | None = None, device: str = "auto") -> ModelAdapter:
    """The family's adapter on `device` (a GPU when there is one), through `from_pretrained`."""
    from dsconv.models.registry import get_adapter
    from dsconv.training.config import DEVICES, TrainConfig
    from dsconv.training.setup import load_adapter, mixed_precision

    if device not in DEVICES:
        raise DsconvError(f"--device must be one of {', '.join(DEVICES)}")
    mixed_precision(device)  # a GPU asked for must exist, before the weights are read
    adapter_cls = get_adapter(ref.family)
    adapter = load_adapter(adapter_cls, TrainConfig(model=ref.family, base=ref.source,
                                                    revision=revision))
    adapter.model.to(_device(device))
    return adapter


def _device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def write_predictions(
    adapter: ModelAdapter,
    dataset: str | Path,
    split: str,
    out_file: str | Path,
    *,
    batch_size: int = 8,
    max_new_tokens: int = 128,
    max_items: int | None = None,
    progress: Progress = _no_progress,
) -> int:
    """Generate an answer for each row, in dataset order, into `{"id", "prediction"}` lines.

    Lines are written as each batch is answered, so memory holds one batch; the file appears
    under its name only when complete. Returns the number of rows answered.
    """
    from contextlib import nullcontext

    import torch

    out_file = Path(out_file)
    total = check_split(dataset, split)
    total = total if max_items is None else min(total, max_items)
    rows = islice(iter_rows(dataset, split, columns=INPUT_COLUMNS), max_items)
    device = next(adapter.model.parameters()).device
    bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()  # as training validates
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if bf16 else nullcontext()
    tmp = out_file.with_name(f".{out_file.name}.tmp")
    written = 0
    try:
        with tmp.open("w", encoding="utf-8") as lines, autocast:
            records = _answers(adapter, rows, batch_size, max_new_tokens, str(dataset))
            for record in progress(records, total, split):
                lines.write(json.dumps(record, ensure_ascii=False) + "\n")
                written += 1
        os.replace(tmp, out_file)
    finally:
        tmp.unlink(missing_ok=True)
    return written


def _answers(
    adapter: ModelAdapter, rows: Iterable[dict], batch_size: int, max_new_tokens: int, where: str
) -> Iterator[dict[str, str]]:
    from dsconv.training.data import decode_image
    from dsconv.training.evaluate import generate_answers

    def batches() -> Iterator[list[dict]]:
        rows_left = iter(rows)
        while batch := list(islice(rows_left, batch_size)):
            yield [{**row, "image": decode_image(row["image"], f"{where}: row {row['id']}")}
                   for row in batch]

    answer_format = adapter.answer_format()  # scored in the stored box convention
    for batch, answers in generate_answers(adapter, batches(), max_new_tokens):
        for row, answer in zip(batch, answers, strict=True):
            yield {"id": row["id"], "prediction": answer_format.restore(answer, row)}


def score_predictions(
    predictions: str | Path, dataset: str | Path, split: str, max_items: int | None = None
) -> ScoreResult:
    """`dsconv score`'s scoring; with `max_items`, over the rows that were asked only."""
    if max_items is None:
        return score_dataset(predictions, dataset, split)
    rows = islice(iter_rows(dataset, split, columns=ROW_COLUMNS), max_items)
    return score_rows(rows, read_predictions(predictions))
