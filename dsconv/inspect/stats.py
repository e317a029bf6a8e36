"""Numbers about a dataset, computed from its rows (not trusted from the report).

Rows of the same image (one per task) share its objects, so images and objects are counted
once per image, rows once per row.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from dsconv.storage.dataset import iter_rows, shard_paths

COLUMNS = ["image_id", "objects", "task", "answer"]


@dataclass
class SplitStats:
    rows: int = 0
    images: int = 0
    objects: int = 0
    per_class: dict[str, int] = field(default_factory=dict)
    tasks: dict[str, int] = field(default_factory=dict)
    answer_chars_min: int = 0
    answer_chars_mean: float = 0.0
    answer_chars_max: int = 0
    objects_per_image: dict[int, int] = field(default_factory=dict)  # objects → images


def dataset_stats(dataset_dir: Path, split: str | None = None) -> dict[str, SplitStats]:
    return {name: split_stats(dataset_dir, name) for name in shard_paths(dataset_dir, split)}


def split_stats(dataset_dir: Path, split: str) -> SplitStats:
    seen: set[str] = set()
    per_class: Counter[str] = Counter()
    tasks: Counter[str] = Counter()
    per_image: Counter[int] = Counter()
    lengths: list[int] = []
    for row in iter_rows(dataset_dir, split, columns=COLUMNS):
        tasks[row["task"]] += 1
        lengths.append(len(row["answer"]))
        if row["image_id"] in seen:
            continue
        seen.add(row["image_id"])
        categories = (row["objects"] or {}).get("category") or []
        per_class.update(categories)
        per_image[len(categories)] += 1
    return SplitStats(
        rows=len(lengths), images=len(seen), objects=sum(per_class.values()),
        per_class=dict(per_class), tasks=dict(tasks),
        answer_chars_min=min(lengths, default=0),
        answer_chars_mean=round(sum(lengths) / len(lengths), 2) if lengths else 0.0,
        answer_chars_max=max(lengths, default=0),
        objects_per_image=dict(sorted(per_image.items())),
    )


def class_order(stats: dict[str, SplitStats], vocabulary: list[str] | None = None) -> list[str]:
    """The report's classes in its order (zeros included), then any other by falling count."""
    totals: Counter[str] = Counter()
    for split in stats.values():
        totals.update(split.per_class)
    known = list(vocabulary or [])
    rest = sorted((c for c in totals if c not in known), key=lambda c: (-totals[c], c))
    return known + rest


def stats_json(stats: dict[str, SplitStats]) -> dict:
    """JSON-ready: per split, with histogram keys as strings (JSON objects have string keys)."""
    out = {}
    for name, split in stats.items():
        data = asdict(split)
        data["objects_per_image"] = {str(k): v for k, v in split.objects_per_image.items()}
        out[name] = data
    return out


def stats(path: str | Path, split: str | None = None) -> dict[str, SplitStats]:
    """Per split: rows, images, objects, class counts, answer lengths, objects per image.

    Example:
        >>> import dsconv
        >>> dsconv.stats("out/coins-vqa")["train"].rows
        38
    """
    return dataset_stats(Path(path), split)
