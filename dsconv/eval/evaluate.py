"""`dsconv.evaluate`: answer a split with a model, then score the answers like `dsconv.score`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dsconv.eval.predict import (
    PREDICTIONS_FILE,
    check_split,
    score_predictions,
    write_predictions,
)
from dsconv.eval.score import ScoreResult, write_results
from dsconv.models.loading import ModelRef, load_model, resolve_model
from dsconv.progress import Progress, no_progress


@dataclass
class Evaluation:
    """The scores, and where the predictions and metrics were written."""

    result: ScoreResult
    predictions: Path
    written: list[Path]
    family: str


def evaluate(
    model: str | Path, dataset: str | Path, *, split: str = "test", batch_size: int = 8,
    max_new_tokens: int = 128, family: str | None = None, revision: str | None = None,
    out: str | Path | None = None, failures: int = 0, max_items: int | None = None,
    device: str = "auto", progress: Progress | None = None,
    on_start: Callable[[int, ModelRef], None] | None = None,
) -> Evaluation:
    """Generate an answer for every row of `split` with greedy decoding and dsconv's own
    generation settings, write predictions.jsonl, and score it. `model` is a `dsconv train`
    run directory (its best checkpoint), a `final`/`best` folder, a model folder or a Hub
    id; the family is read from it unless `family` says. `on_start(rows, model)` is called
    once the model is loaded, before answering. Needs the `train` extra.

    Example:
        >>> import dsconv
        >>> dsconv.evaluate("runs/coins", "out/coins-vqa").result.metrics["exact_match"]
        0.855
    """
    total = check_split(dataset, split)
    ref = resolve_model(str(model), family)
    adapter = load_model(ref, revision, device)
    if on_start is not None:
        on_start(total if max_items is None else min(total, max_items), ref)
    out_dir = Path(out) if out is not None else ref.default_out(split)
    out_dir.mkdir(parents=True, exist_ok=True)
    predictions = out_dir / PREDICTIONS_FILE
    write_predictions(adapter, dataset, split, predictions, batch_size=batch_size,
                      max_new_tokens=max_new_tokens, max_items=max_items,
                      progress=progress or no_progress)
    result = score_predictions(predictions, dataset, split, max_items)
    written = [predictions, *write_results(result, out_dir, failures)]
    return Evaluation(result, predictions, written, ref.family)
