"""`dsconv eval`: generate answers with a model, then score them exactly as `dsconv score` does.

Only the checks and the file layout live here; torch loads when the model does, not on import.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dsconv.cli.app import MODEL, app, console, progress
from dsconv.training import train_extra


@app.command("eval", rich_help_panel=MODEL)
def eval_command(
    checkpoint: Annotated[str, typer.Argument(
        help="A `dsconv train` run directory, its final/ or best/ folder, a local model "
             "folder, or a Hub checkpoint id owner/name.")],
    dataset: Annotated[Path, typer.Option("--dataset", help="A dataset directory from dsconv.")],
    split: Annotated[str, typer.Option(help="The split to answer and score.")] = "test",
    batch_size: Annotated[int, typer.Option(min=1, help="Rows generated together.")] = 8,
    max_new_tokens: Annotated[int, typer.Option(min=1, help="Longest answer, in tokens.")] = 128,
    model: Annotated[str | None, typer.Option(
        "--model", "-m", help="The model family: florence2 | moondream2 | paligemma | chat "
        "(default: read from the run or the checkpoint's config).")] = None,
    revision: Annotated[str | None, typer.Option(help="Revision of a Hub checkpoint.")] = None,
    out: Annotated[Path | None, typer.Option(
        help="Folder for predictions.jsonl and metrics.json. (default: RUN_DIR/eval-final-SPLIT "
             "for a dsconv run, else ./eval-NAME-SPLIT)")] = None,
    failures: Annotated[
        int, typer.Option(min=0, help="Also write the N worst rows to failures.jsonl.")
    ] = 0,
    max_items: Annotated[int | None, typer.Option(
        min=1, help="Answer and score the first N rows only.")] = None,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda.")] = "auto",
) -> None:
    """Answer every row of a split with a model (greedy), then score it like [bold]dsconv score[/].

    Writes predictions.jsonl (one {"id", "prediction"} line a row, in dataset order) and
    metrics.json (+ failures.jsonl with --failures).

    Example: [bold]dsconv eval runs/coins --dataset out/coins-vqa --split test[/]
    """
    with train_extra("eval"):
        from dsconv.eval.evaluate import evaluate
        from dsconv.eval.report import print_report

        evaluation = evaluate(
            checkpoint, dataset, split=split, batch_size=batch_size,
            max_new_tokens=max_new_tokens, family=model, revision=revision, out=out,
            failures=failures, max_items=max_items, device=device, progress=progress,
            on_start=lambda rows, ref: console.print(
                f"answering {rows} rows of {dataset} ({split}) with {ref.source} "
                f"({ref.family})", highlight=False))
        print_report(evaluation.result.metrics, console)
        for path in evaluation.written:
            console.print(f"wrote {path}", highlight=False)
