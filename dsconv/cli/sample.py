"""`dsconv sample`: small deterministic synthetic datasets for demos and tests."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dsconv.cli.app import MORE, Group, app, console
from dsconv.errors import DsconvError

sample_app = typer.Typer(
    cls=Group, no_args_is_help=True,
    help="Write a small synthetic dataset or a tiny model (offline demo and test data).\n\n"
    "Example: [bold]dsconv sample coins data/coins[/]")
app.add_typer(sample_app, name="sample", rich_help_panel=MORE)


@sample_app.command("coins")
def coins(
    out: Annotated[Path, typer.Argument(help="Folder to write the dataset into.")],
    images: Annotated[int, typer.Option(min=1, help="Number of images in all splits.")] = 48,
    seed: Annotated[int, typer.Option(min=0, help="Same seed, same bytes.")] = 0,
    fmt: Annotated[
        str, typer.Option("--format", help="coco (Roboflow export), yolo, voc, dota, labelme, "
                          "cvat, labelstudio or hf (Hub Parquet).")
    ] = "coco",
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Write into OUT even if it is not empty.")
    ] = False,
) -> None:
    """Synthetic US-currency detection photos (dime … twenty) in Roboflow's COCO layout,
    or in YOLO, Pascal VOC or DOTA layout.

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
        bool, typer.Option("--overwrite", help="Write into OUT even if it is not empty.")
    ] = False,
) -> None:
    """Synthetic document pages with questions and reference answers, in the Parquet layout
    of HuggingFaceM4/DocumentVQA (data/{split}-00000-of-00001.parquet).

    Example: [bold]dsconv sample docs data/docs && dsconv docvqa-to-vqa data/docs out/docs-vqa[/]
    """
    from dsconv.samples.docs import write_docs

    _refuse_non_empty(out, overwrite)
    console.print(str(write_docs(out, documents=documents, seed=seed)), highlight=False)


@sample_app.command("model")
def model(
    family: Annotated[str, typer.Argument(help="florence2 | moondream2")],
    out: Annotated[Path, typer.Argument(help="Folder to write the checkpoint into.")],
    dataset: Annotated[Path | None, typer.Option(
        help="A dsconv dataset whose questions and answers the tokenizer learns (shorter "
             "sequences, a faster demo).")] = None,
    revision: Annotated[str | None, typer.Option(
        help="moondream2: the Hub revision whose remote-code layout to copy, 2024-08-26 "
             "(default) or 2024-04-02.")] = None,
    seed: Annotated[int, typer.Option(min=0, help="Same seed, same weights.")] = 0,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Write into OUT even if it is not empty.")
    ] = False,
) -> None:
    """A tiny, randomly initialised checkpoint of a model family, made offline in seconds.

    It loads through the same code as the real checkpoint (Florence-2's transformers classes,
    Moondream2's remote code), so [bold]dsconv train --base OUT[/] and [bold]dsconv eval[/] run
    end to end on a CPU without the network. It has learnt nothing: real training needs the
    real checkpoint (leave out --base) and a GPU. Needs the train extra.

    Example: [bold]dsconv sample model florence2 out/tiny-florence2 --dataset out/coins-vqa[/]
    """
    from dsconv.training import train_extra

    _refuse_non_empty(out, overwrite)
    with train_extra("sample model"):
        from dsconv.testing.build import sample_model

        path = sample_model(family, out, dataset=dataset, revision=revision, seed=seed)
    console.print(f"wrote a tiny random {family} checkpoint to {path} (for offline demos and "
                  "tests; real training needs the real checkpoint and a GPU)", highlight=False)


def _refuse_non_empty(out: Path, overwrite: bool) -> None:
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise DsconvError(f"{out} is not empty (use --overwrite to write into it)")
