"""`dsconv X-to-vqa` for every installed format, and `dsconv convert`: detection datasets →
VQA Parquet datasets.

The commands are generated from the reader registry: one shared set of options, plus the
options of each format's own options class (`ReaderOptions` subclasses, with each field's
help in its metadata). A plugin format installed through `dsconv.converters` gets its
command with nothing written here.
"""

from __future__ import annotations

import inspect
import shlex
import sys
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Annotated, Any, get_type_hints

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
from dsconv.converters.base import ReaderOptions
from dsconv.converters.boxes import BoxPolicy
from dsconv.converters.detect import AUTO, choose_format
from dsconv.converters.registry import available, get_reader
from dsconv.errors import DsconvError
from dsconv.pipeline import convert as pipeline
from dsconv.pipeline.splits import parse_ratios
from dsconv.publish.roboflow import FORMAT_NAMES as ROBOFLOW_FORMATS
from dsconv.publish.roboflow import READERS as ROBOFLOW_READERS_BY_EXPORT
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
    help="The prompt's word for the classes (default: a COCO export's supercategory, "
    "else \"object\").")]
Prompt = Annotated[str | None, typer.Option(
    help="Question template overriding the task's; may use {noun} and {classes}, and for "
    "count-class and presence {class}, {a_class}, {plural}. florence-od always asks <OD>.")]
IncludeZero = Annotated[bool, typer.Option(
    "--include-zero", help="Keep classes with a zero count in answers.")]
Seed = Annotated[int, typer.Option(
    help="Seed for anything drawn at random (paraphrases, absent classes).")]
Overwrite = Annotated[bool, typer.Option(
    "--overwrite", help="Replace OUT if it exists.")]
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
    "--allow-outside-root",
    help="Let image paths point outside the dataset folder (absolute, .., symlinks).")]
FromFormat = Annotated[str, typer.Option(
    "--from", help="Source format (see `dsconv formats`); auto: the one the source is "
    "detected as (see `dsconv detect`).")]
KEYWORD = inspect.Parameter.KEYWORD_ONLY
ROBOFLOW_READERS = frozenset(ROBOFLOW_READERS_BY_EXPORT.values())  # formats Roboflow exports
AllowEmpty = Annotated[bool, typer.Option(
    "--allow-empty", help="Write the dataset even when it has no rows or no objects (normally "
    "an error: a wrong format, folder or --classes).")]
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


def _shared(fmt: str | None) -> list[inspect.Parameter]:
    """The options every conversion command has, in the order help lists them."""
    def opt(name: str, kind: Any, default: Any) -> inspect.Parameter:
        return inspect.Parameter(name, KEYWORD, annotation=kind, default=default)

    roboflow = fmt is not None and fmt in ROBOFLOW_READERS
    params = [
        opt("src", MaybeSrc if roboflow else Src, None if roboflow else inspect.Parameter.empty),
        opt("out", MaybeOut if roboflow else Out, None if roboflow else inspect.Parameter.empty),
    ]
    if fmt is None:
        params.append(opt("from_", FromFormat, AUTO))
    params += [
        opt("task", Tasks, ["count-json"]), opt("noun", Noun, None), opt("prompt", Prompt, None),
        opt("include_zero", IncludeZero, False), opt("seed", Seed, 0),
        opt("overwrite", Overwrite, False), opt("allow_empty", AllowEmpty, False),
        opt("paraphrases", Paraphrases, 1), opt("absent_rate", AbsentRate, 0.0),
        opt("classes", Classes, None), opt("split_ratios", SplitRatios, None),
        opt("box_policy", BoxPolicyOpt, "clip"),
        opt("allow_outside_root", AllowOutside, False),
        opt("max_image_bytes", MaxImageBytes, MAX_IMAGE_BYTES),
        opt("max_image_size", MaxImageSize, None), opt("workers", WorkersOpt, None),
        opt("num_shards", NumShards, None), opt("shard_index", ShardIndex, None),
    ]
    if roboflow:
        params.append(opt("roboflow", Roboflow, None))
    return params


def _format_params(options_classes: dict[str, type[ReaderOptions]], generic: bool
                   ) -> list[inspect.Parameter]:
    """The formats' own options (fields beyond `ReaderOptions`) as command options. In the
    generic `convert` every format's are offered, defaulting to "not given", and the help says
    which formats have each; a value given for a format without it is an error."""
    shared = {f.name for f in fields(ReaderOptions)}
    found: dict[str, tuple[Any, Any, str, list[str]]] = {}
    for fmt, options_cls in options_classes.items():
        hints = get_type_hints(options_cls)
        for f in fields(options_cls):
            if f.name in shared or (f.name in found and fmt in found[f.name][3]):
                continue
            if f.name in found:
                found[f.name][3].append(fmt)
                continue
            found[f.name] = (hints[f.name], f.default, f.metadata.get("help", ""), [fmt])
    params = []
    for name, (kind, default, help_text, formats) in found.items():
        flag = "--images" if name == "images_dir" else "--" + name.replace("_", "-")
        if generic:
            help_text = f"{', '.join(formats)}: {help_text}"
        if kind is bool:
            annotation: Any = Annotated[bool, typer.Option(flag, help=help_text)]
            value = False
        else:
            base = Path if kind in (Path, Path | None) else str
            annotation = Annotated[base | None, typer.Option(
                flag, help=help_text, show_default=False if generic else str(default))]
            value = None
        params.append(inspect.Parameter(name, KEYWORD, annotation=annotation, default=value))
    return params


def _run(fmt: str, format_names: set[str], values: dict[str, Any]) -> None:
    """One conversion command: its arguments → `dsconv.convert`, then the summary."""
    options = {name: values.pop(name) for name in format_names}
    options = {k: v for k, v in options.items() if v is not None}
    for name in ("noun", "box_policy", "allow_outside_root", "max_image_bytes"):
        options[name] = values.pop(name)
    roboflow = values.pop("roboflow", None)
    src, out = values.pop("src"), values.pop("out")
    scale = Scale.parse(values.pop("workers"), values.pop("max_image_size"),
                        values.pop("num_shards"), values.pop("shard_index"))
    if roboflow is None and (src is None or out is None):
        raise DsconvError("give SRC and OUT (or --roboflow WORKSPACE/PROJECT/VERSION OUT)")
    from dsconv.cli.publish import roboflow_source

    with roboflow_source(roboflow, src, out, ROBOFLOW_FORMATS.get(fmt, fmt)) as (
            src, out, source):
        run_conversion(fmt, src, out, values.pop("task"), options, source=source, scale=scale,
                       **values)


def _make_command(fmt: str | None, options_classes: dict[str, type[ReaderOptions]],
                  doc: str) -> Callable[..., None]:
    params = _shared(fmt)
    own = _format_params(options_classes, generic=fmt is None)
    params += own
    names = {p.name for p in own}

    def command(**values: Any) -> None:
        _run(fmt or values.pop("from_"), names, values)

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__doc__ = doc
    return command


def _register() -> None:
    """`X-to-vqa` for every installed format (built-in and plugin), then `convert`."""
    classes: dict[str, type[ReaderOptions]] = {}
    for fmt in available():
        try:
            reader = get_reader(fmt)
        except DsconvError:  # a broken plugin has no command; `dsconv formats` says why
            continue
        classes[fmt] = getattr(reader, "options_class", ReaderOptions)
        example = EXAMPLES.get(fmt, f"dsconv {fmt}-to-vqa data/{fmt}-export out/{fmt}-vqa")
        kind, _, layout = str(getattr(reader, "description", fmt)).partition(":")
        doc = (f"Convert a {kind} dataset to a VQA dataset.\n\n"
               + (f"Reads {layout.strip()}.\n\n" if layout else "")
               + f"Example: [bold]{example}[/]")
        app.command(f"{fmt}-to-vqa", rich_help_panel=CONVERT)(
            _make_command(fmt, {fmt: classes[fmt]}, doc))
    app.command("convert", rich_help_panel=CONVERT)(_make_command(None, classes, (
        "Convert a dataset in any installed format, the format detected (see `dsconv detect`) "
        "or named with --from.\n\n"
        "Example: [bold]dsconv convert data/coins out/coins-vqa[/] (--from coco names it)")))


EXAMPLES = {
    "coco": "dsconv coco-to-vqa data/coins out/coins-vqa --noun currency[/] or straight from "
            "Roboflow: [bold]dsconv coco-to-vqa --roboflow my-team/coins/3 out/coins-vqa",
    "yolo": "dsconv yolo-to-vqa data/coins-yolo out/coins-vqa",
    "voc": "dsconv voc-to-vqa data/coins-voc out/coins-vqa",
    "hf": "dsconv hf-to-vqa my-org/coins-detection out/coins-vqa --bbox-format coco",
}
_register()
