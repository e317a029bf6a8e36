"""Predictions from a model for one split of a dataset: the generating half of `dsconv eval`.

The split is checked before a model is loaded (finding and loading one is
`dsconv.models.loading`'s), so a mistake is one line before minutes go into loading. torch is
imported only when answering: `dsconv score` and the CLI's `--help` stay torch-free.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow.parquet as pq

from dsconv.errors import DsconvError
from dsconv.eval.score import ROW_COLUMNS, ScoreResult, read_predictions, score_dataset, score_rows
from dsconv.progress import Progress, no_progress
from dsconv.storage.dataset import iter_rows, shard_paths

if TYPE_CHECKING:
    from dsconv.models.base import ModelAdapter

PREDICTIONS_FILE = "predictions.jsonl"
INPUT_COLUMNS = ["id", "image", "question", "task", "width", "height"]  # the last 3: restore

def check_split(dataset: str | Path, split: str) -> int:
    """Rows in the split; a missing dataset or an absent or empty split is an error."""
    rows = sum(pq.ParquetFile(p).metadata.num_rows for p in shard_paths(dataset, split)[split])
    if rows == 0:
        raise DsconvError(f"{dataset}: split {split!r} is empty")
    return rows


def write_predictions(
    adapter: ModelAdapter,
    dataset: str | Path,
    split: str,
    out_file: str | Path,
    *,
    batch_size: int = 8,
    max_new_tokens: int = 128,
    max_items: int | None = None,
    progress: Progress = no_progress,
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
    from dsconv.models.generation import decode_image, generate_answers

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
