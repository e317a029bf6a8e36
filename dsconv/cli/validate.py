"""`dsconv validate`: check every row of a dataset; exit 1 on any problem."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from dsconv.cli.app import INSPECT, app, console, err_console, progress
from dsconv.storage.parallel import resolve_workers

SHOWN = 20


@app.command("validate", rich_help_panel=INSPECT)
def validate(
    dataset: Annotated[Path, typer.Argument(help="A dataset folder written by dsconv.")],
    deep: Annotated[bool, typer.Option(
        "--deep", help="Decode every image fully.")] = False,
    strict: Annotated[bool, typer.Option(
        "--strict",
        help="Fail on leakage (the same image bytes in two splits), not only warn.")] = False,
    workers: Annotated[int | None, typer.Option(
        min=1, show_default="all cores",
        help="Processes decoding images with --deep; problems are listed in row order "
        "whatever the number.")] = None,
) -> None:
    """Check every row, every answer against its objects, and every image; exit 1 on any problem.


    Example: [bold]dsconv validate out/coins-vqa[/]
    """
    from dsconv.validation import validate_dataset

    result = validate_dataset(dataset, deep=deep, strict=strict,
                              workers=resolve_workers(workers), progress=progress)
    table = Table(title=escape(f"validate {dataset}"))
    table.add_column("split")
    table.add_column("rows", justify="right")
    table.add_column("problems", justify="right")
    for split, rows in result.rows.items():
        problems = sum(1 for p in result.problems if p.split == split)
        table.add_row(split, str(rows), str(problems))
    console.print(table)
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)
    for problem in result.problems[:SHOWN]:
        err_console.print(f"[red]✗[/] {escape(str(problem))}", highlight=False, soft_wrap=True)
    if len(result.problems) > SHOWN:
        err_console.print(f"… and {len(result.problems) - SHOWN} more problems")
    if not result.ok:
        err_console.print(f"[bold red]{len(result.problems)} problems[/] in {escape(str(dataset))}",
                          highlight=False)
        raise typer.Exit(1)
    console.print(f"[bold green]✓[/] {sum(result.rows.values())} rows valid "
                  + escape(f"({', '.join(f'{t}: {n}' for t, n in result.tasks.items())})"))
