"""`dsconv coco-to-vqa` and friends: detection datasets → VQA Parquet datasets."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from dsconv.cli.app import CONVERT, app, console, progress
from dsconv.cli.scale import (
    MaxImageBytes,
    MaxImageSize,
    NumShards,
    Scale,
    ShardIndex,
    WorkersOpt,
)
from dsconv.converters.boxes import BoxPolicy
from dsconv.converters.detect import AUTO, choose_format
from dsconv.pipeline import convert as pipeline
from dsconv.pipeline.splits import parse_ratios
from dsconv.schemas.report import ConversionReport
from dsconv.storage.files import MAX_IMAGE_BYTES

Src = Annotated[Path, typer.Argument(help="The source dataset (folder or annotation file).")]
Out = Annotated[Path, typer.Argument(help="The output folder for the VQA dataset.")]
MaybeSrc = Annotated[Path | None, typer.Argument(
    help="The source dataset (folder or annotation file); omit with --roboflow.",
    show_default=False)]
MaybeOut = Annotated[Path | None, typer.Argument(
    help="The output folder for the VQA dataset.", show_default=False)]
Roboflow = Annotated[str | None, typer.Option(
    metavar="WORKSPACE/PROJECT/VERSION", help="Download this Roboflow dataset version and "
    "convert it (give only OUT); the API key comes from ROBOFLOW_API_KEY.")]
Tasks = Annotated[list[str], typer.Option(
    "--task", "-t", help="Question template; repeat for several (see `dsconv tasks`).")]
Noun = Annotated[str | None, typer.Option(
    help="The prompt's word for the classes (default: the COCO supercategory).")]
Prompt = Annotated[str | None, typer.Option(
    help="Question template overriding the task's; may use {noun} and {classes}, and for "
    "count-class and presence {class}, {a_class}, {plural}. florence-od always asks <OD>.")]
IncludeZero = Annotated[bool, typer.Option(help="Keep classes with a zero count in answers.")]
KeepCrowd = Annotated[bool, typer.Option(help="Count COCO iscrowd=1 regions as objects.")]
KeepDifficult = Annotated[bool, typer.Option(help="Count VOC difficult=1 objects.")]
Images = Annotated[Path | None, typer.Option(
    help="Image folder for a plain COCO annotation file (default: the file's folder), or "
    "where a Label Studio export's images are found by name (default: images/ beside it).")]
Seed = Annotated[int, typer.Option(
    help="Seed for anything drawn at random (paraphrases, absent classes).")]
Overwrite = Annotated[bool, typer.Option(help="Replace OUT if it exists.")]
Paraphrases = Annotated[int, typer.Option(
    min=1, help="Draw each question among the task's first N phrasings (1: the default only).")]
AbsentRate = Annotated[float, typer.Option(
    min=0.0, max=1.0, help="count-class: chance that each class absent from an image is also "
    "asked about (answer 0).")]
Classes = Annotated[str | None, typer.Option(
    help="Keep and rename classes: 'dime,penny', 'dime=10c,penny=1c' or a YAML file old: new. "
    "Other classes' objects are dropped (reason class_filtered).")]
BoxPolicyOpt = Annotated[BoxPolicy, typer.Option(
    help="Boxes partly outside the image: clip them to it, drop them, or stop with an error.")]
AllowOutside = Annotated[bool, typer.Option(
    help="Let image paths point outside the dataset folder (absolute, .., symlinks).")]
AllowEmpty = Annotated[bool, typer.Option(
    help="Write the dataset even when it has no rows or no objects (normally an error: a wrong "
    "format, folder or --classes).")]
BboxFormatOpt = Annotated[str | None, typer.Option(
    show_default="coco", help="hf: the boxes' format: coco [x, y, w, h], xyxy or pascal_voc "
    "[x1, y1, x2, y2] in pixels, yolo [cx, cy, w, h] as fractions.")]
HfColumn = Annotated[str | None, typer.Option(
    help="hf: the column (or objects field) name, when not the usual one.")]
SplitRatios = Annotated[str | None, typer.Option(
    help="Re-split by a hash of each image's bytes, e.g. 0.8,0.1,0.1 (train, validation, test). "
    "Default: the source's splits, or 0.8,0.1,0.1 when it has none.")]


def run_conversion(
    fmt: str, src: Path, out: Path, tasks: list[str], options: dict[str, Any], *,
    prompt: str | None, include_zero: bool, seed: int, overwrite: bool, paraphrases: int = 1,
    absent_rate: float = 0.0, classes: str | None = None, split_ratios: str | None = None,
    source: str | None = None, scale: Scale | None = None, allow_empty: bool = False,
) -> ConversionReport:
    """`dsconv.convert` with the command's arguments, then the summary."""
    scale = scale or Scale()
    share = scale.share
    if fmt == AUTO:
        found = choose_format(src)
        console.print(f"{escape(str(src))}: detected {escape(str(found))}", highlight=False,
                      soft_wrap=True)
        fmt = found.format
    report = pipeline.convert(
        src, out, format=fmt, tasks=tasks, prompt=prompt, include_zero=include_zero,
        seed=seed, paraphrases=paraphrases, absent_rate=absent_rate, classes=classes,
        split_ratios=parse_ratios(split_ratios) if split_ratios else None,
        overwrite=overwrite, allow_empty=allow_empty, max_image_size=scale.max_image_size,
        workers=scale.workers, num_shards=share.count if share else None,
        shard_index=share.index if share else None,
        progress=progress, command=shlex.join(["dsconv", *sys.argv[1:]]), card_source=source,
        **options,
    )
    print_summary(report, out)
    return report


def summary_table(report: ConversionReport, out: Path, columns: tuple[str, ...]) -> Table:
    """The summary's table, its title and cells escaped: names come from the source."""
    table = Table(title=escape(f"{out} ({report.source_format} → {', '.join(report.tasks)})"))
    for column in columns:
        table.add_column(column, justify="left" if column in ("split", "dropped") else "right")
    return table


def print_summary(report: ConversionReport, out: Path) -> None:
    table = summary_table(report, out, ("split", "images", "rows", "objects", "dropped"))
    for name, split in report.splits.items():
        image_drops = {f"image {k}": v for k, v in split.images_dropped.items()}
        drops = {**split.objects_dropped, **image_drops}
        table.add_row(escape(name), str(split.images), str(split.rows), str(split.objects_kept),
                      escape(", ".join(f"{k}: {v}" for k, v in drops.items()) or "-"))
    print_footer(report, out, table)


def print_footer(report: ConversionReport, out: Path, table: Table) -> None:
    """The table, then the first warnings and where the report is, shared by every converter."""
    console.print(table)
    for warning in report.warnings[:5]:
        console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    if len(report.warnings) > 5:
        console.print(f"[yellow]… {len(report.warnings) - 5} more warnings in the report[/]")
    report_file = escape(str(out / "conversion_report.json"))
    console.print(f"Wrote {escape(str(out))} (every drop and its reason: {report_file})")


@app.command("coco-to-vqa", rich_help_panel=CONVERT)
def coco_to_vqa(
    src: MaybeSrc = None, out: MaybeOut = None, task: Tasks = ["count-json"],  # noqa: B006
    images: Images = None,
    noun: Noun = None, prompt: Prompt = None, include_zero: IncludeZero = False,
    keep_crowd: KeepCrowd = False, seed: Seed = 0, overwrite: Overwrite = False,
    paraphrases: Paraphrases = 1, absent_rate: AbsentRate = 0.0, classes: Classes = None,
    split_ratios: SplitRatios = None, box_policy: BoxPolicyOpt = "clip",
    allow_outside_root: AllowOutside = False, roboflow: Roboflow = None,
    max_image_size: MaxImageSize = None, workers: WorkersOpt = None,
    num_shards: NumShards = None, shard_index: ShardIndex = None,
    allow_empty: AllowEmpty = False, max_image_bytes: MaxImageBytes = MAX_IMAGE_BYTES,
) -> None:
    """Convert a COCO dataset (Roboflow export or one annotation file) to a VQA dataset.

    Example: [bold]dsconv coco-to-vqa data/coins out/coins-vqa --noun currency[/]
    or straight from Roboflow: [bold]dsconv coco-to-vqa --roboflow my-team/coins/3 out/coins-vqa[/]
    """
    options = dict(images_dir=images, keep_crowd=keep_crowd, noun=noun, box_policy=box_policy,
                   allow_outside_root=allow_outside_root, max_image_bytes=max_image_bytes)
    from dsconv.cli.publish import roboflow_source

    with roboflow_source(roboflow, src, out) as (src, out, source):
        run_conversion("coco", src, out, task, options, prompt=prompt,
                       include_zero=include_zero, seed=seed, overwrite=overwrite,
                       paraphrases=paraphrases, absent_rate=absent_rate, classes=classes,
                       split_ratios=split_ratios, source=source, allow_empty=allow_empty,
                       scale=Scale.parse(workers, max_image_size, num_shards, shard_index))


@app.command("yolo-to-vqa", rich_help_panel=CONVERT)
def yolo_to_vqa(
    src: Src, out: Out, task: Tasks = ["count-json"],  # noqa: B006
    noun: Noun = None, prompt: Prompt = None, include_zero: IncludeZero = False,
    seed: Seed = 0, overwrite: Overwrite = False,
    paraphrases: Paraphrases = 1, absent_rate: AbsentRate = 0.0, classes: Classes = None,
    split_ratios: SplitRatios = None, box_policy: BoxPolicyOpt = "clip",
    allow_outside_root: AllowOutside = False, max_image_size: MaxImageSize = None,
    workers: WorkersOpt = None, num_shards: NumShards = None,
    shard_index: ShardIndex = None, allow_empty: AllowEmpty = False,
    max_image_bytes: MaxImageBytes = MAX_IMAGE_BYTES,
) -> None:
    """Convert a YOLO dataset (Ultralytics data.yaml layout or Darknet) to a VQA dataset.

    Example: [bold]dsconv yolo-to-vqa data/coins-yolo out/coins-vqa[/]
    """
    options = dict(noun=noun, box_policy=box_policy, allow_outside_root=allow_outside_root,
                   max_image_bytes=max_image_bytes)
    run_conversion("yolo", src, out, task, options, prompt=prompt,
                   include_zero=include_zero, seed=seed, overwrite=overwrite,
                   paraphrases=paraphrases, absent_rate=absent_rate, classes=classes,
                   split_ratios=split_ratios, allow_empty=allow_empty,
                   scale=Scale.parse(workers, max_image_size, num_shards, shard_index))


@app.command("voc-to-vqa", rich_help_panel=CONVERT)
def voc_to_vqa(
    src: Src, out: Out, task: Tasks = ["count-json"],  # noqa: B006
    noun: Noun = None, prompt: Prompt = None, include_zero: IncludeZero = False,
    keep_difficult: KeepDifficult = False, seed: Seed = 0, overwrite: Overwrite = False,
    paraphrases: Paraphrases = 1, absent_rate: AbsentRate = 0.0, classes: Classes = None,
    split_ratios: SplitRatios = None, box_policy: BoxPolicyOpt = "clip",
    allow_outside_root: AllowOutside = False, max_image_size: MaxImageSize = None,
    workers: WorkersOpt = None, num_shards: NumShards = None,
    shard_index: ShardIndex = None, allow_empty: AllowEmpty = False,
    max_image_bytes: MaxImageBytes = MAX_IMAGE_BYTES,
) -> None:
    """Convert a Pascal VOC dataset (Annotations/, JPEGImages/, ImageSets/) to a VQA dataset.

    Example: [bold]dsconv voc-to-vqa data/coins-voc out/coins-vqa[/]
    """
    options = dict(keep_difficult=keep_difficult, noun=noun, box_policy=box_policy,
                   allow_outside_root=allow_outside_root, max_image_bytes=max_image_bytes)
    run_conversion("voc", src, out, task, options, prompt=prompt,
                   include_zero=include_zero, seed=seed, overwrite=overwrite,
                   paraphrases=paraphrases, absent_rate=absent_rate, classes=classes,
                   split_ratios=split_ratios, allow_empty=allow_empty,
                   scale=Scale.parse(workers, max_image_size, num_shards, shard_index))


@app.command("convert", rich_help_panel=CONVERT)
def convert(
    src: Src, out: Out,
    from_: Annotated[str, typer.Option(
        "--from", help="Source format (see `dsconv formats`); auto: the one the source is "
        "detected as (see `dsconv detect`).")] = AUTO,
    task: Tasks = ["count-json"], images: Images = None,  # noqa: B006
    noun: Noun = None, prompt: Prompt = None, include_zero: IncludeZero = False,
    keep_crowd: KeepCrowd = False, keep_difficult: KeepDifficult = False,
    seed: Seed = 0, overwrite: Overwrite = False,
    paraphrases: Paraphrases = 1, absent_rate: AbsentRate = 0.0, classes: Classes = None,
    split_ratios: SplitRatios = None, box_policy: BoxPolicyOpt = "clip",
    allow_outside_root: AllowOutside = False, max_image_size: MaxImageSize = None,
    workers: WorkersOpt = None, num_shards: NumShards = None,
    shard_index: ShardIndex = None, allow_empty: AllowEmpty = False,
    max_image_bytes: MaxImageBytes = MAX_IMAGE_BYTES,
    bbox_format: BboxFormatOpt = None, image_col: HfColumn = None, objects_col: HfColumn = None,
    bbox_col: HfColumn = None, category_col: HfColumn = None,
) -> None:
    """Convert a dataset in any installed format, including third-party ones.

    Example: [bold]dsconv convert data/coins out/coins-vqa[/] (the format is detected;
    --from coco names it)
    """
    options = dict(images_dir=images, keep_crowd=keep_crowd, keep_difficult=keep_difficult,
                   noun=noun, box_policy=box_policy, allow_outside_root=allow_outside_root,
                   max_image_bytes=max_image_bytes)
    hf = dict(bbox_format=bbox_format, image_col=image_col, objects_col=objects_col,
              bbox_col=bbox_col, category_col=category_col)
    options.update({k: v for k, v in hf.items() if v is not None})
    run_conversion(from_, src, out, task, options, prompt=prompt,
                   include_zero=include_zero, seed=seed, overwrite=overwrite,
                   paraphrases=paraphrases, absent_rate=absent_rate, classes=classes,
                   split_ratios=split_ratios, allow_empty=allow_empty,
                   scale=Scale.parse(workers, max_image_size, num_shards, shard_index))
