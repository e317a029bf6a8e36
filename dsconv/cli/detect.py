"""`dsconv detect`: which source format a folder or file is, and why."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from dsconv.cli.app import CONVERT, app, console, err_console
from dsconv.converters.detect import FormatNotDetectedError, choose_format, detect_formats
from dsconv.errors import DsconvError


@app.command("detect", rich_help_panel=CONVERT)
def detect(
    src: Annotated[Path, typer.Argument(help="The source dataset (folder or annotation file).")],
) -> None:
    """Say which installed format a dataset looks like, how sure, and which files say so.

    Exit 0 when exactly one format is recognised (`dsconv convert SRC OUT` then uses it),
    1 when none is or several are equally.

    Example: [bold]dsconv detect data/coins[/]
    """
    if not src.exists():
        raise DsconvError(f"{src}: no such file or folder")
    found = detect_formats(src)
    table = Table("format", "confidence", "evidence", title=escape(str(src)))
    for claim in found:
        table.add_row(escape(claim.format), f"{claim.confidence:.2f}", escape(claim.evidence))
    if found:
        console.print(table)
    try:
        chosen = choose_format(src, found)
    except FormatNotDetectedError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False,
                          soft_wrap=True)
        raise typer.Exit(1) from None
    console.print(f"{escape(str(src))} is {escape(chosen.format)}: "
                  f"dsconv convert {escape(str(src))} OUT", highlight=False)
