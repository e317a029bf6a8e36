"""One conversion: reader → tasks → writer, with the ledger turned into the report and card."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from dsconv import __version__
from dsconv.converters.base import Ledger, Reader
from dsconv.io.card import CardInfo, render_card
from dsconv.io.dataset import REPORT_FILE
from dsconv.io.layout import CARD_FILE
from dsconv.io.writer import DatasetWriter
from dsconv.schemas.report import ConversionReport
from dsconv.tasks.base import Task, TaskContext
from dsconv.tasks.rows import detection_rows

T = TypeVar("T")
Progress = Callable[[Iterable[T], int | None, str], Iterable[T]]


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


def convert_detection(
    reader: Reader, ledger: Ledger, options: ConvertOptions, progress: Progress = _no_progress
) -> ConversionReport:
    """Stream every sample through the tasks into a new dataset folder; return the report."""
    examples: list[tuple[str, str]] = []
    with DatasetWriter(options.out, overwrite=options.overwrite) as writer:
        for split in reader.splits():
            samples = progress(reader.samples(split), reader.count(split), split)
            for sample in samples:
                n = 0
                for row in detection_rows(sample, options.tasks, options.context):
                    writer.write(split, row)
                    example = (row["question"], row["answer"])
                    if len(examples) < 2 and example not in examples:
                        examples.append(example)
                    n += 1
                ledger.kept(sample, n)
        writer.finish_splits()
        report = ConversionReport(
            dsconv_version=__version__,
            source_format=reader.name,
            tasks=[t.name for t in options.tasks],
            classes=list(options.context.vocabulary.classes),
            splits=ledger.split_reports(options.context.vocabulary.classes),
            drops=ledger.drops,
            warnings=ledger.warnings,
        )
        writer.write_text(REPORT_FILE, report.model_dump_json(indent=2) + "\n")
        info = CardInfo(name=options.out.name, source=options.source, command=options.command,
                        examples=examples, num_bytes=writer.nbytes)
        writer.write_text(CARD_FILE, render_card(report, info))
        writer.commit()
    return report


