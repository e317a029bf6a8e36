"""One conversion: reader → tasks → writer, with the ledger turned into the report and card.

Hook points, each its own module: `dsconv.shard` reads a split (whole, or one part's share),
`dsconv.resize` shrinks images over `--max-image-size` in worker processes (`dsconv.parallel`),
`dsconv.part` records what a part needs to be merged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from dsconv import __version__
from dsconv.converters.base import AFTER_ITEMS, Key, Ledger, Reader
from dsconv.io.card import CardInfo, card_files
from dsconv.io.dataset import REPORT_FILE
from dsconv.io.images import reuse_image_memory
from dsconv.io.writer import DatasetWriter
from dsconv.parallel import Workers
from dsconv.part import (
    LEDGER_FILE,
    SAMPLES_FILE,
    PartRecorder,
    RowsDigest,
    fingerprint,
    part_note,
)
from dsconv.resize import Resizer
from dsconv.schemas.report import ConversionReport, Leak, PartInfo
from dsconv.shard import WHOLE, Share, check_shardable, read_split
from dsconv.splits import LeakFinder, SplitAssigner, image_digest, leak_warning
from dsconv.tasks.base import Task, TaskContext
from dsconv.tasks.florence_od import NAME as FLORENCE_OD
from dsconv.tasks.florence_od import florence_names
from dsconv.tasks.rows import detection_rows

T = TypeVar("T")
Progress = Callable[[Iterable[T], int | None, str], Iterable[T]]
MakeRows = Callable[[Any], Iterable[dict[str, Any]]]  # one sample → its rows


def _no_progress(items: Iterable[T], total: int | None, label: str) -> Iterable[T]:
    return items


@dataclass(frozen=True)
class ConvertOptions:
    out: Path
    tasks: Sequence[Task]
    context: TaskContext
    overwrite: bool = False
    source: str = ""
    command: str = ""
    notes: tuple[str, ...] = ()  # paragraphs for the dataset card (e.g. the task token used)
    split_ratios: tuple[float, ...] | None = None  # re-split by image hash (dsconv.splits)
    max_image_size: int | None = None  # shrink images whose longer side is over it
    workers: int = 1  # processes for the resize (no pool is started for 1)
    share: Share | None = None  # convert only this part of the source (dsconv.shard)
    settings: Mapping[str, Any] = field(default_factory=dict)  # reader options etc., for
    # the fingerprint that keeps parts of different conversions from being merged
    inputs: tuple[Path, ...] = ()  # local source files and folders: `out` must not overlap
    # them (`dsconv.io.writer.check_target`)


def convert_detection(
    reader: Reader, ledger: Ledger, options: ConvertOptions, progress: Progress = _no_progress
) -> ConversionReport:
    """Stream every detection sample through the tasks into a new dataset folder."""
    return convert_dataset(
        reader, ledger, options,
        lambda sample: detection_rows(sample, options.tasks, options.context), progress,
    )


def convert_dataset(
    reader: Reader, ledger: Ledger, options: ConvertOptions, make_rows: MakeRows,
    progress: Progress = _no_progress,
) -> ConversionReport:
    """Stream every sample through `make_rows` into a new dataset folder; return the report.

    One pipeline for every kind of sample, so detections and documents share the writer,
    the report and the card.
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
        florence_od_names=_florence_od_names(options),
        part=part,
    )


def _florence_od_names(options: ConvertOptions) -> dict[str, str] | None:
    """The class names florence-od's answers use, when that task ran."""
    if FLORENCE_OD not in {t.name for t in options.tasks}:
        return None
    return florence_names(options.context.vocabulary.classes)
