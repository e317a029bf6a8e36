"""One conversion: reader → tasks → writer, with the ledger turned into the report and card."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from dsconv import __version__
from dsconv.converters.base import Ledger, Reader
from dsconv.io.card import CardInfo, card_files
from dsconv.io.dataset import REPORT_FILE
from dsconv.io.writer import DatasetWriter
from dsconv.schemas.report import ConversionReport
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
    examples: list[tuple[str, str]] = []
    splitter = SplitAssigner(options.split_ratios, ledger, len(reader.splits()) > 1)
    leaks = LeakFinder()
    with DatasetWriter(options.out, overwrite=options.overwrite) as writer:
        for split in reader.splits():
            samples = progress(reader.samples(split), reader.count(split), split)
            for sample in samples:
                digest = image_digest(sample.image_bytes)
                splitter.assign(sample, digest)
                leaks.add(sample.split, sample.file_name or sample.image_id, digest)
                n = 0
                for row in make_rows(sample):
                    writer.write(sample.split, row)
                    example = (row["question"], row["answer"])
                    if len(examples) < 2 and example not in examples:
                        examples.append(example)
                    n += 1
                ledger.kept(sample, n)
        writer.finish_splits()
        leakage = leaks.leaks()
        if leakage:
            ledger.warn(leak_warning(leakage))
        report = ConversionReport(
            dsconv_version=__version__,
            source_format=reader.name,
            tasks=[t.name for t in options.tasks],
            classes=list(options.context.vocabulary.classes),
            splits=ledger.split_reports(options.context.vocabulary.classes),
            drops=ledger.drops,
            warnings=ledger.warnings,
            leakage=leakage,
            split_ratios=list(options.split_ratios) if options.split_ratios else None,
            florence_od_names=_florence_od_names(options),
        )
        writer.write_text(REPORT_FILE, report.model_dump_json(indent=2) + "\n")
        info = CardInfo(name=options.out.name, source=options.source, command=options.command,
                        examples=examples, num_bytes=writer.nbytes, notes=list(options.notes))
        for name, data in card_files(report, info).items():
            writer.write_bytes(name, data)
        writer.commit()
    return report


def _florence_od_names(options: ConvertOptions) -> dict[str, str] | None:
    """The class names florence-od's answers use, when that task ran."""
    if FLORENCE_OD not in {t.name for t in options.tasks}:
        return None
    return florence_names(options.context.vocabulary.classes)
