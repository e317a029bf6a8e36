"""`dsconv sample`: small deterministic synthetic datasets for demos and tests."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dsconv.cli.app import MORE, Group, app, console
from dsconv.errors import DsconvError

sample_app = typer.Typer(
    cls=Group, help="Write a small synthetic dataset (offline demo and test data).",
    no_args_is_help=True)
app.add_typer(sample_app, name="sample", rich_help_panel=MORE)


@sample_app.command("coins")
def coins(
    out: Annotated[Path, typer.Argument(help="Folder to write the dataset into.")],
    images: Annotated[int, typer.Option(min=1, help="Number of images in all splits.")] = 48,
    seed: Annotated[int, typer.Option(min=0, help="Same seed, same bytes.")] = 0,
    fmt: Annotated[
        str, typer.Option("--format", help="coco (Roboflow export), yolo or voc.")
    ] = "coco",
    overwrite: Annotated[
        bool, typer.Option(help="Write into OUT even if it is not empty.")
    ] = False,
) -> None:
    """Synthetic US-currency detection photos (dime … twenty) in Roboflow's COCO layout,
    or in YOLO or Pascal VOC layout.

    Example: [bold]dsconv sample coins data/coins[/]
    """
    from dsconv.samples.coins import FORMATS, write_coins

    if fmt not in FORMATS:
        raise DsconvError(f"unknown sample format {fmt!r} (choose from {', '.join(FORMATS)})")
    _refuse_non_empty(out, overwrite)
    console.print(str(write_coins(out, images=images, seed=seed, fmt=fmt)), highlight=False)


@sample_app.command("docs")
def docs(
    out: Annotated[Path, typer.Argument(help="Folder to write the dataset into.")],
    documents: Annotated[int, typer.Option(min=1, help="Number of document images.")] = 12,
    seed: Annotated[int, typer.Option(min=0, help="Same seed, same bytes.")] = 0,
    overwrite: Annotated[
        bool, typer.Option(help="Write into OUT even if it is not empty.")
    ] = False,
) -> None:
    """Synthetic document pages with questions and reference answers, in the Parquet layout
    of HuggingFaceM4/DocumentVQA (data/{split}-00000-of-00001.parquet).

    Example: [bold]dsconv sample docs data/docs && dsconv docvqa-to-vqa data/docs out/docs-vqa[/]
    """
    from dsconv.samples.docs import write_docs

    _refuse_non_empty(out, overwrite)
    console.print(str(write_docs(out, documents=documents, seed=seed)), highlight=False)


def _refuse_non_empty(out: Path, overwrite: bool) -> None:
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise DsconvError(f"{out} is not empty (use --overwrite to write into it)")
