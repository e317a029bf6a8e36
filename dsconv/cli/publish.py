"""`dsconv push`, `pull`, `export` and `card`: a dataset to and from other places."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from dsconv.cli.app import PUBLISH, Group, app, console, err_console, progress
from dsconv.errors import DsconvError

Dataset = Annotated[Path, typer.Argument(help="A dataset folder written by dsconv.")]

pull_app = typer.Typer(
    cls=Group, no_args_is_help=True,
    help="Download a labelled dataset to convert (Roboflow).\n\n"
    "Example: [bold]dsconv pull roboflow my-team/coins/3 data/coins[/]")
app.add_typer(pull_app, name="pull", rich_help_panel=PUBLISH)


@app.command("push", rich_help_panel=PUBLISH)
def push(
    dataset: Dataset,
    repo_id: Annotated[str, typer.Argument(help="The Hub dataset repo, e.g. me/coins-vqa.")],
    private: Annotated[bool, typer.Option(
        "--private", help="Create the repo private (an existing repo keeps its visibility).")
    ] = False,
    revision: Annotated[str | None, typer.Option(
        help="Branch to push to (created from main if missing).")] = None,
    commit_message: Annotated[str | None, typer.Option(help="The commit's message.")] = None,
    token: Annotated[str | None, typer.Option(
        help="Hub token (default: HF_TOKEN, then the stored `hf auth login`).",
        show_default=False)] = None,
    no_validate: Annotated[bool, typer.Option(
        "--no-validate", help="Push even if `dsconv validate` finds problems.")] = False,
    large: Annotated[bool, typer.Option(
        "--large", help="Resumable upload in several commits (automatic above 5 GiB).")
    ] = False,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Validate and list what would be uploaded; no network.")] = False,
) -> None:
    """Upload a dataset (shards, card, report) to a Hub dataset repo and print its URL.

    Example: [bold]dsconv push out/coins-vqa me/coins-vqa --private[/]
    """
    from dsconv.publish.push import plan_push, push_dataset

    if dry_run:
        plan = plan_push(dataset, validate=not no_validate)
        _print_warnings(plan.warnings)
        table = Table("file", "bytes", title=escape(f"would push {dataset} to {repo_id}"))
        table.columns[1].justify = "right"
        for name in plan.files:
            table.add_row(escape(name), f"{(dataset / name).stat().st_size:,}")
        console.print(table)
        console.print(f"{len(plan.files)} files, {plan.nbytes:,} bytes (dry run: nothing sent)")
        return
    result = push_dataset(dataset, repo_id, private=private, revision=revision,
                          commit_message=commit_message, token=token,
                          validate=not no_validate, large=True if large else None)
    _print_warnings(result.warnings)
    console.print(f"Pushed {len(result.files)} files to {result.repo_id}", highlight=False)
    console.print(result.url, highlight=False, soft_wrap=True)


@pull_app.command("roboflow")
def pull_roboflow(
    ref: Annotated[str, typer.Argument(
        metavar="WORKSPACE/PROJECT/VERSION", help="The Roboflow dataset version.")],
    dest: Annotated[Path, typer.Argument(help="Folder to download into.")],
    fmt: Annotated[str, typer.Option(
        "--format", help="coco, yolo or voc (dsconv's format names; Roboflow's YOLO export is "
        "its yolov8).")] = "coco",
    api_key: Annotated[str | None, typer.Option(
        help="Roboflow API key (default: ROBOFLOW_API_KEY).", show_default=False)] = None,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Replace DEST if it is not empty.")] = False,
) -> None:
    """Download a dataset version from Roboflow, ready for `dsconv coco-to-vqa` and friends.

    Example: [bold]dsconv pull roboflow my-team/coins/3 data/coins[/]
    """
    from dsconv.publish.roboflow import FORMAT_NAMES, RoboflowRef, pull

    if fmt not in FORMAT_NAMES:
        raise DsconvError(f"--format {fmt!r}: choose from {', '.join(FORMAT_NAMES)}")
    parsed = RoboflowRef.parse(ref)
    folder = pull(parsed, dest, fmt=FORMAT_NAMES[fmt], api_key=api_key, overwrite=overwrite)
    console.print(f"Downloaded {parsed} ({fmt}) to {folder}", highlight=False)
    console.print(f"Convert it with: dsconv {fmt}-to-vqa {folder} OUT", highlight=False)


@app.command("export", rich_help_panel=PUBLISH)
def export(
    dataset: Dataset,
    to: Annotated[str, typer.Option(
        "--to", help="jsonl (image/prefix/suffix + image files) or messages (TRL chat).")],
    out: Annotated[Path, typer.Argument(help="The folder to write.")],
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Replace OUT if it exists.")] = False,
) -> None:
    """Write the dataset in a layout other fine-tuning tools read.

    Example: [bold]dsconv export out/coins-vqa --to messages out/coins-chat[/]
    """
    from dsconv.publish.export import export_dataset

    result = export_dataset(dataset, to, out, overwrite=overwrite, progress=progress)
    table = Table("split", "rows", "images", title=escape(f"{out} ({to})"))
    for column in table.columns[1:]:
        column.justify = "right"
    for split, rows in result.rows.items():
        table.add_row(split, str(rows), str(result.images[split]))
    console.print(table)


@app.command("card", rich_help_panel=PUBLISH)
def card(
    dataset: Dataset,
    name: Annotated[str | None, typer.Option(help="The card's title.")] = None,
    source: Annotated[str | None, typer.Option(help="Where the data came from.")] = None,
    command: Annotated[str | None, typer.Option(help="The command that made it.")] = None,
    license: Annotated[str | None, typer.Option(
        help="Hub license id, e.g. cc-by-4.0.")] = None,
    repo_id: Annotated[str | None, typer.Option(
        help="Hub repo the card tells users to load.")] = None,
) -> None:
    """Regenerate README.md (and its class histogram) from the report and the rows.

    What is not given keeps the value the old card recorded.
    Example: [bold]dsconv card out/coins-vqa --repo-id me/coins-vqa --license cc-by-4.0[/]
    """
    from dsconv.pipeline.card import write_card

    for path in write_card(dataset, name=name, source=source, command=command, license=license,
                           repo_id=repo_id):
        console.print(escape(f"Wrote {path}"), highlight=False)


@contextlib.contextmanager
def roboflow_source(
    ref: str | None, src: Path | None, out: Path | None, fmt: str = "coco",
) -> Iterator[tuple[Path, Path, str | None]]:
    """(source folder, output folder, source label) for a `*-to-vqa` command.

    With `--roboflow`, the one positional argument is OUT and the source is a download in a
    temporary folder beside it, removed once the conversion is done.
    """
    if ref is None:
        if src is None or out is None:
            raise DsconvError("give SRC and OUT (or --roboflow WORKSPACE/PROJECT/VERSION OUT)")
        yield src, out, None
        return
    from dsconv.publish.roboflow import RoboflowRef, pulled

    if src is not None and out is not None:
        raise DsconvError("with --roboflow, give only OUT (the source is the download)")
    out = out or src
    if out is None:
        raise DsconvError("missing OUT (--roboflow WORKSPACE/PROJECT/VERSION OUT)")
    parsed = RoboflowRef.parse(ref)
    with pulled(parsed, fmt, out.resolve().parent) as folder:
        yield folder, out, f"roboflow:{parsed}"


def _print_warnings(warnings: list[str]) -> None:
    for warning in warnings:
        err_console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False,
                          soft_wrap=True)
