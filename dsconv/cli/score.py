"""`dsconv score`: metrics for a predictions file against a dataset split, on the CPU."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dsconv.cli.app import MODEL, app, console


@app.command("score", rich_help_panel=MODEL)
def score_command(
    predictions: Annotated[
        Path, typer.Argument(help='JSON Lines of {"id": ..., "prediction": "..."}.')
    ],
    dataset: Annotated[Path, typer.Option("--dataset", help="A dataset directory from dsconv.")],
    split: Annotated[str, typer.Option(help="The split the predictions are for.")] = "test",
    out: Annotated[
        Path | None,
        typer.Option(help="Folder for metrics.json (default: the predictions file's folder)."),
    ] = None,
    failures: Annotated[
        int, typer.Option(min=0, help="Also write the N worst rows to failures.jsonl.")
    ] = 0,
) -> None:
    """Score predictions: exact match for every task, plus count, ANLS and mAP metrics by task.

    Example: [bold]dsconv score predictions.jsonl --dataset out/coins-vqa --failures 20[/]
    """
    from dsconv.eval.report import print_report
    from dsconv.eval.score import score_dataset, write_results

    result = score_dataset(predictions, dataset, split)
    written = write_results(result, out or predictions.parent, failures)
    print_report(result.metrics, console)
    for path in written:
        console.print(f"wrote {path}", highlight=False)
