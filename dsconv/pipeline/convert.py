"""One conversion: reader → tasks → writer, with the ledger turned into the report and card.

Hook points, each its own module of this package: `shard` reads a split (whole, or one part's
share), `resize` shrinks images over `--max-image-size` in worker processes (`parallel`),
`part` records what a part needs to be merged.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dsconv import __version__
from dsconv.converters.base import AFTER_ITEMS, Key, Ledger, Reader
from dsconv.errors import DsconvError
from dsconv.pipeline.card import CardInfo, card_files
from dsconv.pipeline.part import (
    LEDGER_FILE,
    SAMPLES_FILE,
    PartRecorder,
    RowsDigest,
    fingerprint,
    part_note,
)
from dsconv.pipeline.resize import Resizer
from dsconv.pipeline.shard import WHOLE, Share, check_shardable, read_split
from dsconv.pipeline.splits import SplitAssigner
from dsconv.progress import Progress, no_progress
from dsconv.schemas.report import ConversionReport, Leak, PartInfo
from dsconv.storage.dataset import REPORT_FILE
from dsconv.storage.files import excerpt
from dsconv.storage.images import reuse_image_memory
from dsconv.storage.leaks import LeakFinder, image_digest, leak_warning
from dsconv.storage.parallel import Workers
from dsconv.storage.writer import DatasetWriter
from dsconv.tasks.base import Task, TaskContext
from dsconv.tasks.rows import detection_rows

MakeRows = Callable[[Any], Iterable[dict[str, Any]]]  # one sample → its rows


class EmptyResultError(DsconvError):
    """A conversion whose output would hold no rows, or (detection) no objects: nearly always
    a wrong format, folder or option, never what the user wanted. Nothing is written."""


@dataclass(frozen=True)
class ConvertOptions:
    out: Path
    tasks: Sequence[Task]
    context: TaskContext
    overwrite: bool = False
    source: str = ""
    command: str = ""
    notes: tuple[str, ...] = ()  # paragraphs for the dataset card (e.g. the task token used)
    split_ratios: tuple[float, ...] | None = None  # re-split by image hash (dsconv.pipeline.splits)
    max_image_size: int | None = None  # shrink images whose longer side is over it
    workers: int = 1  # processes for the resize (no pool is started for 1)
    share: Share | None = None  # convert only this part of the source (dsconv.pipeline.shard)
    allow_empty: bool = False  # write a dataset with no rows, or no objects (EmptyResultError)
    settings: Mapping[str, Any] = field(default_factory=dict)  # reader options etc., for
    # the fingerprint that keeps parts of different conversions from being merged
    inputs: tuple[Path, ...] = ()  # local source files and folders: `out` must not overlap
    # them (`dsconv.storage.writer.check_target`)


def convert_detection(
    reader: Reader, ledger: Ledger, options: ConvertOptions, progress: Progress = no_progress
) -> ConversionReport:
    """Stream every detection sample through the tasks into a new dataset folder."""
    return convert_dataset(
        reader, ledger, options,
        lambda sample: detection_rows(sample, options.tasks, options.context), progress,
        expect_objects=True,
    )


def convert_dataset(
    reader: Reader, ledger: Ledger, options: ConvertOptions, make_rows: MakeRows,
    progress: Progress = no_progress, *, expect_objects: bool = False,
) -> ConversionReport:
    """Stream every sample through `make_rows` into a new dataset folder; return the report.

    One pipeline for every kind of sample, so detections and documents share the writer,
    the report and the card. An output with no rows, or with no objects when
    `expect_objects`, is an `EmptyResultError` and nothing is written, unless
    `options.allow_empty` (or this is one part of a sharded run: a part may hold nothing).
    """
    part = _start_part(reader, ledger, options)
    examples: list[tuple[str, str]] = []
    splitter = SplitAssigner(options.split_ratios, ledger, len(reader.splits()) > 1)
    leaks = LeakFinder()
    workers = options.workers if options.max_image_size else 1
    with DatasetWriter(options.out, overwrite=options.overwrite, sources=options.inputs
                       ) as writer, \
            Workers(workers, reuse_image_memory) as pool:
        resizer = Resizer(options.max_image_size, pool, ledger)
        recorder = PartRecorder(writer.path(SAMPLES_FILE)) if part else None
        for position, split in enumerate(reader.splits()):
            samples, total = read_split(reader, split, position, ledger, options.share or WHOLE)
            for key, sample, digest in resizer.run(_hashed(progress(samples, total, split))):
                splitter.assign(sample, digest)
                name = sample.file_name or sample.image_id
                leaks.add(sample.split, name, digest)
                rows_digest = RowsDigest() if recorder else None
                n = _write_rows(writer, sample.split, make_rows(sample), examples, rows_digest)
                ledger.kept(sample, n)
                if recorder and rows_digest:
                    # without a resize the bytes written are the source's, hashed already
                    written = (image_digest(sample.image_bytes) if options.max_image_size
                               else digest)
                    recorder.add(key, sample.split, n, name, digest, written,
                                 rows_digest.hexdigest())
        writer.finish_splits()
        report = _report(reader, ledger, options, leaks.leaks(), part)
        if not options.allow_empty and part is None:
            check_not_empty(report, options, expect_objects)
        if recorder:
            writer.write_text(LEDGER_FILE, recorder.finish(ledger))
        writer.write_text(REPORT_FILE, report.model_dump_json(indent=2) + "\n")
        notes = [*options.notes, *([part_note(part)] if part else [])]
        info = CardInfo(name=options.out.name, source=options.source, command=options.command,
                        examples=examples, num_bytes=writer.nbytes, notes=notes)
        for name, data in card_files(report, info).items():
            writer.write_bytes(name, data)
        writer.commit()
    return report


def check_not_empty(report: ConversionReport, options: ConvertOptions,
                    expect_objects: bool) -> None:
    """`EmptyResultError` naming the source and the cause when the output has no rows, or no
    objects."""
    where = options.source or str(options.out)
    unwritten = f"{options.out} not written (--allow-empty writes it anyway)"
    splits = report.splits.values()
    rows = sum(split.rows for split in splits)
    images = sum(split.images for split in splits)
    image_drops = _reasons(split.images_dropped for split in splits)
    question_drops = _reasons(split.questions_dropped or {} for split in splits)
    if rows == 0:
        if question_drops:
            cause = f"every question was dropped ({_top(question_drops)}{_example(report)})"
        elif image_drops:
            cause = f"every image was dropped ({_top(image_drops)}{_example(report)})"
        elif images:
            cause = f"the tasks asked no question about the {images} images read"
        else:
            cause = "the source has no images"
        raise EmptyResultError(f"{where}: no rows, {cause}; {unwritten}")
    if not expect_objects or any(split.objects_kept for split in splits):
        return
    total = sum(split.objects_total for split in splits)
    if total:
        drops = _reasons(split.objects_dropped for split in splits)
        cause = (f"none of the {total} objects read was kept ({_top(drops)}"
                 f"{_example(report)})")
    else:
        cause = (f"the reader found no objects in the {images} images (no annotation files "
                 "where it looked?): every count answer would be empty")
    raise EmptyResultError(f"{where}: {cause}; {unwritten}")


def _reasons(counts: Iterable[Mapping[str, int]]) -> Counter[str]:
    total: Counter[str] = Counter()
    for count in counts:
        total.update(count)
    return total


def _top(reasons: Counter[str], n: int = 3) -> str:
    shown = ", ".join(f"{reason}: {k}" for reason, k in reasons.most_common(n))
    return shown + (", …" if len(reasons) > n else "")


def _example(report: ConversionReport) -> str:
    """The first drop's file and place, so the user knows where to look."""
    if not report.drops:
        return ""
    drop = report.drops[0]
    where = drop.annotation if drop.annotation and drop.file in drop.annotation else (
        f"{drop.file} {drop.annotation}" if drop.annotation else drop.file)
    return f"; first: {excerpt(where, 80)}" + (f" {excerpt(drop.detail, 80)}"
                                              if drop.detail else "")


def _start_part(reader: Reader, ledger: Ledger, options: ConvertOptions) -> PartInfo | None:
    """A part's identity; a part other than the first leaves what indexing found to part 0."""
    if options.share is None:
        return None
    check_shardable(reader)
    if options.share.index:
        ledger.clear()
    return PartInfo(index=options.share.index, count=options.share.count,
                    fingerprint=fingerprint(reader, options))


def _hashed(samples: Iterable[tuple[Key, Any]]) -> Iterator[tuple[Key, Any, str]]:
    """The SHA-256 of each source image, which places it in a split and finds leakage."""
    for key, sample in samples:
        yield key, sample, image_digest(sample.image_bytes)


def _write_rows(writer: DatasetWriter, split: str, rows: Iterable[dict[str, Any]],
                examples: list[tuple[str, str]], digest: RowsDigest | None = None) -> int:
    """Write one sample's rows; keep the first two distinct question/answer pairs."""
    n = 0
    for row in rows:
        writer.write(split, row)
        if digest is not None:
            digest.add(row)
        example = (row["question"], row["answer"])
        if len(examples) < 2 and example not in examples:
            examples.append(example)
        n += 1
    return n


def _report(reader: Reader, ledger: Ledger, options: ConvertOptions, leakage: list[Leak],
            part: PartInfo | None) -> ConversionReport:
    if leakage:
        ledger.warn(leak_warning(leakage), key=AFTER_ITEMS)
    drops, warnings = ledger.in_reading_order()
    classes = options.context.vocabulary.classes
    splits = (ledger.split_reports(classes, settled=True) if part
              else ledger.split_reports(classes))
    return ConversionReport(
        dsconv_version=__version__,
        source_format=reader.name,
        tasks=[t.name for t in options.tasks],
        classes=list(options.context.vocabulary.classes),
        splits=splits,
        drops=drops,
        warnings=warnings,
        leakage=leakage,
        split_ratios=list(options.split_ratios) if options.split_ratios else None,
        task_extras=_task_extras(options),
        part=part,
    )


def _task_extras(options: ConvertOptions) -> dict[str, dict[str, Any]]:
    """What each task adds to the report (florence-od: the class names its answers use)."""
    vocabulary = options.context.vocabulary
    return {task.name: task.report_extras(vocabulary) for task in options.tasks
            if task.report_extras is not None}


def convert(
    source: str | Path,
    out: str | Path,
    *,
    format: str = "auto",
    tasks: Sequence[str] = ("count-json",),
    noun: str | None = None,
    prompt: str | None = None,
    include_zero: bool = False,
    seed: int = 0,
    paraphrases: int = 1,
    absent_rate: float = 0.0,
    classes: Mapping[str, str] | Sequence[str] | str | None = None,
    split_ratios: Sequence[float] | None = None,
    overwrite: bool = False,
    allow_empty: bool = False,
    max_image_size: int | None = None,
    workers: int | None = None,
    num_shards: int | None = None,
    shard_index: int | None = None,
    progress: Progress | None = None,
    command: str = "",
    card_source: str | None = None,
    **format_options: Any,
) -> ConversionReport:
    """Convert a detection dataset (COCO, YOLO, VOC or any installed format) into a VQA
    dataset folder; returns the conversion report (also written as conversion_report.json).

    `format_options` are the reader's own options (`keep_crowd=True` for COCO,
    `keep_difficult=True` for VOC, `box_policy="drop"`, `allow_outside_root=True`…); one the
    format does not have is an error. `format="auto"` converts the one format the source is
    detected as (`dsconv.detect`). An output with no rows or no objects is an
    `EmptyResultError` (nothing written) unless `allow_empty`. `classes` keeps and renames classes:
    `{"dime": "10c", "penny": "1c"}`, `["dime", "penny"]`, or the CLI's string form.
    `progress(items, total, label)` wraps each split's samples (`dsconv.tqdm_progress` in a
    notebook).
    `max_image_size` shrinks larger images on `workers` processes (default: all cores).
    `command` and `card_source` are what the dataset card says made it (the CLI passes its
    command line and, for a Roboflow download, the project).

    Example:
        >>> import dsconv
        >>> report = dsconv.convert("data/coins", "out/coins-vqa", noun="currency")
        >>> report.splits["train"].rows
        38
    """
    from dsconv.converters.classes import ClassFilter, ClassMap
    from dsconv.converters.detect import AUTO, choose_format, open_reader, other_format_hint
    from dsconv.converters.registry import get_reader, reader_options
    from dsconv.pipeline.shard import parse_share
    from dsconv.pipeline.splits import resolve_ratios
    from dsconv.storage.parallel import resolve_workers
    from dsconv.tasks.base import get_task

    src, target = Path(source), Path(out)
    fmt = choose_format(src).format if format == AUTO else format
    options = reader_options(get_reader(fmt), fmt, noun=noun, **format_options)
    selected = [get_task(t) for t in dict.fromkeys(tasks)]
    ledger = Ledger(box_policy=options.box_policy)
    reader: Reader = open_reader(fmt, src, ledger, options)
    if classes is not None:
        reader = ClassFilter(reader, ledger, ClassMap.of(classes))
    _warn_paraphrases(selected, paraphrases, prompt, ledger)
    context = TaskContext(reader.vocabulary(), prompt=prompt, include_zero=include_zero,
                          seed=seed, paraphrases=paraphrases, absent_rate=absent_rate)
    ratios = tuple(split_ratios) if split_ratios is not None else None
    settings = {"reader": asdict(options), "classes": classes}  # fingerprinted as JSON
    convert_options = ConvertOptions(
        out=target, tasks=selected, context=context, overwrite=overwrite,
        source=card_source or str(source), command=command or _command(fmt, source, out),
        split_ratios=resolve_ratios(reader, ratios), max_image_size=max_image_size,
        workers=resolve_workers(workers) if max_image_size else 1,
        share=parse_share(num_shards, shard_index), allow_empty=allow_empty,
        settings=settings, inputs=(src, *_images_dir(options)),
    )
    try:
        return convert_detection(reader, ledger, convert_options, progress or no_progress)
    except EmptyResultError as exc:  # say so when the folder looks like another format
        raise EmptyResultError(f"{exc}{other_format_hint(src, fmt)}") from None


def _images_dir(options: Any) -> list[Path]:
    """A format's separate image folder (COCO `images_dir`), also a source OUT must avoid."""
    folder = getattr(options, "images_dir", None)
    return [Path(folder)] if folder else []


def _warn_paraphrases(tasks: list[Task], n: int, prompt: str | None, ledger: Ledger) -> None:
    """Say so in the report when `paraphrases` cannot be honoured as asked."""
    if n <= 1:
        return
    if prompt:
        ledger.warn(f"--paraphrases {n}: --prompt replaces every task's phrasings")
        return
    for task in tasks:
        if task.prompts and len(task.prompts) < n:
            ledger.warn(f"--paraphrases {n}: {task.name} has {len(task.prompts)} phrasing(s), "
                        "all of them used")


def _command(fmt: str, source: str | Path, out: str | Path) -> str:
    """What the card says made the dataset when the caller did not pass the command line."""
    return f"dsconv.convert({str(source)!r}, {str(out)!r}, format={fmt!r})"

