"""Per-epoch validation: the loss on the validation rows and the task metric of generated answers.

Every process takes a share of the rows; every process gets the same numbers back, so they all
agree on whether this epoch is the best.
"""

from __future__ import annotations

from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import gather_object
from torch.utils.data import DataLoader, Subset

from dsconv.models.base import ModelAdapter
from dsconv.models.generation import generate_answers
from dsconv.training import data
from dsconv.training.checkpoint import using_model
from dsconv.training.metrics import score


@torch.no_grad()
def validation_loss(accelerator: Accelerator, adapter: ModelAdapter, loader: Any) -> float:
    adapter.model.eval()
    losses = []
    for batch in loader:
        with accelerator.autocast():
            losses.append(accelerator.gather(adapter.loss(batch).detach().float().reshape(1)))
    return torch.cat(losses).mean().item()


def generation_metrics(
    accelerator: Accelerator, adapter: ModelAdapter, rows: Any, *, batch_size: int, workers: int,
    max_new_tokens: int, seed: int,
) -> dict[str, Any]:
    """Answers from the adapter's `generate` (its own greedy settings), scored per task."""
    dataset = data.RowDataset(rows)
    mine: list[tuple[int, str]] = []
    with accelerator.split_between_processes(list(range(len(dataset)))) as indices:
        loader = DataLoader(
            Subset(dataset, indices), batch_size=batch_size, collate_fn=data.collate_rows,
            num_workers=workers, generator=torch.Generator().manual_seed(seed),
        )
        done = 0
        with using_model(adapter, accelerator.unwrap_model(adapter.model)), accelerator.autocast():
            for batch, answers in generate_answers(adapter, loader, max_new_tokens):
                mine += [(indices[done + i], answer) for i, answer in enumerate(answers)]
                done += len(batch)
    predictions = dict(gather_object(mine))
    references = rows.select_columns([c for c in rows.column_names if c != "image"])
    # Against the answers the model learnt: for a family with its own box coordinates, the
    # rows' answers rendered in them (exact match on restored answers would suffer rounding).
    learnt = [adapter.answer_format().reference(row) for row in references]
    return score([predictions[i] for i in range(len(dataset))], learnt)
