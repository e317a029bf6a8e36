"""`dsconv coco-to-vqa` and friends: detection datasets → VQA Parquet datasets."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from dsconv.cli.app import app, console, progress
from dsconv.converters.base import Ledger, ReaderOptions
from dsconv.converters.registry import available, get_reader
from dsconv.convert import ConvertOptions, convert_detection
from dsconv.schemas.report import ConversionReport
from dsconv.tasks.base import TaskContext, all_tasks, get_task

Src = Annotated[Path, typer.Argument(help="The source dataset (folder or annotation file).")]
Out = Annotated[Path, typer.Argument(help="The output folder for the VQA dataset.")]
Tasks = Annotated[list[str], typer.Option(
    "--task", "-t", help="Question template; repeat for several (see `dsconv tasks`).")]
Noun = Annotated[str | None, typer.Option(
    help="The prompt's word for the classes (default: the COCO supercategory).")]
Prompt = Annotated[str | None, typer.Option(
    help="Question template overriding the task's; may use {noun} and {classes}.")]
IncludeZero = Annotated[bool, typer.Option(help="Keep classes with a zero count in answers.")]
KeepCrowd = Annotated[bool, typer.Option(help="Count COCO iscrowd=1 regions as objects.")]
KeepDifficult = Annotated[bool, typer.Option(help="Count VOC difficult=1 objects.")]
Images = Annotated[Path | None, typer.Option(
    help="Image folder for a plain COCO annotation file (default: the file's folder).")]
Seed = Annotated[int, typer.Option(help="Seed for anything drawn at random (paraphrases).")]
Overwrite = Annotated[bool, typer.Option(help="Replace OUT if it exists.")]


def run_conversion(
    fmt: str, src: Path, out: Path, tasks: list[str], options: ReaderOptions, *,
    prompt: str | None, include_zero: bool, seed: int, overwrite: bool,
) -> ConversionReport:
    ledger = Ledger()
    reader = get_reader(fmt)(src, ledger, options)
    context = TaskContext(reader.vocabulary(), prompt=prompt, include_zero=include_zero, seed=seed)
    convert_options = ConvertOptions(
        out=out, tasks=[get_task(t) for t in tasks], context=context, overwrite=overwrite,
        source=str(src), command=shlex.join(["dsconv", *sys.argv[1:]]),
    )
    report = convert_detection(reader, ledger, convert_options, progress)
    print_summary(report, out)
    return report


def print_summary(report: ConversionReport, out: Path) -> None:
    table = Table(title=f"{out} ({report.source_format} → {', '.join(report.tasks)})")
    for column in ("split", "images", "rows", "objects", "dropped"):
        table.add_column(column, justify="left" if column in ("split", "dropped") else "right")
    for name, split in report.splits.items():
        drops = {**split.objects_dropped, **{f"image {k}": v for k, v in split.images_dropped.items()}}
        table.add_row(name, str(split.images), str(split.rows), str(split.objects_kept),
                      ", ".join(f"{k}: {v}" for k, v in drops.items()) or "-")
    console.print(table)
    for warning in report.warnings[:5]:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    if len(report.warnings) > 5:
        console.print(f"[yellow]… {len(report.warnings) - 5} more warnings in the report[/]")
    console.print(f"Wrote {out} (every drop and its reason: {out / 'conversion_report.json'})")


@app.command("coco-to-vqa")
def coco_to_vqa(
    src: Src, out: Out, task: Tasks = ["count-json"], images: Images = None,  # noqa: B006
    noun: Noun = None, prompt: Prompt = None, include_zero: IncludeZero = False,
    keep_crowd: KeepCrowd = False, seed: Seed = 0, overwrite: Overwrite = False,
) -> None:
    """Convert a COCO dataset (Roboflow export or one annotation file) to a VQA dataset.

    Example: [bold]dsconv coco-to-vqa data/coins out/coins-vqa --noun currency[/]
    """
    run_conversion("coco", src, out, task,
                   ReaderOptions(images_dir=images, keep_crowd=keep_crowd, noun=noun),
                   prompt=prompt, include_zero=include_zero, seed=seed, overwrite=overwrite)


@app.command("yolo-to-vqa")
def yolo_to_vqa(
    src: Src, out: Out, task: Tasks = ["count-json"],  # noqa: B006
    noun: Noun = None, prompt: Prompt = None, include_zero: IncludeZero = False,
    seed: Seed = 0, overwrite: Overwrite = False,
) -> None:
    """Convert a YOLO dataset (Ultralytics data.yaml layout or Darknet) to a VQA dataset.

    Example: [bold]dsconv yolo-to-vqa data/coins-yolo out/coins-vqa[/]
    """
    run_conversion("yolo", src, out, task, ReaderOptions(noun=noun), prompt=prompt,
                   include_zero=include_zero, seed=seed, overwrite=overwrite)


@app.command("voc-to-vqa")
def voc_to_vqa(
    src: Src, out: Out, task: Tasks = ["count-json"],  # noqa: B006
    noun: Noun = None, prompt: Prompt = None, include_zero: IncludeZero = False,
    keep_difficult: KeepDifficult = False, seed: Seed = 0, overwrite: Overwrite = False,
) -> None:
    """Convert a Pascal VOC dataset (Annotations/, JPEGImages/, ImageSets/) to a VQA dataset.

    Example: [bold]dsconv voc-to-vqa data/coins-voc out/coins-vqa[/]
    """
    run_conversion("voc", src, out, task, ReaderOptions(keep_difficult=keep_difficult, noun=noun),
                   prompt=prompt, include_zero=include_zero, seed=seed, overwrite=overwrite)


@app.command("convert")
def convert(
    src: Src, out: Out,
    from_: Annotated[str, typer.Option("--from", help="Source format (see `dsconv formats`).")],
    task: Tasks = ["count-json"], images: Images = None,  # noqa: B006
    noun: Noun = None, prompt: Prompt = None, include_zero: IncludeZero = False,
    keep_crowd: KeepCrowd = False, keep_difficult: KeepDifficult = False,
    seed: Seed = 0, overwrite: Overwrite = False,
) -> None:
    """Convert a dataset in any installed format, including third-party ones.

    Example: [bold]dsconv convert data/coins out/coins-vqa --from coco[/]
    """
    options = ReaderOptions(images_dir=images, keep_crowd=keep_crowd,
                            keep_difficult=keep_difficult, noun=noun)
    run_conversion(from_, src, out, task, options, prompt=prompt, include_zero=include_zero,
                   seed=seed, overwrite=overwrite)


@app.command("formats")
def formats() -> None:
    """List the source formats installed (built in and from plugins)."""
    table = Table("format", "reader", "description")
    for name, target in available().items():
        reader = get_reader(name)
        table.add_row(name, target, getattr(reader, "description", ""))
    console.print(table)


@app.command("tasks")
def tasks() -> None:
    """List the question/answer templates."""
    table = Table("task", "what it asks")
    for item in all_tasks():
        table.add_row(item.name, item.summary)
    console.print(table)
