"""`dsconv merge`: join the parts of a sharded conversion into one dataset."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from dsconv.cli.app import CONVERT, app


@app.command("merge", rich_help_panel=CONVERT)
def merge(
    parts: Annotated[list[Path], typer.Argument(
        help="Every part folder of one sharded conversion (any order).", show_default=False)],
    out: Annotated[Path, typer.Argument(help="The output folder for the whole dataset.")],
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Replace OUT if it exists.")] = False,
) -> None:
    """Join the parts written with --num-shards N --shard-index I into one dataset.

    The result equals one whole run's, row for row: the same ids in the same order, the same
    shards and the report summed over the parts (leakage re-checked across them). Parts of
    different conversions, or a set with a part missing, are refused.

    Example: [bold]dsconv merge out/parts/* out/coins-vqa[/]
    """
    from dsconv.cli.convert import print_summary
    from dsconv.pipeline.merge import merge_parts

    report = merge_parts(parts, out, overwrite=overwrite,
                         command=shlex.join(["dsconv", *sys.argv[1:]]))
    print_summary(report, out)
