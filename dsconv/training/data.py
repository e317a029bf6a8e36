"""Rows of a dsconv dataset (a local directory or a Hub id) as a torch Dataset.

`datasets` memory-maps the Parquet shards as Arrow, so random access costs no RAM. Images stay
encoded until a DataLoader worker asks for a row; the adapter's collator (the processor) runs in
the workers too, so the training process only moves tensors.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import datasets
import torch
from torch.utils.data import DataLoader, Sampler

from dsconv.errors import DsconvError
from dsconv.models.base import Example
from dsconv.models.generation import decode_image
from dsconv.models.sources import check_source
from dsconv.storage.dataset import shard_paths

REQUIRED_COLUMNS = ("image", "question", "answer")
# width, height, objects: what a family's own box coordinates are rendered from (AnswerFormat).
COLUMNS = ("id", "image", "task", "question", "answer", "answers", "width", "height", "objects")
VALIDATION_SPLITS = ("validation", "test")


def is_local(source: str) -> bool:
    return Path(source).exists()


def split_names(source: str) -> list[str]:
    """The dataset's splits; a missing folder or an unreachable Hub is one line, at once."""
    if is_local(source):
        return list(shard_paths(source))
    check_source(source, "dataset", "DATASET")
    try:
        return list(datasets.get_dataset_split_names(source))
    except Exception as exc:
        raise DsconvError(f"{source}: cannot open the dataset ({_first_line(exc)})") from exc


def load_split(source: str, split: str, cache_dir: str | None = None) -> datasets.Dataset:
    """One split with images left encoded (`{bytes, path}`), checked for the columns we need."""
    try:
        if is_local(source):
            # Not load_dataset("parquet"): that pings a download counter on the network.
            files = [str(p) for p in shard_paths(source, split)[split]]
            ds = datasets.Dataset.from_parquet(files, split=split, cache_dir=cache_dir)
        else:
            ds = datasets.load_dataset(source, split=split, cache_dir=cache_dir)
    except DsconvError:
        raise
    except Exception as exc:
        raise DsconvError(f"{source}: cannot read split {split!r} ({_first_line(exc)})") from exc
    missing = [c for c in REQUIRED_COLUMNS if c not in ds.column_names]
    if missing:
        raise DsconvError(f"{source}: split {split!r} has no {', '.join(missing)} column(s); "
                          "is it a VQA dataset written by dsconv?")
    ds = ds.select_columns([c for c in COLUMNS if c in ds.column_names])
    return ds.cast_column("image", datasets.Image(decode=False))


def tasks_of(ds: datasets.Dataset) -> list[str]:
    return sorted(ds.unique("task")) if "task" in ds.column_names else []


class RowDataset(torch.utils.data.Dataset):
    """Rows as dicts with a decoded `image`, decoded only when the row is fetched; `target`
    (the model's `AnswerFormat.target`) rewrites the answer the model learns."""

    def __init__(self, rows: datasets.Dataset,
                 target: Callable[[dict[str, Any]], str] | None = None) -> None:
        self.rows = rows
        self.target = target

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, Any]:
        row = dict(self.rows[int(index)])
        row["image"] = decode_image(row["image"], where=f"row {row.get('id', index)}")
        row.setdefault("answers", [row["answer"]])
        row.setdefault("task", "")
        if self.target is not None:
            row["answer"] = self.target(row)
        return row


class EpochSampler(Sampler[int]):
    """A shuffle that depends only on (seed, epoch), so a resumed run sees the same order."""

    def __init__(self, size: int, seed: int, shuffle: bool = True) -> None:
        self.size = size
        self.seed = seed
        self.shuffle = shuffle
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        if not self.shuffle:
            return iter(range(self.size))
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(torch.randperm(self.size, generator=generator).tolist())

    def __len__(self) -> int:
        return self.size


def collate_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For generation: keep rows as they are (images decoded in the worker)."""
    return rows


def make_loader(
    dataset: RowDataset,
    collate: Callable[[list[Example]], dict[str, Any]],
    batch_size: int,
    workers: int,
    seed: int,
    shuffle: bool,
) -> DataLoader:
    """The loader's own generator keeps worker seeding off the global RNG, which dropout uses.

    Workers persist across epochs: the shuffle happens in this process (`EpochSampler`), so
    nothing in a worker depends on the epoch, and an epoch does not pay for starting them.
    """
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=EpochSampler(len(dataset), seed, shuffle=shuffle),
        collate_fn=collate,
        num_workers=workers,
        generator=torch.Generator().manual_seed(seed),
        pin_memory=torch.cuda.is_available(),
        persistent_workers=workers > 0,
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
